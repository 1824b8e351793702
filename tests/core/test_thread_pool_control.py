"""Steering a running ThreadPool: adding and dismissing workers, pause and
resume, cancel, progress, back-pressure, introspection, bad input, and what
a failing callback does."""

from __future__ import annotations

import concurrent.futures as cf
import logging
import re
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from pool_test_tools import WAIT, Hold, Recorder

from core import (
    EventKind,
    PoolClosed,
    QueueFull,
    TaskCancelled,
    TaskError,
    ThreadPool,
    UnknownTask,
    WorkerInfo,
    WorkerState,
    current_task,
    report_progress,
)

E = EventKind


def fail() -> None:
    raise ValueError("no luck")


def worker_of(pool: ThreadPool, task_id: int | None) -> WorkerInfo:
    [info] = [w for w in pool.workers if w.task_id == task_id]
    return info


def wait_until(condition: Callable[[], bool]) -> None:
    """Poll a state the pool announces with no event of its own (a worker
    asleep in the idle list: WORKER_IDLE comes just before it lies down)."""
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, "the condition never came true"
        time.sleep(0.001)


# ------------------------------------------------------------------- workers


def test_add_workers_starts_workers_that_take_tasks(pool: ThreadPool, hold: Hold, events: Recorder) -> None:
    before = {w.id for w in pool.workers}

    added = pool.add_workers(2)

    assert len(added) == 2
    assert not set(added) & before
    assert {w.id for w in pool.workers} == before | set(added)
    assert pool.stats().workers == 4
    assert {e.worker_id for e in events.of_kind(E.WORKER_STARTED)} == set(added)
    # Four tasks held at once need all four workers.
    futures = [pool.submit(hold) for _ in range(4)]
    hold.wait_started(4)
    hold.release()
    cf.wait(futures, timeout=WAIT)


def test_dismissing_an_idle_worker_takes_effect_at_once(pool: ThreadPool, events: Recorder) -> None:
    started = time.monotonic()
    [dismissed] = pool.dismiss_workers(1, join=True)
    elapsed = time.monotonic() - started

    assert elapsed < 0.3
    assert dismissed not in {w.id for w in pool.workers}
    assert pool.stats().workers == 1
    assert events.worker_kinds(dismissed) == [E.WORKER_DISMISSED, E.WORKER_EXITED, E.WORKER_JOINED]
    assert pool.submit(abs, -1).result(timeout=WAIT) == 1


def test_dismiss_picks_idle_workers_before_busy_ones(pool: ThreadPool, hold: Hold) -> None:
    busy = pool.submit(hold, "unharmed")
    hold.wait_started()
    busy_worker = worker_of(pool, busy.task_id).id

    [dismissed] = pool.dismiss_workers(1)

    assert dismissed != busy_worker
    hold.release()
    assert busy.result(timeout=WAIT) == "unharmed"


def test_a_dismissed_busy_worker_finishes_its_task_then_leaves(make_pool, hold: Hold) -> None:
    pool = make_pool(workers=1)
    events = Recorder(pool)
    running = pool.submit(hold, "finished")
    hold.wait_started()

    [dismissed] = pool.dismiss_workers(1)

    info = worker_of(pool, running.task_id)
    assert info.id == dismissed
    assert info.state is WorkerState.DISMISSED
    assert pool.stats().workers == 0
    assert not running.done()
    later = pool.submit(abs, -5)
    hold.release()
    assert running.result(timeout=WAIT) == "finished"
    assert pool.join_dismissed(timeout=WAIT) == [dismissed]
    # It left without taking the task that was waiting.
    assert not later.done()
    assert pool.stats().queued == 1
    assert events.task_kinds(later.task_id) == [E.TASK_SUBMITTED]

    [fresh] = pool.add_workers(1)
    assert later.result(timeout=WAIT) == 5
    assert events.wait_for(E.TASK_STARTED, later.task_id).worker_id == fresh


