"""Running many items per task: what ``map``, ``starmap`` and ``imap`` send.

A chunk is one task that calls the function on many items. Per-item failures
are kept: the chunk's task is FAILED, yet the caller still gets every good
result and each failing item's own exception in its turn -- from a worker
process with the child's traceback as its ``__cause__``, as for a single task.

``map`` submits everything at once (as ``Executor.map`` does). ``imap`` and
``imap_unordered`` return a ``Stream``, which reads its input lazily and keeps
a bounded number of tasks in flight::

    input ──islice──► chunk ──submit──► futures in flight (at most ``window``)
                                             │ in order (imap) or as done
    caller ◄── next() ◄── outcomes of one task ◄┘   then the window is topped up
"""

from __future__ import annotations

import itertools
import multiprocessing
import pickle
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, as_completed, wait
from itertools import starmap
from typing import Any

from .errors import TaskError
from .process_worker import NOT_RAISED_IN_PARENT, failure_record
from .task import TaskState

__all__ = [
    "STREAM_CHUNKS_PER_WORKER",
    "STREAM_CHUNK_LIMIT",
    "ChunkFailed",
    "Stream",
    "chunk_label",
    "read_ahead",
    "results",
    "run_chunk",
]

#: Tasks a Stream keeps in flight per worker: enough to keep every worker
#: busy (and a process worker's pipe full) while the caller reads results.
STREAM_CHUNKS_PER_WORKER = 4
#: The largest chunk a Stream cuts by itself: the input may be endless, so
#: it cuts as ``map`` would cut what a look-ahead of this many chunks holds.
STREAM_CHUNK_LIMIT = 64


def chunk_label(fn: Callable[..., Any], start: int, size: int) -> str:
    name = getattr(fn, "__qualname__", None) or repr(fn)
    return f"{name}[{start}:{start + size}]"


class ChunkFailed(Exception):
    """Some items of a map chunk raised; carries every item's outcome."""

    def __init__(self, message: str, outcomes: list[tuple[bool, Any]]) -> None:
        super().__init__(message)
        self.outcomes = outcomes

    def __reduce__(self) -> tuple[Callable[..., ChunkFailed], tuple[str, list[tuple[bool, Any, Any]]]]:
        # Travels from a worker process, where each failed item still has its
        # traceback: it goes with its TaskError record, which becomes the
        # item's __cause__ on arrival. An exception that cannot make the trip,
        # or must not be raised in the parent (SystemExit, KeyboardInterrupt),
        # goes as that record alone -- as for a single task.
        travelling = [
            (True, value, None) if ok else (False, _travelling(value), failure_record(value))
            for ok, value in self.outcomes
        ]
        return (_arrived, (self.args[0], travelling))


def _travelling(exc: BaseException) -> BaseException | None:
    """``exc`` if it can be raised again in the parent, else None."""
    if isinstance(exc, NOT_RAISED_IN_PARENT):
        return None
    try:
        pickle.loads(pickle.dumps(exc))  # some pickle, yet cannot be rebuilt
    except Exception:
        return None
    return exc


def _arrived(message: str, travelling: list[tuple[bool, Any, Any]]) -> ChunkFailed:
    outcomes: list[tuple[bool, Any]] = []
    for ok, value, record in travelling:
        if not ok:
            if value is None:
                value = record
            elif not isinstance(value, TaskError):
                value.__cause__ = record  # the child's traceback
        outcomes.append((ok, value))
    return ChunkFailed(message, outcomes)


def run_chunk(fn: Callable[..., Any], items: list[Any], star: bool) -> list[Any]:
    """Run ``fn`` over a chunk of items (argument tuples when ``star``).

    The common case runs at C speed (``map``) and returns the plain results.
    When items raise, the rest still run; the chunk then raises ChunkFailed
    with every item's outcome, so its task is FAILED and the caller still gets
    each good result. Like a single task, an item may raise anything
    (sys.exit() and KeyboardInterrupt too): it fails that item only."""
    results: list[Any] = []
    failed: list[tuple[int, BaseException]] = []
    start = 0
    while start < len(items):
        rest = items[start:] if start else items
        try:
            # list.extend keeps what was appended before an item raised.
            results.extend(starmap(fn, rest) if star else map(fn, rest))
            break
        except BaseException as exc:
            failed.append((len(results), exc))
            results.append(None)
            start = len(results)
    if not failed:
        return results
    outcomes: list[tuple[bool, Any]] = [(True, r) for r in results]
    for index, item_error in failed:
        outcomes[index] = (False, item_error)
    first = failed[0][1]
    message = f"{len(failed)} of {len(items)} items failed; the first: {type(first).__name__}: {first}"
    raise ChunkFailed(message, outcomes) from first


def results(futures: Sequence[Future[Any]], end: float | None, chunked: bool, ordered: bool) -> Iterator[Any]:
    """Yield results of ``futures`` (in order, or as they finish); cancel what
    is left if the caller stops early or the time runs out."""

    def left() -> float | None:
        return None if end is None else max(0.0, end - time.monotonic())

    def outcomes(future: Future[Any]) -> Iterator[Any]:
        if not chunked:
            yield future.result(left())
            return
        try:
            values = future.result(left())
        except ChunkFailed as failed:
            for ok, value in failed.outcomes:
                if not ok:
                    raise value
                yield value
        else:
            yield from values

    def generate() -> Iterator[Any]:
        try:
            if ordered:
                # Reverse so that each yielded future can be dropped at once.
                pending = list(futures)[::-1]
                while pending:
                    yield from outcomes(pending[-1])
                    pending.pop()
            else:
                for future in as_completed(futures, timeout=left()):
                    yield from outcomes(future)
        finally:
            for future in futures:
                if not future.done():
                    future.cancel()

    return generate()


