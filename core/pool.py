"""The scheduling core that every PoolScope pool shares.

Data flow::

    submit/schedule ─► Task (QUEUED) ─► _pending deque ─► a worker claims it (RUNNING)
         │                  │                                   │
         │                  └─ event TASK_SUBMITTED              ▼  the backend runs it
         ▼                                                      │
    TaskFuture ◄──── result / error ◄──── _end + _after_end ◄───┘
                                              └─ event TASK_DONE | TASK_FAILED | ...

The core owns every decision: which task goes next, who may take it, pause,
cancel, dismissal, retries, counters and events. A backend (threads or
processes) owns only how a worker runs a task and how it starts and stops.

The hot path takes no lock. A lock shared by the submitting thread and the
workers turns into a convoy under the GIL (each hand-off costs a few context
switches, which measured slower than the work itself), so hand-offs use
operations that are atomic in CPython instead:

- ``_pending`` is a deque (append / popleft);
- a task is claimed by popping its id from a dict: ``_queued`` decides between
  a worker taking it and ``cancel``; ``_running`` decides between the worker
  that ran it and a time-out or a lost worker ending it. Whoever pops first
  makes the transition and emits its event, so every task ends exactly once
  and its events come in state-machine order;
- a claimant enters the task in ``_running`` before it pops it from
  ``_queued``, so a task is always in one of them until it ends;
- a process worker may take tasks ahead of running them (``_reserve``): they
  wait in ``_reserved``, still QUEUED, until the child starts them
  (``_start_reserved``) or gives them back (``_unreserve``); popping the id
  from ``_reserved`` decides between starting and ``cancel``;
- an idle worker appends itself to ``_idle`` and then looks at ``_pending``
  once more before it sleeps on its own ``wake`` (a lock; for a process
  worker a pipe watched with the child's sentinel); a submitter appends to
  ``_pending`` and then pops one idle worker and releases it. Whoever pops a
  worker from ``_idle`` releases its ``wake`` exactly once;
- a task's future is resolved by whoever ended the task (the winner of the
  pop above), so it has one writer and needs no lock of its own until
  somebody waits on it: ``TaskFuture`` makes its condition only then, and
  its docstring says why a resolver and a waiter cannot miss each other.

One replacement rule serves every backend (``_worker_exited`` and
``_replace_locked``): a worker that is gone is replaced while the pool is
below its target size and may still get work (open, or closed with tasks
queued); only a dismissed worker (the target shrank with it) or a terminated
pool is not. When no worker can remain in a closed pool, what is queued is
CANCELLED with that reason instead of waiting for ever.

``_lock`` guards the rare operations: adding, dismissing and replacing
workers, pause and resume, cancel, shutdown.
"""

from __future__ import annotations

import atexit
import bisect
import itertools
import logging
import numbers
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from .chunks import (
    STREAM_CHUNK_LIMIT,
    STREAM_CHUNKS_PER_WORKER,
    Stream,
    chunk_label,
    read_ahead,
    results,
    run_chunk,
)
from .errors import PoolClosed, QueueFull, TaskCancelled, TaskError, UnknownTask
from .events import EventBus, EventKind
from .results import AsyncResult
from .task import Task, TaskFuture, TaskState
from .worker import WorkerInfo, WorkerState

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["Pool", "PoolStats"]

log = logging.getLogger(__name__)

#: Why queued tasks end when a closed pool has no worker left to run them.
NO_WORKER_LEFT = "the pool was shut down with no worker left to run it"

QUEUED, RUNNING, DONE, FAILED, CANCELLED = (
    TaskState.QUEUED,
    TaskState.RUNNING,
    TaskState.DONE,
    TaskState.FAILED,
    TaskState.CANCELLED,
)
IDLE, BUSY, DISMISSED, ABANDONED = (
    WorkerState.IDLE,
    WorkerState.BUSY,
    WorkerState.DISMISSED,
    WorkerState.ABANDONED,
)
E = EventKind


@dataclass(frozen=True, slots=True)
class PoolStats:
    """Counters of one pool at one moment."""

    queued: int
    running: int
    done: int
    failed: int
    cancelled: int
    submitted: int
    workers: int
    idle_workers: int
    tasks_per_second: float
    paused: bool
    closed: bool


class Wake(Protocol):
    """How a parked worker sleeps and is woken: a binary semaphore.

    ``acquire`` may also return False before anyone released it, when the
    backend has a reason of its own to stop waiting (a worker process that
    died while idle); the worker then leaves ``_idle`` and looks again."""

    def acquire(self) -> bool: ...

    def release(self) -> None: ...


