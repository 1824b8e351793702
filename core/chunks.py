"""Running many items per task: what ``map``, ``starmap`` and ``imap`` send.

A chunk is one task that calls the function on many items. Per-item failures
are kept: the chunk's task is FAILED, yet the caller still gets every good
result and each failing item's own exception in its turn.
"""

from __future__ import annotations

import pickle
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, as_completed
from itertools import starmap
from typing import Any

from .errors import TaskError

__all__ = ["ChunkFailed", "chunk_label", "results", "run_chunk"]


def chunk_label(fn: Callable[..., Any], start: int, size: int) -> str:
    name = getattr(fn, "__qualname__", None) or repr(fn)
    return f"{name}[{start}:{start + size}]"


class ChunkFailed(Exception):
    """Some items of a map chunk raised; carries every item's outcome."""

    def __init__(self, message: str, outcomes: list[tuple[bool, Any]]) -> None:
        super().__init__(message)
        self.outcomes = outcomes

    def __reduce__(self):
        # Travels from a worker process: an item's exception that cannot be
        # pickled goes as its TaskError record instead.
        return (type(self), (self.args[0], [(ok, v if ok else _picklable(v)) for ok, v in self.outcomes]))


def _picklable(exc: BaseException) -> BaseException:
    try:
        pickle.dumps(exc)
    except Exception:
        return exc if isinstance(exc, TaskError) else TaskError.from_exception(exc)
    return exc


def run_chunk(fn: Callable[..., Any], items: list[Any], star: bool) -> list[Any]:
    """Run ``fn`` over a chunk of items (argument tuples when ``star``).

    The common case runs at C speed (``map``) and returns the plain results.
    When items raise, the rest still run; the chunk then raises ChunkFailed
    with every item's outcome, so its task is FAILED and the caller still gets
    each good result."""
    results: list[Any] = []
    failed: list[tuple[int, Exception]] = []
    start = 0
    while start < len(items):
        rest = items[start:] if start else items
        try:
            # list.extend keeps what was appended before an item raised.
            results.extend(starmap(fn, rest) if star else map(fn, rest))
            break
        except Exception as exc:
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
