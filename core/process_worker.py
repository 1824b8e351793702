"""What runs inside a worker process. Imports no Qt and little else, so a
worker starts fast.

Messages are tiny tuples; a task travels as ``(seq, task_id, attempt, blob)``
where ``seq`` numbers what this worker was sent (1, 2, ...) and the blob is
the pickled ``(fn, args, kwargs)``::

    parent -> child   ("run", [(seq, task_id, attempt, blob), ...])   tasks it may be asked to run
                      ("cancel", task_id)               the running task should stop
    child -> parent   ("result", task_id, ok, payload, started, finished)
                      ("progress", task_id, fraction, message)
                      ("ready",)                        once, when the worker is up

``payload`` is the pickled result, or for a failure ``(error_blob,
exception_blob or None)``: the TaskError record always, the exception itself
when it pickles, so the parent can raise the original type.

Which tasks run is decided by tickets, not by messages: a pipe of its own
(``tickets``) carries one 8-byte ticket, the task's ``seq``, per task sent,
written before its "run" message. Before each task the main thread reads one
ticket -- one read, which the kernel hands to exactly one reader -- and runs
the task it names; tasks it passed over (a ticket with a higher ``seq``) were
taken back. The parent holds the reading end too: to take back what was sent
ahead it reads the tickets still in the pipe itself and writes back those it
leaves. So the parent never waits for an answer, and a task can neither run
twice nor be lost, even while the running task holds the GIL and no other
thread here can run (``sum(itertools.repeat(1, 10**11))``). The ticket
``EXIT`` (0) says: leave now, every task before it is done.

The child runs its tasks in the order received and starts the next one the
moment the previous one ends, so the parent knows which task runs without a
message per start. Each result is written to the pipe before the next task
starts: should the process die in that task, every earlier result is still
in the pipe for the parent to read (which reads many at once). A reader
thread takes every message as it comes (so "cancel" reaches a running task).

When the parent dies, a thread watching the lifeline pipe ends the process,
even in the middle of a task -- but only when it gets the GIL, which a task
in C code never lets go. So on Linux the kernel ends it too: the worker asks
for SIGKILL when its own parent dies (``PR_SET_PDEATHSIG``). With the
forkserver, that parent is the forkserver, which leaves when the pool's
process is gone and the write ends of its "alive" pipe are all closed -- and
every child inherits one of those, so each worker closes its copy first
thing. The chain, when the pool's process is SIGKILLed: its end of the alive
pipe closes, the forkserver sees EOF and exits, the kernel kills its children
(the workers), and the resource tracker leaves once the last of them is gone.
"""

from __future__ import annotations

import os
import pickle
import select
import signal
import sys
import threading
import time
from collections import deque
from typing import Any

from .errors import TaskError
from .task import _local

#: Progress of one task is sent at most this often (seconds), and its end always.
PROGRESS_INTERVAL = 0.05

_PROTOCOL = pickle.HIGHEST_PROTOCOL

#: A ticket is a task's ``seq``, 8 bytes little-endian; ``EXIT`` says leave.
TICKET_SIZE = 8
EXIT = 0


class _ChildTask:
    """What ``current_task()`` sees inside a worker process."""

    __slots__ = ("attempt", "cancel_requested", "id", "last_progress")

    def __init__(self, task_id: int, attempt: int) -> None:
        self.id = task_id
        self.attempt = attempt
        self.cancel_requested = False
        self.last_progress = 0.0


def main(conn: Any, lifeline: Any, tickets: Any) -> None:
    """The worker process: run the tasks from ``conn`` that ``tickets`` names,
    until told to exit."""
    if sys.platform.startswith("linux"):
        _die_with_parent()
    threading.Thread(target=_watch_parent, args=(lifeline,), daemon=True).start()
    child = _Child(conn, tickets)
    child.send(("ready",))
    child.run()