class _Worker:
    """The pool's own record of a worker. Backends subclass it.

    Counters are written only by the thread that ends the worker's tasks, so
    they need no lock; the pool sums them for ``stats()``."""

    #: A backend whose worker has its identity (a process id) only once it
    #: runs sets this and announces WORKER_STARTED itself, through
    #: ``Pool._announce_started_locked``, when it knows it.
    announces_start = False

    __slots__ = (
        "__weakref__",
        "abandoned",
        "announced",
        "busy_seconds",
        "busy_since",
        "dismiss_requested",
        "exited_at",
        "id",
        "started_at",
        "state",
        "task",
        "tasks_cancelled",
        "tasks_done",
        "tasks_failed",
        "wake",
    )

    def __init__(self, worker_id: int) -> None:
        self.id = worker_id
        self.state = IDLE
        self.task: Task | None = None
        self.tasks_done = 0
        self.tasks_failed = 0
        self.tasks_cancelled = 0
        self.busy_seconds = 0.0
        self.busy_since = 0.0
        self.started_at = time.time()
        self.exited_at: float | None = None
        self.dismiss_requested = False
        self.abandoned = False
        self.announced = False  # WORKER_STARTED was emitted
        # A binary semaphore, held while the worker sleeps in ``_idle``.
        lock = threading.Lock()
        lock.acquire()
        self.wake: Wake = lock

    def info(self) -> WorkerInfo:
        busy = self.busy_seconds
        task = self.task
        if task is not None and self.busy_since:
            busy += time.time() - self.busy_since
        return WorkerInfo(
            id=self.id,
            state=self.state,
            task_id=task.id if task is not None else None,
            tasks_done=self.tasks_done,
            tasks_failed=self.tasks_failed,
            busy_seconds=busy,
            started_at=self.started_at,
            exited_at=self.exited_at,
            **self.extra_info(),
        )

    def extra_info(self) -> dict[str, Any]:
        return {}

    def started_info(self) -> WorkerInfo:
        """The payload of WORKER_STARTED (a backend may leave out what is
        costly to measure)."""
        return self.info()

    def nudge(self) -> None:
        """Make a busy worker look at the pool's state again (pause, dismissal,
        shutdown). A thread worker looks after each task anyway."""

    # Backends implement these.
    def start(self) -> None:
        raise NotImplementedError

    def join(self, timeout: float | None = None) -> bool:
        raise NotImplementedError


