"""The classic ``threadpool`` (1.3.2) vocabulary, on ``core.ThreadPool``.

A program written for the old library runs unchanged after
``from core.compat import threadpool``; its work then shows up as PoolScope
events. Semantics kept from the original: callbacks run in the thread that
calls ``poll()`` or ``wait()``; ``exc_callback`` receives ``sys.exc_info()``
style tuples; a bounded request queue blocks ``putRequest``. What is better:
dismissed idle workers leave at once instead of after ``poll_timeout``, and
results never block a worker, so the original's documented deadlock with
both queues bounded cannot happen (``resq_size`` is accepted and ignored).
"""

from __future__ import annotations

import functools
import queue
import traceback
from collections.abc import Callable, Iterable
from typing import Any

from ..errors import QueueFull
from ..thread_pool import ThreadPool as _CorePool

__all__ = [
    "NoResultsPending",
    "NoWorkersAvailable",
    "ThreadPool",
    "WorkRequest",
    "WorkerThread",
    "makeRequests",
]


class NoResultsPending(Exception):
    """All work requests have been processed."""


class NoWorkersAvailable(Exception):
    """No worker threads available to process remaining requests."""


def _handle_thread_exception(request: WorkRequest, exc_info: tuple) -> None:
    """Default exception callback: print the traceback, as the original does."""
    traceback.print_exception(*exc_info)


class WorkRequest:
    """A callable with its arguments and callbacks, to be put into a pool."""

    def __init__(
        self,
        callable_: Callable[..., Any],
        args: Iterable[Any] | None = None,
        kwds: dict[str, Any] | None = None,
        requestID: Any = None,
        callback: Callable[[WorkRequest, Any], object] | None = None,
        exc_callback: Callable[[WorkRequest, tuple], object] | None = _handle_thread_exception,
    ) -> None:
        if requestID is None:
            self.requestID = id(self)
        else:
            try:
                self.requestID = hash(requestID)
            except TypeError:
                raise TypeError("requestID must be hashable.") from None
        self.exception = False
        self.callback = callback
        self.exc_callback = exc_callback
        self.callable = callable_
        self.args = args or []
        self.kwds = kwds or {}
        #: the PoolScope task id once the request was put into a pool
        self.task_id: int | None = None

    def __str__(self) -> str:
        return (
            f"<WorkRequest id={self.requestID} args={self.args!r} "
            f"kwargs={self.kwds!r} exception={self.exception}>"
        )


def makeRequests(
    callable_: Callable[..., Any],
    args_list: Iterable[Any],
    callback: Callable[[WorkRequest, Any], object] | None = None,
    exc_callback: Callable[[WorkRequest, tuple], object] | None = _handle_thread_exception,
) -> list[WorkRequest]:
    """One request per item: a ``(args, kwds)`` tuple, or a single argument."""
    requests = []
    for item in args_list:
        if isinstance(item, tuple):
            args, kwds = item
        else:
            args, kwds = [item], None
        requests.append(WorkRequest(callable_, args, kwds, callback=callback, exc_callback=exc_callback))
    return requests


class WorkerThread:
    """One worker of a pool, standing in for the original's ``WorkerThread``
    (a ``threading.Thread`` subclass): ``dismiss()``, ``join(timeout)``,
    ``is_alive()`` / ``isAlive()``, ``name``, ``daemon`` and ``native_id``.

    It is a handle on a ``core.ThreadPool`` worker rather than the thread
    itself, because the core owns its workers' threads: it replaces an
    abandoned worker, announces every change as an event, and a thread
    started or stopped behind its back would bypass both. Handles of the
    same worker compare equal."""

    __slots__ = ("_pool", "id")

    def __init__(self, pool: _CorePool, worker_id: int) -> None:
        self._pool = pool
        #: the PoolScope worker id
        self.id = worker_id

    @property
    def name(self) -> str:
        return f"poolscope-worker-{self.id}"

    @property
    def native_id(self) -> int | None:
        return self._thread_info().get("native_id")

    daemon = True

    def dismiss(self) -> None:
        """Tell the worker to exit when done with its current request."""
        try:
            self._pool.dismiss_worker(self.id)
        except LookupError:
            pass  # gone already, as dismissing a finished thread does nothing

    def join(self, timeout: float | None = None) -> None:
        """Wait until the worker has ended (as ``Thread.join``: it returns
        after ``timeout`` either way; ask ``is_alive()``)."""
        self._pool._join_worker(self.id, timeout)

    def is_alive(self) -> bool:
        return self._thread_info().get("alive", False)

    isAlive = is_alive

    def _thread_info(self) -> dict[str, Any]:
        for info in self._pool.workers:
            if info.id == self.id:
                return {"native_id": info.native_id, "alive": info.state.value not in ("exited", "joined")}
        return {}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, WorkerThread) and (other._pool, other.id) == (self._pool, self.id)

    def __hash__(self) -> int:
        return hash((id(self._pool), self.id))

    def __repr__(self) -> str:
        return f"<WorkerThread {self.id} {'alive' if self.is_alive() else 'ended'}>"


