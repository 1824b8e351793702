"""ThreadPool as a ``concurrent.futures.Executor``: futures, map, shutdown,
per-task labels, time-outs and retries."""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import threading
import time

import pytest
from pool_test_tools import WAIT, Hold, Recorder

from core import (
    EventKind,
    PoolClosed,
    TaskError,
    TaskFuture,
    TaskTimeout,
    ThreadPool,
    WorkerState,
    current_task,
)

E = EventKind


def square(x: int) -> int:
    return x * x


def invert(x: float) -> float:
    return 1 / x


# ------------------------------------------------------------ submit, futures


def test_submit_returns_a_standard_future_that_knows_its_task(pool: ThreadPool, events: Recorder) -> None:
    future = pool.submit(pow, 2, 10)

    assert isinstance(future, cf.Future)
    assert isinstance(future, TaskFuture)
    assert future.result(timeout=WAIT) == 1024
    assert isinstance(future.task_id, int)
    assert events.wait_for(E.TASK_SUBMITTED).task_id == future.task_id


def test_submit_passes_positional_and_keyword_arguments(pool: ThreadPool) -> None:
    def describe(a: int, b: int = 0, *, fn: str = "") -> str:
        return f"{a} {b} {fn}"

    # ``fn`` as a keyword goes to the task, not to submit().
    assert pool.submit(describe, 1, b=2, fn="x").result(timeout=WAIT) == "1 2 x"


def test_result_raises_the_tasks_own_exception(pool: ThreadPool) -> None:
    future = pool.submit(invert, 0)

    with pytest.raises(ZeroDivisionError):
        future.result(timeout=WAIT)
    assert isinstance(future.exception(), ZeroDivisionError)


def test_every_task_gets_its_own_id(pool: ThreadPool) -> None:
    futures = [pool.submit(abs, -i) for i in range(20)]

    cf.wait(futures, timeout=WAIT)
    ids = [f.task_id for f in futures]
    assert len(set(ids)) == 20
    assert ids == sorted(ids)


def test_running_reports_a_task_that_has_started(pool: ThreadPool, hold: Hold) -> None:
    future = pool.submit(hold, "value")
    hold.wait_started()

    assert future.running()
    hold.release()
    assert future.result(timeout=WAIT) == "value"
    assert not future.running()


def test_as_completed_yields_futures_as_they_finish(pool: ThreadPool, hold: Hold) -> None:
    slow = pool.submit(hold, "slow")
    hold.wait_started()
    fast = pool.submit(abs, -1)

    finished = cf.as_completed([slow, fast], timeout=WAIT)
    assert next(finished) is fast
    hold.release()
    assert next(finished) is slow


def test_as_completed_yields_a_future_cancelled_while_queued(make_pool, hold: Hold) -> None:
    pool = make_pool(workers=1)
    pool.submit(hold)
    hold.wait_started()
    queued = pool.submit(abs, -1)
    assert queued.cancel()

    assert list(cf.as_completed([queued], timeout=0.5)) == [queued]


def test_wait_returns_when_the_first_future_finishes(pool: ThreadPool, hold: Hold) -> None:
    slow = pool.submit(hold)
    hold.wait_started()
    fast = pool.submit(abs, -1)

    done, not_done = cf.wait([slow, fast], timeout=WAIT, return_when=cf.FIRST_COMPLETED)
    assert done == {fast}
    assert not_done == {slow}

    hold.release()
    done, not_done = cf.wait([slow, fast], timeout=WAIT)
    assert done == {slow, fast}
    assert not not_done


def test_wait_counts_a_future_cancelled_while_queued_as_done(make_pool, hold: Hold) -> None:
    pool = make_pool(workers=1)
    pool.submit(hold)
    hold.wait_started()
    queued = pool.submit(abs, -1)
    assert queued.cancel()

    done, not_done = cf.wait([queued], timeout=0.5)
    assert done == {queued}
    assert not not_done


