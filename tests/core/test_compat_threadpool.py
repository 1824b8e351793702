"""The classic ``threadpool`` vocabulary on PoolScope's engine.

Where the original package is installed (the ``bench`` extra), the same
program runs against both and must give the same results."""

from __future__ import annotations

import importlib.util
import queue
import threading
import time

import pytest

from core import EventKind
from core.compat import threadpool


def square(x):
    return x * x


def fail_on_three(x):
    if x == 3:
        raise ValueError("three")
    return x


def classic_program(tp, join: bool = True) -> tuple[list, list]:
    """A program written for the original package."""
    results, errors = [], []
    pool = tp.ThreadPool(3)
    requests = tp.makeRequests(
        fail_on_three,
        [*list(range(6)), ((7,), {})],
        callback=lambda request, result: results.append(result),
        exc_callback=lambda request, exc_info: errors.append((exc_info[0], str(exc_info[1]))),
    )
    for request in requests:
        pool.putRequest(request)
    pool.wait()
    pool.dismissWorkers(3, do_join=join)
    return sorted(results), errors


def test_a_classic_program_runs_unchanged():
    results, errors = classic_program(threadpool)
    assert results == [0, 1, 2, 4, 5, 7]
    assert errors == [(ValueError, "three")]


@pytest.mark.skipif(importlib.util.find_spec("threadpool") is None, reason="original not installed")
@pytest.mark.leaves_threads  # the original's dismissed threads take up to poll_timeout to leave
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_same_results_as_the_original():
    import threadpool as original

    assert classic_program(threadpool) == classic_program(original, join=False)


def test_callbacks_run_in_the_polling_thread():
    pool = threadpool.ThreadPool(2)
    threads = []
    for request in threadpool.makeRequests(
        square, range(5), lambda r, v: threads.append(threading.get_ident())
    ):
        pool.putRequest(request)
    pool.wait()
    pool.dismissWorkers(2, do_join=True)
    assert threads == [threading.get_ident()] * 5


def test_poll_raises_when_nothing_is_pending():
    pool = threadpool.ThreadPool(1)
    with pytest.raises(threadpool.NoResultsPending):
        pool.poll()
    pool.putRequest(threadpool.WorkRequest(square, [4], callback=None))
    pool.wait()
    pool.dismissWorkers(1, do_join=True)


def test_no_workers_available_when_all_are_dismissed():
    pool = threadpool.ThreadPool(1)
    pool.dismissWorkers(1, do_join=True)
    pool.putRequest(threadpool.WorkRequest(square, [2]))
    with pytest.raises(threadpool.NoWorkersAvailable):
        pool.poll(block=True)
    pool.pool.shutdown(cancel_futures=True)


def test_dismissed_idle_workers_leave_at_once():
    pool = threadpool.ThreadPool(2, poll_timeout=5)
    start = time.monotonic()
    pool.dismissWorkers(2)
    pool.joinAllDismissedWorkers()
    assert time.monotonic() - start < 1.0  # the original waits up to poll_timeout
    assert pool.workers == []


def test_create_workers_adds_threads():
    pool = threadpool.ThreadPool(1)
    pool.createWorkers(2)
    assert len(pool.workers) == 3
    pool.dismissWorkers(3, do_join=True)


def test_bounded_request_queue_raises_full_after_timeout():
    gate = threading.Event()
    pool = threadpool.ThreadPool(1, q_size=1)
    pool.putRequest(threadpool.WorkRequest(gate.wait, [5]))
    deadline = time.monotonic() + 5
    while pool.pool.stats().running == 0 and time.monotonic() < deadline:
        time.sleep(0.005)
    pool.putRequest(threadpool.WorkRequest(square, [2]))  # fills the queue
    with pytest.raises(queue.Full):
        pool.putRequest(threadpool.WorkRequest(square, [3]), timeout=0.05)
    gate.set()
    pool.wait()
    pool.dismissWorkers(1, do_join=True)


def test_request_ids_must_be_hashable():
    with pytest.raises(TypeError, match="hashable"):
        threadpool.WorkRequest(square, [1], requestID=[1, 2])


def test_the_work_is_observable():
    pool = threadpool.ThreadPool(2)
    events = pool.pool.events.buffer()
    for request in threadpool.makeRequests(square, range(4)):
        pool.putRequest(request)
    pool.wait()
    pool.dismissWorkers(2, do_join=True)
    kinds = [e.kind for e in events.drain()]
    assert kinds.count(EventKind.TASK_DONE) == 4


def test_a_non_blocking_put_into_a_full_queue_raises_full_at_once():
    gate = threading.Event()
    pool = threadpool.ThreadPool(1, q_size=1)
    pool.putRequest(threadpool.WorkRequest(gate.wait, [5]))
    deadline = time.monotonic() + 5
    while pool.pool.stats().running == 0 and time.monotonic() < deadline:
        time.sleep(0.005)
    pool.putRequest(threadpool.WorkRequest(square, [2]))  # fills the queue
    started = time.monotonic()
    with pytest.raises(queue.Full):
        pool.putRequest(threadpool.WorkRequest(square, [3]), block=False, timeout=1)
    assert time.monotonic() - started < 0.5  # as Queue.put: no waiting without block
    gate.set()
    pool.wait()
    pool.dismissWorkers(1, do_join=True)


@pytest.mark.parametrize("count", [0, -1])
def test_dismissing_no_workers_or_a_negative_number_does_nothing(count):
    pool = threadpool.ThreadPool(2)
    pool.dismissWorkers(count)
    pool.dismissWorkers(count, do_join=True)
    assert len(pool.workers) == 2
    assert pool.dismissedWorkers == []
    pool.putRequest(threadpool.WorkRequest(square, [3]))
    pool.wait()
    pool.dismissWorkers(2, do_join=True)


def test_workers_are_thread_like_handles_that_dismiss_and_join():
    pool = threadpool.ThreadPool(2)
    workers = pool.workers
    assert len(workers) == 2
    first, second = workers
    assert first.is_alive() and first.isAlive() and first.daemon
    assert first.name.startswith("poolscope-worker-")
    assert first in pool.workers and first != second

    first.dismiss()
    first.join(5)
    assert not first.isAlive()
    assert pool.workers == [second]

    pool.dismissWorkers(1)
    assert pool.dismissedWorkers == [second]
    for worker in pool.dismissedWorkers:
        worker.join(5)
    assert not second.is_alive()
    pool.joinAllDismissedWorkers()
    assert pool.workers == [] and pool.dismissedWorkers == []


def test_joining_a_worker_that_was_not_dismissed_waits_like_thread_join():
    pool = threadpool.ThreadPool(1)
    [worker] = pool.workers
    started = time.monotonic()
    worker.join(0.1)  # returns after the time-out; the worker goes on
    assert time.monotonic() - started >= 0.09
    assert worker.is_alive()
    pool.dismissWorkers(1, do_join=True)
    assert not worker.is_alive()


@pytest.mark.skipif(importlib.util.find_spec("threadpool") is None, reason="original not installed")
@pytest.mark.leaves_threads  # the original's dismissed threads take up to poll_timeout to leave
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_worker_handles_answer_what_the_originals_threads_answer():
    import threadpool as original

    for tp in (threadpool, original):
        pool = tp.ThreadPool(2)
        workers = pool.workers
        assert [w.is_alive() for w in workers] == [True, True]
        assert all(w.daemon for w in workers)
        pool.dismissWorkers(-1)
        assert len(pool.workers) == 2
        workers[0].dismiss()
        pool.dismissWorkers(2, do_join=tp is threadpool)
