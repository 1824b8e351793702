"""ThreadPool in ``multiprocessing.Pool``'s vocabulary: apply_async and its
AsyncResult, apply, starmap, imap, imap_unordered, close, join, terminate."""

from __future__ import annotations

import itertools
import multiprocessing
import threading
import time
from collections.abc import Iterator
from concurrent.futures import CancelledError
from typing import Any

import pytest
from pool_test_tools import WAIT, Hold

from core import AsyncResult, PoolClosed, TaskCancelled, ThreadPool, current_task


def square(x: int) -> int:
    return x * x


def divide(a: float, b: float) -> float:
    return a / b


def reciprocal(x: float) -> float:
    return 1 / x


# --------------------------------------------------------------- apply_async


def test_apply_async_returns_an_async_result_whose_get_gives_the_value(pool: ThreadPool) -> None:
    result = pool.apply_async(divide, (9,), {"b": 3})

    assert isinstance(result, AsyncResult)
    assert result.get(timeout=WAIT) == 3.0
    assert result.ready()
    assert result.successful()
    assert isinstance(result.task_id, int)


def test_get_raises_multiprocessing_timeout_error_while_the_task_runs(pool: ThreadPool, hold: Hold) -> None:
    result = pool.apply_async(hold, ("ready now",))
    hold.wait_started()

    with pytest.raises(multiprocessing.TimeoutError):
        result.get(timeout=0.05)
    assert not result.ready()
    with pytest.raises(ValueError):
        result.successful()

    hold.release()
    assert result.get(timeout=WAIT) == "ready now"
    assert result.ready()
    assert result.successful()


def test_wait_returns_after_its_timeout_or_once_the_task_is_ready(pool: ThreadPool, hold: Hold) -> None:
    result = pool.apply_async(hold)
    hold.wait_started()

    started = time.monotonic()
    assert result.wait(0.05) is None
    assert time.monotonic() - started >= 0.04
    assert not result.ready()

    hold.release()
    result.wait(WAIT)
    assert result.ready()


def test_get_raises_the_tasks_exception_and_successful_is_false(pool: ThreadPool) -> None:
    result = pool.apply_async(divide, (1, 0))

    with pytest.raises(ZeroDivisionError):
        result.get(timeout=WAIT)
    assert result.ready()
    assert not result.successful()


def test_callback_gets_the_result_before_get_returns(pool: ThreadPool, hold: Hold) -> None:
    main_thread = threading.get_ident()
    calls: list[tuple[Any, bool, bool]] = []
    results: list[AsyncResult] = []
    errors: list[BaseException] = []

    def on_result(value: Any) -> None:
        calls.append((value, results[0].ready(), threading.get_ident() != main_thread))

    results.append(pool.apply_async(hold, ("value",), callback=on_result, error_callback=errors.append))
    hold.release()

    assert results[0].get(timeout=WAIT) == "value"
    # Already there when get() returned: called before the result was ready,
    # in a worker thread.
    assert calls == [("value", False, True)]
    assert errors == []


def test_error_callback_gets_the_exception_and_callback_is_skipped(pool: ThreadPool) -> None:
    calls: list[Any] = []
    errors: list[BaseException] = []

    result = pool.apply_async(divide, (1, 0), callback=calls.append, error_callback=errors.append)

    with pytest.raises(ZeroDivisionError):
        result.get(timeout=WAIT)
    assert calls == []
    assert len(errors) == 1
    assert isinstance(errors[0], ZeroDivisionError)


# --------------------------------------------------- apply, starmap, imap...


def test_apply_runs_one_task_and_waits_for_it(pool: ThreadPool) -> None:
    assert pool.apply(divide, (8, 2)) == 4.0
    assert pool.apply(divide, (8,), {"b": 4}) == 2.0
    with pytest.raises(ZeroDivisionError):
        pool.apply(divide, (1, 0))


def test_starmap_unpacks_each_argument_tuple(pool: ThreadPool) -> None:
    assert pool.starmap(pow, [(2, 3), (3, 2), (10, 0)]) == [8, 9, 1]
    assert pool.starmap(pow, [(2, n) for n in range(7)], chunksize=3) == [2**n for n in range(7)]


def test_starmap_raises_an_items_exception(pool: ThreadPool) -> None:
    with pytest.raises(ZeroDivisionError):
        pool.starmap(divide, [(1, 1), (1, 0)])