#: prctl(2) option: the signal this process gets when its parent dies.
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Have the kernel SIGKILL this process when its parent dies (Linux)."""
    import ctypes  # here: only a Linux worker needs it

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
    except (OSError, AttributeError) as exc:  # the lifeline thread still watches
        print(f"poolscope worker {os.getpid()}: PR_SET_PDEATHSIG failed: {exc}", file=sys.stderr)
    # Only now: the forkserver cannot have left before the signal was asked
    # for, since this process held a write end of its alive pipe until here.
    _close_forkserver_alive_fd()


def _close_forkserver_alive_fd() -> None:
    """Let go of the forkserver's "alive" pipe, which every child of the
    forkserver inherits and which keeps the forkserver (and so this worker,
    through PR_SET_PDEATHSIG) up after the pool's process died. A worker
    never uses it: a pool inside a worker starts a forkserver of its own."""
    from multiprocessing import forkserver

    server: Any = forkserver._forkserver  # its alive fd is private to multiprocessing
    if server.get_inherited_fds() is None:
        return  # not started by the forkserver
    fd = server._forkserver_alive_fd
    if fd is not None:
        server._forkserver_alive_fd = None
        try:
            os.close(fd)
        except OSError:
            pass


def _watch_parent(lifeline: Any) -> None:
    # The parent holds the only writing end: EOF means the parent is gone.
    try:
        lifeline.recv_bytes()
    except (EOFError, OSError):
        pass
    os._exit(3)


class _Child:
    def __init__(self, conn: Any, tickets: Any) -> None:
        self.conn = conn
        self.tickets = tickets  # kept: its file descriptor lives as long as it does
        self.tickets_fd = tickets.fileno()
        # The parent reads this pipe too, so neither side may block in a read.
        os.set_blocking(self.tickets_fd, False)
        self.tasks: deque[tuple[int, int, int, bytes]] = deque()
        self.ready = threading.Condition(threading.Lock())
        self.exiting = False
        self.current: _ChildTask | None = None
        self.send_lock = threading.Lock()
        _local.emit_progress = self.report_progress
        threading.Thread(target=self.read, daemon=True).start()

    # -------------------------------------------------------- reader thread

    def read(self) -> None:
        conn = self.conn
        try:
            while True:
                self.handle(conn.recv())
        except (EOFError, OSError):
            with self.ready:
                self.exiting = True
                self.tasks.clear()
                self.ready.notify()

    def handle(self, message: tuple) -> None:
        kind = message[0]
        if kind == "run":
            with self.ready:
                self.tasks.extend(message[1])
                self.ready.notify()
        elif kind == "cancel":
            current = self.current
            if current is not None and current.id == message[1]:
                current.cancel_requested = True

    # ------------------------------------------------------------ main thread

    def run(self) -> None:
        ready = self.ready
        tasks = self.tasks
        try:
            while True:
                seq = self.claim()
                if seq is None:
                    return  # told to exit: everything it was given has run
                with ready:
                    while True:
                        # Passed over: taken back by the parent (their tickets
                        # were read there), to run elsewhere or later.
                        while tasks and tasks[0][0] < seq:
                            tasks.popleft()
                        if tasks or self.exiting:
                            break
                        ready.wait()  # the ticket came before its "run" message
                    if not tasks:
                        return  # the parent is gone
                    _, task_id, attempt, blob = tasks.popleft()
                    task = self.current = _ChildTask(task_id, attempt)
                self.send(self.run_one(task, blob))
        except (EOFError, OSError):
            return  # the parent is gone

    def claim(self) -> int | None:
        """Take the next ticket: the ``seq`` of the task to run next; None
        to leave (EXIT, or the parent closed the pipe). Waits for one with
        the GIL released."""
        fd = self.tickets_fd
        while True:
            try:
                ticket = os.read(fd, TICKET_SIZE)
            except BlockingIOError:
                # None yet, or the parent has just read them back: wait.
                select.select([fd], [], [])
                continue
            if not ticket:
                return None
            seq = int.from_bytes(ticket, "little")
            return None if seq == EXIT else seq

    def run_one(self, task: _ChildTask, blob: bytes) -> tuple:
        """Run one task; returns its "result" message."""
        started = time.time()
        payload: Any
        try:
            fn, args, kwargs = pickle.loads(blob)
        except Exception as exc:
            error = TaskError.from_exception(exc)
            error = TaskError(
                error.type_name,
                f"the task could not be unpickled in the worker process: {error.message}",
                error.traceback,
            )
            self.current = None
            return ("result", task.id, False, (pickle.dumps(error, _PROTOCOL), None), started, time.time())
        try:
            _local.task = task
            value = fn(*args, **kwargs) if kwargs else fn(*args)
        except BaseException as exc:  # SystemExit, KeyboardInterrupt too: the worker carries on
            _local.task = None
            ok, payload = False, _pack_failure(exc)
        else:
            _local.task = None
            try:
                ok, payload = True, pickle.dumps(value, _PROTOCOL)
            except Exception as exc:
                error = TaskError(
                    "UnpicklableResult",
                    f"the task's result, of type {_type_name(value)}, cannot be pickled to come "
                    f"back from the worker process ({type(exc).__name__}: {exc}); return plain data",
                )
                ok, payload = False, (pickle.dumps(error, _PROTOCOL), None)
        self.current = None
        return ("result", task.id, ok, payload, started, time.time())

    def send(self, message: tuple) -> None:
        with self.send_lock:
            self.conn.send(message)

    def report_progress(self, task: _ChildTask, fraction: float, message: str | None) -> None:
        now = time.monotonic()
        fraction = min(1.0, max(0.0, float(fraction)))
        if fraction < 1.0 and now - task.last_progress < PROGRESS_INTERVAL:
            return
        task.last_progress = now
        self.send(("progress", task.id, fraction, None if message is None else str(message)))


#: What a task may raise that is never raised again in the parent, where it
#: would end the program: the parent gets the TaskError record instead.
NOT_RAISED_IN_PARENT = (SystemExit, KeyboardInterrupt)


def failure_record(exc: BaseException) -> TaskError:
    """The TaskError that travels home for a failed task (or a failed item of
    a map chunk): type, message and the child's traceback text. For
    sys.exit() and KeyboardInterrupt it says that the worker carries on."""
    if isinstance(exc, TaskError):
        return exc
    error = TaskError.from_exception(exc)
    if isinstance(exc, SystemExit):
        return TaskError(
            error.type_name,
            f"the task called sys.exit({exc.code!r}); the worker process carries on",
            error.traceback,
        )
    if isinstance(exc, KeyboardInterrupt):
        return TaskError(
            error.type_name,
            "the task was interrupted (KeyboardInterrupt); the worker process carries on",
            error.traceback,
        )
    return error


def _pack_failure(exc: BaseException) -> tuple[bytes, bytes | None]:
    error_blob = pickle.dumps(failure_record(exc), _PROTOCOL)
    if isinstance(exc, NOT_RAISED_IN_PARENT):
        return error_blob, None
    try:
        return error_blob, pickle.dumps(exc, _PROTOCOL)
    except Exception:
        return error_blob, None


def _type_name(value: Any) -> str:
    cls = type(value)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