def test_asyncio_awaits_results_through_run_in_executor(pool: ThreadPool) -> None:
    main_thread = threading.get_ident()

    def power_and_thread(n: int) -> tuple[int, bool]:
        return 2**n, threading.get_ident() != main_thread

    async def main() -> list[tuple[int, bool]]:
        loop = asyncio.get_running_loop()
        return await asyncio.gather(*(loop.run_in_executor(pool, power_and_thread, n) for n in range(5)))

    assert asyncio.run(main()) == [(1, True), (2, True), (4, True), (8, True), (16, True)]


def test_asyncio_sees_a_tasks_exception(pool: ThreadPool) -> None:
    async def main() -> float:
        return await asyncio.get_running_loop().run_in_executor(pool, invert, 0)

    with pytest.raises(ZeroDivisionError):
        asyncio.run(main())


def test_asyncio_cancelling_a_queued_call_cancels_its_task(make_pool, hold: Hold) -> None:
    pool = make_pool(workers=1)
    events = Recorder(pool)
    pool.submit(hold)
    hold.wait_started()

    async def main() -> None:
        call = asyncio.get_running_loop().run_in_executor(pool, abs, -1)
        await asyncio.sleep(0)  # let the loop chain the pool's future
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call

    asyncio.run(main())

    [submitted] = [e for e in events.of_kind(E.TASK_SUBMITTED) if e.payload.fn is abs]
    assert events.task_kinds(submitted.task_id) == [E.TASK_SUBMITTED, E.TASK_CANCELLED]
    assert submitted.payload.future is None  # handed over, and let go


# ------------------------------------------------- the future's lazy condition


def test_a_future_nobody_waited_for_never_made_a_condition(make_pool) -> None:
    pool = make_pool(workers=2)
    futures = [pool.submit(abs, -i) for i in range(50)]
    pool.shutdown(wait=True)  # every one done, none waited for

    assert [f.result(timeout=WAIT) for f in futures] == list(range(50))
    assert [f._cond for f in futures] == [None] * 50  # the condition is made only for a waiter


def test_results_and_callbacks_reach_waiters_that_come_while_the_future_resolves(make_pool) -> None:
    """Waiters and callbacks race the worker that resolves each future; every
    one of them must see the outcome exactly once, and none may hang."""
    pool = make_pool(workers=4)
    rounds = 2_000
    futures = [pool.submit(invert, i % 7) for i in range(rounds)]  # every seventh one fails
    seen: list[int] = []
    lock = threading.Lock()

    def count(future: cf.Future) -> None:
        with lock:
            seen.append(1)

    def wait_on(part: list[TaskFuture]) -> None:
        for i, future in enumerate(part):
            if i % 3 == 0:
                future.add_done_callback(count)
            if i % 3 == 1:
                cf.wait([future], timeout=WAIT)
            try:
                future.result(timeout=WAIT)
            except ZeroDivisionError:
                pass

    threads = [threading.Thread(target=wait_on, args=(futures[k::3],)) for k in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT * 4)
    assert not any(thread.is_alive() for thread in threads)
    callbacks = sum(1 for k in range(3) for i, _ in enumerate(futures[k::3]) if i % 3 == 0)
    assert len(seen) == callbacks
    failed = [f for f in futures if f.exception(timeout=0) is not None]
    assert len(failed) == len([i for i in range(rounds) if i % 7 == 0])
    assert all(isinstance(f.exception(), ZeroDivisionError) for f in failed)


def test_as_completed_over_many_futures_resolving_meanwhile_yields_each_once(pool: ThreadPool) -> None:
    futures = [pool.submit(abs, -i) for i in range(2_000)]
    yielded = list(cf.as_completed(futures, timeout=WAIT * 4))
    assert len(yielded) == len(futures) and set(yielded) == set(futures)
    assert sorted(f.result() for f in yielded) == list(range(2_000))


def test_a_done_callback_runs_once_whether_added_before_or_after_the_end(
    pool: ThreadPool, hold: Hold
) -> None:
    calls: list[str] = []
    called = threading.Event()
    early = pool.submit(hold, "early")
    hold.wait_started()
    early.add_done_callback(lambda f: (calls.append(f"before: {f.result()}"), called.set()))
    hold.release()
    assert early.result(timeout=WAIT) == "early"
    early.add_done_callback(lambda f: calls.append(f"after: {f.result()}"))  # runs here, at once
    assert called.wait(WAIT)
    pool.shutdown(wait=True)
    assert sorted(calls) == ["after: early", "before: early"]