class Pool(Executor):
    """What ThreadPool and ProcessPool share: a ``concurrent.futures.Executor``
    that also speaks ``multiprocessing.Pool``'s vocabulary, lets you steer its
    workers, and reports every change as an event (``pool.events``)."""

    _kind = "pool"

    def __init__(self, workers: int, queue_size: int = 0) -> None:
        _check_count("workers", workers, minimum=1)
        _check_count("queue_size", queue_size, minimum=0)
        self.events = EventBus()
        self._emit = self.events.emit
        self._lock = threading.RLock()
        self._queue_size = queue_size
        self._room = threading.Semaphore(queue_size) if queue_size else None
        self._pending: deque[Task] = deque()
        self._queued: dict[int, Task] = {}
        self._running: dict[int, Task] = {}
        self._reserved: dict[int, Task] = {}  # handed to a worker, not started yet
        self._idle: list[_Worker] = []
        self._workers: dict[int, _Worker] = {}  # all that have not exited
        self._exited: list[_Worker] = []  # exited, not yet joined
        self._target = 0
        self._paused = False
        self._closed = False
        self._terminated = False
        self._stop_reason = "cancelled before it started"
        # Counts of workers that exited, and of tasks no worker ended.
        self._retired_done = 0
        self._retired_failed = 0
        self._retired_cancelled = 0
        self._cancelled_queued = 0
        self._rate_samples: deque[tuple[float, int]] = deque(maxlen=64)
        # Ids this pool gave out, as [first, last] runs: ids are unique across
        # pools, so a pool's own ids come in runs between other pools' ones.
        self._id_runs: list[list[int]] = []
        self._next_worker_id = itertools.count(1).__next__
        #: Where task callbacks go instead of running in the worker (see
        #: core.signals.PoolSignals, which runs them on the GUI thread).
        self.callback_sink: Callable[[Callable[[], object]], object] | None = None
        _live_pools.add(self)
        self.add_workers(workers)

    # ------------------------------------------------------------------ submit

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> TaskFuture:
        """Run ``fn(*args, **kwargs)``; every keyword goes to ``fn``."""
        return self._submit(fn, args, kwargs or None, None, None, 0, None, None, True, None)

    def schedule(
        self,
        fn: Callable[..., Any],
        args: Iterable[Any] = (),
        kwargs: dict[str, Any] | None = None,
        *,
        label: str | None = None,
        timeout: float | None = None,
        retries: int = 0,
        block: bool = True,
        queue_timeout: float | None = None,
    ) -> TaskFuture:
        """Run ``fn(*args, **kwargs)`` with per-task options.

        ``timeout``: seconds the task may run before it FAILS with TaskTimeout.
        ``retries``: how many more attempts after a failed one (each attempt
        is its own task record with its own events; the future follows the
        newest). With a bounded queue, ``block`` and ``queue_timeout`` say how
        long to wait for room before raising QueueFull.
        """
        if timeout is not None:
            _check_seconds("timeout", timeout)
        if block and queue_timeout is not None:  # without block it does not apply
            _check_seconds("queue_timeout", queue_timeout, allow_zero=True)
        if retries:
            _check_count("retries", retries, minimum=0)
        return self._submit(
            fn, tuple(args), kwargs or None, label, timeout, retries, None, None, block, queue_timeout
        )

    def _submit(
        self,
        fn: Callable[..., Any],
        args: tuple,
        kwargs: dict[str, Any] | None,
        label: str | None,
        timeout: float | None,
        retries: int,
        callback: Callable[[Any], object] | None,
        error_callback: Callable[[BaseException], object] | None,
        block: bool,
        queue_timeout: float | None,
    ) -> TaskFuture:
        if not callable(fn):
            raise TypeError(f"a task needs a callable, got {type(fn).__name__}: {fn!r}")
        if self._closed:
            raise PoolClosed(f"cannot submit to this {self._kind}: it was shut down or closed")
        packed = self._check_task(fn, args, kwargs) if self._checks_tasks else None
        future = TaskFuture()
        task = Task(self, fn, args, kwargs, label, timeout, retries, future, time.time())
        task.packed = packed
        if callback is not None or error_callback is not None:
            task.callback = callback
            task.error_callback = error_callback
        future.task = task
        if self._room is not None:
            self._reserve_room(block, queue_timeout)
            task.holds_room = True
        self._enqueue(task)
        return future

    #: Backends that must vet a task before it is queued set this and override
    #: ``_check_task`` (the thread pool needs neither, and skips the call).
    _checks_tasks = False

    def check_task(
        self, fn: Callable[..., Any], args: Iterable[Any] = (), kwargs: dict | None = None
    ) -> None:
        """Raise the TypeError that submitting ``fn(*args, **kwargs)`` would
        raise, without queueing anything: say, a process pool's for a task
        that cannot be pickled. A form can refuse a task before it queues a
        thousand of them."""
        if self._checks_tasks:
            self._check_task(fn, tuple(args), kwargs or None)

    def _check_task(self, fn: Callable[..., Any], args: tuple, kwargs: dict | None) -> Any:
        """A backend's chance to refuse a task before it is queued; what it
        returns is kept on the task as ``packed``."""

    def _enqueue(self, task: Task, admitted: bool = False) -> None:
        # Announce the task before any worker can see it.
        self._emit(E.TASK_SUBMITTED, task.id, None, task)
        runs = self._id_runs
        if runs and runs[-1][1] == task.id - 1:
            runs[-1][1] = task.id
        else:
            runs.append([task.id, task.id])
        self._queued[task.id] = task
        self._pending.append(task)
        if self._idle and not self._paused:
            self._wake_one()
        if self._closed and not admitted:
            # Shut down between the check in _submit() and here: take it back
            # unless a worker already has it.
            if self._queued.pop(task.id, None) is not None:
                self._cancelled_queued += 1
                self._leave_queue(task)
                self._announce_cancelled(task, "the pool was shut down before the task was queued")
                raise PoolClosed(f"cannot submit to this {self._kind}: it was shut down or closed")

    def _reserve_room(self, block: bool, queue_timeout: float | None) -> None:
        room = self._room
        assert room is not None
        # As queue.Queue.put: without ``block`` the time-out does not apply
        # (Semaphore.acquire refuses a time-out for a non-blocking call).
        if not (room.acquire(True, queue_timeout) if block else room.acquire(False)):
            raise QueueFull(
                f"the queue holds {self._queue_size} tasks and stayed full"
                + (f" for {queue_timeout:g} s" if block and queue_timeout else "")
                + "; wait for results, raise queue_size or submit with a longer timeout"
            )
        if self._closed:
            room.release()
            raise PoolClosed(f"cannot submit to this {self._kind}: it was shut down while waiting")

    def _leave_queue(self, task: Task) -> None:
        """A task left QUEUED for good (started or cancelled): free its room."""
        if task.holds_room:
            task.holds_room = False
            self._room.release()  # type: ignore[union-attr]

    # ------------------------------------------------------------ worker side
    #
    # A backend's worker loop: _claim a task (or _park until there may be one,
    # or leave), run it, then _end it and _after_end it.

    def _claim(self, worker: _Worker) -> Task | None:
        """Take the next QUEUED task for ``worker`` and mark it RUNNING; None
        when there is none or the worker may not take one."""
        pending, queued, running = self._pending, self._queued, self._running
        while not (self._paused or worker.dismiss_requested or worker.abandoned):
            try:
                task = pending.popleft()
            except IndexError:
                return None
            running[task.id] = task
            if queued.pop(task.id, None) is None:
                running.pop(task.id, None)  # cancelled while it waited
                continue
            if self._paused or worker.dismiss_requested or task.cancel_requested:
                self._give_back(task)
                return None
            task.state = RUNNING
            task.worker_id = worker.id
            worker.task = task
            if worker.state is IDLE:
                worker.state = BUSY
                if worker.dismiss_requested:  # dismissed meanwhile: keep saying so
                    worker.state = DISMISSED
                self._emit(E.WORKER_BUSY, task.id, worker.id)
            self._leave_queue(task)
            return task
        return None

    def _give_back(self, task: Task) -> None:
        """Undo a claim made just as the pool paused or the worker was dismissed."""
        if task.cancel_requested:
            running = self._running.pop(task.id, None)
            if running is not None:
                with self._lock:
                    self._cancelled_queued += 1
                self._leave_queue(task)
                self._announce_cancelled(task)
            return
        self._queued[task.id] = task
        self._running.pop(task.id, None)
        self._pending.appendleft(task)
        if not self._paused:
            self._wake_one()

    def _reserve(self, worker: _Worker, limit: int) -> list[Task]:
        """Hand up to ``limit`` QUEUED tasks to ``worker`` without starting
        them (a process worker's prefetch). They stay QUEUED until
        ``_start_reserved``; ``_unreserve`` gives them back."""
        pending, queued, reserved = self._pending, self._queued, self._reserved
        taken: list[Task] = []
        while len(taken) < limit and not (self._paused or worker.dismiss_requested or worker.abandoned):
            try:
                task = pending.popleft()
            except IndexError:
                break
            reserved[task.id] = task
            if queued.pop(task.id, None) is None:
                reserved.pop(task.id, None)  # cancelled while it waited
                continue
            task.worker_id = worker.id
            taken.append(task)
        return taken

    def _start_reserved(self, task: Task, worker: _Worker, started_at: float) -> bool:
        """A reserved task began to run on ``worker`` at ``started_at``; False
        when it was cancelled meanwhile (the worker should stop it)."""
        self._running[task.id] = task
        if self._reserved.pop(task.id, None) is None:
            self._running.pop(task.id, None)
            return False
        task.state = RUNNING
        worker.task = task
        self._leave_queue(task)
        if worker.state is IDLE:
            worker.state = BUSY
            self._emit(E.WORKER_BUSY, task.id, worker.id)
        self._emit(E.TASK_STARTED, task.id, worker.id)
        task.started_at = worker.busy_since = started_at
        return True

    def _unreserve(self, tasks: Sequence[Task]) -> None:
        """Give reserved tasks back to the front of the queue, in order; those
        somebody asked to cancel end CANCELLED instead."""
        cancelled = []
        returned = 0
        for task in reversed(tasks):
            if self._reserved.pop(task.id, None) is None:
                continue  # cancelled already
            task.worker_id = None
            if task.cancel_requested or self._terminated:
                cancelled.append(task)
            else:
                self._queued[task.id] = task
                self._pending.appendleft(task)
                returned += 1
        if cancelled:
            with self._lock:
                self._cancelled_queued += len(cancelled)
            for task in reversed(cancelled):
                self._leave_queue(task)
                self._announce_cancelled(task, self._stop_reason)
        if not self._paused:
            for _ in range(min(returned, len(self._idle))):
                self._wake_one()

    def _must_leave(self, worker: _Worker) -> bool:
        return (
            worker.dismiss_requested
            or worker.abandoned
            or self._terminated
            or (self._closed and not self._pending)
        )

    def _park(self, worker: _Worker) -> bool:
        """Wait until there may be work for ``worker``; False when it must leave."""
        if self._must_leave(worker):
            return False
        if worker.state is BUSY:
            worker.state = IDLE
            self._emit(E.WORKER_IDLE, None, worker.id)
        idle = self._idle
        idle.append(worker)
        if (self._pending and not self._paused) or self._must_leave(worker):
            # Work (or a reason to leave) came in between: do not sleep. If a
            # waker popped us already, it releases ``wake``: take that release.
            try:
                idle.remove(worker)
            except ValueError:
                worker.wake.acquire()
            return True
        if not worker.wake.acquire():
            # The backend stopped waiting for a reason of its own (its process
            # died): not asleep, so not in _idle. A wake-up already on its way
            # is passed on by _worker_exited.
            try:
                idle.remove(worker)
            except ValueError:
                pass
        return True

    def _wake_one(self) -> None:
        try:
            worker = self._idle.pop()
        except IndexError:
            return
        worker.wake.release()

    def _wake(self, worker: _Worker) -> None:
        try:
            self._idle.remove(worker)
        except ValueError:
            return  # not parked, or its waker releases it
        worker.wake.release()

    def _end(self, task: Task, ok: bool, error: TaskError | None, worker: _Worker | None) -> bool:
        """Move a RUNNING attempt to DONE, FAILED or CANCELLED; False when it
        had ended already (timed out, lost), so its late outcome is dropped."""
        if self._running.pop(task.id, None) is None:
            return False
        if ok:
            task.state = DONE
        elif isinstance(error, TaskCancelled):
            task.state = CANCELLED
        else:
            task.state = FAILED
        if worker is not None:
            worker.task = None
            worker.busy_seconds += time.time() - worker.busy_since
            if ok:
                worker.tasks_done += 1
            elif task.state is CANCELLED:
                worker.tasks_cancelled += 1
            else:
                worker.tasks_failed += 1
        return True

    def _after_end(self, task: Task, ok: bool, value: Any, error: TaskError | None) -> None:
        """Announce an ended attempt and hand its outcome on (or retry it)."""
        # Callbacks run before the future resolves, as in multiprocessing:
        # whoever waits on the result sees the callback's effects.
        if ok:
            task.result = value
            task.finished_at = self._emit(E.TASK_DONE, task.id, task.worker_id, value).time
            if task.callback is not None:
                self._call_back(task, task.callback, value)
            self._release_future(task).set_result(value)
            return
        task.error = error
        if task.state is CANCELLED:
            task.finished_at = self._emit(E.TASK_CANCELLED, task.id, task.worker_id, error).time
        else:
            task.finished_at = self._emit(E.TASK_FAILED, task.id, task.worker_id, error).time
            if task.retries and not self._terminated:
                self._retry(task)
                return
        if task.error_callback is not None:
            self._call_back(task, task.error_callback, value)
        future = self._release_future(task)
        if not future.done():
            future.set_exception(value)

    @staticmethod
    def _release_future(task: Task) -> TaskFuture:
        """The ended task's future, which the record then lets go of: views
        keep records of finished tasks, and a future holds its exception, its
        traceback and every local variable of its frames."""
        future = task.future
        task.future = None
        assert future is not None, f"task {task.id} was handed over twice"
        return future

    def retry(self, task: Task, *, block: bool = True, queue_timeout: float | None = None) -> TaskFuture:
        """Run a finished task again as a new attempt (``attempt + 1``,
        ``retry_of`` its id), with a new future. Its record stays as it was.
        With a bounded queue, ``block`` and ``queue_timeout`` work as in
        ``schedule`` (a window passes ``block=False`` and reports QueueFull)."""
        if task.pool is not self:
            raise ValueError(f"task {task.id} belongs to another pool")
        if not task.state.finished:
            raise ValueError(f"task {task.id} is {task.state.value}; only a finished task can be retried")
        if self._closed:
            raise PoolClosed(f"cannot submit to this {self._kind}: it was shut down or closed")
        future = TaskFuture()
        again = self._next_attempt(task, future, retries=0)
        if self._room is not None:
            self._reserve_room(block, queue_timeout)
            again.holds_room = True
        self._enqueue(again)
        return future

    def _next_attempt(self, failed: Task, future: TaskFuture, retries: int) -> Task:
        task = Task(
            self,
            failed.fn,
            failed.args,
            failed.kwargs,
            failed.label,
            failed.timeout,
            retries,
            future,
            time.time(),
            attempt=failed.attempt + 1,
            retry_of=failed.id,
        )
        task.packed = failed.packed
        task.callback = failed.callback
        task.error_callback = failed.error_callback
        future.task = task
        return task

    def _retry(self, failed: Task) -> None:
        # Work already admitted: it takes no queue room and may run while the
        # pool shuts down.
        future = self._release_future(failed)
        self._enqueue(self._next_attempt(failed, future, failed.retries - 1), admitted=True)

    def _call_back(self, task: Task, fn: Callable[[Any], object], arg: Any) -> None:
        def call() -> None:
            try:
                fn(arg)
            except BaseException as exc:  # SystemExit too: it must not end the worker
                log.exception("callback %r of task %s failed", fn, task.id)
                self._emit(E.CALLBACK_FAILED, task.id, task.worker_id, TaskError.from_exception(exc))

        sink = self.callback_sink
        if sink is None:
            call()
        else:
            sink(call)

    def _report_progress(self, task: Task, fraction: float, message: str | None) -> None:
        if task.state is not RUNNING:
            return  # it ended already (timed out): say nothing more about it
        fraction = min(1.0, max(0.0, float(fraction)))
        task.progress = fraction
        self._emit(E.TASK_PROGRESS, task.id, task.worker_id, (fraction, message))

    # ---------------------------------------------------------- worker control

    def _new_worker(self, worker_id: int) -> _Worker:
        raise NotImplementedError

    def add_workers(self, n: int = 1) -> list[int]:
        """Start ``n`` more workers; returns their ids."""
        _check_count("n", n, minimum=1)
        with self._lock:
            if self._closed:
                raise PoolClosed(f"cannot add workers: this {self._kind} was shut down")
            self._target += n
            started = [self._start_worker_locked() for _ in range(n)]
        return [w.id for w in started]

    def _start_worker_locked(self) -> _Worker:
        worker = self._new_worker(self._next_worker_id())
        self._workers[worker.id] = worker
        if not worker.announces_start:
            self._announce_started_locked(worker)
        worker.start()
        return worker

    def _announce_started_locked(self, worker: _Worker) -> None:
        """Emit WORKER_STARTED once, before any other event of the worker."""
        if not worker.announced:
            worker.announced = True
            self._emit(E.WORKER_STARTED, None, worker.id, worker.started_info())

    def _active_locked(self) -> list[_Worker]:
        return [w for w in self._workers.values() if not (w.dismiss_requested or w.abandoned)]

    def dismiss_workers(self, n: int, join: bool = False) -> list[int]:
        """Dismiss ``n`` workers (at most all): idle ones first, at once; busy
        ones finish their current task, then leave. A dismissed worker never
        takes another task. With ``join``, wait until they are gone."""
        _check_count("n", n, minimum=0)
        with self._lock:
            active = self._active_locked()
            idle = [w for w in active if w.state is IDLE]
            busy = sorted(
                (w for w in active if w.state is not IDLE),
                key=lambda w: w.busy_since,
                reverse=True,
            )
            chosen = (idle + busy)[:n]
            self._dismiss_locked(chosen)
        self._cancel_if_stranded()
        if join:
            self._join(chosen)
        return [w.id for w in chosen]

    def dismiss_worker(self, worker_id: int, join: bool = False) -> None:
        """Dismiss one worker by id (after its current task, if it has one)."""
        with self._lock:
            worker = self._workers.get(worker_id)
            if worker is None:
                raise LookupError(f"this {self._kind} has no worker {worker_id!r}")
            if not (worker.dismiss_requested or worker.abandoned):
                self._dismiss_locked([worker])
        self._cancel_if_stranded()
        if join:
            self._join([worker])

    def _dismiss_locked(self, workers: Sequence[_Worker]) -> None:
        for worker in workers:
            self._announce_started_locked(worker)
            worker.dismiss_requested = True
            worker.state = DISMISSED
            self._target -= 1
            self._emit(E.WORKER_DISMISSED, None, worker.id)
            self._wake(worker)
            worker.nudge()

    def _worker_exited(self, worker: _Worker) -> None:
        """Called by the backend once a worker is gone for good, whatever
        ended it: record that, and keep the pool at its size (the one
        replacement rule, ``_replace_locked``)."""
        with self._lock:
            self._announce_started_locked(worker)
            self._wake(worker)  # never leave a gone worker in _idle
            self._workers.pop(worker.id, None)
            self._retired_done += worker.tasks_done
            self._retired_failed += worker.tasks_failed
            self._retired_cancelled += worker.tasks_cancelled
            worker.exited_at = time.time()
            worker.state = WorkerState.EXITED
            worker.task = None
            self._exited.append(worker)
            self._emit(E.WORKER_EXITED, None, worker.id)
            self._replace_locked()
        self._cancel_if_stranded()
        # It may have been woken for a task just as it was dismissed: pass
        # the wake-up on, or that task would wait for the next submit.
        if self._pending and not self._paused:
            self._wake_one()

    def _abandon(self, worker: _Worker) -> None:
        """Give up on a worker that cannot be stopped (the caller starts its
        replacement with ``_replace_locked``)."""
        with self._lock:
            worker.abandoned = True
            worker.state = ABANDONED
            self._emit(E.WORKER_ABANDONED, None, worker.id)

    def _replace_locked(self) -> None:
        """Start workers until the pool is back at its target size (also while
        it shuts down with work still queued: shutdown lets that work run).
        A dismissed worker took its place in the target with it, so it is
        not replaced; nor is any once the pool is terminated."""
        while (
            not self._terminated
            and (not self._closed or self._pending)
            and len(self._active_locked()) < self._target
        ):
            self._start_worker_locked()

    def _cancel_if_stranded(self) -> None:
        """A closed pool cannot get new workers: when none that may take a task
        is left, what is queued would wait for ever, so it ends CANCELLED."""
        with self._lock:
            stranded = self._closed and not self._active_locked() and bool(self._queued)
        if stranded:
            self.cancel_queued(NO_WORKER_LEFT)

    def join_dismissed(self, timeout: float | None = None) -> list[int]:
        """Wait for every dismissed or exited worker to be gone; returns their ids."""
        with self._lock:
            waiting = [w for w in self._workers.values() if w.dismiss_requested] + self._exited
        self._join(waiting, timeout)
        return [w.id for w in waiting]

    def _join_worker(self, worker_id: int, timeout: float | None = None) -> bool:
        """Wait for one worker to be gone, dismissed or not (``Thread.join``
        for the classic vocabulary); True once it is joined."""
        with self._lock:
            worker = self._workers.get(worker_id)
            if worker is None:
                worker = next((w for w in self._exited if w.id == worker_id), None)
        if worker is None:
            return True  # joined already
        self._join([worker], timeout)
        return worker.state is WorkerState.JOINED

    def _join(self, workers: Iterable[_Worker], timeout: float | None = None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        for worker in workers:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if worker.join(left):
                with self._lock:
                    if worker.state is WorkerState.EXITED:
                        worker.state = WorkerState.JOINED
                        if worker in self._exited:
                            self._exited.remove(worker)
                        self._emit(E.WORKER_JOINED, None, worker.id)

    def pause(self) -> None:
        """Stop handing out tasks; running tasks go on."""
        with self._lock:
            if not self._paused:
                self._paused = True
                self._emit(E.POOL_PAUSED)
                for worker in self._workers.values():
                    worker.nudge()

    def resume(self) -> None:
        """Hand out tasks again."""
        with self._lock:
            if not self._paused:
                return
            self._paused = False
            self._emit(E.POOL_RESUMED)
            for _ in range(min(len(self._pending), len(self._idle))):
                self._wake_one()

    @property
    def paused(self) -> bool:
        return self._paused

    def cancel(self, task_id: int) -> bool:
        """Cancel a task. A QUEUED task becomes CANCELLED at once (True). A
        RUNNING task is asked to stop (see the backend; a thread task reads
        ``current_task().cancel_requested``): False. A finished task: False.
        An id this pool never had: UnknownTask."""
        with self._lock:
            task = self._queued.pop(task_id, None)
            if task is not None:
                self._cancelled_queued += 1
            else:
                task = self._running.get(task_id)
                if task is not None:
                    task.cancel_requested = True
                    return self._cancel_running_locked(task)
                task = self._reserved.pop(task_id, None)
                if task is None:
                    if self._gave_out(task_id):
                        return False  # finished already
                    raise UnknownTask(f"this {self._kind} has no task {task_id!r}")
                # Handed to a worker but not started: cancelled now; the
                # worker is told to skip it.
                task.cancel_requested = True
                self._cancelled_queued += 1
                self._cancel_reserved_locked(task)
        self._leave_queue(task)
        self._announce_cancelled(task)
        return True

    def _gave_out(self, task_id: object) -> bool:
        if not isinstance(task_id, int):
            return False
        runs = self._id_runs
        index = bisect.bisect_right(runs, task_id, key=lambda run: run[0]) - 1
        return index >= 0 and runs[index][0] <= task_id <= runs[index][1]

    def cancel_queued(self, reason: str = "cancelled before it started") -> int:
        """Cancel every queued task; returns how many."""
        with self._lock:
            tasks = []
            for task_id in list(self._queued):
                task = self._queued.pop(task_id, None)
                if task is not None:
                    tasks.append(task)
            self._cancelled_queued += len(tasks)
        for task in tasks:
            self._leave_queue(task)
            self._announce_cancelled(task, reason)
        return len(tasks)

    def _announce_cancelled(
        self, task: Task, reason: str = "cancelled before it started", worker_id: int | None = None
    ) -> None:
        """End a task CANCELLED and cancel its future. For a queued task, and
        for a running one that the backend stopped because it was cancelled
        (a killed process: ``worker_id`` ran it), so that either way
        ``future.cancelled()`` is True. A task that raises TaskCancelled
        itself fails its future with it, like any exception (``_after_end``)."""
        error = TaskCancelled(reason)
        task.state = CANCELLED
        task.cancel_requested = True
        task.error = error
        task.finished_at = self._emit(E.TASK_CANCELLED, task.id, worker_id, error).time
        if task.error_callback is not None:
            self._call_back(task, task.error_callback, error)
        future = self._release_future(task)
        if future._cancel_as_future():
            # What an executor's worker does on meeting a cancelled item: it
            # wakes as_completed() and wait() callers.
            future.set_running_or_notify_cancel()

    def _cancel_running_locked(self, task: Task) -> bool:
        """Backends decide what cancelling a running task means."""
        return False

    def _cancel_reserved_locked(self, task: Task) -> None:
        """A backend that reserves tasks tells the worker to skip this one."""

    # ----------------------------------------------------------- introspection

    @property
    def workers(self) -> list[WorkerInfo]:
        """Every worker that has not been joined: active, dismissed, abandoned, exited."""
        with self._lock:
            workers = list(self._workers.values()) + list(self._exited)
        return [w.info() for w in workers]

    def stats(self) -> PoolStats:
        """The pool's counters now; ``tasks_per_second`` over the last few
        seconds of calls to ``stats()``."""
        now = time.monotonic()
        with self._lock:
            live = list(self._workers.values())
            done = self._retired_done + sum(w.tasks_done for w in live)
            failed = self._retired_failed + sum(w.tasks_failed for w in live)
            cancelled = (
                self._retired_cancelled + self._cancelled_queued + sum(w.tasks_cancelled for w in live)
            )
            queued, running = len(self._queued) + len(self._reserved), len(self._running)
            finished = done + failed + cancelled
            samples = self._rate_samples
            samples.append((now, finished))
            while len(samples) > 2 and now - samples[0][0] > 5.0:
                samples.popleft()
            t0, n0 = samples[0]
            rate = (finished - n0) / (now - t0) if now > t0 else 0.0
            return PoolStats(
                queued=queued,
                running=running,
                done=done,
                failed=failed,
                cancelled=cancelled,
                submitted=finished + queued + running,
                workers=len(self._active_locked()),
                idle_workers=len(self._idle),
                tasks_per_second=rate,
                paused=self._paused,
                closed=self._closed,
            )

    def task(self, task_id: int) -> Task | None:
        """The record of a queued or running task (None once it has finished)."""
        return self._queued.get(task_id) or self._reserved.get(task_id) or self._running.get(task_id)

    # ----------------------------------------------------------- map and co.

    def map(
        self,
        fn: Callable[..., Any],
        *iterables: Iterable[Any],
        timeout: float | None = None,
        chunksize: int | None = None,
    ) -> Iterator[Any]:
        """Like ``Executor.map``: results in order, lazily; an item's exception
        is raised when its turn comes. ``chunksize`` > 1 runs that many items
        per task, which costs far less per item."""
        if len(iterables) == 1:
            return self._map(fn, iterables[0], False, timeout, chunksize, ordered=True)
        return self._map(fn, zip(*iterables, strict=False), True, timeout, chunksize, ordered=True)

    def _map(
        self,
        fn: Callable[..., Any],
        items: Iterable[Any],
        star: bool,
        timeout: float | None,
        chunksize: int | None,
        ordered: bool,
    ) -> Iterator[Any]:
        """Schedule ``fn`` over ``items`` (argument tuples when ``star``), one
        task per chunk, and return an iterator over the results."""
        end = None if timeout is None else time.monotonic() + timeout
        items = list(items)
        size = self._chunk_size(len(items), chunksize)
        if size > 1 and self._checks_tasks:
            self._check_task(fn, (), None)  # a clear error for fn itself, not for run_chunk
        if size == 1:
            schedule = self._submit
            futures = [
                schedule(fn, args if star else (args,), None, None, None, 0, None, None, True, None)
                for args in items
            ]
        else:
            futures = [
                self.schedule(run_chunk, (fn, items[i : i + size], star), label=chunk_label(fn, i, size))
                for i in range(0, len(items), size)
            ]
        return results(futures, end, chunked=size > 1, ordered=ordered)

    #: Backends whose tasks cost far more than a call (processes) cut the input
    #: of map and imap into chunks when no chunksize is given.
    _auto_chunks = False

    def _chunk_size(self, n_items: int, chunksize: int | None) -> int:
        if chunksize is not None:
            _check_count("chunksize", chunksize, minimum=1)
            return chunksize
        if not self._auto_chunks:
            return 1
        # As multiprocessing.Pool.map does: about four chunks per worker.
        size, extra = divmod(n_items, self._worker_count() * 4)
        return max(1, size + bool(extra))

    def _worker_count(self) -> int:
        with self._lock:
            return max(1, len(self._active_locked()))

    def apply_async(
        self,
        fn: Callable[..., Any],
        args: Iterable[Any] = (),
        kwds: dict[str, Any] | None = None,
        callback: Callable[[Any], object] | None = None,
        error_callback: Callable[[BaseException], object] | None = None,
    ) -> AsyncResult:
        """``multiprocessing.Pool.apply_async``: callbacks run once the task
        ends (in the worker, or on the GUI thread under PoolSignals)."""
        future = self._submit(
            fn, tuple(args), kwds or None, None, None, 0, callback, error_callback, True, None
        )
        return AsyncResult(future)

    def apply(self, fn: Callable[..., Any], args: Iterable[Any] = (), kwds: dict | None = None) -> Any:
        """``multiprocessing.Pool.apply``: run one task and wait for it."""
        return self.schedule(fn, args, kwds or None).result()

    def starmap(
        self, fn: Callable[..., Any], iterable: Iterable[Iterable[Any]], chunksize: int | None = None
    ) -> list[Any]:
        """``multiprocessing.Pool.starmap``: ``fn(*args)`` for each, as a list."""
        return list(self._map(fn, (tuple(a) for a in iterable), True, None, chunksize, ordered=True))

    def imap(self, fn: Callable[..., Any], iterable: Iterable[Any], chunksize: int | None = None) -> Stream:
        """``multiprocessing.Pool.imap``: results in order as they come.

        The input is read lazily, a bounded window ahead of the results, so it
        may be endless. Without ``chunksize`` items are cut into chunks as
        ``map`` cuts them (a process pool does; a thread pool sends them one
        by one). See ``Stream`` for errors and time-outs."""
        return self._imap(fn, iterable, chunksize, ordered=True)

    def imap_unordered(
        self, fn: Callable[..., Any], iterable: Iterable[Any], chunksize: int | None = None
    ) -> Stream:
        """``multiprocessing.Pool.imap_unordered``: results as tasks finish;
        otherwise as ``imap``."""
        return self._imap(fn, iterable, chunksize, ordered=False)

    def _imap(
        self, fn: Callable[..., Any], iterable: Iterable[Any], chunksize: int | None, ordered: bool
    ) -> Stream:
        if self._closed:
            raise PoolClosed(f"cannot submit to this {self._kind}: it was shut down or closed")
        window = STREAM_CHUNKS_PER_WORKER * self._worker_count()
        items = iter(iterable)
        if chunksize is None and self._auto_chunks:
            # The input may be endless: cut as map would cut a bounded look-ahead.
            ahead, items = read_ahead(items, window * STREAM_CHUNK_LIMIT)
            size = self._chunk_size(len(ahead), None)
        else:
            size = self._chunk_size(0, chunksize)
        if size > 1 and self._checks_tasks:
            self._check_task(fn, (), None)  # a clear error for fn itself, not for run_chunk

        def submit(part: list[Any], start: int) -> TaskFuture:
            if size == 1:
                return self._submit(fn, (part[0],), None, None, None, 0, None, None, True, None)
            return self.schedule(run_chunk, (fn, part, False), label=chunk_label(fn, start, len(part)))

        return Stream(submit, items, size, window, ordered)

    # --------------------------------------------------------------- closing

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Take no new tasks; let queued ones run (or cancel them with
        ``cancel_futures``); with ``wait``, return once every worker is gone.
        A paused pool resumes so that its queue can drain."""
        if cancel_futures:
            self.cancel_queued()
        with self._lock:
            first = not self._closed
            self._closed = True
            self._paused = False
            for worker in list(self._idle):
                self._wake(worker)
            for worker in self._workers.values():
                worker.nudge()
            if first:
                self._emit(E.POOL_SHUT_DOWN)
        self._cancel_if_stranded()
        if self._room is not None:
            for _ in range(self._queue_size):
                self._room.release()  # let blocked submitters see the pool is closed
        if wait:
            self._join_all()

    def _join_all(self, timeout: float | None = None) -> None:
        """Join every worker that is not abandoned, including replacements
        started while we wait."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                workers = [w for w in self._workers.values() if not w.abandoned] + self._exited
            if not workers:
                return
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return
            self._join(workers, left)

    def close(self) -> None:
        """``multiprocessing.Pool.close``: take no new tasks; queued ones still run."""
        self.shutdown(wait=False)

    def join(self) -> None:
        """``multiprocessing.Pool.join``: wait for the workers after close() or terminate()."""
        if not self._closed:
            raise ValueError("call close() or terminate() before join()")
        self._join_all()

    def terminate(self) -> None:
        """Stop now: cancel queued tasks and stop running ones as far as the
        backend can (a thread task is asked to stop; a process is killed)."""
        self._terminated = True
        self.cancel_queued()
        with self._lock:
            for task in list(self._running.values()):
                task.cancel_requested = True
                self._cancel_running_locked(task)
        self.shutdown(wait=False)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.shutdown(wait=True)

    def __repr__(self) -> str:
        s = self.stats()
        state = "closed" if s.closed else "paused" if s.paused else "running"
        return (
            f"<{type(self).__name__} {state} workers={s.workers} queued={s.queued} "
            f"running={s.running} done={s.done} failed={s.failed}>"
        )


# ------------------------------------------------------------------ helpers


def _error_record(exc: BaseException) -> TaskError:
    return exc if isinstance(exc, TaskError) else TaskError.from_exception(exc)


def _check_seconds(name: str, value: Any, allow_zero: bool = False) -> None:
    """A time-out must be a real number of seconds: a clear error for
    ``timeout="5"`` rather than a comparison failing somewhere inside."""
    if type(value) is not float and (isinstance(value, bool) or not isinstance(value, numbers.Real)):
        raise TypeError(f"{name} must be a number of seconds, got {type(value).__name__}: {value!r}")
    seconds = float(value)
    if not (seconds >= 0 if allow_zero else seconds > 0):  # NaN fails both
        which = "zero or more" if allow_zero else "a positive number of"
        raise ValueError(f"{name} must be {which} seconds, got {value!r}")


def _check_count(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be a whole number, got {type(value).__name__}: {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")


# Pools not shut down by their owner are shut down at interpreter exit, like
# ThreadPoolExecutor does: queued tasks still run.
_live_pools: weakref.WeakSet[Pool] = weakref.WeakSet()


@atexit.register
def _shut_down_all() -> None:
    for pool in list(_live_pools):
        try:
            pool.shutdown(wait=True)
        except Exception:  # pragma: no cover - best effort at exit
            log.exception("shutting down %r at exit failed", pool)