class ThreadPool:
    """The classic pool: ``putRequest`` work, then ``poll()`` or ``wait()``
    for results, which run the requests' callbacks in the calling thread.

    ``pool`` is the ``core.ThreadPool`` underneath, for monitoring."""

    def __init__(
        self, num_workers: int, q_size: int = 0, resq_size: int = 0, poll_timeout: float = 5
    ) -> None:
        self.pool = _CorePool(max(num_workers, 1), queue_size=q_size)
        if num_workers == 0:
            self.pool.dismiss_workers(1, join=True)
        self._results: queue.SimpleQueue[tuple[WorkRequest, Any]] = queue.SimpleQueue()
        self.workRequests: dict[Any, WorkRequest] = {}
        self.dismissedWorkers: list[WorkerThread] = []

    @property
    def workers(self) -> list[WorkerThread]:
        """The workers that have not been dismissed, as ``WorkerThread``
        handles. A fresh list on each read: the original's is a plain list
        that only the pool itself changes, and so it is here (a worker that
        the core replaced shows up, one it abandoned does not)."""
        pool = self.pool
        return [WorkerThread(pool, w.id) for w in pool.workers if w.state.value in ("idle", "busy")]

    def createWorkers(self, num_workers: int, poll_timeout: float = 5) -> None:
        """Add ``num_workers`` worker threads (``poll_timeout`` is not needed)."""
        if num_workers > 0:
            self.pool.add_workers(num_workers)

    def dismissWorkers(self, num_workers: int, do_join: bool = False) -> None:
        """Tell ``num_workers`` workers to quit after their current request
        (none when it is 0 or less, as in the original)."""
        if num_workers <= 0:
            return
        dismissed = self.pool.dismiss_workers(min(num_workers, len(self.workers)), join=do_join)
        if not do_join:
            self.dismissedWorkers.extend(WorkerThread(self.pool, w) for w in dismissed)

    def joinAllDismissedWorkers(self) -> None:
        """Wait for every dismissed worker to end."""
        self.pool.join_dismissed()
        self.dismissedWorkers = []

    def putRequest(self, request: WorkRequest, block: bool = True, timeout: float | None = None) -> None:
        """Queue ``request``; with a bounded queue, wait for room (``queue.Full``
        after ``timeout``, or at once when ``block`` is false)."""
        assert isinstance(request, WorkRequest)
        assert not getattr(request, "exception", None)  # don't reuse old work requests
        try:
            future = self.pool.schedule(
                request.callable,
                request.args,
                request.kwds,
                label=f"request {request.requestID}",
                block=block,
                queue_timeout=timeout,
            )
        except QueueFull as exc:
            raise queue.Full(str(exc)) from exc
        request.task_id = future.task_id
        self.workRequests[request.requestID] = request
        future.add_done_callback(functools.partial(self._collect, request))

    def _collect(self, request: WorkRequest, future: Any) -> None:
        # Runs in the worker; the callbacks wait for poll().
        exc = future.exception()
        if exc is None:
            self._results.put((request, future.result()))
        else:
            request.exception = True
            self._results.put((request, (type(exc), exc, exc.__traceback__)))

    def poll(self, block: bool = False) -> None:
        """Process the results that have arrived (wait for them with ``block``).

        Raises NoResultsPending when every request has been handled, and
        NoWorkersAvailable when blocking with no worker left."""
        while True:
            if not self.workRequests:
                raise NoResultsPending
            if block and not self.workers:
                raise NoWorkersAvailable
            try:
                request, result = self._results.get(block=block)
            except queue.Empty:
                break
            if request.exception and request.exc_callback:
                request.exc_callback(request, result)
            if request.callback and not (request.exception and request.exc_callback):
                request.callback(request, result)
            del self.workRequests[request.requestID]

    def wait(self) -> None:
        """Wait for every result, running callbacks as they come."""
        while True:
            try:
                self.poll(True)
            except NoResultsPending:
                break