# ------------------------------------------------------------------ streams


def read_ahead(items: Iterator[Any], n: int) -> tuple[list[Any], Iterator[Any]]:
    """Up to ``n`` items taken from ``items``, and an iterator over all of them
    again. Should the input fail while being read, the failure waits at that
    point of the returned iterator instead of surfacing early."""
    ahead: list[Any] = []
    try:
        ahead.extend(itertools.islice(items, n))
    except Exception as exc:
        return ahead, itertools.chain(ahead, _raising(exc))
    return ahead, itertools.chain(ahead, items)


def _raising(exc: Exception) -> Iterator[Any]:
    raise exc
    yield  # pragma: no cover - makes this a generator


Submit = Callable[[list[Any], int], "Future[Any]"]


class Stream:
    """What ``imap`` and ``imap_unordered`` return: an iterator over results,
    in input order or as tasks finish, that reads its input lazily.

    At most ``window`` tasks of ``size`` items each are in flight ahead of the
    caller, so an endless input is fine and memory stays bounded. As with
    ``multiprocessing.Pool.imap``, an item's exception is raised when its turn
    comes and the iteration goes on after it; ``next(timeout)`` raises
    ``multiprocessing.TimeoutError``. A failure of the input itself (or a
    refused submit after the first ones) is raised after every result that
    came before it. ``close()``, or dropping the stream, cancels what has not
    started.
    """

    __slots__ = (
        "__weakref__",
        "_chunked",
        "_feed_error",
        "_items",
        "_ordered",
        "_pending",
        "_ready",
        "_size",
        "_start",
        "_submit",
        "_window",
    )

    def __init__(self, submit: Submit, items: Iterator[Any], size: int, window: int, ordered: bool) -> None:
        # Futures in flight with their number of items, in input order.
        self._pending: dict[Future[Any], int] = {}
        self._items: Iterator[Any] | None = items
        self._submit = submit
        self._size = size
        self._chunked = size > 1
        self._window = max(1, window)
        self._ordered = ordered
        self._ready: deque[tuple[bool, Any]] = deque()
        self._feed_error: Exception | None = None
        self._start = 0
        try:
            self._fill()  # a refused first window raises here, as map does
        except BaseException:
            self.close()
            raise

    def __iter__(self) -> Stream:
        return self

    def __next__(self) -> Any:
        return self.next()

    def next(self, timeout: float | None = None) -> Any:
        """The next result (``multiprocessing``'s ``IMapIterator.next``)."""
        ready = self._ready
        while not ready:
            if not self._pending:
                if self._feed_error is not None:
                    error, self._feed_error = self._feed_error, None
                    raise error
                raise StopIteration
            self._collect(timeout)
            try:
                self._fill()
            except Exception as exc:
                self._stop_feeding(exc)
        ok, value = ready.popleft()
        if ok:
            return value
        raise value

    def close(self) -> None:
        """Read no more input; cancel the tasks in flight that have not
        started (running ones finish: a process pool would kill them)."""
        self._items = None
        pending, self._pending = self._pending, {}
        for future in pending:
            task = getattr(future, "task", None)
            if task is None or task.state is TaskState.QUEUED:
                future.cancel()

    def __del__(self) -> None:
        self.close()

    def _fill(self) -> None:
        """Submit chunks until the window is full or the input ends."""
        pending = self._pending
        while self._items is not None and len(pending) < self._window:
            try:
                part = list(itertools.islice(self._items, self._size))
            except Exception as exc:
                self._stop_feeding(exc)
                return
            if not part:
                self._items = None
                return
            future = self._submit(part, self._start)
            pending[future] = len(part)
            self._start += len(part)

    def _stop_feeding(self, exc: Exception) -> None:
        self._items = None
        self._feed_error = exc

    def _collect(self, timeout: float | None) -> None:
        """Wait for the next task (the oldest; when unordered, the oldest of
        those done) and queue its outcomes, one per item. One task at a time,
        so that results waiting here and tasks in flight stay within the
        window together."""
        pending = self._pending
        if self._ordered:
            head = next(iter(pending))
            done = wait([head], timeout).done
        else:
            done = wait(list(pending), timeout, return_when=FIRST_COMPLETED).done
        if not done:
            raise multiprocessing.TimeoutError(f"no result came within {timeout} s")
        future = next(f for f in pending if f in done)
        self._ready.extend(self._outcomes(future, pending.pop(future)))

    def _outcomes(self, future: Future[Any], n_items: int) -> list[tuple[bool, Any]]:
        try:
            value = future.result(0)
        except ChunkFailed as failed:
            return failed.outcomes
        except BaseException as exc:  # the task as a whole: each of its items failed with it
            return [(False, exc)] * n_items
        return [(True, v) for v in value] if self._chunked else [(True, value)]
