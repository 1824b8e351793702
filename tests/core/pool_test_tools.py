"""What the core tests share: a task that holds a worker busy, and a
recorder of a pool's events that tests can wait on (no sleeps)."""

from __future__ import annotations

import threading
from typing import Any

from core import Event, EventKind, Pool

#: The longest a test waits for something that should happen at once; only
#: ever reached when the test is failing.
WAIT = 5.0


class Hold:
    """A task body that blocks until the test releases it: a busy worker
    without sleeps."""

    def __init__(self) -> None:
        self._started = threading.Semaphore(0)
        self._released = threading.Event()

    def __call__(self, value: Any = None) -> Any:
        self._started.release()
        if not self._released.wait(WAIT):
            raise RuntimeError("a held task was never released")
        return value

    def wait_started(self, count: int = 1) -> None:
        for _ in range(count):
            assert self._started.acquire(timeout=WAIT), "a held task did not start"

    def release(self) -> None:
        self._released.set()


class Recorder:
    """Every event of a pool from now on, and a way to wait for one."""

    def __init__(self, pool: Pool) -> None:
        self.events: list[Event] = []
        self._changed = threading.Condition()
        pool.events.subscribe(self._record)

    def _record(self, event: Event) -> None:
        with self._changed:
            self.events.append(event)
            self._changed.notify_all()

    def wait_for(
        self,
        kind: EventKind,
        task_id: int | None = None,
        worker_id: int | None = None,
        after: Event | None = None,
    ) -> Event:
        """The first matching event (later than ``after``), waiting for it if need be."""

        def find() -> Event | None:
            for event in self.events:
                if (
                    event.kind is kind
                    and (task_id is None or event.task_id == task_id)
                    and (worker_id is None or event.worker_id == worker_id)
                    and (after is None or event.seq > after.seq)
                ):
                    return event
            return None

        with self._changed:
            found = self._changed.wait_for(find, WAIT)
        assert found is not None, f"no {kind} event (task {task_id}, worker {worker_id})"
        return found

    def of_kind(self, kind: EventKind) -> list[Event]:
        with self._changed:
            return [e for e in self.events if e.kind is kind]

    def task_kinds(self, task_id: int | None) -> list[EventKind]:
        """The task's own life: its TASK_* events in seq order."""
        with self._changed:
            events = sorted((e for e in self.events if e.task_id == task_id), key=lambda e: e.seq)
        return [e.kind for e in events if e.kind.value.startswith("task_")]

    def worker_kinds(self, worker_id: int) -> list[EventKind]:
        with self._changed:
            events = sorted((e for e in self.events if e.worker_id == worker_id), key=lambda e: e.seq)
        return [e.kind for e in events if e.kind.value.startswith("worker_")]

    def of_task(self, task_id: int | None) -> list[Event]:
        """The task's own TASK_* events, in seq order."""
        with self._changed:
            events = sorted((e for e in self.events if e.task_id == task_id), key=lambda e: e.seq)
        return [e for e in events if e.kind.value.startswith("task_")]