def test_a_resolved_future_refuses_a_second_outcome(pool: ThreadPool) -> None:
    future = pool.submit(abs, -3)
    assert future.result(timeout=WAIT) == 3
    with pytest.raises(cf.InvalidStateError):
        future.set_result(4)
    with pytest.raises(cf.InvalidStateError):
        future.set_exception(ValueError("late"))
    assert future.result() == 3 and future.exception() is None
    assert not future.cancel() and not future.cancelled() and future.done()
    assert "finished returned int" in repr(future)


def test_result_of_an_unfinished_future_times_out_and_then_arrives(pool: ThreadPool, hold: Hold) -> None:
    future = pool.submit(hold, "late")
    hold.wait_started()
    with pytest.raises(TimeoutError):
        future.result(timeout=0.01)
    with pytest.raises(TimeoutError):
        future.exception(timeout=0.01)
    assert not future.done() and future.running()
    hold.release()
    assert future.result(timeout=WAIT) == "late"
    assert not future.running()


# ------------------------------------------------------------------------ map


def test_map_returns_results_in_input_order(pool: ThreadPool) -> None:
    last_item_done = threading.Event()

    def tenfold(i: int) -> int:
        # Item 0 finishes last, after item 3.
        if i == 0:
            assert last_item_done.wait(WAIT)
        if i == 3:
            last_item_done.set()
        return i * 10

    assert list(pool.map(tenfold, range(4), timeout=WAIT)) == [0, 10, 20, 30]


def test_map_zips_several_iterables(pool: ThreadPool) -> None:
    assert list(pool.map(pow, [2, 3, 4], [3, 2])) == [8, 9]


def test_map_raises_timeout_error_and_cancels_what_is_still_queued(pool: ThreadPool, hold: Hold) -> None:
    results = pool.map(hold, range(4), timeout=0.1)
    hold.wait_started(2)

    started = time.monotonic()
    with pytest.raises(TimeoutError):
        next(results)
    assert time.monotonic() - started < 1.0
    stats = pool.stats()
    assert stats.cancelled == 2
    assert stats.queued == 0


def test_map_raises_an_items_exception_at_its_position(pool: ThreadPool) -> None:
    results = pool.map(invert, [2, 0, 4])

    assert next(results) == 0.5
    with pytest.raises(ZeroDivisionError):
        next(results)


def test_map_with_chunksize_runs_several_items_per_task(pool: ThreadPool, events: Recorder) -> None:
    assert list(pool.map(square, range(10), chunksize=4)) == [x * x for x in range(10)]
    assert len(events.of_kind(E.TASK_SUBMITTED)) == 3


def test_map_chunk_with_a_failing_item_returns_the_good_items_and_fails_the_chunk(
    pool: ThreadPool, events: Recorder
) -> None:
    # Chunks: [1, 2] [4, 0] [5]; the second chunk holds a bad item.
    results = pool.map(invert, [1, 2, 4, 0, 5], chunksize=2)

    assert [next(results), next(results), next(results)] == [1.0, 0.5, 0.25]
    with pytest.raises(ZeroDivisionError):
        next(results)

    failed = events.wait_for(E.TASK_FAILED)
    chunks = {e.task_id: e.payload for e in events.of_kind(E.TASK_SUBMITTED)}
    assert chunks[failed.task_id].label.endswith("[2:4]")
    assert isinstance(failed.payload, TaskError)
    assert len(events.of_kind(E.TASK_FAILED)) == 1


def test_map_rejects_a_chunksize_below_one(pool: ThreadPool) -> None:
    with pytest.raises(ValueError):
        pool.map(square, range(3), chunksize=0)


# ------------------------------------------------------------------- shutdown


def test_shutdown_with_wait_runs_the_queue_and_ends_every_worker(make_pool) -> None:
    pool = make_pool(workers=1)
    futures = [pool.submit(time.sleep, 0.002) for _ in range(5)]

    pool.shutdown(wait=True)

    assert all(f.done() and f.exception() is None for f in futures)
    assert pool.workers == []
    assert pool.stats().closed


