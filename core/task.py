"""Task records, their futures, and what a running task knows about itself.

A ``Task`` is one attempt at running a callable. Its life is the state
machine QUEUED -> RUNNING -> DONE | FAILED | CANCELLED (QUEUED may go straight
to CANCELLED). A retry never rewrites a finished task: it creates a new task
with ``attempt + 1`` and ``retry_of`` pointing back, and the caller's future
follows the newest attempt.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from concurrent.futures._base import (  # the states the standard functions read
    CANCELLED,
    CANCELLED_AND_NOTIFIED,
    FINISHED,
    PENDING,
)
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .errors import TaskError
    from .pool import Pool

__all__ = [
    "Task",
    "TaskContext",
    "TaskFuture",
    "TaskState",
    "current_task",
    "report_progress",
]

log = logging.getLogger(__name__)


class TaskState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in _FINISHED


_FINISHED = frozenset({TaskState.DONE, TaskState.FAILED, TaskState.CANCELLED})

# Ids are unique across every pool of the process, so views that show several
# pools never confuse two tasks.
_next_task_id = itertools.count(1).__next__


class Task:
    """The engine's record of one attempt. The pool owns the mutable fields
    and changes them under its lock; everyone else reads."""

    __slots__ = (
        "__weakref__",
        "args",
        "attempt",
        "callback",
        "cancel_requested",
        "error",
        "error_callback",
        "finished_at",
        "fn",
        "future",
        "holds_room",
        "id",
        "kwargs",
        "label",
        "packed",
        "pool",
        "progress",
        "result",
        "retries",
        "retry_of",
        "started_at",
        "state",
        "submitted_at",
        "timeout",
        "worker_id",
    )

    def __init__(
        self,
        pool: Pool,
        fn: Callable[..., Any],
        args: tuple,
        kwargs: dict[str, Any] | None,
        label: str | None,
        timeout: float | None,
        retries: int,
        future: TaskFuture,
        submitted_at: float,
        attempt: int = 1,
        retry_of: int | None = None,
    ) -> None:
        self.id = _next_task_id()
        self.pool = pool
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        #: what a backend prepared to send the task elsewhere (a process pool's pickle)
        self.packed: Any = None
        self.holds_room = False  # it took a place in a bounded queue
        self.label = label
        self.timeout = timeout
        self.retries = retries
        self.attempt = attempt
        self.retry_of = retry_of
        #: the caller's future, until the attempt ends (then None)
        self.future: TaskFuture | None = future
        self.callback: Callable[[Any], object] | None = None
        self.error_callback: Callable[[BaseException], object] | None = None
        self.state = TaskState.QUEUED
        self.worker_id: int | None = None
        self.submitted_at = submitted_at
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self.result: Any = None
        self.error: TaskError | None = None
        self.progress: float | None = None
        self.cancel_requested = False

    @property
    def name(self) -> str:
        """The label, or the callable's name when no label was given."""
        if self.label:
            return self.label
        return getattr(self.fn, "__qualname__", None) or repr(self.fn)

    def __repr__(self) -> str:
        return f"<Task {self.id} {self.name!r} {self.state.value} attempt {self.attempt}>"


#: Guards the creation of a future's condition (rare: only when somebody
#: waits on a future that has not finished, or adds a done callback).
_condition_created = threading.Lock()
_DONE_STATES = frozenset({CANCELLED, CANCELLED_AND_NOTIFIED, FINISHED})
_CANCELLED_STATES = frozenset({CANCELLED, CANCELLED_AND_NOTIFIED})


