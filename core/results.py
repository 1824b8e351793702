"""``multiprocessing.Pool``'s AsyncResult, on top of a standard Future."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import CancelledError
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .task import TaskFuture

__all__ = ["AsyncResult"]


class AsyncResult:
    """What ``apply_async`` returns: ``get``, ``wait``, ``ready``, ``successful``.

    ``get`` raises ``multiprocessing.TimeoutError`` when the time runs out and
    the task's own exception when it failed, as ``multiprocessing`` does."""

    __slots__ = ("future",)

    def __init__(self, future: TaskFuture) -> None:
        self.future = future

    @property
    def task_id(self) -> int | None:
        return self.future.task_id

    def get(self, timeout: float | None = None) -> Any:
        self.wait(timeout)
        if not self.future.done():
            raise multiprocessing.TimeoutError(f"the task did not finish within {timeout} s")
        return self.future.result()

    def wait(self, timeout: float | None = None) -> None:
        try:
            self.future.exception(timeout)
        except (TimeoutError, CancelledError):
            pass

    def ready(self) -> bool:
        return self.future.done()

    def successful(self) -> bool:
        if not self.future.done():
            raise ValueError(f"task {self.task_id} is not ready yet")
        return not self.future.cancelled() and self.future.exception() is None

    def __repr__(self) -> str:
        state = "ready" if self.ready() else "pending"
        return f"<AsyncResult task {self.task_id} {state}>"