def test_dismiss_worker_by_id(pool: ThreadPool, hold: Hold) -> None:
    running = pool.submit(hold, "finished")
    hold.wait_started()
    busy_worker = worker_of(pool, running.task_id).id

    pool.dismiss_worker(busy_worker)

    assert {w.id: w.state for w in pool.workers}[busy_worker] is WorkerState.DISMISSED
    assert pool.stats().workers == 1
    hold.release()
    assert running.result(timeout=WAIT) == "finished"
    assert pool.join_dismissed(timeout=WAIT) == [busy_worker]
    assert busy_worker not in {w.id for w in pool.workers}
    with pytest.raises(LookupError):
        pool.dismiss_worker(busy_worker)
    with pytest.raises(LookupError):
        pool.dismiss_worker(10_000)


def test_join_dismissed_waits_for_the_workers_and_forgets_them(pool: ThreadPool, events: Recorder) -> None:
    dismissed = pool.dismiss_workers(5)  # at most all

    assert sorted(pool.join_dismissed(timeout=WAIT)) == sorted(dismissed)
    assert len(dismissed) == 2
    assert pool.workers == []
    assert {e.worker_id for e in events.of_kind(E.WORKER_JOINED)} == set(dismissed)
    assert pool.join_dismissed(timeout=WAIT) == []


def test_dismissing_a_worker_just_woken_for_a_task_does_not_strand_the_task(
    pool: ThreadPool, events: Recorder
) -> None:
    # Both workers asleep, the older one asleep last. A submit wakes the last
    # sleeper and dismiss_workers() picks idle workers oldest first, so the
    # worker woken for the task is the one dismissed before it can take it.
    first_gate, second_gate = threading.Event(), threading.Event()
    futures = {gate: pool.submit(gate.wait, WAIT) for gate in (first_gate, second_gate)}
    gate_of_worker = {events.wait_for(E.TASK_STARTED, f.task_id).worker_id: g for g, f in futures.items()}
    older, younger = sorted(gate_of_worker)
    gate_of_worker[younger].set()
    wait_until(lambda: pool.stats().idle_workers == 1)
    gate_of_worker[older].set()
    wait_until(lambda: pool.stats().idle_workers == 2)

    task = pool.submit(abs, -1)
    [dismissed] = pool.dismiss_workers(1)

    assert task.result(timeout=WAIT) == 1
    assert events.wait_for(E.TASK_STARTED, task.task_id).worker_id != dismissed


# -------------------------------------------------------------- pause, resume


def test_nothing_starts_while_the_pool_is_paused(pool: ThreadPool, events: Recorder) -> None:
    pool.pause()
    started = threading.Event()
    futures = [pool.submit(started.set) for _ in range(3)]

    assert pool.paused
    assert not started.wait(0.2)
    stats = pool.stats()
    assert (stats.queued, stats.running, stats.paused) == (3, 0, True)
    assert events.of_kind(E.TASK_STARTED) == []

    pool.resume()
    done, _ = cf.wait(futures, timeout=WAIT)
    assert done == set(futures)
    assert not pool.paused
    assert [e.kind for e in events.events if e.kind.value.startswith("pool_")] == [
        E.POOL_PAUSED,
        E.POOL_RESUMED,
    ]


def test_pause_lets_running_tasks_finish(pool: ThreadPool, hold: Hold) -> None:
    running = pool.submit(hold, "finished")
    hold.wait_started()

    pool.pause()
    queued = pool.submit(abs, -1)
    hold.release()

    assert running.result(timeout=WAIT) == "finished"
    assert not cf.wait([queued], timeout=0.1).done
    pool.resume()
    assert queued.result(timeout=WAIT) == 1


# --------------------------------------------------------------------- cancel


