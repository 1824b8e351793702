"""A monitored pool of processes, on the same scheduling core as ThreadPool.

Each worker is a child process plus one thread in the parent that serves it::

    core queue ──_reserve──► serving thread ──("run", batch)──► child process
                                  ▲  │                              │ runs in order
                                  │  └── waits on: pipe, the child's sentinel,
                                  │      its own wake-up pipe, the next deadline
                                  └────── ("results", batch) ◄──────┘

The serving thread keeps a few tasks in flight so the pipe never runs dry
(more when tasks are short, one when they are long, so a slow worker does not
hoard work). It knows which task runs: the child runs them in order and
starts the next the moment one ends. What it sent ahead it can take back at
any time without the child's help -- a worker going idle asks for that, and
so do pause, cancel and dismissal: each task sent has a ticket in a pipe the
child claims it from before running it, and the serving thread reads back the
tickets not yet claimed (see process_worker). So tasks queued behind one that
runs long, even one that holds the child's GIL, move to an idle worker at
once, and none runs twice. Death of a child shows on its sentinel at
once, busy or idle (a parked serving thread waits on the sentinel and its
wake-up pipe together): its running task FAILS with WorkerLost, the tasks it
had not started go back to the queue, and the core's replacement rule starts
a new worker while the pool's target size says so. A task past its time-out,
a cancelled task and a force-dismissed worker end the same way, by killing the
process. When the parent dies, a lifeline pipe ends every child, and on Linux
the kernel does too, even while a task holds the GIL (see process_worker).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import pickle
import threading
import time
from collections import deque
from collections.abc import Callable
from multiprocessing.connection import wait
from typing import TYPE_CHECKING, Any

from . import process_worker
from .errors import TaskCancelled, TaskError, TaskTimeout, WorkerLost
from .events import EventKind
from .pool import Pool, _check_count, _check_seconds, _Worker
from .process_worker import EXIT, TICKET_SIZE
from .task import Task
from .warm_start import default_start_method
from .worker import WorkerInfo

if TYPE_CHECKING:
    import psutil

__all__ = ["ProcessPool"]

log = logging.getLogger(__name__)
E = EventKind

#: How long a cancelled running task may take to stop by itself before its
#: process is killed (it can watch ``current_task().cancel_requested``).
CANCEL_GRACE = 0.25
#: Tasks in flight per worker when tasks are short; one when they are long.
PREFETCH = 32
SHORT_TASK = 0.005
#: A task running this long is no short one, whatever came before it: nothing
#: more is sent ahead of it (what was is taken back when a worker idles).
LONG_RUNNING = 0.05
#: What goes down a worker's wake pipe: a wake-up of its parked serving thread
#: (the core's ``wake``), or a nudge to look at the pool's state again.
WAKE, NUDGE = b"w", b"!"
#: Workers that die before they say they are up, in a row, before the pool
#: stops replacing them.
EARLY_DEATHS = 3


class _WakeUp:
    """The ``wake`` of a process worker (see ``core.pool.Wake``): a WAKE byte
    on the worker's wake pipe. Its parked serving thread waits on that pipe
    and on the child's sentinel together, so a child that dies while its
    worker is idle is seen at once, without polling."""

    __slots__ = ("worker",)

    def __init__(self, worker: _ProcessWorker) -> None:
        self.worker = worker

    def acquire(self) -> bool:
        """Wait for a wake-up (True) or for the child to die (False)."""
        worker = self.worker
        process = worker.process
        assert process is not None, "a worker parks only once its process runs"
        while True:
            ready = wait([worker.wake_r, process.sentinel])
            if worker.wake_r in ready:
                if WAKE in os.read(worker.wake_r, 4096):
                    return True
                # Only nudges: a parked worker has sent nothing ahead to take back.
            else:
                return False

    def release(self) -> None:
        self.worker.poke(WAKE)


class _ProcessWorker(_Worker):
    # Its pid exists once the serving thread has started the process.
    announces_start = True

    __slots__ = (
        "_ps",
        "conn",
        "fd_lock",
        "inflight",
        "kill_at",
        "kill_reason",
        "last_run",
        "lifeline",
        "pool",
        "process",
        "rbuf",
        "ready",
        "retiring",
        "send_lock",
        "sent",
        "seq",
        "seq_of",
        "share_requested",
        "thread",
        "tickets",
        "tickets_r",
        "tickets_w",
        "wake_r",
        "wake_w",
    )

    def __init__(self, pool: ProcessPool, worker_id: int) -> None:
        super().__init__(worker_id)
        self.pool = pool
        self.thread = threading.Thread(
            target=pool._serve, args=(self,), name=f"poolscope-process-{worker_id}", daemon=True
        )
        self.process: multiprocessing.process.BaseProcess | None = None
        self.conn: Any = None
        self.lifeline: Any = None
        self.wake_r, self.wake_w = os.pipe()
        # Never block a waker (it may hold the pool's lock). The pipe cannot
        # fill in practice: the serving thread reads it whenever it waits.
        os.set_blocking(self.wake_w, False)
        # Guards wake_w against a write after close: the number may be reused.
        self.fd_lock = threading.Lock()
        self.wake = _WakeUp(self)
        self.send_lock = threading.Lock()
        self.inflight: deque[Task] = deque()
        self.kill_at: float | None = None
        self.kill_reason: TaskError | None = None
        self.sent = 0
        self.share_requested = False  # an idle peer wants the tasks sent ahead
        # Tickets (see process_worker): the last seq given out, and the seq
        # of each task in flight. Written and read by the serving thread only.
        self.seq = 0
        self.seq_of: dict[int, int] = {}
        self.tickets: tuple[Any, Any] | None = None  # its two ends (Connections)
        self.tickets_r = self.tickets_w = -1
        self.retiring = False
        self.ready = False  # the child said it started
        self.rbuf = bytearray()
        self.last_run = 1.0
        self._ps: psutil.Process | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def start(self) -> None:
        self.thread.start()

    def join(self, timeout: float | None = None) -> bool:
        if self.thread is threading.current_thread():
            return False
        self.thread.join(timeout)
        return not self.thread.is_alive()

    def nudge(self) -> None:
        self.poke(NUDGE)

    def poke(self, byte: bytes) -> None:
        """Write to the wake pipe, unless the worker is gone and closed it."""
        with self.fd_lock:
            if self.wake_w >= 0:
                try:
                    os.write(self.wake_w, byte)
                except OSError:
                    pass  # full: the serving thread has reading to do anyway

    def send(self, message: tuple) -> bool:
        with self.send_lock:
            try:
                self.conn.send(message)
                return True
            except (OSError, ValueError, AttributeError):
                return False  # the child is gone; its sentinel says so

    def grant(self, seqs: list[int]) -> None:
        """Put tickets in the pipe: the child may run these tasks, in order.
        One write of at most PIPE_BUF bytes, which no read splits."""
        os.write(self.tickets_w, b"".join(seq.to_bytes(TICKET_SIZE, "little") for seq in seqs))

    def unclaimed(self) -> list[int]:
        """Read back every ticket the child has not claimed: from now on it
        cannot run those tasks (grant writes back the ones to keep)."""
        data = b""
        while True:
            try:
                chunk = os.read(self.tickets_r, TICKET_SIZE * 512)
            except BlockingIOError:
                break
            if not chunk:
                break
            data += chunk
        return [int.from_bytes(data[i : i + TICKET_SIZE], "little") for i in range(0, len(data), TICKET_SIZE)]

    def send_exit(self) -> None:
        """Tell the child to leave once the tasks it holds tickets for ran."""
        if self.tickets_w >= 0:
            self.grant([EXIT])

    def started_info(self) -> WorkerInfo:
        """Its pid, without CPU and memory: psutil loads only where worker
        stats are read. Announced before the worker takes any task."""
        return WorkerInfo(
            id=self.id,
            state=self.state,
            task_id=None,
            tasks_done=0,
            tasks_failed=0,
            busy_seconds=0.0,
            started_at=self.started_at,
            pid=self.pid,
        )

    def extra_info(self) -> dict[str, Any]:
        info: dict[str, Any] = {"pid": self.pid}
        if self.pid is not None:
            import psutil  # not at the top: only a window that shows workers needs it

            try:
                if self._ps is None or self._ps.pid != self.pid:
                    self._ps = psutil.Process(self.pid)
                with self._ps.oneshot():
                    info["cpu_percent"] = self._ps.cpu_percent(None)
                    info["memory_rss"] = self._ps.memory_info().rss
            except (psutil.Error, OSError):
                pass
        return info


class ProcessPool(Pool):
    """A ``concurrent.futures.Executor`` on worker processes, with the same
    surface as ThreadPool: it survives dead workers, kills hung or cancelled
    tasks, and brings tracebacks home.

    Functions and arguments travel by pickle: use module-level functions.
    """

    _kind = "process pool"
    _checks_tasks = True
    _auto_chunks = True

    def __init__(
        self,
        workers: int | None = None,
        queue_size: int = 0,
        task_timeout: float | None = None,
        max_tasks_per_worker: int | None = None,
        start_method: str | None = None,
    ) -> None:
        if workers is None:
            workers = os.cpu_count() or 1
        if task_timeout is not None:
            _check_seconds("task_timeout", task_timeout)
        if max_tasks_per_worker is not None:
            _check_count("max_tasks_per_worker", max_tasks_per_worker, minimum=1)
        if start_method is None:
            start_method = default_start_method()
        if start_method == "fork":
            raise ValueError(
                "start_method 'fork' is refused: forking a process that runs threads (or Qt) "
                "can deadlock the child; use 'forkserver' or 'spawn'"
            )
        self._context: Any = multiprocessing.get_context(start_method)
        self._task_timeout = task_timeout
        self._max_tasks = max_tasks_per_worker
        self._early_deaths = 0
        super().__init__(workers, queue_size)

    # ------------------------------------------------------------ submitting

    def _check_task(self, fn: Callable[..., Any], args: tuple, kwargs: dict | None) -> bytes:
        """Pickle the task now, so a bad one is refused at submit, clearly."""
        try:
            return pickle.dumps((fn, args, kwargs), pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            name = getattr(fn, "__qualname__", None) or repr(fn)
            try:
                pickle.dumps(fn, pickle.HIGHEST_PROTOCOL)
            except Exception:
                raise TypeError(
                    f"{name} cannot be sent to a worker process ({type(exc).__name__}: {exc}). "
                    "A process pool needs a module-level function: lambdas, local functions and "
                    "methods of unpicklable objects cannot travel"
                ) from exc
            raise TypeError(
                f"the arguments of {name} cannot be sent to a worker process "
                f"({type(exc).__name__}: {exc}); pass plain, picklable data"
            ) from exc

    # -------------------------------------------------------------- workers

    def _new_worker(self, worker_id: int) -> _Worker:
        return _ProcessWorker(self, worker_id)

    def _serve(self, worker: _ProcessWorker) -> None:
        """The serving thread of one worker process."""
        try:
            if self._spawn(worker):
                with self._lock:
                    self._announce_started_locked(worker)  # now with its pid
                self._serve_loop(worker)
        except Exception:  # a bug here must not leave tasks hanging
            log.exception("worker %s of %r failed", worker.id, self)
            self._lose(worker, WorkerLost(worker.pid, None, "its serving thread failed"))
        finally:
            self._stop_process(worker)
            self._count_early_death(worker)
            self._worker_exited(worker)  # the core replaces it as the pool's size says

    def _count_early_death(self, worker: _ProcessWorker) -> None:
        """Workers that keep dying before they can work (a broken
        environment, an import that fails in the child) are not replaced for
        ever: after EARLY_DEATHS in a row the pool stops, cancels what is
        queued and says why."""
        process = worker.process
        with self._lock:
            if worker.ready:
                self._early_deaths = 0
                return
            if self._terminated or (process is not None and process.exitcode == 0):
                return  # told to leave before it said it was up
            self._early_deaths += 1
            if self._early_deaths < EARLY_DEATHS:
                return
            reason = (
                "worker processes die as they start (see the log for their error); "
                "the pool stopped replacing them and cancelled what was queued"
            )
            self._stop_reason = reason
            self._terminated = True  # before the lock goes: no replacement starts
        log.error("%r: %s", self, reason)
        self.cancel_queued(reason)
        self.shutdown(wait=False)

    def _spawn(self, worker: _ProcessWorker) -> bool:
        parent_conn, child_conn = self._context.Pipe(duplex=True)
        lifeline_r, lifeline_w = self._context.Pipe(duplex=False)
        tickets_r, tickets_w = self._context.Pipe(duplex=False)
        # Both ends stay here: the serving thread reads back unclaimed tickets.
        worker.tickets = (tickets_r, tickets_w)
        worker.tickets_r, worker.tickets_w = tickets_r.fileno(), tickets_w.fileno()
        os.set_blocking(worker.tickets_r, False)
        process = self._context.Process(
            target=process_worker.main,
            args=(child_conn, lifeline_r, tickets_r),
            name=f"poolscope-worker-{worker.id}",
            daemon=True,
        )
        try:
            process.start()
        except Exception:
            log.exception("could not start worker process %s", worker.id)
            for end in (parent_conn, child_conn, lifeline_r, lifeline_w, tickets_r, tickets_w):
                end.close()
            worker.tickets, worker.tickets_r, worker.tickets_w = None, -1, -1
            with self._lock:
                worker.abandoned = True  # do not count it; the replacement comes from _serve
            return False
        child_conn.close()
        lifeline_r.close()
        worker.process, worker.conn, worker.lifeline = process, parent_conn, lifeline_w
        return True

    def _serve_loop(self, worker: _ProcessWorker) -> None:
        inflight = worker.inflight
        process = worker.process
        assert process is not None
        while True:
            if not inflight and not process.is_alive():
                if not worker.retiring:
                    log.warning(
                        "worker %s of %r: its process %s ended while idle (exit code %s)",
                        worker.id,
                        self,
                        process.pid,
                        process.exitcode,
                    )
                self._lose(worker, None)
                return
            self._top_up(worker)
            if not inflight:
                if self._must_leave(worker) or worker.retiring:
                    return
                self._ask_to_share(worker)
                if not self._park(worker):
                    return
                continue
            ready = wait([worker.conn, process.sentinel, worker.wake_r], self._next_deadline(worker))
            if worker.wake_r in ready:
                os.read(worker.wake_r, 4096)
                self._on_nudge(worker)
            if worker.conn in ready:
                messages = self._read(worker)
                if messages is None:
                    self._lose(worker, None)
                    return
                for message in messages:
                    self._on_message(worker, message)
            elif process.sentinel in ready:
                self._drain(worker)  # what it wrote before it died
                self._lose(worker, None)
                return
            if worker.kill_at is not None and time.monotonic() >= worker.kill_at:
                self._kill(worker)
                return
            if self._deadline_passed(worker):
                worker.kill_reason = TaskTimeout(self._timeout_of(inflight[0]) or 0.0)
                self._kill(worker)
                return

    def _read(self, worker: _ProcessWorker) -> list[tuple] | None:
        """Every whole message the pipe holds now, read in one go (the child
        writes one per task); None at end of file.

        Reads the frames multiprocessing's Connection writes (a 4-byte
        big-endian length, then the pickle) straight from the socket, so many
        small results cost one system call instead of two each."""
        try:
            data = os.read(worker.conn.fileno(), 1 << 18)
        except OSError:
            return None
        if not data:
            return None
        buffer = worker.rbuf
        buffer += data
        messages = []
        start, end = 0, len(buffer)
        while end - start >= 4:
            size = int.from_bytes(buffer[start : start + 4], "big", signed=True)
            header = 4
            if size == -1:  # a message of 2 GiB or more: 8-byte length
                if end - start < 12:
                    break
                size = int.from_bytes(buffer[start + 4 : start + 12], "big")
                header = 12
            if end - start < header + size:
                break
            messages.append(pickle.loads(buffer[start + header : start + header + size]))
            start += header + size
        del buffer[:start]
        return messages

    def _drain(self, worker: _ProcessWorker) -> None:
        """Handle what a dead child wrote before it died."""
        while worker.conn.poll(0):
            messages = self._read(worker)
            if messages is None:
                return
            for message in messages:
                self._on_message(worker, message)

    def _depth(self, worker: _ProcessWorker) -> int:
        """How many tasks this worker may hold: one, unless its tasks are
        short, no other worker is idle, and then no more than its fair share
        of the queue -- so that little has to be taken back; and one while
        its current task has run for LONG_RUNNING already."""
        depth = 1
        if (
            worker.last_run < SHORT_TASK
            and not self._idle
            and (worker.task is None or time.time() - worker.busy_since < LONG_RUNNING)
        ):
            workers = max(1, len(self._workers))
            depth = max(1, min(PREFETCH, len(self._queued) // workers))
        if self._max_tasks is not None:
            depth = min(depth, self._max_tasks - worker.sent)
        return depth

    def _top_up(self, worker: _ProcessWorker) -> None:
        """Send more tasks while there is room in flight."""
        if worker.retiring or worker.kill_at is not None:
            return
        room = self._depth(worker) - len(worker.inflight)
        if room <= 0:
            if self._max_tasks is not None and worker.sent >= self._max_tasks and not worker.retiring:
                worker.retiring = True
                worker.send_exit()
            return
        was_idle = not worker.inflight
        batch = self._reserve(worker, room)
        if not batch:
            return
        worker.inflight.extend(batch)
        worker.sent += len(batch)
        if was_idle and worker.ready:
            self._begin(worker, batch[0], time.time())
        first = worker.seq + 1
        worker.seq += len(batch)
        seq_of = worker.seq_of
        items = []
        for seq, task in enumerate(batch, first):
            seq_of[task.id] = seq
            items.append((seq, task.id, task.attempt, task.packed))
        worker.grant(list(range(first, worker.seq + 1)))  # before the tasks: see process_worker
        worker.send(("run", items))

    def _begin(self, worker: _ProcessWorker, task: Task, started_at: float) -> None:
        if not self._start_reserved(task, worker, started_at) or task.cancel_requested:
            # Cancelled just as the child took it: stop it there too.
            self._request_cancel(worker, task)

    def _timeout_of(self, task: Task) -> float | None:
        return task.timeout if task.timeout is not None else self._task_timeout

    def _next_deadline(self, worker: _ProcessWorker) -> float | None:
        """Seconds until the running task's time-out or a pending kill."""
        deadlines = []
        if worker.kill_at is not None:
            deadlines.append(worker.kill_at - time.monotonic())
        head = worker.inflight[0] if worker.inflight else None
        if head is not None and head is worker.task:
            timeout = self._timeout_of(head)
            if timeout is not None:
                deadlines.append((head.started_at or 0.0) + timeout - time.time())
        return max(0.0, min(deadlines)) if deadlines else None

    def _deadline_passed(self, worker: _ProcessWorker) -> bool:
        head = worker.task
        if head is None:
            return False
        timeout = self._timeout_of(head)
        return timeout is not None and time.time() >= (head.started_at or 0.0) + timeout

    def _on_message(self, worker: _ProcessWorker, message: tuple) -> None:
        kind = message[0]
        if kind == "ready":
            # Tasks sent before the child was up start now; were it to die
            # first, they go back to the queue unstarted.
            worker.ready = True
            self._begin_head(worker, time.time())
        elif kind == "result":
            self._finish_head(worker, *message[1:])
        elif kind == "progress":
            task = worker.task
            if task is not None and task.id == message[1]:
                self._report_progress(task, message[2], message[3])

    def _finish_head(
        self, worker: _ProcessWorker, task_id: int, ok: bool, payload: Any, started: float, finished: float
    ) -> None:
        inflight = worker.inflight
        task = inflight[0]
        if task.id != task_id:  # pragma: no cover - the protocol keeps order
            raise RuntimeError(f"worker {worker.id} answered task {task_id}, expected {task.id}")
        if worker.task is not task:
            # Not marked started yet (cancelled as it was sent): it ran, and
            # its outcome is dropped.
            self._start_reserved(task, worker, started)
        inflight.popleft()
        worker.seq_of.pop(task_id, None)
        task.started_at = started
        worker.busy_since = started
        worker.last_run = finished - started
        value, error = _unpack(ok, payload)
        ok = error is None
        if self._end(task, ok, error, worker):
            self._after_end(task, ok, value, error)
        elif worker.task is task:
            worker.task = None  # it had ended already (cancelled at the start)
        if worker.kill_at is not None and worker.kill_reason is not None:
            worker.kill_at = worker.kill_reason = None  # it ended before the kill
        self._begin_head(worker, finished)

    def _begin_head(self, worker: _ProcessWorker, started_at: float) -> None:
        """Mark the first task in flight started: the child runs its tasks
        back to back, so it started when the one before it ended. (Should its
        ticket still be unclaimed when tasks are taken back, it is kept.)"""
        inflight = worker.inflight
        if inflight and worker.ready and worker.task is None:
            self._begin(worker, inflight[0], started_at)

    # -------------------------------------------------------------- endings

    def _ask_to_share(self, idle: _ProcessWorker) -> None:
        """About to idle: have workers that sent tasks ahead take them back,
        so that those tasks do not wait behind a long one."""
        with self._lock:
            others = [w for w in self._workers.values() if w is not idle and isinstance(w, _ProcessWorker)]
        for other in others:
            if len(other.inflight) > 1:
                other.share_requested = True
                other.nudge()

    def _on_nudge(self, worker: _ProcessWorker) -> None:
        """Pause, dismissal, termination or an idle peer: take back what has
        not started. A cancel of a task sent ahead: take back that one."""
        share, worker.share_requested = worker.share_requested, False
        inflight = worker.inflight
        if len(inflight) < 2 and (not inflight or inflight[0] is worker.task):
            return  # nothing sent ahead
        if share or self._paused or worker.dismiss_requested or self._terminated:
            self._take_back(worker, lambda task: False)
        else:
            reserved = self._reserved
            if any(task.id not in reserved for task in inflight if task is not worker.task):
                self._take_back(worker, lambda task: task.id in reserved)

    def _take_back(self, worker: _ProcessWorker, keep: Callable[[Task], bool]) -> None:
        """Give the tasks sent ahead whose tickets the child has not claimed
        back to the queue, but for those ``keep`` says to leave with it and
        the task already marked started (which must run there): their tickets
        go back in the pipe, in order, and the child never sees a gap it
        could take for a revocation. The child runs the tasks whose tickets
        it claimed, however late the results come. Cancelled tasks end as
        ``_unreserve`` says."""
        unclaimed = worker.unclaimed()
        if not unclaimed:
            return
        tickets = set(unclaimed)
        seq_of = worker.seq_of
        kept: list[Task] = []
        back: list[Task] = []
        regrant: list[int] = []
        for task in worker.inflight:
            seq = seq_of[task.id]
            if seq not in tickets:
                kept.append(task)  # claimed: it runs (or ran) in the child
            elif task is worker.task or keep(task):
                kept.append(task)
                regrant.append(seq)
            else:
                back.append(task)
                del seq_of[task.id]
        if EXIT in tickets:
            regrant.append(EXIT)  # retiring: it still leaves after the kept tasks
        if regrant:
            worker.grant(regrant)
        if back:
            worker.inflight.clear()  # in place: the serving loop holds this deque
            worker.inflight.extend(kept)
            worker.sent -= len(back)
            self._unreserve(back)

    def _request_cancel(self, worker: _ProcessWorker, task: Task, grace: float = CANCEL_GRACE) -> None:
        worker.send(("cancel", task.id))
        worker.kill_reason = TaskCancelled("the task was cancelled while it ran; its worker was stopped")
        kill_at = time.monotonic() + grace
        worker.kill_at = kill_at if worker.kill_at is None else min(worker.kill_at, kill_at)
        worker.nudge()

    def _cancel_running_locked(self, task: Task) -> bool:
        worker = self._workers.get(task.worker_id or 0)
        if isinstance(worker, _ProcessWorker) and worker.task is task:
            self._request_cancel(worker, task, 0.0 if self._terminated else CANCEL_GRACE)
        return False

    def _cancel_reserved_locked(self, task: Task) -> None:
        worker = self._workers.get(task.worker_id or 0)
        if isinstance(worker, _ProcessWorker):
            worker.nudge()  # its serving thread takes the task back (_on_nudge)

    def dismiss_worker(self, worker_id: int, join: bool = False, force: bool = False) -> None:
        """Dismiss one worker by id: after its current task, or with ``force``
        at once, killing its process (its task is CANCELLED)."""
        super().dismiss_worker(worker_id, join=False)
        if force:
            with self._lock:
                worker = self._workers.get(worker_id)
                if isinstance(worker, _ProcessWorker) and worker.task is not None:
                    worker.task.cancel_requested = True
                    self._request_cancel(worker, worker.task, 0.0)
        if join:
            self._join([w for w in [self._find(worker_id)] if w is not None])

    def _find(self, worker_id: int) -> _Worker | None:
        with self._lock:
            for worker in [*self._workers.values(), *self._exited]:
                if worker.id == worker_id:
                    return worker
        return None

    def _kill(self, worker: _ProcessWorker) -> None:
        """Kill the process for the reason in ``worker.kill_reason``."""
        process = worker.process
        if process is not None and process.is_alive():
            process.kill()
            process.join(5)
        self._lose(worker, worker.kill_reason)

    def _lose(self, worker: _ProcessWorker, reason: TaskError | None) -> None:
        """The process is gone (or going): end its running task with
        ``reason`` (WorkerLost when None) and give back the rest."""
        process = worker.process
        if reason is None and process is not None:
            process.join(1)
            reason = WorkerLost(process.pid, process.exitcode)
        inflight = worker.inflight
        head = inflight.popleft() if inflight and inflight[0] is worker.task else None
        rest = list(inflight)
        inflight.clear()
        worker.seq_of.clear()
        worker.kill_at = None
        if rest:
            self._unreserve(rest)
        if head is not None:
            if reason is None:
                reason = WorkerLost(None, None)
            if self._end(head, False, reason, worker):
                if isinstance(reason, TaskCancelled):
                    # Stopped because it was cancelled: its future is
                    # cancelled, as a queued task's is.
                    self._announce_cancelled(head, reason.message, worker.id)
                else:
                    self._after_end(head, False, reason, reason)

    def _stop_process(self, worker: _ProcessWorker) -> None:
        process = worker.process
        if process is not None:
            if process.is_alive():
                worker.send_exit()
                process.join(2)
            if process.is_alive():
                process.kill()
                process.join(5)
        for end in (worker.conn, worker.lifeline, *(worker.tickets or ())):
            if end is not None:
                end.close()
        worker.tickets, worker.tickets_r, worker.tickets_w = None, -1, -1
        with worker.fd_lock:
            fds = (worker.wake_r, worker.wake_w)
            worker.wake_r = worker.wake_w = -1
        for fd in fds:
            if fd >= 0:
                os.close(fd)


def _unpack(ok: bool, payload: Any) -> tuple[Any, TaskError | None]:
    """The value, or the exception and its TaskError record, from a child."""
    if ok:
        try:
            return pickle.loads(payload), None
        except Exception as exc:
            error = TaskError(
                "UnpicklableResult",
                f"the task's result came back but cannot be unpickled here ({type(exc).__name__}: {exc})",
            )
            return error, error
    error_blob, exc_blob = payload
    record: TaskError = pickle.loads(error_blob)
    raised: BaseException = record
    if exc_blob is not None:
        try:
            raised = pickle.loads(exc_blob)
        except Exception:
            raised = record
        else:
            if not isinstance(raised, TaskError):
                raised.__cause__ = record  # the child's traceback, as ProcessPoolExecutor shows it
    return raised, record
