"""The exception family of the engine.

A failure is data: every task that does not end well carries one of these on
its record, and the same object (or the task's own exception, for callers of
``Future.result``) is what the user sees. Messages say what happened and what
to do about it.
"""

from __future__ import annotations

import traceback as _traceback
from concurrent.futures import CancelledError

__all__ = [
    "PoolClosed",
    "QueueFull",
    "StoreCorrupt",
    "StoreError",
    "StoreForeign",
    "StoreLocked",
    "StoreReadOnly",
    "StoreTooNew",
    "TaskCancelled",
    "TaskError",
    "TaskTimeout",
    "UnknownRun",
    "UnknownTask",
    "WorkerLost",
]


class TaskError(Exception):
    """A task failed; carries the original exception's type name, message and
    the full traceback text (also when the task ran in another process).

    ``TaskError`` is a record first: it pickles, compares by its text and can be
    shown, copied or stored without the original exception object.
    """

    def __init__(self, type_name: str, message: str, traceback: str = "") -> None:
        super().__init__(type_name, message, traceback)
        self.type_name = type_name
        self.message = message
        self.traceback = traceback

    @classmethod
    def from_exception(cls, exc: BaseException) -> TaskError:
        """Capture ``exc`` (with its traceback and chained causes) as text."""
        text = "".join(_traceback.format_exception(exc))
        return cls(_qualified_name(type(exc)), str(exc), text)

    def __str__(self) -> str:
        return f"{self.type_name}: {self.message}" if self.message else self.type_name

    def __reduce__(self):
        return (type(self), self.args)


class TaskTimeout(TaskError):
    """A task ran longer than its time-out and was given up (a thread) or
    killed (a process)."""

    def __init__(self, seconds: float, traceback: str = "") -> None:
        message = (
            f"the task ran longer than its time-out of {seconds:g} s; its result, if any comes, is discarded"
        )
        TaskError.__init__(self, "TaskTimeout", message, traceback)
        self.args = (seconds, traceback)
        self.seconds = seconds


class TaskCancelled(TaskError, CancelledError):
    """A task was cancelled before or while it ran.

    Also a ``concurrent.futures.CancelledError``, so code that already handles
    cancelled futures handles this too. A task may raise it itself after it
    sees ``current_task().cancel_requested``.
    """

    def __init__(self, reason: str = "the task was cancelled") -> None:
        TaskError.__init__(self, "TaskCancelled", reason)
        self.args = (reason,)


class WorkerLost(TaskError):
    """The worker running a task died (killed, crashed, exited) before the task
    finished."""

    def __init__(
        self,
        pid: int | None = None,
        exitcode: int | None = None,
        detail: str = "",
    ) -> None:
        if exitcode is not None and exitcode < 0:
            how = f"was killed by signal {-exitcode}"
        elif exitcode is not None:
            how = f"exited with code {exitcode}"
        else:
            how = "was lost"
        who = f"worker process {pid}" if pid is not None else "the worker"
        message = f"{who} {how} while running the task"
        if detail:
            message = f"{message} ({detail})"
        TaskError.__init__(self, "WorkerLost", message)
        self.args = (pid, exitcode, detail)
        self.pid = pid
        self.exitcode = exitcode
        self.signal = -exitcode if exitcode is not None and exitcode < 0 else None


class QueueFull(Exception):
    """The pool's bounded queue stayed full for the whole wait."""


class PoolClosed(RuntimeError):
    """The pool was shut down or closed and takes no new tasks."""


class UnknownTask(LookupError):
    """No task with that id was ever submitted to this pool."""


class StoreError(Exception):
    """The history store cannot be used as asked. ``path`` names the file;
    the message says what happened and what to do. The app goes on without
    history (see ``core.store.open_store``)."""

    def __init__(self, path: object, message: str) -> None:
        super().__init__(path, message)
        self.path = path
        self.message = message

    def __str__(self) -> str:
        return self.message


class StoreCorrupt(StoreError):
    """The history file is damaged or is not an SQLite file at all."""

    def __init__(self, path: object, detail: str) -> None:
        StoreError.__init__(
            self,
            path,
            f"the history file {path} is damaged ({detail}); move it away, or pass another file with --db",
        )
        self.args = (path, detail)
        self.detail = detail


class StoreLocked(StoreError):
    """Another PoolScope (process ``pid``) is writing this history file."""

    def __init__(self, path: object, pid: int | None) -> None:
        who = f"another PoolScope (process {pid})" if pid else "another PoolScope"
        StoreError.__init__(
            self,
            path,
            f"the history file {path} is in use by {who}; close it, or pass another file with --db",
        )
        self.args = (path, pid)
        self.pid = pid


class StoreReadOnly(StoreError):
    """The history file or its folder cannot be written."""

    def __init__(self, path: object, reason: str) -> None:
        StoreError.__init__(
            self, path, f"cannot write the history file {path} ({reason}); pass a writable file with --db"
        )
        self.args = (path, reason)
        self.reason = reason


class StoreTooNew(StoreError):
    """The history file was written by a newer PoolScope, with a schema this
    one does not know. It is left as it is."""

    def __init__(self, path: object, version: int, supported: int) -> None:
        StoreError.__init__(
            self,
            path,
            f"the history file {path} was written by a newer PoolScope (schema version {version}; "
            f"this one reads up to {supported}); it is left untouched: upgrade PoolScope, "
            "or pass another file with --db",
        )
        self.args = (path, version, supported)
        self.version = version
        self.supported = supported


class StoreForeign(StoreError):
    """The file is an SQLite database of some other program. It is left as it is."""

    def __init__(self, path: object) -> None:
        StoreError.__init__(
            self,
            path,
            f"{path} is an SQLite database but not a PoolScope history; it is left untouched: "
            "pass another file with --db",
        )
        self.args = (path,)


class UnknownRun(StoreError, LookupError):
    """No run with that id is recorded (it may have been deleted)."""

    def __init__(self, path: object, run_id: object) -> None:
        StoreError.__init__(self, path, f"no run {run_id!r} is recorded in {path}; see: poolscope history")
        self.args = (path, run_id)
        self.run_id = run_id


def _qualified_name(cls: type) -> str:
    module = cls.__module__
    if module in ("builtins", "__main__", None):
        return cls.__qualname__
    return f"{module}.{cls.__qualname__}"