def test_cancelling_a_queued_task_ends_it_at_once(make_pool, hold: Hold) -> None:
    pool = make_pool(workers=1)
    events = Recorder(pool)
    pool.submit(hold)
    hold.wait_started()
    queued = pool.submit(abs, -1)

    assert pool.cancel(queued.task_id) is True

    assert queued.cancelled()
    assert events.task_kinds(queued.task_id) == [E.TASK_SUBMITTED, E.TASK_CANCELLED]
    assert isinstance(events.wait_for(E.TASK_CANCELLED, queued.task_id).payload, TaskCancelled)
    stats = pool.stats()
    assert (stats.queued, stats.cancelled) == (0, 1)
    # The worker skips it later: still one ending, never a start.
    hold.release()
    pool.shutdown(wait=True)
    assert events.task_kinds(queued.task_id) == [E.TASK_SUBMITTED, E.TASK_CANCELLED]
    assert pool.cancel(queued.task_id) is False


def test_future_cancel_of_a_queued_task_goes_through_the_pool(make_pool, hold: Hold) -> None:
    pool = make_pool(workers=1)
    events = Recorder(pool)
    pool.submit(hold)
    hold.wait_started()
    queued = pool.submit(abs, -1)

    assert queued.cancel() is True

    assert queued.cancelled()
    assert events.task_kinds(queued.task_id) == [E.TASK_SUBMITTED, E.TASK_CANCELLED]
    assert pool.stats().cancelled == 1


def test_cancelling_a_running_task_asks_it_to_stop(pool: ThreadPool, events: Recorder) -> None:
    started = threading.Event()
    may_look = threading.Event()
    seen: list[bool] = []

    def polite() -> str:
        started.set()
        assert may_look.wait(WAIT)
        seen.append(current_task().cancel_requested)
        current_task().raise_if_cancelled()
        return "ignored the request"

    future = pool.submit(polite)
    assert started.wait(WAIT)

    assert pool.cancel(future.task_id) is False
    assert pool.task(future.task_id).cancel_requested
    may_look.set()

    with pytest.raises(TaskCancelled):
        future.result(timeout=WAIT)
    assert seen == [True]
    assert events.task_kinds(future.task_id) == [E.TASK_SUBMITTED, E.TASK_STARTED, E.TASK_CANCELLED]
    stats = pool.stats()
    assert (stats.cancelled, stats.failed, stats.done) == (1, 0, 0)


def test_future_cancel_of_a_running_task_returns_false_and_the_task_may_finish(
    pool: ThreadPool, hold: Hold
) -> None:
    running = pool.submit(hold, "finished anyway")
    hold.wait_started()

    assert running.cancel() is False
    assert pool.task(running.task_id).cancel_requested
    hold.release()
    assert running.result(timeout=WAIT) == "finished anyway"


def test_cancel_queued_cancels_every_queued_task(make_pool, hold: Hold) -> None:
    pool = make_pool(workers=1)
    running = pool.submit(hold, "finished")
    hold.wait_started()
    queued = [pool.submit(abs, -i) for i in range(4)]

    assert pool.cancel_queued() == 4

    assert all(f.cancelled() for f in queued)
    assert not running.done()
    hold.release()
    assert running.result(timeout=WAIT) == "finished"
    assert pool.cancel_queued() == 0
    stats = pool.stats()
    assert (stats.done, stats.cancelled) == (1, 4)


# ------------------------------------------------------------------- progress


def test_report_progress_emits_clamped_fractions_with_messages(pool: ThreadPool, events: Recorder) -> None:
    def steps() -> str:
        report_progress(0.25, "a quarter")
        current_task().report_progress(0.5)
        report_progress(1.5, "too far")
        report_progress(-0.5)
        return "done"

    future = pool.submit(steps)

    assert future.result(timeout=WAIT) == "done"
    progress = [e for e in events.of_kind(E.TASK_PROGRESS) if e.task_id == future.task_id]
    assert [e.payload for e in progress] == [(0.25, "a quarter"), (0.5, None), (1.0, "too far"), (0.0, None)]
    started = events.wait_for(E.TASK_STARTED, future.task_id)
    assert {e.worker_id for e in progress} == {started.worker_id}


