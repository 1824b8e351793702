"""Events: the records, subscribers, bounded buffers, and the order in which a
pool reports each task's life."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pytest
from pool_test_tools import WAIT, Recorder

from core import (
    Event,
    EventBuffer,
    EventBus,
    EventKind,
    Task,
    TaskError,
    TaskState,
    TaskTimeout,
    ThreadPool,
    WorkerInfo,
    current_task,
    events,
    report_progress,
)

E = EventKind
ENDINGS = {E.TASK_DONE, E.TASK_FAILED, E.TASK_CANCELLED}


def divide(a: float, b: float) -> float:
    return a / b


# ------------------------------------------------------------------- records


def test_an_event_is_a_frozen_tuple_with_named_fields() -> None:
    bus = EventBus()

    event = bus.emit(E.POOL_PAUSED, task_id=7, worker_id=2, payload="why")

    assert isinstance(event, tuple)
    assert Event._fields == ("seq", "kind", "time", "task_id", "worker_id", "payload")
    assert event == (1, E.POOL_PAUSED, event.time, 7, 2, "why")
    assert abs(event.time - time.time()) < 5
    with pytest.raises(AttributeError):
        event.seq = 5  # type: ignore[misc]
    with pytest.raises(TypeError):
        event[0] = 5  # type: ignore[index]


def test_seq_counts_each_bus_events_from_one() -> None:
    bus, other = EventBus(), EventBus()

    assert [bus.emit(E.POOL_PAUSED).seq for _ in range(4)] == [1, 2, 3, 4]
    assert other.emit(E.POOL_RESUMED).seq == 1


def test_task_events_carry_ids_and_the_documented_payloads(pool: ThreadPool, events: Recorder) -> None:
    good = pool.submit(pow, 2, 5)
    bad = pool.submit(divide, 1, 0)
    assert good.result(timeout=WAIT) == 32
    bad.exception(timeout=WAIT)

    submitted, started, done = events.of_task(good.task_id)
    assert isinstance(submitted.payload, Task)
    task = submitted.payload
    assert (task.id, task.fn, task.args, task.attempt, task.retry_of) == (good.task_id, pow, (2, 5), 1, None)
    assert submitted.worker_id is None
    assert started.payload is None
    assert started.worker_id == done.worker_id
    assert started.worker_id in {w.id for w in pool.workers}
    assert done.payload == 32

    failed = events.of_task(bad.task_id)[-1]
    assert failed.kind is E.TASK_FAILED
    assert isinstance(failed.payload, TaskError)
    assert failed.payload.type_name == "ZeroDivisionError"
    assert "ZeroDivisionError" in failed.payload.traceback


def test_worker_started_carries_the_workers_info(pool: ThreadPool, events: Recorder) -> None:
    [added] = pool.add_workers(1)

    started = events.wait_for(E.WORKER_STARTED, worker_id=added)
    assert isinstance(started.payload, WorkerInfo)
    assert started.payload.id == added


def test_seqs_stay_unique_and_gapless_with_many_emitting_threads(make_pool) -> None:
    pool = make_pool(workers=4)
    buffer = pool.events.buffer()
    futures = [pool.submit(report_progress, 0.5) for _ in range(300)]

    pool.shutdown(wait=True)

    assert all(f.done() for f in futures)
    seqs = sorted(e.seq for e in buffer.drain())
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    assert buffer.dropped == 0


# --------------------------------------------------------------- subscribers


def test_subscribers_run_in_the_emitting_thread(pool: ThreadPool) -> None:
    threads: dict[tuple[EventKind, int | None], int] = {}
    pool.events.subscribe(lambda e: threads.setdefault((e.kind, e.task_id), threading.get_ident()))
    task_thread: list[int] = []

    future = pool.submit(lambda: task_thread.append(threading.get_ident()))
    future.result(timeout=WAIT)
    pool.pause()

    main = threading.get_ident()
    assert threads[E.TASK_SUBMITTED, future.task_id] == main
    assert threads[E.TASK_STARTED, future.task_id] == task_thread[0] != main
    assert threads[E.TASK_DONE, future.task_id] == task_thread[0]
    assert threads[E.POOL_PAUSED, None] == main


def test_unsubscribe_stops_delivery_to_that_subscriber_only(pool: ThreadPool) -> None:
    stays: list[Event] = []
    leaves: list[Event] = []
    pool.events.subscribe(stays.append)
    unsubscribe = pool.events.subscribe(leaves.append)

    pool.pause()
    pool.resume()
    unsubscribe()
    pool.pause()
    unsubscribe()  # a second call does no harm

    assert [e.kind for e in leaves] == [E.POOL_PAUSED, E.POOL_RESUMED]
    assert [e.kind for e in stays] == [E.POOL_PAUSED, E.POOL_RESUMED, E.POOL_PAUSED]


def test_a_failing_subscriber_is_logged_and_the_pool_goes_on(pool: ThreadPool, caplog) -> None:
    def broken(event: Event) -> None:
        raise RuntimeError("subscriber broke")

    pool.events.subscribe(broken)
    after = Recorder(pool)  # subscribed after the broken one

    with caplog.at_level(logging.ERROR, logger="core.events"):
        futures = [pool.submit(abs, -i) for i in range(5)]
        assert [f.result(timeout=WAIT) for f in futures] == list(range(5))

    for future in futures:
        assert after.of_task(future.task_id)[-1].kind is E.TASK_DONE
    logged = [r for r in caplog.records if r.name == "core.events"]
    assert logged
    assert all(r.exc_info and "subscriber broke" in str(r.exc_info[1]) for r in logged)


@pytest.mark.parametrize("raised", [SystemExit, KeyboardInterrupt], ids=["SystemExit", "KeyboardInterrupt"])
@pytest.mark.parametrize("kind", [E.TASK_STARTED, E.TASK_DONE, E.WORKER_IDLE])
def test_a_subscriber_raising_a_base_exception_ends_no_worker_and_no_task_stays_running(
    make_pool, caplog, raised: type[BaseException], kind: EventKind
) -> None:
    pool = make_pool(workers=1)
    [worker] = [w.id for w in pool.workers]

    def leaves(event: Event) -> None:
        if event.kind is kind:
            raise raised("subscriber left")

    pool.events.subscribe(leaves)
    after = Recorder(pool)

    with caplog.at_level(logging.ERROR, logger="core.events"):
        futures = [pool.submit(abs, -i) for i in range(3)]
        assert [f.result(timeout=WAIT) for f in futures] == [0, 1, 2]
        after.wait_for(kind)  # seen by a later subscriber: the broken one has run

    for future in futures:
        assert after.of_task(future.task_id)[-1].kind is E.TASK_DONE
        assert future.task.state is TaskState.DONE
    assert [w.id for w in pool.workers] == [worker]
    assert not after.of_kind(E.WORKER_EXITED)
    assert any(r.exc_info and "subscriber left" in str(r.exc_info[1]) for r in caplog.records)


# ------------------------------------------------------------------- buffers


def test_a_buffer_drains_oldest_first_in_batches_up_to_a_limit() -> None:
    bus = EventBus()
    buffer = bus.buffer()
    for _ in range(5):
        bus.emit(E.POOL_PAUSED)

    assert len(buffer) == 5
    assert [e.seq for e in buffer.drain(limit=2)] == [1, 2]
    assert [e.seq for e in buffer.drain(limit=2)] == [3, 4]
    assert [e.seq for e in buffer.drain(limit=2)] == [5]
    assert buffer.drain() == []
    assert len(buffer) == 0
    assert buffer.dropped == 0


def test_a_closed_buffer_receives_nothing_more() -> None:
    bus = EventBus()
    buffer = bus.buffer()
    bus.emit(E.POOL_PAUSED)

    buffer.close()
    bus.emit(E.POOL_RESUMED)

    assert [e.kind for e in buffer.drain()] == [E.POOL_PAUSED]


def test_a_full_buffer_drops_the_oldest_events_and_counts_them() -> None:
    bus = EventBus()
    bus.emit(E.POOL_PAUSED)  # before the buffer: not its business
    buffer = bus.buffer(maxlen=3)
    for _ in range(10):
        bus.emit(E.POOL_RESUMED)

    assert [e.seq for e in buffer.drain()] == [9, 10, 11]
    assert buffer.dropped == 7


def test_discarding_keeps_the_newest_events_and_counts_the_rest_as_dropped() -> None:
    bus = EventBus()
    buffer = bus.buffer()
    for _ in range(10):
        bus.emit(E.POOL_PAUSED)

    assert buffer.discard(keep=4) == 6
    assert buffer.discard(keep=4) == 0
    assert [e.seq for e in buffer.drain()] == [7, 8, 9, 10]
    assert buffer.dropped == 6


def test_drops_between_drains_are_counted() -> None:
    bus = EventBus()
    buffer = bus.buffer(maxlen=3)
    bus.emit(E.POOL_PAUSED)
    bus.emit(E.POOL_PAUSED)
    assert [e.seq for e in buffer.drain()] == [1, 2]

    for _ in range(10):
        bus.emit(E.POOL_RESUMED)

    assert [e.seq for e in buffer.drain()] == [10, 11, 12]
    assert buffer.dropped == 7


@pytest.mark.timeout(10)
def test_an_event_still_on_its_way_is_not_counted_as_dropped() -> None:
    # Emitters take their seq, then append: one held up between the two
    # lands after a later event was drained. That is a late event, not a loss.
    bus = EventBus()
    held, release = threading.Event(), threading.Event()

    def hold_the_first(event: Event) -> None:
        if event.seq == 1:
            held.set()
            release.wait(WAIT)

    bus.subscribe(hold_the_first)  # called before the buffer's append
    buffer = bus.buffer()
    slow = threading.Thread(target=bus.emit, args=(E.POOL_PAUSED,))
    slow.start()
    assert held.wait(WAIT)
    bus.emit(E.POOL_RESUMED)

    assert [e.seq for e in buffer.drain()] == [2]
    assert buffer.drain() == []
    assert buffer.dropped == 0  # on its way, as far as anyone can tell
    release.set()
    slow.join(WAIT)
    assert [e.seq for e in buffer.drain()] == [1]
    assert buffer.dropped == 0


def test_a_gap_that_stays_open_is_counted_as_dropped_in_the_end(monkeypatch) -> None:
    bus = EventBus()
    buffer = bus.buffer()
    bus.emit(E.POOL_PAUSED)
    with monkeypatch.context() as m:  # an event numbered and never appended: lost
        m.setattr(bus, "_subscribers", ())
        bus.emit(E.POOL_PAUSED)
    bus.emit(E.POOL_RESUMED)
    assert [e.seq for e in buffer.drain()] == [1, 3]
    assert buffer.drain() == []
    assert buffer.dropped == 0  # too early to tell
    monkeypatch.setattr(events, "LATE_SECONDS", 0.0)
    buffer.drain()
    assert buffer.dropped == 1


def test_each_gap_is_given_its_own_time_to_fill() -> None:
    # Events that concurrent emitters append out of order: 2 comes late,
    # then 5 does, and 7 never comes.
    buffer = EventBuffer(maxlen=100)
    now = [0.0]
    buffer._clock = lambda: now[0]

    def arrive(*seqs: int) -> None:
        for seq in seqs:
            buffer._append(Event(seq, E.POOL_PAUSED, 0.0, None, None, None))

    arrive(1, 3)
    buffer.drain()
    buffer.drain()  # 2 is open: aged from now
    now[0] = 0.4
    arrive(2, 4, 6)
    buffer.drain()
    arrive(8)
    buffer.drain()  # 2 came; 5 and 7 are open, younger than half a second
    now[0] = 0.6
    buffer.drain()
    assert buffer.dropped == 0  # not counted on 2's clock
    now[0] = 1.2
    arrive(5)
    buffer.drain()
    assert buffer.dropped == 0  # 5 came; 7 is aged from here (at most twice the time)
    now[0] = 1.8
    buffer.drain()
    assert buffer.dropped == 1  # 7, lost


def test_a_gap_left_by_a_full_buffer_is_counted_at_once() -> None:
    bus = EventBus()
    buffer = bus.buffer(maxlen=2)
    for _ in range(5):
        bus.emit(E.POOL_PAUSED)
    assert [e.seq for e in buffer.drain(limit=1)] == [4]
    assert buffer.dropped == 3
    assert [e.seq for e in buffer.drain()] == [5]
    assert buffer.dropped == 3


# ----------------------------------------------------------- a task's story


def assert_one_life(events: list[Event]) -> EventKind:
    """submitted → started → (progress…) → done|failed|cancelled, or
    submitted → cancelled; returns the ending."""
    kinds = [e.kind for e in events]
    assert kinds[0] is E.TASK_SUBMITTED, kinds
    assert sum(k in ENDINGS for k in kinds) == 1, kinds
    if kinds[1:] == [E.TASK_CANCELLED]:
        return E.TASK_CANCELLED
    assert kinds[1] is E.TASK_STARTED, kinds
    assert all(k is E.TASK_PROGRESS for k in kinds[2:-1]), kinds
    assert kinds[-1] in ENDINGS, kinds
    return kinds[-1]


def test_each_task_tells_its_life_in_order_with_exactly_one_ending(make_pool) -> None:
    pool = make_pool(workers=2)
    events = Recorder(pool)
    gate = threading.Event()
    both_running = threading.Barrier(3)

    def steps(n: int) -> int:
        for i in range(n):
            report_progress((i + 1) / n, f"step {i + 1}")
        return n

    def wait_at_gate() -> str:
        both_running.wait(WAIT)
        assert gate.wait(WAIT)
        current_task().raise_if_cancelled()
        return "passed"

    expected: dict[int | None, EventKind] = {}
    stepping = []
    for i in range(5):
        expected[pool.submit(abs, -i).task_id] = E.TASK_DONE
        expected[pool.submit(divide, i, 0).task_id] = E.TASK_FAILED
        stepping.append(pool.submit(steps, 3))
        expected[stepping[-1].task_id] = E.TASK_DONE
    passing = pool.submit(wait_at_gate)
    stopped = pool.submit(wait_at_gate)
    both_running.wait(WAIT)
    queued = pool.submit(abs, 1)
    cancelled = pool.submit(abs, 2)
    assert cancelled.cancel()
    assert stopped.cancel() is False  # running: asked to stop
    gate.set()
    expected |= {
        passing.task_id: E.TASK_DONE,
        stopped.task_id: E.TASK_CANCELLED,
        queued.task_id: E.TASK_DONE,
        cancelled.task_id: E.TASK_CANCELLED,
    }

    pool.shutdown(wait=True)

    endings = {task_id: assert_one_life(events.of_task(task_id)) for task_id in expected}
    assert endings == expected
    assert [e.kind for e in events.of_task(cancelled.task_id)] == [E.TASK_SUBMITTED, E.TASK_CANCELLED]
    for future in stepping:
        progress = [e.payload for e in events.of_task(future.task_id) if e.kind is E.TASK_PROGRESS]
        assert progress == [(1 / 3, "step 1"), (2 / 3, "step 2"), (1.0, "step 3")]


def test_a_timed_out_task_emits_nothing_after_its_ending(make_pool) -> None:
    pool = make_pool(workers=1)
    events = Recorder(pool)

    def reports_after_its_deadline() -> str:
        events.wait_for(E.TASK_FAILED, current_task().task_id)  # given up on by now
        report_progress(0.9, "still going")
        return "late"

    future = pool.schedule(reports_after_its_deadline, timeout=0.05)

    with pytest.raises(TaskTimeout):
        future.result(timeout=WAIT)
    abandoned = events.wait_for(E.WORKER_ABANDONED).worker_id
    events.wait_for(E.WORKER_EXITED, worker_id=abandoned)
    assert [e.kind for e in events.of_task(future.task_id)] == [
        E.TASK_SUBMITTED,
        E.TASK_STARTED,
        E.TASK_FAILED,
    ]


def test_payloads_of_a_retried_task_link_its_attempts(pool: ThreadPool, events: Recorder) -> None:
    def fails_once() -> Any:
        if current_task().attempt == 1:
            raise OSError("first attempt fails")
        return "second"

    future = pool.schedule(fails_once, retries=1)

    assert future.result(timeout=WAIT) == "second"
    first, second = (e.payload for e in events.events if e.kind is E.TASK_SUBMITTED)
    assert (first.attempt, second.attempt, second.retry_of) == (1, 2, first.id)
    assert assert_one_life(events.of_task(first.id)) is E.TASK_FAILED
    assert assert_one_life(events.of_task(second.id)) is E.TASK_DONE
