"""Workers as the pool sees them: their states and the snapshot it hands out."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["WorkerInfo", "WorkerState"]


class WorkerState(StrEnum):
    IDLE = "idle"
    BUSY = "busy"
    #: dismiss requested: an idle worker leaves at once, a busy one after its task
    DISMISSED = "dismissed"
    #: gave up on: its task timed out and a thread cannot be stopped
    ABANDONED = "abandoned"
    EXITED = "exited"
    JOINED = "joined"


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """A snapshot of one worker, as ``pool.workers`` returns it."""

    id: int
    state: WorkerState
    task_id: int | None
    tasks_done: int
    tasks_failed: int
    busy_seconds: float
    started_at: float
    exited_at: float | None = None
    native_id: int | None = None
    pid: int | None = None
    cpu_percent: float | None = None
    memory_rss: int | None = None