def test_report_progress_outside_a_task_does_nothing(pool: ThreadPool, events: Recorder) -> None:
    report_progress(0.5, "from the test")

    assert events.of_kind(E.TASK_PROGRESS) == []
    with pytest.raises(RuntimeError):
        current_task()


# ------------------------------------------------------------- back-pressure


def fill_queue(pool: ThreadPool, hold: Hold) -> None:
    """Keep the only worker busy and take the queue's one place."""
    pool.submit(hold)
    hold.wait_started()
    pool.submit(abs, -1)


def test_submit_blocks_while_the_queue_is_full(make_pool, hold: Hold) -> None:
    pool = make_pool(workers=1, queue_size=1)
    fill_queue(pool, hold)
    returned = threading.Event()
    late: list[cf.Future] = []

    def submit_one_more() -> None:
        late.append(pool.submit(abs, -3))
        returned.set()

    submitter = threading.Thread(target=submit_one_more)
    submitter.start()
    try:
        assert not returned.wait(0.2)
        hold.release()
        assert returned.wait(WAIT)
    finally:
        hold.release()
        submitter.join(WAIT)
    assert late[0].result(timeout=WAIT) == 3


def test_schedule_refuses_a_full_queue_without_blocking_or_after_queue_timeout(make_pool, hold: Hold) -> None:
    pool = make_pool(workers=1, queue_size=1)
    fill_queue(pool, hold)

    with pytest.raises(QueueFull):
        pool.schedule(abs, (-2,), block=False)
    started = time.monotonic()
    with pytest.raises(QueueFull):
        pool.schedule(abs, (-2,), queue_timeout=0.05)
    assert time.monotonic() - started >= 0.04
    stats = pool.stats()
    assert (stats.queued, stats.submitted) == (1, 2)


def test_a_non_blocking_schedule_ignores_its_queue_timeout_as_queue_put_does(make_pool, hold: Hold) -> None:
    pool = make_pool(workers=1, queue_size=1)
    fill_queue(pool, hold)

    started = time.monotonic()
    with pytest.raises(QueueFull, match="stayed full"):
        pool.schedule(abs, (-2,), block=False, queue_timeout=1)
    assert time.monotonic() - started < 0.5  # at once, not after the time-out
    hold.release()
    wait_until(lambda: pool.stats().queued == 0)
    assert pool.schedule(abs, (-3,), block=False, queue_timeout=1).result(timeout=WAIT) == 3


def test_cancelling_a_queued_task_frees_its_place(make_pool, hold: Hold) -> None:
    pool = make_pool(workers=1, queue_size=1)
    pool.submit(hold)
    hold.wait_started()
    queued = pool.submit(abs, -1)

    assert queued.cancel()

    assert pool.schedule(abs, (-2,), block=False).task_id is not None


def test_retries_keep_the_queue_bound(make_pool, hold: Hold) -> None:
    pool = make_pool(workers=1, queue_size=1)

    def fails_once() -> str:
        if current_task().attempt == 1:
            raise OSError("first attempt fails")
        return "second"

    assert pool.schedule(fails_once, retries=1).result(timeout=WAIT) == "second"
    fill_queue(pool, hold)

    with pytest.raises(QueueFull):
        pool.schedule(abs, (-2,), block=False)


def test_workers_finish_tasks_whose_results_nobody_reads(make_pool) -> None:
    pool = make_pool(workers=2, queue_size=2)

    futures = [pool.submit(abs, -i) for i in range(50)]

    assert not cf.wait(futures, timeout=WAIT).not_done
    assert pool.stats().done == 50


# -------------------------------------------------------------- introspection