def test_shutdown_of_a_paused_pool_resumes_it_so_the_queue_drains(make_pool) -> None:
    pool = make_pool(workers=1)
    pool.pause()
    futures = [pool.submit(abs, -i) for i in range(3)]

    pool.shutdown(wait=True)

    assert [f.result(timeout=0) for f in futures] == [0, 1, 2]


def test_shutdown_without_wait_returns_while_tasks_run_and_the_queue_still_drains(
    make_pool, hold: Hold
) -> None:
    pool = make_pool(workers=1)
    running = pool.submit(hold, "ran")
    hold.wait_started()
    queued = pool.submit(abs, -7)

    pool.shutdown(wait=False)

    assert not running.done()
    with pytest.raises(PoolClosed):
        pool.submit(abs, 1)
    hold.release()
    assert running.result(timeout=WAIT) == "ran"
    assert queued.result(timeout=WAIT) == 7


def test_shutdown_cancel_futures_cancels_the_queue_and_lets_running_tasks_finish(
    make_pool, hold: Hold
) -> None:
    pool = make_pool(workers=1)
    running = pool.submit(hold, "ran")
    hold.wait_started()
    queued = [pool.submit(abs, -i) for i in range(3)]

    pool.shutdown(wait=False, cancel_futures=True)

    assert all(f.cancelled() for f in queued)
    assert not running.done()
    hold.release()
    assert running.result(timeout=WAIT) == "ran"
    pool.shutdown(wait=True)
    assert pool.stats().cancelled == 3


def test_context_manager_shuts_the_pool_down_and_waits() -> None:
    with ThreadPool(workers=2) as pool:
        futures = [pool.submit(time.sleep, 0.005) for _ in range(4)]

    assert all(f.done() for f in futures)
    assert pool.stats().closed
    assert pool.workers == []
    with pytest.raises(PoolClosed):
        pool.submit(abs, 1)


# ------------------------------------------------------- schedule: per task


def test_schedule_label_names_the_task(pool: ThreadPool, events: Recorder) -> None:
    def split(a: int, b: int = 1) -> tuple[int, int]:
        return divmod(a, b)

    future = pool.schedule(split, (7,), {"b": 2}, label="first file")

    assert future.result(timeout=WAIT) == (3, 1)
    task = events.wait_for(E.TASK_SUBMITTED, future.task_id).payload
    assert task.label == "first file"
    assert task.name == "first file"


def test_timeout_fails_the_task_at_once_and_replaces_its_worker(make_pool, hold: Hold) -> None:
    pool = make_pool(workers=1)
    events = Recorder(pool)
    [first_worker] = [w.id for w in pool.workers]

    started = time.monotonic()
    future = pool.schedule(hold, ("too late",), timeout=0.05)
    with pytest.raises(TaskTimeout) as caught:
        future.result(timeout=WAIT)

    # Given up at its deadline, while the call itself still runs.
    assert time.monotonic() - started < 1.0
    assert caught.value.seconds == 0.05
    states = {w.id: w.state for w in pool.workers}
    assert states[first_worker] is WorkerState.ABANDONED
    assert events.wait_for(E.WORKER_ABANDONED).worker_id == first_worker
    replacement = events.wait_for(E.WORKER_STARTED).worker_id
    assert replacement != first_worker
    assert pool.stats().workers == 1
    assert pool.submit(abs, -2).result(timeout=WAIT) == 2

    # The late result, when it comes, is dropped.
    hold.release()
    events.wait_for(E.WORKER_EXITED, worker_id=first_worker)
    assert isinstance(future.exception(), TaskTimeout)
    assert events.task_kinds(future.task_id) == [E.TASK_SUBMITTED, E.TASK_STARTED, E.TASK_FAILED]
    assert pool.stats().failed == 1
    assert pool.stats().done == 1


def test_a_task_that_ends_before_its_timeout_is_not_touched(pool: ThreadPool, events: Recorder) -> None:
    future = pool.schedule(abs, (-3,), timeout=WAIT)

    assert future.result(timeout=WAIT) == 3
    assert events.of_kind(E.WORKER_ABANDONED) == []