class TaskFuture(Future):
    """A standard ``concurrent.futures.Future`` that knows its task.

    ``task_id`` names the newest attempt. ``cancel()`` keeps the standard
    meaning (True only for a task that had not started) and also tells the
    pool, so the task's record becomes CANCELLED with one event. ``running()``
    reads the task's state, so the pool need not mark every future running.

    Cheaper than a plain Future where nobody waits: its condition (a
    ``threading.Condition`` with its lock, its deque and five bound methods,
    eight objects the garbage collector tracks) and its lists of waiters and
    callbacks are made only when first needed -- by ``result()`` or
    ``exception()`` before it is done, ``add_done_callback``,
    ``as_completed``, ``wait`` or asyncio. Everything the standard API and
    those functions touch (``_condition``, ``_waiters``, ``_state``) behaves
    as on a plain Future.

    Why resolving it needs no lock while nobody waits: the pool resolves each
    future exactly once (from the thread that won the task's pop from
    ``_queued`` or ``_running``, see core.pool), so there is no second writer.
    ``set_result`` writes the result, then the state, then looks for a
    condition; a waiter makes the condition, then takes it, then reads the
    state. Under the GIL these steps are ordered, so either the resolver sees
    the condition (and wakes the waiter under it, as a plain Future does) or
    the waiter sees the state FINISHED and does not wait. The same holds for
    done callbacks, which are only ever added under the condition.
    """

    __slots__ = ("_callbacks", "_cond", "_exception", "_result", "_state", "_waiter_list", "task")
    task: Task | None

    def __init__(self) -> None:
        # Not Future.__init__: it makes the condition at once.
        self._state = PENDING
        self._result: Any = None
        self._exception: BaseException | None = None
        self._cond: threading.Condition | None = None
        self._waiter_list: list[Any] | None = None
        self._callbacks: list[Callable[[Future[Any]], object]] | None = None
        self.task = None

    # What the standard code reads, made when first read.

    @property
    def _condition(self) -> threading.Condition:  # type: ignore[override]
        cond = self._cond
        if cond is None:
            with _condition_created:
                cond = self._cond
                if cond is None:
                    cond = self._cond = threading.Condition()
        return cond

    @property
    def _waiters(self) -> list[Any]:  # type: ignore[override]
        # Read under the condition only (by as_completed, wait and the setters).
        waiters = self._waiter_list
        if waiters is None:
            waiters = self._waiter_list = []
        return waiters

    @property
    def _done_callbacks(self) -> list[Callable[[Future[Any]], object]]:  # type: ignore[override]
        callbacks = self._callbacks
        if callbacks is None:
            callbacks = self._callbacks = []
        return callbacks

    # Reading: no lock once it is done.

    @property
    def task_id(self) -> int | None:
        task = self.task
        return task.id if task is not None else None

    def done(self) -> bool:
        return self._state in _DONE_STATES

    def cancelled(self) -> bool:
        return self._state in _CANCELLED_STATES

    def running(self) -> bool:
        task = self.task
        return task is not None and task.state is TaskState.RUNNING and not self.done()

    def result(self, timeout: float | None = None) -> Any:
        if self._state == FINISHED:
            error = self._exception
            if error is None:
                return self._result
            try:
                raise error
            finally:
                del error, self  # no cycle through the traceback
        return super().result(timeout)

    def exception(self, timeout: float | None = None) -> BaseException | None:
        if self._state == FINISHED:
            return self._exception
        return super().exception(timeout)

    def add_done_callback(self, fn: Callable[[Future[Any]], object]) -> None:
        with self._condition:  # from now on, resolving takes the condition too
            if self._state not in _DONE_STATES:
                self._done_callbacks.append(fn)
                return
        try:
            fn(self)
        except Exception:
            log.exception("exception calling callback for %r", self)

    # Resolving (the pool's side).

    def set_result(self, result: Any) -> None:
        if self._cond is not None:
            super().set_result(result)  # somebody waits: the standard way
            return
        if self._state in _DONE_STATES:
            raise InvalidStateError(f"{self._state}: {self!r}")
        self._result = result
        self._state = FINISHED
        if self._cond is not None:  # a waiter came just now
            self._notify_finished(_add_result)

    def set_exception(self, exception: BaseException | None) -> None:
        if self._cond is not None:
            super().set_exception(exception)
            return
        if self._state in _DONE_STATES:
            raise InvalidStateError(f"{self._state}: {self!r}")
        self._exception = exception
        self._state = FINISHED
        if self._cond is not None:
            self._notify_finished(_add_exception)

    def _notify_finished(self, tell: Callable[[Any, Future[Any]], None]) -> None:
        """What a plain Future does under its condition once it is FINISHED,
        for a waiter that made the condition while the state was written."""
        with self._condition:
            for waiter in self._waiters:
                tell(waiter, self)
            self._condition.notify_all()
        self._invoke_callbacks()

    def cancel(self) -> bool:
        task = self.task
        if task is None:
            return super().cancel()
        task.pool.cancel(task.id)
        return self.cancelled()

    def _cancel_as_future(self) -> bool:
        """The plain Future cancel, for the pool's own use."""
        return super().cancel()

    def _invoke_callbacks(self) -> None:
        # As Future's, but for any exception (SystemExit too): a done callback
        # runs in the worker that resolved the future and must not end it.
        for callback in self._callbacks or ():
            try:
                callback(self)
            except BaseException:
                log.exception("exception calling callback for %r", self)


def _add_result(waiter: Any, future: Future[Any]) -> None:
    waiter.add_result(future)


def _add_exception(waiter: Any, future: Future[Any]) -> None:
    waiter.add_exception(future)


class TaskContext:
    """What a running task may ask about itself, from inside its callable."""

    __slots__ = ("_emit_progress", "_task")

    def __init__(self, task: Task, emit_progress: Callable[[Task, float, str | None], None]):
        self._task = task
        self._emit_progress = emit_progress

    @property
    def task_id(self) -> int:
        return self._task.id

    @property
    def attempt(self) -> int:
        return self._task.attempt

    @property
    def cancel_requested(self) -> bool:
        """True once somebody asked to cancel this task. A thread cannot be
        stopped from outside: a long task should look here now and then and
        end early (``raise TaskCancelled()`` marks it CANCELLED)."""
        return self._task.cancel_requested

    def raise_if_cancelled(self) -> None:
        if self._task.cancel_requested:
            from .errors import TaskCancelled

            raise TaskCancelled("the task stopped early because it was asked to")

    def report_progress(self, fraction: float, message: str | None = None) -> None:
        self._emit_progress(self._task, fraction, message)


# Per worker thread: the running task and the function that reports its
# progress (set once per thread, so starting a task costs one attribute store).
_local = threading.local()


def current_task() -> TaskContext:
    """The context of the task running in this thread (or worker process).

    Raises ``RuntimeError`` outside a task."""
    task = getattr(_local, "task", None)
    if task is None:
        raise RuntimeError("current_task() was called outside a pool task")
    return TaskContext(task, _local.emit_progress)


def report_progress(fraction: float, message: str | None = None) -> None:
    """Tell the pool how far the running task has got (0.0 to 1.0).

    Outside a task it does nothing, so library code can report freely."""
    task = getattr(_local, "task", None)
    if task is not None:
        _local.emit_progress(task, fraction, message)