def test_workers_describe_each_worker(make_pool, hold: Hold) -> None:
    pool = make_pool(workers=1)
    pool.submit(time.sleep, 0.02).result(timeout=WAIT)

    def nap_then_fail() -> None:
        time.sleep(0.02)
        fail()

    pool.submit(nap_then_fail).exception(timeout=WAIT)
    native_ids: list[int] = []
    running = pool.submit(lambda: (native_ids.append(threading.get_native_id()), hold()))
    hold.wait_started()
    [idle_worker] = pool.add_workers(1)

    infos = {w.id: w for w in pool.workers}
    busy = worker_of(pool, running.task_id)
    assert busy.state is WorkerState.BUSY
    assert (busy.tasks_done, busy.tasks_failed) == (1, 1)
    assert busy.busy_seconds >= 0.04
    assert busy.native_id == native_ids[0]
    assert busy.started_at <= time.time()
    idle = infos[idle_worker]
    assert (idle.state, idle.task_id, idle.tasks_done, idle.tasks_failed) == (WorkerState.IDLE, None, 0, 0)
    assert idle.busy_seconds == 0.0

    hold.release()
    running.result(timeout=WAIT)
    after = {w.id: w for w in pool.workers}[busy.id]
    assert (after.task_id, after.tasks_done) == (None, 2)


def test_stats_count_tasks_and_workers(make_pool, hold: Hold) -> None:
    pool = make_pool(workers=2)
    pool.submit(abs, -1).result(timeout=WAIT)
    pool.submit(fail).exception(timeout=WAIT)
    held = [pool.submit(hold) for _ in range(2)]
    hold.wait_started(2)
    pool.submit(abs, 1)
    pool.submit(abs, 2).cancel()

    stats = pool.stats()
    assert (stats.queued, stats.running, stats.done, stats.failed, stats.cancelled) == (1, 2, 1, 1, 1)
    assert stats.submitted == 6
    assert (stats.workers, stats.idle_workers) == (2, 0)
    assert (stats.paused, stats.closed) == (False, False)

    hold.release()
    cf.wait(held, timeout=WAIT)
    pool.shutdown(wait=True)
    stats = pool.stats()
    assert (stats.queued, stats.running, stats.done, stats.failed, stats.cancelled) == (0, 0, 4, 1, 1)
    assert stats.submitted == 6
    assert (stats.workers, stats.closed) == (0, True)
    # Three tasks ended between the two calls.
    assert stats.tasks_per_second > 0


# ----------------------------------------------------------------- bad input


def still_works(pool: ThreadPool) -> None:
    """After refusing bad input, the pool runs tasks as before."""
    assert pool.submit(abs, -7).result(timeout=WAIT) == 7


def test_submit_after_shutdown_raises_pool_closed(pool: ThreadPool) -> None:
    pool.shutdown()

    with pytest.raises(PoolClosed, match="cannot submit to this thread pool: it was shut down") as caught:
        pool.submit(abs, 1)
    assert isinstance(caught.value, RuntimeError)
    with pytest.raises(PoolClosed, match="cannot add workers: this thread pool was shut down"):
        pool.add_workers(1)


