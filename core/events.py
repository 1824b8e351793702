"""Events: what a pool tells the world about its tasks and workers.

Every change of a task or worker is one ``Event``, emitted by the thread that
made the change (a worker, the submitter, the watchdog, a manager thread).
Consumers take them in one of two ways::

    pool.events.subscribe(fn)     fn(event) runs in the emitting thread: keep it cheap
    buffer = pool.events.buffer() a bounded deque; drain it in batches from any thread

Events are tuples: creating one costs little more than a tuple, which matters
when a pool finishes tens of thousands of tasks a second.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections import deque
from collections.abc import Callable
from enum import StrEnum
from typing import Any, NamedTuple

__all__ = ["Event", "EventBuffer", "EventBus", "EventKind"]

log = logging.getLogger(__name__)


class EventKind(StrEnum):
    TASK_SUBMITTED = "task_submitted"
    TASK_STARTED = "task_started"
    TASK_PROGRESS = "task_progress"
    TASK_DONE = "task_done"
    TASK_FAILED = "task_failed"
    TASK_CANCELLED = "task_cancelled"
    WORKER_STARTED = "worker_started"
    WORKER_BUSY = "worker_busy"
    WORKER_IDLE = "worker_idle"
    WORKER_DISMISSED = "worker_dismissed"
    WORKER_ABANDONED = "worker_abandoned"
    WORKER_EXITED = "worker_exited"
    WORKER_JOINED = "worker_joined"
    POOL_PAUSED = "pool_paused"
    POOL_RESUMED = "pool_resumed"
    POOL_SHUT_DOWN = "pool_shut_down"
    CALLBACK_FAILED = "callback_failed"


TASK_ENDINGS = frozenset({EventKind.TASK_DONE, EventKind.TASK_FAILED, EventKind.TASK_CANCELLED})


class Event(NamedTuple):
    """One change. ``seq`` counts the pool's events from 1, so a consumer can
    tell when a bounded buffer dropped some.

    ``payload`` by kind: TASK_SUBMITTED the ``Task`` (read its fixed fields:
    label, fn, args, attempt, retry_of); TASK_PROGRESS ``(fraction, message)``;
    TASK_DONE the result; TASK_FAILED and TASK_CANCELLED the ``TaskError``;
    WORKER_STARTED the ``WorkerInfo``; CALLBACK_FAILED the ``TaskError`` of the
    callback; otherwise ``None``.
    """

    seq: int
    kind: EventKind
    time: float
    task_id: int | None
    worker_id: int | None
    payload: Any = None


Subscriber = Callable[[Event], object]
_new_tuple = tuple.__new__
_now = time.time


class EventBus:
    """Fans each event out to its subscribers, in the emitting thread."""

    def __init__(self) -> None:
        self._subscribers: tuple[Subscriber, ...] = ()
        self._seq = itertools.count(1)
        self._next_seq = self._seq.__next__

    def subscribe(self, fn: Subscriber) -> Callable[[], None]:
        """Call ``fn(event)`` for every event from now on; returns a function
        that unsubscribes. ``fn`` runs in worker threads: it must be cheap and
        thread-safe, and what it raises (anything, SystemExit too) is logged,
        never passed on."""
        self._subscribers = (*self._subscribers, fn)

        def unsubscribe() -> None:
            self._subscribers = tuple(s for s in self._subscribers if s is not fn)

        return unsubscribe

    def buffer(self, maxlen: int = 1_000_000) -> EventBuffer:
        """A new bounded buffer that receives every event from now on."""
        buf = EventBuffer(maxlen)
        buf._unsubscribe = self.subscribe(buf._append)
        # Subscribed first, numbered second: an emitter takes its seq before it
        # reads the subscribers, so every event from this seq on reaches the
        # buffer (an earlier one that still arrives is not counted).
        buf._start_at(self._peek_seq())
        return buf

    def _peek_seq(self) -> int:
        """The seq the next event will get (itertools.count has no peek; its
        pickle form carries the next value)."""
        return int(self._seq.__reduce__()[1][0])

    def emit(
        self,
        kind: EventKind,
        task_id: int | None = None,
        worker_id: int | None = None,
        payload: Any = None,
    ) -> Event:
        # tuple.__new__ directly: NamedTuple's own __new__ is a Python call.
        event = _new_tuple(Event, (self._next_seq(), kind, _now(), task_id, worker_id, payload))
        for fn in self._subscribers:
            try:
                fn(event)
            except BaseException:
                # SystemExit and KeyboardInterrupt too: raised here, they would
                # end the emitting worker and leave its task's future unresolved.
                log.exception("event subscriber %r failed on %s", fn, kind)
        return event


#: A gap in seq that no full buffer explains counts as dropped once it has
#: stayed open this long (seconds): an emitter held up between numbering its
#: event and appending it is back well within it.
LATE_SECONDS = 0.5


class EventBuffer:
    """A bounded, thread-safe queue of events, drained in batches.

    Appends come from many threads and never block; when the buffer is full
    the oldest events are dropped and ``dropped`` counts them (found from the
    gaps in ``Event.seq``), so a stalled consumer costs memory up to
    ``maxlen`` and no more.
    """

    _clock = staticmethod(time.monotonic)

    def __init__(self, maxlen: int, first_seq: int = 1) -> None:
        self._events: deque[Event] = deque(maxlen=maxlen)
        self._append = self._events.append
        self._unsubscribe: Callable[[], None] = lambda: None
        self._received = 0
        self._dropped = 0
        # Set by discard(): the next drain counts every gap, as after a full buffer.
        self._discarded = False
        # Gaps that no full stretch explains are aged from a mark: the
        # newest seq seen when the first of them was found, when that was,
        # and how many events numbered up to the mark have arrived.
        self._mark: int | None = None
        self._mark_at = 0.0
        self._mark_received = 0
        self._start_at(first_seq)

    def _start_at(self, first_seq: int) -> None:
        """Count drops from ``first_seq``, the first event it is sure to get."""
        self._first_seq = first_seq
        self._last_seq = first_seq - 1

    def __len__(self) -> int:
        return len(self._events)

    @property
    def dropped(self) -> int:
        """How many events were lost to the bound so far, as the drains found
        them (see ``drain``)."""
        return self._dropped

    def drain(self, limit: int | None = None) -> list[Event]:
        """Take up to ``limit`` events (all, when None), oldest first.

        Meant for one consumer at a time.

        Drops are found from the gaps in ``seq``. Concurrent emitters take
        their seq, then append, so one may append after a later seq was
        drained: a gap that is an event still on its way, not a loss. The
        buffer can lose events only while it is full (or discards them), so
        a gap is counted at once only after such a stretch; otherwise only
        once it has stayed open for ``LATE_SECONDS`` (from a mark set when
        the first such gap was found: at most twice that, for a newer one)."""
        events = self._events
        lossy = len(events) == events.maxlen or self._discarded
        self._discarded = False
        popleft = events.popleft
        count = len(events) if limit is None else min(limit, len(events))
        batch = [popleft() for _ in range(count)]
        first, before = self._first_seq, self._last_seq
        # An event numbered just before the subscription may still arrive.
        seqs = [e.seq for e in batch if e.seq >= first]
        late = sum(1 for seq in seqs if seq <= before)
        mark = self._mark
        if mark is not None:
            self._mark_received += late if mark == before else sum(1 for seq in seqs if seq <= mark)
        if seqs:
            self._last_seq = max(before, max(seqs))
        received = self._received + late  # of the events numbered up to ``before``
        self._received += len(seqs)
        if lossy:
            self._dropped = max(0, self._last_seq - first + 1 - self._received)
            self._mark = None
            return batch
        # The gaps below what earlier drains had seen, and still open.
        gaps = max(0, before - first + 1 - received)
        if gaps <= self._dropped:  # none new (some may have been filled)
            self._dropped, self._mark = gaps, None
        elif mark is None:
            self._mark, self._mark_at, self._mark_received = before, self._clock(), received
        elif self._clock() - self._mark_at >= LATE_SECONDS:
            # Open since the mark was set, those up to it are lost; newer
            # ones are aged from a new mark.
            self._dropped = max(self._dropped, mark - first + 1 - self._mark_received)
            self._mark, self._mark_at, self._mark_received = before, self._clock(), received
        return batch

    def discard(self, keep: int) -> int:
        """Drop all but the newest ``keep`` events (a consumer that is behind
        and prefers fresh events to old ones); they count as ``dropped``.
        Returns how many went."""
        events = self._events
        popleft = events.popleft
        gone = max(0, len(events) - keep)
        for _ in range(gone):
            popleft()
        if gone:
            self._discarded = True
        return gone

    def close(self) -> None:
        """Stop receiving events."""
        self._unsubscribe()
