"""PoolScope's engine: monitored thread and process pools, with no Qt.

>>> from core import ThreadPool, ProcessPool
>>> with ThreadPool(workers=2) as pool:
...     list(pool.map(abs, [-1, -2, 3]))
[1, 2, 3]
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_exports

if TYPE_CHECKING:
    from .errors import (
        PoolClosed,
        QueueFull,
        StoreCorrupt,
        StoreError,
        StoreForeign,
        StoreLocked,
        StoreReadOnly,
        StoreTooNew,
        TaskCancelled,
        TaskError,
        TaskTimeout,
        UnknownRun,
        UnknownTask,
        WorkerLost,
    )
    from .events import Event, EventBuffer, EventBus, EventKind
    from .pool import Pool, PoolStats
    from .process_pool import ProcessPool
    from .results import AsyncResult
    from .store import Recording, RunRecord, RunState, Store, TaskRecord, open_store
    from .task import Task, TaskContext, TaskFuture, TaskState, current_task, report_progress
    from .thread_pool import ThreadPool
    from .worker import WorkerInfo, WorkerState

# Names load on first use (PEP 562): a worker process that imports one
# module of this package does not pay for all of them.
_EXPORTS = {
    "PoolClosed": ".errors",
    "QueueFull": ".errors",
    "TaskCancelled": ".errors",
    "TaskError": ".errors",
    "TaskTimeout": ".errors",
    "UnknownTask": ".errors",
    "WorkerLost": ".errors",
    "StoreCorrupt": ".errors",
    "StoreError": ".errors",
    "StoreForeign": ".errors",
    "StoreLocked": ".errors",
    "StoreReadOnly": ".errors",
    "StoreTooNew": ".errors",
    "UnknownRun": ".errors",
    "Event": ".events",
    "EventBuffer": ".events",
    "EventBus": ".events",
    "EventKind": ".events",
    "Pool": ".pool",
    "PoolStats": ".pool",
    "ProcessPool": ".process_pool",
    "AsyncResult": ".results",
    "Recording": ".store",
    "RunRecord": ".store",
    "RunState": ".store",
    "Store": ".store",
    "TaskRecord": ".store",
    "open_store": ".store",
    "Task": ".task",
    "TaskContext": ".task",
    "TaskFuture": ".task",
    "TaskState": ".task",
    "current_task": ".task",
    "report_progress": ".task",
    "ThreadPool": ".thread_pool",
    "WorkerInfo": ".worker",
    "WorkerState": ".worker",
}

__all__ = [
    "AsyncResult",
    "Event",
    "EventBuffer",
    "EventBus",
    "EventKind",
    "Pool",
    "PoolClosed",
    "PoolStats",
    "ProcessPool",
    "QueueFull",
    "Recording",
    "RunRecord",
    "RunState",
    "Store",
    "StoreCorrupt",
    "StoreError",
    "StoreForeign",
    "StoreLocked",
    "StoreReadOnly",
    "StoreTooNew",
    "Task",
    "TaskCancelled",
    "TaskContext",
    "TaskError",
    "TaskFuture",
    "TaskRecord",
    "TaskState",
    "TaskTimeout",
    "ThreadPool",
    "UnknownRun",
    "UnknownTask",
    "WorkerInfo",
    "WorkerLost",
    "WorkerState",
    "current_task",
    "open_store",
    "report_progress",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals(), __all__)