def test_a_task_must_be_callable(pool: ThreadPool) -> None:
    with pytest.raises(TypeError, match="a task needs a callable, got int: 42"):
        pool.submit(42)
    with pytest.raises(TypeError, match="a task needs a callable, got str: 'not a function'"):
        pool.schedule("not a function")
    assert pool.stats().submitted == 0
    still_works(pool)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        pytest.param(
            lambda pool: pool.dismiss_workers(-1), "n must be at least 0, got -1", id="dismiss_workers(-1)"
        ),
        pytest.param(lambda pool: pool.add_workers(0), "n must be at least 1, got 0", id="add_workers(0)"),
        pytest.param(
            lambda pool: pool.schedule(abs, (1,), timeout=-1),
            "timeout must be a positive number of seconds, got -1",
            id="negative timeout",
        ),
        pytest.param(
            lambda pool: pool.schedule(abs, (1,), timeout=0),
            "timeout must be a positive number of seconds, got 0",
            id="zero timeout",
        ),
        pytest.param(
            lambda pool: pool.schedule(abs, (1,), timeout=float("nan")),
            "timeout must be a positive number of seconds, got nan",
            id="NaN timeout",
        ),
        pytest.param(
            lambda pool: pool.schedule(abs, (1,), retries=-1),
            "retries must be at least 0, got -1",
            id="negative retries",
        ),
        pytest.param(
            lambda pool: pool.schedule(abs, (1,), queue_timeout=-1),
            "queue_timeout must be zero or more seconds, got -1",
            id="negative queue_timeout",
        ),
    ],
)
def test_bad_counts_and_times_raise_value_error(
    pool: ThreadPool, call: Callable[[ThreadPool], Any], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        call(pool)
    assert pool.stats().workers == 2
    assert pool.stats().submitted == 0
    still_works(pool)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        pytest.param(
            lambda pool: pool.schedule(abs, (1,), timeout="x"),
            "timeout must be a number of seconds, got str: 'x'",
            id="timeout='x'",
        ),
        pytest.param(
            lambda pool: pool.schedule(abs, (1,), timeout=True),
            "timeout must be a number of seconds, got bool: True",
            id="timeout=True",
        ),
        pytest.param(
            lambda pool: pool.schedule(abs, (1,), queue_timeout="1"),
            "queue_timeout must be a number of seconds, got str: '1'",
            id="queue_timeout='1'",
        ),
        pytest.param(
            lambda pool: pool.schedule(abs, (1,), retries="2"),
            "retries must be a whole number, got str: '2'",
            id="retries='2'",
        ),
        pytest.param(
            lambda pool: pool.dismiss_workers(1.5), "n must be a whole number, got float: 1.5", id="n=1.5"
        ),
    ],
)
def test_bad_types_raise_type_error_with_a_message(
    pool: ThreadPool, call: Callable[[ThreadPool], Any], message: str
) -> None:
    with pytest.raises(TypeError, match=re.escape(message)):
        call(pool)
    assert pool.stats().workers == 2
    assert pool.stats().submitted == 0
    still_works(pool)


@pytest.mark.parametrize("workers", [0, -1])
def test_a_pool_needs_at_least_one_worker(workers: int) -> None:
    with pytest.raises(ValueError, match=f"workers must be at least 1, got {workers}"):
        ThreadPool(workers=workers)


def test_cancel_of_an_unknown_id_raises_unknown_task(pool: ThreadPool) -> None:
    with pytest.raises(UnknownTask, match="this thread pool has no task 1000000000") as caught:
        pool.cancel(10**9)
    assert isinstance(caught.value, LookupError)

    pool.submit(abs, 1).result(timeout=WAIT)
    with pytest.raises(UnknownTask, match="this thread pool has no task 1000000000"):
        pool.cancel(10**9)
    still_works(pool)


def test_cancel_of_another_pools_task_raises_unknown_task(make_pool) -> None:
    pool, other = make_pool(workers=1), make_pool(workers=1)
    pool.submit(abs, 1).result(timeout=WAIT)
    foreign = other.submit(abs, 2)
    foreign.result(timeout=WAIT)
    pool.submit(abs, 3).result(timeout=WAIT)

    with pytest.raises(UnknownTask, match=f"this thread pool has no task {foreign.task_id}"):
        pool.cancel(foreign.task_id)
    still_works(pool)
    assert other.submit(abs, -8).result(timeout=WAIT) == 8


# ------------------------------------------------------------------ callbacks


