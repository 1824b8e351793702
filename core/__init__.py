"""PoolScope's engine: monitored thread and process pools, with no Qt.

>>> from core import ThreadPool, ProcessPool
>>> with ThreadPool(workers=2) as pool:
...     list(pool.map(abs, [-1, -2, 3]))
[1, 2, 3]
"""

from .errors import PoolClosed, QueueFull, TaskCancelled, TaskError, TaskTimeout, UnknownTask, WorkerLost
from .events import Event, EventBuffer, EventBus, EventKind
from .pool import Pool, PoolStats
from .process_pool import ProcessPool
from .results import AsyncResult
from .task import Task, TaskContext, TaskFuture, TaskState, current_task, report_progress
from .thread_pool import ThreadPool
from .worker import WorkerInfo, WorkerState

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
    "Task",
    "TaskCancelled",
    "TaskContext",
    "TaskError",
    "TaskFuture",
    "TaskState",
    "TaskTimeout",
    "ThreadPool",
    "UnknownTask",
    "WorkerInfo",
    "WorkerLost",
    "WorkerState",
    "current_task",
    "report_progress",
]
