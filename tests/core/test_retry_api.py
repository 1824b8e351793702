"""pool.retry(task): run a finished task again as a new attempt."""

from __future__ import annotations

import threading

import pytest

from core import EventKind, PoolClosed, QueueFull, ThreadPool, current_task


@pytest.fixture
def pool():
    pool = ThreadPool(workers=2)
    yield pool
    pool.shutdown(wait=True, cancel_futures=True)


def flaky(box: list) -> str:
    box.append(current_task().attempt)
    if len(box) == 1:
        raise RuntimeError("first time unlucky")
    return "ok"


def test_retry_makes_a_new_attempt_and_keeps_the_old_record(pool):
    box: list[int] = []
    first = pool.submit(flaky, box)
    with pytest.raises(RuntimeError):
        first.result(timeout=5)
    failed = first.task
    events = pool.events.buffer()

    again = pool.retry(failed)

    assert again.result(timeout=5) == "ok"
    assert again is not first
    assert again.task.attempt == 2
    assert again.task.retry_of == failed.id
    assert failed.state.value == "failed"  # history is not rewritten
    assert box == [1, 2]
    kinds = [e.kind for e in events.drain() if e.task_id == again.task_id and e.kind.startswith("task_")]
    assert kinds == [EventKind.TASK_SUBMITTED, EventKind.TASK_STARTED, EventKind.TASK_DONE]


def test_only_finished_tasks_of_this_pool_can_be_retried(pool):
    gate = threading.Event()
    running = pool.submit(gate.wait, 5)
    with pytest.raises(ValueError, match="only a finished task"):
        pool.retry(running.task)
    gate.set()
    running.result(timeout=5)

    other = ThreadPool(workers=1)
    try:
        done = other.submit(abs, -1)
        done.result(timeout=5)
        with pytest.raises(ValueError, match="another pool"):
            pool.retry(done.task)
    finally:
        other.shutdown()


def test_retry_after_shutdown_is_refused(pool):
    done = pool.submit(abs, -1)
    done.result(timeout=5)
    pool.shutdown()
    with pytest.raises(PoolClosed):
        pool.retry(done.task)


def test_a_retry_takes_room_in_a_bounded_queue():
    pool = ThreadPool(workers=1, queue_size=1)
    gate = threading.Event()
    try:
        done = pool.submit(abs, -1)
        done.result(timeout=5)
        blocker = pool.submit(gate.wait, 5)
        while pool.stats().running == 0:
            threading.Event().wait(0.001)
        pool.retry(done.task)  # fills the only place
        with pytest.raises(QueueFull):
            pool.schedule(abs, (-2,), block=False)
        gate.set()
        blocker.result(timeout=5)
    finally:
        gate.set()
        pool.shutdown()