def test_imap_yields_results_in_input_order_as_they_come(pool: ThreadPool) -> None:
    last_item_done = threading.Event()

    def tenfold(i: int) -> int:
        # Item 0 finishes last, after item 3.
        if i == 0:
            assert last_item_done.wait(WAIT)
        if i == 3:
            last_item_done.set()
        return i * 10

    results = pool.imap(tenfold, range(4))

    assert iter(results) is results
    assert list(results) == [0, 10, 20, 30]
    assert list(pool.imap(square, range(10), chunksize=4)) == [x * x for x in range(10)]


def test_imap_unordered_yields_results_as_tasks_finish(pool: ThreadPool) -> None:
    first_may_finish = threading.Event()

    def slow_first(x: int) -> int:
        if x == 0:
            assert first_may_finish.wait(WAIT)
        return x

    results = pool.imap_unordered(slow_first, range(4))

    assert sorted(next(results) for _ in range(3)) == [1, 2, 3]
    first_may_finish.set()
    assert next(results) == 0
    with pytest.raises(StopIteration):
        next(results)


def test_imap_unordered_with_chunks_yields_every_result(pool: ThreadPool) -> None:
    assert sorted(pool.imap_unordered(square, range(10), chunksize=3)) == [x * x for x in range(10)]


@pytest.mark.parametrize("chunksize", [None, 4])
def test_imap_reads_an_endless_input_a_bounded_window_ahead(pool: ThreadPool, chunksize: int | None) -> None:
    read = itertools.count()

    def endless() -> Iterator[int]:
        for i in itertools.count():
            next(read)
            yield i

    results = pool.imap(square, endless(), chunksize=chunksize)
    first = list(itertools.islice(results, 500))
    results.close()

    assert first == [x * x for x in range(500)]
    size = chunksize or 1  # a thread pool sends items one by one unless told
    assert next(read) <= 500 + (4 * 2 + 1) * size  # four tasks per worker ahead


def test_imap_goes_on_after_an_items_exception_as_multiprocessing_does(pool: ThreadPool) -> None:
    results = pool.imap(reciprocal, [1, 0, 2])

    assert next(results) == 1.0
    with pytest.raises(ZeroDivisionError):
        next(results)
    assert next(results) == 0.5
    with pytest.raises(StopIteration):
        next(results)


def test_imap_next_with_a_timeout_raises_multiprocessing_timeout_error(pool: ThreadPool, hold: Hold) -> None:
    results = pool.imap(hold, ["held"])
    hold.wait_started()

    with pytest.raises(multiprocessing.TimeoutError):
        results.next(timeout=0.05)
    hold.release()
    assert results.next(timeout=WAIT) == "held"


# ------------------------------------------------- close, join, terminate


def test_join_before_close_raises_value_error(pool: ThreadPool) -> None:
    with pytest.raises(ValueError):
        pool.join()


def test_close_lets_queued_tasks_finish_and_join_waits_for_the_workers(make_pool) -> None:
    pool = make_pool(workers=2)
    results = [pool.apply_async(time.sleep, (0.002,)) for _ in range(6)]

    pool.close()
    with pytest.raises(PoolClosed):
        pool.apply_async(abs, (1,))
    pool.join()

    assert all(r.ready() and r.successful() for r in results)
    assert pool.workers == []


def test_terminate_cancels_queued_tasks_and_asks_running_ones_to_stop(make_pool) -> None:
    pool = make_pool(workers=1)
    started = threading.Event()
    go_on = threading.Event()

    def long_task() -> bool:
        started.set()
        assert go_on.wait(WAIT)
        return current_task().cancel_requested

    running = pool.apply_async(long_task)
    assert started.wait(WAIT)
    errors: list[BaseException] = []
    queued = pool.apply_async(abs, (-1,), error_callback=errors.append)

    pool.terminate()

    assert queued.ready()
    assert not queued.successful()
    with pytest.raises(CancelledError):
        queued.get(timeout=0)
    assert len(errors) == 1
    assert isinstance(errors[0], TaskCancelled)
    with pytest.raises(PoolClosed):
        pool.apply_async(abs, (1,))

    go_on.set()
    assert running.get(timeout=WAIT) is True
    pool.join()
    assert pool.workers == []