def test_retries_make_new_attempts_and_the_future_follows_the_newest(
    pool: ThreadPool, events: Recorder
) -> None:
    seen: list[tuple[int, int]] = []

    def third_time_lucky() -> str:
        task = current_task()
        seen.append((task.task_id, task.attempt))
        if task.attempt < 3:
            raise OSError(f"attempt {task.attempt} failed")
        return "lucky"

    future = pool.schedule(third_time_lucky, retries=2, label="flaky")

    assert future.result(timeout=WAIT) == "lucky"
    attempts = [e.payload for e in events.of_kind(E.TASK_SUBMITTED)]
    assert [t.attempt for t in attempts] == [1, 2, 3]
    assert [t.retry_of for t in attempts] == [None, attempts[0].id, attempts[1].id]
    assert [t.label for t in attempts] == ["flaky"] * 3
    assert seen == [(t.id, t.attempt) for t in attempts]
    assert future.task_id == attempts[2].id
    endings = [events.task_kinds(t.id)[-1] for t in attempts]
    assert endings == [E.TASK_FAILED, E.TASK_FAILED, E.TASK_DONE]


def test_when_retries_run_out_the_last_error_is_raised(pool: ThreadPool, events: Recorder) -> None:
    def always_fails() -> None:
        raise OSError(f"attempt {current_task().attempt} failed")

    future = pool.schedule(always_fails, retries=1)

    with pytest.raises(OSError, match="attempt 2 failed"):
        future.result(timeout=WAIT)
    assert len(events.of_kind(E.TASK_FAILED)) == 2
    assert pool.stats().failed == 2


def test_a_timed_out_attempt_is_retried_on_a_fresh_worker(make_pool) -> None:
    pool = make_pool(workers=1)
    events = Recorder(pool)
    second_started = threading.Event()

    def slow_first_time() -> str:
        if current_task().attempt == 1:
            second_started.wait(WAIT)  # ends right after its retry starts
            return "first"
        second_started.set()
        return "second"

    future = pool.schedule(slow_first_time, timeout=0.05, retries=1)

    assert future.result(timeout=WAIT) == "second"
    first, second = events.of_kind(E.TASK_SUBMITTED)
    timed_out = events.wait_for(E.TASK_FAILED, first.task_id)
    assert isinstance(timed_out.payload, TaskTimeout)
    abandoned = events.wait_for(E.WORKER_ABANDONED).worker_id
    assert events.wait_for(E.TASK_STARTED, second.task_id).worker_id != abandoned
    events.wait_for(E.WORKER_EXITED, worker_id=abandoned)
    assert events.task_kinds(first.task_id) == [E.TASK_SUBMITTED, E.TASK_STARTED, E.TASK_FAILED]


def test_shutdown_still_runs_queued_tasks_when_a_running_task_times_out(make_pool) -> None:
    pool = make_pool(workers=1)
    events = Recorder(pool)
    finish = threading.Event()
    slow = pool.schedule(finish.wait, (WAIT,), timeout=0.05)
    queued = pool.submit(abs, -3)

    pool.shutdown(wait=True)
    finish.set()

    with pytest.raises(TaskTimeout):
        slow.result(timeout=WAIT)
    events.wait_for(E.WORKER_EXITED, worker_id=events.wait_for(E.WORKER_ABANDONED).worker_id)
    assert queued.result(timeout=1.0) == 3


def test_a_retry_after_a_time_out_during_shutdown_still_settles_its_future(make_pool) -> None:
    pool = make_pool(workers=1)
    events = Recorder(pool)
    finish = threading.Event()

    def slow_first_time() -> int:
        attempt = current_task().attempt
        if attempt == 1:
            finish.wait(WAIT)
        return attempt

    future = pool.schedule(slow_first_time, timeout=0.05, retries=1)
    pool.shutdown(wait=True)
    finish.set()

    events.wait_for(E.WORKER_EXITED, worker_id=events.wait_for(E.WORKER_ABANDONED).worker_id)
    assert future.result(timeout=1.0) == 2
