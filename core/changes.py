"""What a batch of pool events changed, folded per task.

A tick of a busy pool brings thousands of events, mostly three per task
(submitted, started, ended). What a view needs is the newest of each kind per
task, not every event, so the events are folded once, in one pass, and every
consumer works per task from there::

    events, oldest first ──Changes.add──► tasks     task id → [submitted, started, progress, ended]
                                          failures  the TASK_FAILED events, oldest first
                                          others    worker, pool and callback events, oldest first

A task submitted, started and finished within the batch is one entry holding
three events; a view makes one row of it, not three updates. The events
themselves are kept (tuples the engine already made), so folding allocates
one small list per task and nothing per event.

Qt-free: ``core.signals`` folds on the GUI thread, and tests or any other
consumer can fold a batch the same way (``Changes.of(events)``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from .events import EventKind

if TYPE_CHECKING:
    from .events import Event

__all__ = ["ENDED", "PROGRESS", "STARTED", "SUBMITTED", "Changes", "TaskEntry"]

#: Where each kind of event sits in a task's entry.
SUBMITTED, STARTED, PROGRESS, ENDED = range(4)

#: A task's entry: its TASK_SUBMITTED, TASK_STARTED, newest TASK_PROGRESS and
#: ending (TASK_DONE, TASK_FAILED or TASK_CANCELLED) event of the batch, None
#: for those the batch did not hold.
TaskEntry = list["Event | None"]

_SUBMITTED = EventKind.TASK_SUBMITTED
_STARTED = EventKind.TASK_STARTED
_PROGRESS = EventKind.TASK_PROGRESS
_DONE = EventKind.TASK_DONE
_FAILED = EventKind.TASK_FAILED
_CANCELLED = EventKind.TASK_CANCELLED


class Changes:
    """The events of one batch, folded per task (see the module docstring).

    Per task the first submission, start and ending win (the engine emits
    each once per attempt), and the newest progress report before the
    ending (a report after it is a late one from a task that timed out).
    ``lost`` counts events the buffer dropped before these were drained: the
    consumer never saw them, so views must not trust that they saw every
    ending (see ``PoolView`` for how they catch up).
    """

    __slots__ = ("count", "failures", "first_time", "last_time", "lost", "others", "tasks")

    def __init__(self, lost: int = 0) -> None:
        self.tasks: dict[int, TaskEntry] = {}
        self.failures: list[Event] = []
        self.others: list[Event] = []
        #: events folded in
        self.count = 0
        #: events the buffer dropped before or among these
        self.lost = lost
        #: ``Event.time`` of the first and the last event folded (None while empty)
        self.first_time: float | None = None
        self.last_time: float | None = None

    @classmethod
    def of(cls, events: Sequence[Event], lost: int = 0) -> Changes:
        """The changes of ``events`` (oldest first)."""
        changes = cls(lost)
        changes.add(events)
        return changes

    def __len__(self) -> int:
        return self.count

    def __bool__(self) -> bool:
        return self.count > 0

    def add(self, events: Sequence[Event]) -> None:
        """Fold more events in (newer than those already folded).

        The hot loop of a busy window: it runs once per event, so it compares
        kinds by identity (an enum's hash is a Python call) and touches each
        event once."""
        tasks = self.tasks
        get = tasks.get
        add_failure = self.failures.append
        add_other = self.others.append
        count = 0
        for event in events:
            count += 1
            kind = event[1]
            if kind is _SUBMITTED:
                slot = SUBMITTED
            elif kind is _STARTED:
                slot = STARTED
            elif kind is _DONE or kind is _FAILED or kind is _CANCELLED:
                slot = ENDED
            elif kind is _PROGRESS:
                slot = PROGRESS
            else:
                add_other(event)
                continue
            task_id = event[3]
            if task_id is None:
                add_other(event)
                continue
            entry = get(task_id)
            if entry is None:
                tasks[task_id] = entry = [None, None, None, None]
            if slot == PROGRESS:
                if entry[ENDED] is None:
                    entry[PROGRESS] = event
            elif entry[slot] is None:
                entry[slot] = event
                if kind is _FAILED:
                    add_failure(event)
        if count:
            self.count += count
            if self.first_time is None:
                self.first_time = events[0][2]
            self.last_time = events[-1][2]

    def ended(self) -> Iterable[tuple[int, Event]]:
        """(task id, ending event) of every task that ended in the batch."""
        for task_id, entry in self.tasks.items():
            ending = entry[ENDED]
            if ending is not None:
                yield task_id, ending