def test_a_failing_callback_is_reported_and_the_pool_keeps_working(make_pool, caplog) -> None:
    pool = make_pool(workers=1)
    events = Recorder(pool)
    [worker] = [w.id for w in pool.workers]

    def broken_callback(value: Any) -> None:
        raise RuntimeError(f"callback broke on {value!r}")

    with caplog.at_level(logging.ERROR):
        result = pool.apply_async(abs, (-4,), callback=broken_callback)
        assert result.get(timeout=WAIT) == 4
        failed = pool.apply_async(fail, error_callback=broken_callback)
        with pytest.raises(ValueError):
            failed.get(timeout=WAIT)

    reported = events.wait_for(E.CALLBACK_FAILED, result.task_id)
    assert isinstance(reported.payload, TaskError)
    assert reported.payload.type_name == "RuntimeError"
    assert "callback broke on 4" in str(reported.payload)
    assert events.wait_for(E.CALLBACK_FAILED, failed.task_id).worker_id == worker
    assert events.task_kinds(result.task_id)[-1] is E.TASK_DONE
    assert sum("callback" in r.getMessage() for r in caplog.records) == 2
    # The same worker goes on.
    assert pool.apply(abs, (-5,)) == 5
    assert [w.id for w in pool.workers] == [worker]
    assert pool.stats().workers == 1


@pytest.mark.parametrize("raised", [SystemExit, KeyboardInterrupt], ids=["SystemExit", "KeyboardInterrupt"])
def test_a_callback_raising_a_base_exception_is_reported_and_the_worker_stays(
    make_pool, caplog, raised: type[BaseException]
) -> None:
    pool = make_pool(workers=1)
    events = Recorder(pool)
    [worker] = [w.id for w in pool.workers]

    def leaves(value: Any) -> None:
        raise raised(f"callback left on {value!r}")

    with caplog.at_level(logging.ERROR):
        result = pool.apply_async(abs, (-4,), callback=leaves)
        failed = pool.apply_async(fail, error_callback=leaves)
        assert result.get(timeout=WAIT) == 4
        with pytest.raises(ValueError, match="no luck"):
            failed.get(timeout=WAIT)

    for task_id in (result.task_id, failed.task_id):
        reported = events.wait_for(E.CALLBACK_FAILED, task_id)
        assert reported.payload.type_name == raised.__name__
        assert reported.worker_id == worker
    assert "callback left on 4" in str(events.wait_for(E.CALLBACK_FAILED, result.task_id).payload)
    assert events.task_kinds(result.task_id)[-1] is E.TASK_DONE
    assert events.task_kinds(failed.task_id)[-1] is E.TASK_FAILED
    assert sum("callback" in r.getMessage() for r in caplog.records) == 2
    # The same worker goes on; none exited.
    assert pool.apply(abs, (-5,)) == 5
    assert [w.id for w in pool.workers] == [worker]
    assert not events.of_kind(E.WORKER_EXITED)


@pytest.mark.parametrize("raised", [SystemExit, KeyboardInterrupt], ids=["SystemExit", "KeyboardInterrupt"])
def test_a_done_callback_raising_a_base_exception_does_not_end_the_worker(
    make_pool, caplog, raised: type[BaseException]
) -> None:
    pool = make_pool(workers=1)
    events = Recorder(pool)
    called = threading.Event()

    def leaves(future: cf.Future) -> None:
        called.set()
        raise raised("done callback left")

    gate = threading.Event()
    future = pool.submit(gate.wait, WAIT)
    future.add_done_callback(leaves)
    with caplog.at_level(logging.ERROR):
        gate.set()
        assert future.result(timeout=WAIT) is True
        assert called.wait(WAIT)
        assert pool.submit(abs, -6).result(timeout=WAIT) == 6
    assert not events.of_kind(E.WORKER_EXITED)
    assert any("done callback left" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)


def test_shutdown_with_no_worker_left_cancels_what_is_queued(make_pool) -> None:
    pool = make_pool(workers=1)
    pool.dismiss_workers(1, join=True)
    stranded = pool.submit(abs, -1)

    pool.shutdown(wait=True)

    assert stranded.cancelled()
    assert "no worker left" in stranded.task.error.message
