"""ProcessPool with real worker processes: the executor API, every fault of
issue 3 (a task that raises; a worker that dies by SIGKILL, os._exit or a
segfault; sys.exit and KeyboardInterrupt in a task; what cannot be pickled;
time-outs; cancel; retries), progress, steering workers, the death of the
parent, and shutdown.

The tasks live in process_tasks.py next to this file. A worker receives a
task by pickle, that is by module and name, so it must import
``process_tasks`` too: the conftest.py here puts this folder on
``sys.path`` before any test module is imported or any pool exists. The
first ProcessPool starts the forkserver, which receives the parent's
``sys.path`` then and hands it on to every worker it forks.
"""

from __future__ import annotations

import concurrent.futures as cf
import itertools
import multiprocessing
import os
import pickle
import select
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from core import (
    Event,
    EventKind,
    PoolClosed,
    ProcessPool,
    TaskCancelled,
    TaskError,
    TaskState,
    TaskTimeout,
    ThreadPool,
    WorkerLost,
    WorkerState,
)

TESTS_CORE = Path(__file__).resolve().parent
ROOT = TESTS_CORE.parents[1]

import process_tasks  # noqa: E402  (tests/core/conftest.py puts it on sys.path)
from pool_test_tools import WAIT, Recorder  # noqa: E402

from core import process_pool  # noqa: E402

E = EventKind


# ---------------------------------------------------------------- helpers


def wait_until(condition: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
    """Poll ``condition`` until it returns something true, and return that.

    Only for what no event announces: that a process is gone, that a worker's
    replacement has its process."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:g} s in vain until {what}")
        time.sleep(0.01)


def process_gone(pid: int) -> bool:
    """True when ``pid`` has exited (a zombie nobody reaped yet counts as gone)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def worker_pids(pool: ProcessPool, count: int = 2, gone: frozenset[int] = frozenset()) -> dict[int, int]:
    """Worker id -> pid of the pool's ``count`` active workers, once each has a
    live process and none of them is one of the ``gone`` pids."""

    def ready() -> dict[int, int] | None:
        active = [w for w in pool.workers if w.state in (WorkerState.IDLE, WorkerState.BUSY)]
        if len(active) != count:
            return None
        pids = {w.id: w.pid for w in active if w.pid is not None}
        if len(pids) != count or any(pid in gone or process_gone(pid) for pid in pids.values()):
            return None
        return pids

    return wait_until(ready, f"the pool has {count} workers with live processes (not {set(gone)})")


def shut_down(pool: ProcessPool, timeout: float = WAIT) -> bool:
    """shutdown(wait=True), bounded: False when it did not return in time."""
    closer = threading.Thread(target=pool.shutdown, name="test-process-pool-shutdown", daemon=True)
    closer.start()
    closer.join(timeout)
    return not closer.is_alive()


class Gate:
    """A FIFO that tasks (``process_tasks.wait_at_gate``) wait at until the
    test lets them through, one byte each: a busy worker without sleeps.

    The test holds it open for reading and writing, so a task's open never
    blocks, and its read waits for a byte; closing the gate ends the tasks
    still waiting there with an error."""

    def __init__(self, path: Path) -> None:
        os.mkfifo(path)
        self.path = str(path)
        self._fd = os.open(path, os.O_RDWR)

    def let_through(self, n: int = 1) -> None:
        os.write(self._fd, b"x" * n)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def stop(pool: ProcessPool, timeout: float = WAIT) -> bool:
    """terminate() and join(), bounded: a pool that hangs fails its test
    instead of hanging the run. False when it did not stop in time."""
    pool.terminate()
    joiner = threading.Thread(target=pool.join, name="test-process-pool-join", daemon=True)
    joiner.start()
    joiner.join(timeout)
    return not joiner.is_alive()


# --------------------------------------------------------------- fixtures


@pytest.fixture
def make_pool() -> Iterator[Callable[..., ProcessPool]]:
    """Make ProcessPools that are always terminated and joined after the test."""
    pools: list[ProcessPool] = []

    def make(workers: int = 2, **options: Any) -> ProcessPool:
        pool = ProcessPool(workers, **options)
        pools.append(pool)
        return pool

    yield make
    stuck = [pool for pool in pools if not stop(pool)]
    assert not stuck, f"{stuck} did not stop within {WAIT:g} s of terminate()"


@pytest.fixture
def pool(make_pool: Callable[..., ProcessPool]) -> ProcessPool:
    return make_pool(2)


@pytest.fixture
def events(pool: ProcessPool) -> Recorder:
    return Recorder(pool)


@pytest.fixture
def gate(tmp_path: Path) -> Iterator[Gate]:
    held = Gate(tmp_path / "gate")
    yield held
    held.close()


def warmed_up(make_pool: Callable[..., ProcessPool], **options: Any) -> tuple[ProcessPool, Recorder]:
    """A one-worker pool whose worker has run a short task, so that it now
    sends several tasks ahead to its process (prefetch)."""
    pool = make_pool(1, **options)
    events = Recorder(pool)
    assert pool.submit(process_tasks.noop).result(timeout=WAIT) is None
    return pool, events


# ---------------------------------------------------------- executor API


def test_submit_runs_the_task_in_a_worker_process(pool: ProcessPool) -> None:
    pids = worker_pids(pool)

    assert pool.submit(process_tasks.add, 2, 3).result(timeout=WAIT) == 5
    assert pool.submit(process_tasks.add, 2, b=40).result(timeout=WAIT) == 42
    child = pool.submit(process_tasks.pid).result(timeout=WAIT)

    assert child != os.getpid()
    assert child in pids.values()


def test_large_results_and_many_small_ones_come_back_intact(pool: ProcessPool) -> None:
    # Larger than a pipe's buffer and than one read of it, and one that is not
    # a multiple of anything.
    sizes = [8 * 1024 * 1024 + 3, 300_001, 0, 70_000]
    futures = [pool.submit(process_tasks.blob, size) for size in sizes]
    small = [pool.submit(process_tasks.add, i, 1) for i in range(500)]

    assert [f.result(timeout=WAIT) for f in futures] == [process_tasks.blob(size) for size in sizes]
    assert [f.result(timeout=WAIT) for f in small] == list(range(1, 501))


def test_map_returns_results_in_order_with_and_without_chunksize(pool: ProcessPool, events: Recorder) -> None:
    xs = list(range(40))
    doubled = [2 * x for x in xs]

    assert list(pool.map(process_tasks.add, xs, xs, chunksize=1)) == doubled
    assert len(events.of_kind(E.TASK_SUBMITTED)) == 40
    assert list(pool.map(process_tasks.add, xs, xs, chunksize=7)) == doubled
    assert len(events.of_kind(E.TASK_SUBMITTED)) == 40 + 6


def test_map_without_chunksize_makes_about_four_chunks_per_worker(
    pool: ProcessPool, events: Recorder
) -> None:
    xs = list(range(40))

    assert list(pool.map(process_tasks.add, xs, xs)) == [2 * x for x in xs]

    labels = [e.payload.label for e in events.of_kind(E.TASK_SUBMITTED)]
    assert labels == [f"add[{i}:{i + 5}]" for i in range(0, 40, 5)]


@pytest.mark.parametrize("chunksize", [1, 3])
def test_map_raises_a_failing_items_own_exception_in_its_turn(pool: ProcessPool, chunksize: int) -> None:
    results = pool.map(process_tasks.positive, [1, 2, 3, -4, 5, 6], chunksize=chunksize)

    assert [next(results), next(results), next(results)] == [1, 2, 3]
    with pytest.raises(ValueError, match="-4 is not positive") as raised:
        next(results)
    # In a chunk as alone: the child's traceback comes with it.
    cause = raised.value.__cause__
    assert isinstance(cause, TaskError)
    assert cause.type_name == "ValueError"
    assert ", in positive\n" in cause.traceback


def test_sys_exit_and_keyboard_interrupt_fail_only_their_items_of_a_chunk(
    pool: ProcessPool, events: Recorder
) -> None:
    before = worker_pids(pool)
    outcomes: list[Any] = []
    results = pool.imap(process_tasks.exit_or_square, [0, 1, 2, 3, 4, 5, 6, -7], chunksize=8)
    for _ in range(8):
        try:
            outcomes.append(results.next(timeout=WAIT))
        except Exception as exc:
            outcomes.append(exc)

    assert outcomes[:3] == [0, 1, 4]
    assert outcomes[4] == 16
    assert outcomes[6] == 36
    exited, interrupted, negative = outcomes[3], outcomes[5], outcomes[7]
    assert type(exited) is TaskError
    assert exited.type_name == "SystemExit"
    assert exited.message == "the task called sys.exit(3); the worker process carries on"
    assert ", in exit_or_square\n" in exited.traceback
    assert type(interrupted) is TaskError
    assert interrupted.type_name == "KeyboardInterrupt"
    assert isinstance(negative, ValueError)
    assert isinstance(negative.__cause__, TaskError)
    assert "-7 is negative" in negative.__cause__.traceback
    assert [e.task_id for e in events.of_kind(E.TASK_SUBMITTED)] == [
        e.task_id for e in events.of_kind(E.TASK_FAILED)
    ]  # one chunk
    assert worker_pids(pool) == before
    assert not events.of_kind(E.WORKER_EXITED)


def test_starmap_unpacks_argument_tuples(pool: ProcessPool) -> None:
    assert pool.starmap(process_tasks.add, [(1, 2), (3, 4), (5, 6)]) == [3, 7, 11]
    pairs = [(i, 10 * i) for i in range(30)]
    assert pool.starmap(process_tasks.add, pairs, chunksize=4) == [11 * i for i in range(30)]


def test_imap_yields_results_in_order(pool: ProcessPool) -> None:
    assert list(pool.imap(process_tasks.add, range(10))) == list(range(10))
    assert list(pool.imap(process_tasks.add, range(10), chunksize=3)) == list(range(10))


def test_imap_without_chunksize_cuts_chunks_as_map_does(pool: ProcessPool, events: Recorder) -> None:
    assert list(pool.imap(process_tasks.add, range(40))) == list(range(40))

    labels = [e.payload.label for e in events.of_kind(E.TASK_SUBMITTED)]
    assert labels == [f"add[{i}:{i + 5}]" for i in range(0, 40, 5)]


def chunk_size(event: Event) -> int:
    """The number of items of the chunk a TASK_SUBMITTED event announces
    (its label reads ``name[start:stop]``)."""
    start, stop = event.payload.label.rpartition("[")[2].rstrip("]").split(":")
    return int(stop) - int(start)


@pytest.mark.parametrize("ordered", [True, False], ids=["imap", "imap_unordered"])
def test_imap_reads_an_endless_input_lazily(pool: ProcessPool, events: Recorder, ordered: bool) -> None:
    read = itertools.count()

    def endless() -> Iterator[int]:
        for i in itertools.count():
            next(read)
            yield i

    imap = pool.imap if ordered else pool.imap_unordered
    results = imap(process_tasks.add, endless())
    first = list(itertools.islice(results, 2000))
    results.close()

    # Chunks of at most STREAM_CHUNK_LIMIT, and a bounded look-ahead of four
    # chunks per worker: far from the whole (endless) input.
    submitted = events.of_kind(E.TASK_SUBMITTED)
    size = chunk_size(submitted[0])
    assert 1 < size <= 64
    look_ahead = 4 * 2 * size
    assert next(read) <= 2000 + look_ahead + size
    assert len(submitted) <= (2000 + look_ahead) / size + 1
    if ordered:
        assert first == list(range(2000))
    else:  # as chunks finish: each result once, from within the look-ahead
        assert len(set(first)) == 2000
        assert max(first) < 2000 + look_ahead + size


def test_imap_goes_on_after_an_items_exception_and_times_out_like_multiprocessing(
    pool: ProcessPool, gate: Gate
) -> None:
    for chunksize in (1, 2):
        results = pool.imap(process_tasks.positive, [1, -2, 3, 4], chunksize=chunksize)
        assert next(results) == 1
        with pytest.raises(ValueError, match="-2 is not positive"):
            next(results)
        assert list(results) == [3, 4]

    waiting = pool.imap(process_tasks.wait_at_gate, [gate.path])
    with pytest.raises(multiprocessing.TimeoutError):
        waiting.next(timeout=0.2)
    gate.let_through()
    assert waiting.next(timeout=WAIT) is None
    with pytest.raises(StopIteration):
        waiting.next(timeout=WAIT)


def test_imap_unordered_yields_results_as_tasks_finish(pool: ProcessPool) -> None:
    results = pool.imap_unordered(process_tasks.sleep_for, [0.6, 0.0])

    assert next(results) == 0.0
    assert next(results) == 0.6
    assert sorted(pool.imap_unordered(process_tasks.add, range(20), chunksize=6)) == list(range(20))


def test_apply_async_calls_its_callback_or_its_error_callback(pool: ProcessPool) -> None:
    values: list[Any] = []
    errors: list[BaseException] = []

    good = pool.apply_async(process_tasks.add, (1, 2), callback=values.append, error_callback=errors.append)
    bad = pool.apply_async(
        process_tasks.boom, ("async boom",), callback=values.append, error_callback=errors.append
    )

    assert good.get(timeout=WAIT) == 3
    with pytest.raises(ValueError, match="async boom"):
        bad.get(timeout=WAIT)
    assert values == [3]
    assert [(type(e), str(e)) for e in errors] == [(ValueError, "async boom")]
    assert good.successful()
    assert not bad.successful()


# ----------------------------------------------------------- task faults


def test_a_task_exception_comes_back_with_the_child_traceback(pool: ProcessPool, events: Recorder) -> None:
    future = pool.submit(process_tasks.boom, "bad input")

    with pytest.raises(ValueError, match="bad input") as raised:
        future.result(timeout=WAIT)

    cause = raised.value.__cause__
    assert isinstance(cause, TaskError)
    assert cause.type_name == "ValueError"
    assert ", in boom\n" in cause.traceback
    assert "raise ValueError(message)" in cause.traceback
    failed = events.wait_for(E.TASK_FAILED, future.task_id)
    assert isinstance(failed.payload, TaskError)
    assert failed.payload.type_name == "ValueError"
    assert failed.payload.message == "bad input"
    assert ", in boom\n" in failed.payload.traceback
    assert future.task.state is TaskState.FAILED
    assert pool.submit(process_tasks.add, 1, 1).result(timeout=WAIT) == 2


@pytest.mark.parametrize(
    ("killer", "exitcode", "how"),
    [
        pytest.param(process_tasks.die_by_sigkill, -9, "was killed by signal 9", id="sigkill"),
        pytest.param(process_tasks.exit_hard, 7, "exited with code 7", id="os-exit"),
        pytest.param(process_tasks.segfault, -11, "was killed by signal 11", id="segfault"),
    ],
)
def test_a_worker_that_dies_mid_task_fails_that_task_only_and_is_replaced(
    pool: ProcessPool, events: Recorder, killer: Callable[[], None], exitcode: int, how: str
) -> None:
    before = worker_pids(pool)
    others = [pool.submit(process_tasks.add, i, 1) for i in range(10)]
    doomed = pool.submit(killer)
    others += [pool.submit(process_tasks.add, i, 1) for i in range(10, 19)]

    lost = doomed.exception(timeout=WAIT)
    errors = {i: f.exception(timeout=WAIT) for i, f in enumerate(others)}

    assert {i: error for i, error in errors.items() if error is not None} == {}
    assert [f.result() for f in others] == [i + 1 for i in range(19)]
    assert isinstance(lost, WorkerLost)
    assert lost.pid in before.values()
    assert lost.exitcode == exitcode
    assert f"worker process {lost.pid} {how}" in str(lost)
    assert [e.task_id for e in events.of_kind(E.TASK_FAILED)] == [doomed.task_id]
    assert doomed.task.state is TaskState.FAILED
    after = worker_pids(pool, gone=frozenset({lost.pid}))
    assert lost.pid not in after.values()
    assert process_gone(lost.pid)
    assert pool.submit(process_tasks.pid).result(timeout=WAIT) in after.values()


@pytest.mark.parametrize(
    ("task", "type_name", "message"),
    [
        pytest.param(
            process_tasks.call_sys_exit,
            "SystemExit",
            "the task called sys.exit(3); the worker process carries on",
            id="sys-exit",
        ),
        pytest.param(
            process_tasks.raise_keyboard_interrupt,
            "KeyboardInterrupt",
            "the task was interrupted (KeyboardInterrupt); the worker process carries on",
            id="keyboard-interrupt",
        ),
    ],
)
def test_sys_exit_and_keyboard_interrupt_fail_the_task_not_the_worker(
    pool: ProcessPool, events: Recorder, task: Callable[[], None], type_name: str, message: str
) -> None:
    before = worker_pids(pool)
    future = pool.submit(task)

    with pytest.raises(TaskError) as raised:
        future.result(timeout=WAIT)

    assert type(raised.value) is TaskError
    assert raised.value.type_name == type_name
    assert raised.value.message == message
    assert f", in {task.__name__}\n" in raised.value.traceback
    assert future.task.state is TaskState.FAILED
    assert events.wait_for(E.TASK_FAILED, future.task_id).payload.type_name == type_name
    # The same processes carry on.
    ran_on = {f.result(timeout=WAIT) for f in [pool.submit(process_tasks.pid) for _ in range(4)]}
    assert ran_on <= set(before.values())
    assert worker_pids(pool) == before
    assert not events.of_kind(E.WORKER_EXITED)


@pytest.mark.parametrize(
    ("task", "type_shown"),
    [
        pytest.param(process_tasks.return_unpicklable, "_thread.lock", id="lock"),
        pytest.param(process_tasks.return_lambda, "function", id="lambda"),
    ],
)
def test_an_unpicklable_result_fails_the_task_naming_its_type(
    pool: ProcessPool, events: Recorder, task: Callable[[], Any], type_shown: str
) -> None:
    future = pool.submit(task)

    with pytest.raises(TaskError) as raised:
        future.result(timeout=WAIT)

    assert raised.value.type_name == "UnpicklableResult"
    assert f"the task's result, of type {type_shown}, cannot be pickled" in raised.value.message
    assert "return plain data" in raised.value.message
    assert events.wait_for(E.TASK_FAILED, future.task_id).payload.type_name == "UnpicklableResult"
    assert future.task.state is TaskState.FAILED
    assert pool.submit(process_tasks.add, 2, 2).result(timeout=WAIT) == 4


def test_a_task_that_cannot_be_pickled_is_refused_at_submit(pool: ProcessPool, events: Recorder) -> None:
    with pytest.raises(TypeError, match=r"^the arguments of add cannot be sent to a worker process") as bad:
        pool.submit(process_tasks.add, threading.Lock(), 1)
    assert "_thread.lock" in str(bad.value)
    assert "pass plain, picklable data" in str(bad.value)

    with pytest.raises(TypeError, match=r"^.*<lambda> cannot be sent to a worker process") as bad:
        pool.submit(lambda: None)
    assert "A process pool needs a module-level function" in str(bad.value)
    with pytest.raises(TypeError, match="module-level function"):
        pool.map(lambda x: x, [1, 2])

    def local_function(x: int) -> int:
        return x

    with pytest.raises(TypeError, match=r"local_function cannot be sent to a worker process") as bad:
        pool.submit(local_function, 1)
    assert "A process pool needs a module-level function" in str(bad.value)
    for call in (pool.map, pool.imap, pool.imap_unordered):
        with pytest.raises(TypeError, match=r"local_function cannot be sent.*module-level function"):
            call(local_function, range(100))  # in chunks: still about the function

    # Asked beforehand, the pool says the same and queues nothing.
    with pytest.raises(TypeError, match=r"<lambda> cannot be sent to a worker process"):
        pool.check_task(lambda: None)
    with pytest.raises(TypeError, match=r"^the arguments of add cannot be sent"):
        pool.check_task(process_tasks.add, (threading.Lock(), 1))
    pool.check_task(process_tasks.add, (1, 2))
    with ThreadPool(1) as threads:
        threads.check_task(lambda: None)  # a thread takes anything callable

    assert not events.of_kind(E.TASK_SUBMITTED)
    assert pool.stats().submitted == 0
    assert pool.submit(process_tasks.add, 1, 2).result(timeout=WAIT) == 3


def test_an_exception_that_cannot_be_unpickled_still_fails_the_task_clearly(
    pool: ProcessPool, events: Recorder
) -> None:
    # It pickles, but does not come back.
    blob = pickle.dumps(process_tasks.UnpicklableError(1, "x"))
    with pytest.raises(TypeError):
        pickle.loads(blob)

    future = pool.submit(process_tasks.raise_unpicklable_error)

    with pytest.raises(TaskError) as raised:
        future.result(timeout=WAIT)

    error = raised.value
    assert error.type_name == "process_tasks.UnpicklableError"
    assert error.message == "code 42: cannot come back in one piece"
    assert ", in raise_unpicklable_error\n" in error.traceback
    assert future.task.state is TaskState.FAILED
    recorded = events.wait_for(E.TASK_FAILED, future.task_id).payload
    assert (recorded.type_name, recorded.message) == (error.type_name, error.message)
    assert pool.submit(process_tasks.add, 1, 1).result(timeout=WAIT) == 2


def test_an_argument_that_cannot_be_unpickled_in_the_child_fails_the_task_only(
    pool: ProcessPool, events: Recorder
) -> None:
    before = worker_pids(pool)
    future = pool.submit(process_tasks.add, process_tasks.UnpicklableError(1, "x"), 1)

    with pytest.raises(TaskError) as raised:
        future.result(timeout=WAIT)

    assert raised.value.type_name == "TypeError"
    assert "could not be unpickled in the worker process" in raised.value.message
    assert "missing 1 required positional argument: 'detail'" in raised.value.message
    assert future.task.state is TaskState.FAILED
    assert worker_pids(pool) == before
    assert not events.of_kind(E.WORKER_EXITED)
    assert pool.submit(process_tasks.add, 1, 1).result(timeout=WAIT) == 2


# -------------------------------------------------------------- time-outs


def test_a_task_past_its_timeout_fails_and_its_worker_is_replaced(
    pool: ProcessPool, events: Recorder
) -> None:
    pids = worker_pids(pool)
    future = pool.schedule(process_tasks.sleep_for, (30,), timeout=0.3)
    victim = pids[events.wait_for(E.TASK_STARTED, future.task_id).worker_id]
    started = time.monotonic()

    with pytest.raises(TaskTimeout) as raised:
        future.result(timeout=WAIT)

    assert time.monotonic() - started < 2.0
    assert raised.value.seconds == 0.3
    assert "time-out of 0.3 s" in str(raised.value)
    assert future.task.state is TaskState.FAILED
    wait_until(lambda: process_gone(victim), f"the timed-out worker process {victim} is gone")
    after = worker_pids(pool, gone=frozenset({victim}))
    assert victim not in after.values()
    assert pool.submit(process_tasks.add, 1, 2).result(timeout=WAIT) == 3


def test_the_pool_wide_task_timeout_applies_to_every_task(make_pool: Callable[..., ProcessPool]) -> None:
    pool = make_pool(1, task_timeout=0.3)
    [victim] = worker_pids(pool, count=1).values()

    assert pool.submit(process_tasks.add, 1, 1).result(timeout=WAIT) == 2
    slow = pool.submit(process_tasks.sleep_for, 30)
    with pytest.raises(TaskTimeout) as raised:
        slow.result(timeout=WAIT)

    assert raised.value.seconds == 0.3
    wait_until(lambda: process_gone(victim), f"the timed-out worker process {victim} is gone")
    [new] = worker_pids(pool, count=1, gone=frozenset({victim})).values()
    assert pool.submit(process_tasks.pid).result(timeout=WAIT) == new != victim


def test_a_quick_task_sent_ahead_of_a_slow_one_does_not_time_out(
    make_pool: Callable[..., ProcessPool],
) -> None:
    pool, events = warmed_up(make_pool, task_timeout=0.5)
    pool.pause()
    quick = pool.submit(process_tasks.add, 1, 1)
    slow = pool.submit(process_tasks.sleep_for, 30)
    pool.resume()  # the worker now sends both ahead to its process

    assert quick.result(timeout=WAIT) == 2
    with pytest.raises(TaskTimeout):
        slow.result(timeout=WAIT)
    assert events.task_kinds(quick.task_id) == [E.TASK_SUBMITTED, E.TASK_STARTED, E.TASK_DONE]
    assert events.task_kinds(slow.task_id) == [E.TASK_SUBMITTED, E.TASK_STARTED, E.TASK_FAILED]


# ----------------------------------------------------------------- cancel


def test_cancelling_a_running_task_kills_its_worker_and_replaces_it(
    pool: ProcessPool, events: Recorder
) -> None:
    pids = worker_pids(pool)
    future = pool.submit(process_tasks.sleep_for, 30)
    victim = pids[events.wait_for(E.TASK_STARTED, future.task_id).worker_id]
    started = time.monotonic()

    assert pool.cancel(future.task_id) is False  # asked to stop; it ends a moment later

    with pytest.raises(cf.CancelledError):
        future.result(timeout=WAIT)
    assert time.monotonic() - started < 2.0
    # Stopped by the pool: cancelled, as a queued task is (a task that stops
    # by raising TaskCancelled itself fails with it instead); the record says why.
    assert future.cancelled()
    assert isinstance(future.task.error, TaskCancelled)
    assert "cancelled while it ran" in future.task.error.message
    assert future.task.state is TaskState.CANCELLED
    assert events.task_kinds(future.task_id)[-1] is E.TASK_CANCELLED
    wait_until(lambda: process_gone(victim), f"the cancelled task's worker process {victim} is gone")
    after = worker_pids(pool, gone=frozenset({victim}))
    assert victim not in after.values()


def test_a_task_that_watches_cancel_requested_stops_by_itself(pool: ProcessPool, events: Recorder) -> None:
    pids = worker_pids(pool)
    future = pool.submit(process_tasks.wait_for_cancel)
    events.wait_for(E.TASK_PROGRESS, future.task_id)  # it runs, and watches

    pool.cancel(future.task_id)

    with pytest.raises(TaskCancelled, match="stopped by itself after cancel was requested"):
        future.result(timeout=WAIT)
    assert future.task.state is TaskState.CANCELLED
    # It stopped within the grace period, so nobody killed its process.
    assert not events.of_kind(E.WORKER_EXITED)
    assert worker_pids(pool) == pids


def test_cancelling_a_queued_task_cancels_it_at_once(pool: ProcessPool, events: Recorder) -> None:
    busy = [pool.submit(process_tasks.sleep_for, 0.3) for _ in range(2)]
    for future in busy:
        events.wait_for(E.TASK_STARTED, future.task_id)
    queued = pool.submit(process_tasks.noop)

    assert pool.cancel(queued.task_id) is True

    assert queued.cancelled()
    assert queued.task.state is TaskState.CANCELLED
    assert [f.result(timeout=WAIT) for f in busy] == [0.3, 0.3]
    assert events.task_kinds(queued.task_id) == [E.TASK_SUBMITTED, E.TASK_CANCELLED]


def test_cancelling_a_prefetched_task_cancels_it_at_once(make_pool: Callable[..., ProcessPool]) -> None:
    pool, events = warmed_up(make_pool)
    pool.pause()
    slow = pool.submit(process_tasks.sleep_for, 0.5)
    queued = pool.submit(process_tasks.add, 1, 1)
    pool.resume()  # the worker now sends both ahead to its process
    events.wait_for(E.TASK_STARTED, slow.task_id)
    assert queued.task.state is TaskState.QUEUED

    assert pool.cancel(queued.task_id) is True

    assert queued.cancelled()
    assert queued.task.state is TaskState.CANCELLED
    assert slow.result(timeout=WAIT) == 0.5
    assert events.task_kinds(queued.task_id) == [E.TASK_SUBMITTED, E.TASK_CANCELLED]
    assert pool.submit(process_tasks.add, 2, 2).result(timeout=WAIT) == 4


@pytest.mark.timeout(30)
def test_a_cancelled_task_sent_ahead_never_runs_and_the_ones_around_it_stay(
    make_pool: Callable[..., ProcessPool], gate: Gate, tmp_path: Path
) -> None:
    pool, events = warmed_up(make_pool)
    [(worker_id, worker_pid)] = worker_pids(pool, count=1).items()
    runs = tmp_path / "runs"
    pool.pause()
    held = pool.submit(process_tasks.wait_at_gate, gate.path)
    behind = [pool.submit(process_tasks.record_run, str(runs), i) for i in range(5)]
    pool.resume()  # the worker now sends them all ahead to its process
    events.wait_for(E.TASK_PROGRESS, held.task_id)
    assert all(f.task.state is TaskState.QUEUED and f.task.worker_id == worker_id for f in behind)

    assert pool.cancel(behind[2].task_id) is True

    gate.let_through()
    assert held.result(timeout=WAIT) is None
    assert [f.result(timeout=WAIT) for f in [*behind[:2], *behind[3:]]] == [worker_pid] * 4
    assert behind[2].cancelled()
    assert events.task_kinds(behind[2].task_id) == [E.TASK_SUBMITTED, E.TASK_CANCELLED]
    # The others kept their place on that worker, in order; the cancelled one never ran.
    assert runs.read_text().split() == [w for i in (0, 1, 3, 4) for w in (str(i), str(worker_pid))]
    assert {events.wait_for(E.TASK_DONE, f.task_id).worker_id for f in behind if f is not behind[2]} == {
        worker_id
    }


# ---------------------------------------------------------------- retries


def test_a_retried_task_succeeds_on_its_second_attempt(
    pool: ProcessPool, events: Recorder, tmp_path: Path
) -> None:
    marker = tmp_path / "first-attempt"

    future = pool.schedule(process_tasks.kill_first_attempt, (str(marker),), retries=1)

    result = future.result(timeout=WAIT)
    first_pid = int(marker.read_text())
    assert result == f"attempt after {first_pid}"
    first, second = [e.payload for e in events.of_kind(E.TASK_SUBMITTED)]
    assert (first.attempt, first.retry_of) == (1, None)
    assert (second.attempt, second.retry_of) == (2, first.id)
    assert future.task_id == second.id
    assert future.task is second and second.retry_of == first.id  # the way back to the first
    lost = events.wait_for(E.TASK_FAILED, first.id).payload
    assert isinstance(lost, WorkerLost)
    assert (lost.pid, lost.signal) == (first_pid, signal.SIGKILL)
    assert f"worker process {first_pid} was killed by signal 9" in str(lost)
    assert first.state is TaskState.FAILED and first.error is lost  # history is not rewritten
    assert events.task_kinds(first.id) == [E.TASK_SUBMITTED, E.TASK_STARTED, E.TASK_FAILED]
    assert events.task_kinds(second.id) == [E.TASK_SUBMITTED, E.TASK_STARTED, E.TASK_DONE]
    # The first attempt's end is announced before its retry exists.
    assert events.wait_for(E.TASK_FAILED, first.id).seq < events.wait_for(E.TASK_SUBMITTED, second.id).seq


@pytest.mark.timeout(30)
def test_a_retry_after_a_lost_worker_among_other_tasks_shows_each_attempt(
    pool: ProcessPool, events: Recorder, tmp_path: Path
) -> None:
    # As in bench/faults.py: the retried task among ordinary ones, some sent
    # ahead behind it; its future's task_id names the first attempt until
    # that fails, then the retry, so the attempts are found along retry_of.
    marker = tmp_path / "first-attempt"
    before = [pool.submit(process_tasks.add, i, 1) for i in range(5)]
    future = pool.schedule(process_tasks.kill_first_attempt, (str(marker),), retries=1)
    first_id = events.wait_for(E.TASK_SUBMITTED, future.task.retry_of or future.task_id).task_id
    after = [pool.submit(process_tasks.add, i, 1) for i in range(5, 19)]

    assert future.result(timeout=WAIT) == f"attempt after {marker.read_text()}"
    assert [f.result(timeout=WAIT) for f in [*before, *after]] == list(range(1, 20))

    second = future.task
    assert (second.attempt, second.retry_of) == (2, first_id)
    lost = events.wait_for(E.TASK_FAILED, first_id).payload
    assert isinstance(lost, WorkerLost)
    assert (lost.pid, lost.signal) == (int(marker.read_text()), signal.SIGKILL)
    assert events.task_kinds(first_id) == [E.TASK_SUBMITTED, E.TASK_STARTED, E.TASK_FAILED]
    assert events.task_kinds(second.id) == [E.TASK_SUBMITTED, E.TASK_STARTED, E.TASK_DONE]
    assert future.task_id == second.id


def test_a_task_retried_after_its_timeout_shows_each_attempt_as_events(
    pool: ProcessPool, events: Recorder, tmp_path: Path
) -> None:
    future = pool.schedule(
        process_tasks.hang_first_attempt, (str(tmp_path / "marker"),), timeout=0.3, retries=1
    )

    assert future.result(timeout=WAIT) == 2

    first, second = [e.payload for e in events.of_kind(E.TASK_SUBMITTED)]
    assert (first.attempt, first.retry_of) == (1, None)
    assert (second.attempt, second.retry_of) == (2, first.id)
    assert future.task_id == second.id
    timed_out = events.wait_for(E.TASK_FAILED, first.id).payload
    assert isinstance(timed_out, TaskTimeout)
    assert timed_out.seconds == 0.3
    assert first.state is TaskState.FAILED and first.error is timed_out
    assert events.task_kinds(first.id) == [E.TASK_SUBMITTED, E.TASK_STARTED, E.TASK_FAILED]
    assert events.task_kinds(second.id) == [E.TASK_SUBMITTED, E.TASK_STARTED, E.TASK_DONE]
    # The first attempt's worker was killed; the second ran on another process.
    killed = events.wait_for(E.TASK_STARTED, first.id).worker_id
    assert events.wait_for(E.WORKER_EXITED, worker_id=killed)


# --------------------------------------------------------------- progress


def test_progress_reported_in_the_child_arrives_as_events(pool: ProcessPool, events: Recorder) -> None:
    future = pool.submit(process_tasks.report_steps, 4, 0.06)

    assert future.result(timeout=WAIT) == 4

    progress = [e.payload for e in events.of_kind(E.TASK_PROGRESS) if e.task_id == future.task_id]
    assert progress == [(step / 4, f"step {step} of 4") for step in range(1, 5)]
    assert events.task_kinds(future.task_id) == [
        E.TASK_SUBMITTED,
        E.TASK_STARTED,
        *[E.TASK_PROGRESS] * 4,
        E.TASK_DONE,
    ]
    assert future.task.progress == 1.0


# --------------------------------------------------------------- prefetch


def test_short_tasks_are_sent_ahead_to_the_child_in_batches(
    make_pool: Callable[..., ProcessPool], gate: Gate
) -> None:
    # The pipe is kept full: while the child runs one task, the next ones are
    # already on their way to it (handed to the worker, still QUEUED), rather
    # than one round trip per task. With PREFETCH == 1 none would be.
    pool, events = warmed_up(make_pool)
    [worker_id] = worker_pids(pool, count=1)
    pool.pause()
    held = pool.submit(process_tasks.wait_at_gate, gate.path)
    rest = [pool.submit(process_tasks.add, i, 1) for i in range(40)]
    pool.resume()
    events.wait_for(E.TASK_PROGRESS, held.task_id)  # it runs in the child, at the gate

    sent_ahead = [f for f in rest if f.task.state is TaskState.QUEUED and f.task.worker_id == worker_id]
    assert len(sent_ahead) >= 8, f"only {len(sent_ahead)} tasks on their way behind the running one"
    assert len(sent_ahead) <= process_pool.PREFETCH - 1
    assert sent_ahead == rest[: len(sent_ahead)]  # in order, from the front of the queue
    gate.let_through()
    assert [f.result(timeout=WAIT) for f in rest] == list(range(1, 41))
    assert {events.wait_for(E.TASK_DONE, f.task_id).worker_id for f in rest} == {worker_id}


def test_a_short_tasks_result_is_not_held_back_by_a_long_task_behind_it(
    make_pool: Callable[..., ProcessPool],
) -> None:
    pool, events = warmed_up(make_pool)
    pool.pause()
    quick = pool.submit(process_tasks.add, 1, 1)
    slow = pool.submit(process_tasks.sleep_for, 1.5)
    pool.resume()  # the worker now sends both ahead to its process

    assert quick.result(timeout=1.0) == 2
    assert not slow.done()
    done = events.wait_for(E.TASK_DONE, quick.task_id)
    assert done.seq < events.wait_for(E.TASK_STARTED, slow.task_id).seq


def test_pause_takes_back_prefetched_tasks_and_resume_runs_them(
    make_pool: Callable[..., ProcessPool],
) -> None:
    pool, events = warmed_up(make_pool)
    [worker_id] = worker_pids(pool, count=1)
    pool.pause()
    slow = pool.submit(process_tasks.sleep_for, 0.5)
    rest = [pool.submit(process_tasks.add, i, 1) for i in range(3)]
    pool.resume()  # the worker now sends all four ahead to its process
    events.wait_for(E.TASK_STARTED, slow.task_id)

    pool.pause()

    assert slow.result(timeout=WAIT) == 0.5
    events.wait_for(E.WORKER_IDLE, worker_id=worker_id, after=events.wait_for(E.TASK_DONE, slow.task_id))
    assert [f.task.state for f in rest] == [TaskState.QUEUED] * 3
    assert pool.stats().queued == 3
    pool.resume()
    assert [f.result(timeout=WAIT) for f in rest] == [1, 2, 3]


def sent_ahead_of_a_gil_holder(
    make_pool: Callable[..., ProcessPool], runs: Path, count: int = 10
) -> tuple[ProcessPool, Recorder, int, cf.Future, list[cf.Future]]:
    """A one-worker pool whose process runs a task that holds the GIL (so
    none of its threads can answer the parent), with ``count`` short tasks
    (``record_run`` into ``runs``) sent ahead to it behind that task."""
    pool, events = warmed_up(make_pool)
    [stuck] = worker_pids(pool, count=1)
    pool.pause()
    hog = pool.submit(process_tasks.hold_the_gil)
    rest = [pool.submit(process_tasks.record_run, str(runs), i) for i in range(count)]
    pool.resume()  # the worker now sends them all ahead to its process
    events.wait_for(E.TASK_PROGRESS, hog.task_id)  # in C code from now on, for minutes
    assert [f for f in rest if f.task.state is TaskState.QUEUED and f.task.worker_id == stuck] == rest
    return pool, events, stuck, hog, rest


@pytest.mark.timeout(30)
def test_tasks_sent_ahead_of_a_task_that_holds_the_gil_move_to_an_idle_worker(
    make_pool: Callable[..., ProcessPool], tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    pool, events, stuck, hog, rest = sent_ahead_of_a_gil_holder(make_pool, runs)

    [helper] = pool.add_workers(1)  # idle once up: it asks for what was sent ahead

    ran_on = {f.result(timeout=WAIT) for f in rest}
    helper_pid = next(w.pid for w in pool.workers if w.id == helper)
    assert ran_on == {helper_pid}
    assert hog.running() and hog.task.worker_id == stuck != helper
    assert {events.wait_for(E.TASK_DONE, f.task_id).worker_id for f in rest} == {helper}
    for future in rest:
        assert events.task_kinds(future.task_id) == [E.TASK_SUBMITTED, E.TASK_STARTED, E.TASK_DONE]
    assert stop(pool), "the pool did not stop"  # kills the process that holds the GIL
    # Each ran once, on the helper: the stuck process could never start one.
    lines = sorted(runs.read_text().splitlines(), key=lambda line: int(line.split()[0]))
    assert lines == [f"{i} {helper_pid}" for i in range(len(rest))]


@pytest.mark.timeout(30)
def test_pause_takes_back_tasks_sent_ahead_of_a_task_that_holds_the_gil(
    make_pool: Callable[..., ProcessPool], tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    pool, events, stuck, hog, rest = sent_ahead_of_a_gil_holder(make_pool, runs, count=3)

    pool.pause()

    wait_until(lambda: all(f.task.worker_id is None for f in rest), "the tasks are back in the queue")
    assert [f.task.state for f in rest] == [TaskState.QUEUED] * 3
    assert pool.stats().queued == 3 and pool.stats().running == 1
    [helper] = pool.add_workers(1)
    pool.resume()
    assert len({f.result(timeout=WAIT) for f in rest}) == 1
    assert {events.wait_for(E.TASK_DONE, f.task_id).worker_id for f in rest} == {helper}
    assert hog.running() and hog.task.worker_id == stuck


# ---------------------------------------------------------- worker control


def test_add_workers_starts_more_processes_that_take_tasks(pool: ProcessPool, events: Recorder) -> None:
    before = worker_pids(pool)

    added = pool.add_workers(2)

    assert len(added) == 2
    assert not set(added) & set(before)
    after = worker_pids(pool, count=4)
    assert set(after) == set(before) | set(added)
    assert len(set(after.values())) == 4
    assert pool.stats().workers == 4
    futures = [pool.submit(process_tasks.sleep_for, 0.3) for _ in range(4)]
    assert [f.result(timeout=WAIT) for f in futures] == [0.3] * 4
    assert {e.worker_id for e in events.of_kind(E.TASK_STARTED)} == set(after)


def test_worker_started_carries_the_pid_of_the_workers_process(pool: ProcessPool, events: Recorder) -> None:
    [added] = pool.add_workers(1)

    started = events.wait_for(E.WORKER_STARTED, worker_id=added)

    assert started.payload.id == added
    assert started.payload.pid is not None
    assert started.payload.pid != os.getpid()
    assert not process_gone(started.payload.pid)
    assert worker_pids(pool, count=3)[added] == started.payload.pid
    assert events.worker_kinds(added)[0] is E.WORKER_STARTED


def test_a_worker_process_that_dies_while_idle_is_replaced_at_once(
    pool: ProcessPool, events: Recorder
) -> None:
    pids = worker_pids(pool)
    victim, victim_pid = next(iter(pids.items()))

    os.kill(victim_pid, signal.SIGKILL)

    # No task needed to notice: the parked serving thread watches the sentinel.
    exited = events.wait_for(E.WORKER_EXITED, worker_id=victim)
    assert victim not in {w.id for w in pool.workers if w.state is not WorkerState.EXITED}
    replacement = events.wait_for(E.WORKER_STARTED, after=exited)
    assert replacement.worker_id not in pids
    assert replacement.payload.pid not in (None, victim_pid)
    after = worker_pids(pool, gone=frozenset({victim_pid}))
    assert set(after) == (set(pids) - {victim}) | {replacement.worker_id}
    assert pool.stats().workers == 2
    assert not events.of_kind(E.TASK_SUBMITTED)
    futures = [pool.submit(process_tasks.pid) for _ in range(6)]
    assert {f.result(timeout=WAIT) for f in futures} <= set(after.values())


def test_dismiss_workers_takes_idle_workers_first_and_at_once(pool: ProcessPool, events: Recorder) -> None:
    pids = worker_pids(pool)
    busy = pool.submit(process_tasks.sleep_for, 1.5)
    busy_worker = events.wait_for(E.TASK_STARTED, busy.task_id).worker_id
    started = time.monotonic()

    [dismissed] = pool.dismiss_workers(1, join=True)

    assert time.monotonic() - started < 1.0
    assert dismissed != busy_worker
    assert not busy.done()
    assert process_gone(pids[dismissed])
    assert events.worker_kinds(dismissed)[-3:] == [E.WORKER_DISMISSED, E.WORKER_EXITED, E.WORKER_JOINED]
    assert dismissed not in {w.id for w in pool.workers}
    assert pool.stats().workers == 1
    assert busy.result(timeout=WAIT) == 1.5


def test_dismissed_busy_workers_finish_their_task_then_leave(
    pool: ProcessPool, events: Recorder, gate: Gate
) -> None:
    pids = worker_pids(pool)
    busy = [pool.submit(process_tasks.wait_at_gate, gate.path, i) for i in range(2)]
    for future in busy:
        events.wait_for(E.TASK_PROGRESS, future.task_id)  # both run, at the gate
    waiting = pool.submit(process_tasks.add, 1, 1)

    dismissed = pool.dismiss_workers(2)

    assert sorted(dismissed) == sorted(pids)
    assert pool.stats().workers == 0
    infos = {w.id: w for w in pool.workers}
    assert {i: infos[i].state for i in dismissed} == {i: WorkerState.DISMISSED for i in dismissed}
    assert {infos[i].task_id for i in dismissed} == {f.task_id for f in busy}
    assert not events.of_kind(E.WORKER_EXITED)
    gate.let_through(2)
    assert sorted(f.result(timeout=WAIT) for f in busy) == [0, 1]  # finished, not killed
    for future in busy:
        done = events.wait_for(E.TASK_DONE, future.task_id)
        exited = events.wait_for(E.WORKER_EXITED, worker_id=done.worker_id)
        assert exited.seq > done.seq
    assert sorted(pool.join_dismissed(timeout=WAIT)) == sorted(dismissed)
    assert all(process_gone(pid) for pid in pids.values())
    # A dismissed worker takes no other task: the queued one waits for a new worker.
    assert waiting.task.state is TaskState.QUEUED
    [added] = pool.add_workers(1)
    assert waiting.result(timeout=WAIT) == 2
    assert events.wait_for(E.TASK_DONE, waiting.task_id).worker_id == added


def test_force_dismissing_a_busy_worker_cancels_its_task_and_ends_its_process(
    pool: ProcessPool, events: Recorder
) -> None:
    pids = worker_pids(pool)
    future = pool.submit(process_tasks.sleep_for, 30)
    worker_id = events.wait_for(E.TASK_STARTED, future.task_id).worker_id

    pool.dismiss_worker(worker_id, force=True)

    with pytest.raises(cf.CancelledError):
        future.result(timeout=WAIT)
    assert future.cancelled()
    assert future.task.state is TaskState.CANCELLED
    assert pool.join_dismissed(timeout=WAIT) == [worker_id]
    assert process_gone(pids[worker_id])
    assert events.worker_kinds(worker_id)[-3:] == [E.WORKER_DISMISSED, E.WORKER_EXITED, E.WORKER_JOINED]
    assert worker_id not in {w.id for w in pool.workers}
    assert pool.stats().workers == 1  # dismissed, not replaced
    assert pool.submit(process_tasks.add, 1, 1).result(timeout=WAIT) == 2


def test_force_dismissing_a_worker_gives_its_prefetched_tasks_to_another(
    make_pool: Callable[..., ProcessPool],
) -> None:
    pool, events = warmed_up(make_pool)
    [doomed] = worker_pids(pool, count=1)
    pool.pause()
    slow = pool.submit(process_tasks.sleep_for, 30)
    rest = [pool.submit(process_tasks.add, i, 1) for i in range(3)]
    pool.resume()  # the worker now sends all four ahead to its process
    events.wait_for(E.TASK_STARTED, slow.task_id)
    [other] = pool.add_workers(1)

    pool.dismiss_worker(doomed, force=True)

    with pytest.raises(cf.CancelledError):
        slow.result(timeout=WAIT)
    assert [f.result(timeout=WAIT) for f in rest] == [1, 2, 3]
    assert {events.wait_for(E.TASK_DONE, f.task_id).worker_id for f in rest} == {other}


def test_max_tasks_per_worker_recycles_worker_processes(make_pool: Callable[..., ProcessPool]) -> None:
    pool = make_pool(1, max_tasks_per_worker=2)

    one_by_one = [pool.submit(process_tasks.pid).result(timeout=WAIT) for _ in range(4)]
    batch = Counter(f.result(timeout=WAIT) for f in [pool.submit(process_tasks.pid) for _ in range(6)])

    assert one_by_one[0] == one_by_one[1] != one_by_one[2] == one_by_one[3]
    assert sorted(batch.values()) == [2, 2, 2]
    assert not set(batch) & set(one_by_one)
    # Each of those processes retired after its second task.
    wait_until(
        lambda: all(process_gone(pid) for pid in {*one_by_one, *batch}),
        "the retired worker processes are gone",
    )


def test_nothing_starts_while_the_pool_is_paused(pool: ProcessPool, events: Recorder) -> None:
    busy = [pool.submit(process_tasks.sleep_for, 0.3) for _ in range(2)]
    started = [events.wait_for(E.TASK_STARTED, f.task_id) for f in busy]

    pool.pause()
    waiting = [pool.submit(process_tasks.add, i, 1) for i in range(4)]

    assert [f.result(timeout=WAIT) for f in busy] == [0.3, 0.3]
    for event in started:  # each worker looked for work, and found none it may take
        events.wait_for(E.WORKER_IDLE, worker_id=event.worker_id, after=event)
    assert pool.paused
    assert [f.task.state for f in waiting] == [TaskState.QUEUED] * 4
    assert not [e for e in events.of_kind(E.TASK_STARTED) if e.task_id in {f.task_id for f in waiting}]
    assert pool.stats().queued == 4

    pool.resume()

    assert [f.result(timeout=WAIT) for f in waiting] == [1, 2, 3, 4]


def test_workers_report_pid_cpu_and_memory_of_their_processes(pool: ProcessPool) -> None:
    pids = worker_pids(pool)
    pool.workers  # noqa: B018  (the first reading sets the start of the CPU interval)

    future = pool.submit(process_tasks.spin, 0.4)
    assert future.result(timeout=WAIT) > 0

    infos = {w.id: w for w in pool.workers}
    assert {i: w.pid for i, w in infos.items()} == pids
    for info in infos.values():
        assert info.pid != os.getpid()
        assert psutil.Process(info.pid).is_running()
        assert isinstance(info.cpu_percent, float)
        assert info.cpu_percent >= 0.0
        assert isinstance(info.memory_rss, int)
        assert info.memory_rss > 1_000_000
    assert infos[future.task.worker_id].cpu_percent > 0.0  # it measured the spin, not a first reading


# ------------------------------------------------------- parent and shutdown

PARENT = """
import sys
import threading
import time
from multiprocessing import forkserver, resource_tracker

import process_tasks
from core import EventKind, ProcessPool

pool = ProcessPool(2)
running = threading.Semaphore(0)
pool.events.subscribe(lambda event: event.kind is EventKind.TASK_PROGRESS and running.release())
# Both workers busy in a task: the pipe's end of file alone would not stop
# them (a reader thread sees it, the main thread runs on).
for _ in range(2):
    pool.submit(getattr(process_tasks, sys.argv[1]), *sys.argv[2:])
for _ in range(2):
    assert running.acquire(timeout=15), "the tasks did not start"
helpers = [forkserver._forkserver._forkserver_pid, resource_tracker._resource_tracker._pid]
print(*[w.pid for w in pool.workers], "/", *helpers, flush=True)
time.sleep(60)
"""


def read_pids(stream: Any, limit: float) -> tuple[list[int], list[int]]:
    """The worker pids and the helper pids (forkserver, resource tracker)
    that the parent script prints on one line; empty lists if it does not."""
    readable, _, _ = select.select([stream], [], [], limit)
    line = stream.readline().decode() if readable else ""
    workers, _, helpers = line.partition("/")
    return [int(p) for p in workers.split()], [int(p) for p in helpers.split()]


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    "task",
    [
        # A task in Python: the lifeline thread gets the GIL and ends the worker.
        pytest.param(("wait_for_cancel", "30"), id="python-task"),
        # A task in C that never lets go of the GIL: the lifeline thread cannot
        # run; the kernel ends the worker (PR_SET_PDEATHSIG) once the
        # forkserver, its parent, has left.
        pytest.param(("hold_the_gil",), id="gil-holding-task"),
    ],
)
def test_workers_exit_when_their_parent_is_killed(task: tuple[str, ...]) -> None:
    path = [str(ROOT), str(TESTS_CORE), os.environ.get("PYTHONPATH")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in path if p)}
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, *task],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    pids: list[int] = []
    try:
        workers, helpers = read_pids(parent.stdout, 15)
        if not workers or not helpers:
            parent.kill()
            _, err = parent.communicate(timeout=WAIT)
            pytest.fail(f"the parent script printed no worker pids; its stderr:\n{err.decode()[-3000:]}")
        pids = workers + helpers
        assert len(workers) == 2, f"the parent script printed {workers!r}"
        assert not any(process_gone(pid) for pid in pids)

        parent.kill()  # SIGKILL: no atexit, no shutdown, nothing runs in the parent
        parent.wait(WAIT)

        # The whole chain: the workers, and the forkserver and resource
        # tracker of the dead parent too.
        wait_until(
            lambda: all(process_gone(pid) for pid in pids),
            f"the workers {workers} and helpers {helpers} of a killed parent are gone",
            timeout=5.0,
        )
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(WAIT)
        parent.stdout.close()
        parent.stderr.close()
        for pid in pids:  # no longer our children: the leftover check would miss them
            if not process_gone(pid):
                os.kill(pid, signal.SIGKILL)


def test_shutdown_runs_what_is_queued_and_leaves_no_worker_process(pool: ProcessPool) -> None:
    pids = worker_pids(pool)
    futures = [pool.submit(process_tasks.add, i, 1) for i in range(10)]

    pool.shutdown(wait=True)

    assert [f.result(timeout=0) for f in futures] == list(range(1, 11))
    assert [pid for pid in pids.values() if not process_gone(pid)] == []
    assert pool.workers == []


def test_queued_tasks_run_after_shutdown_while_workers_time_out(
    make_pool: Callable[..., ProcessPool],
) -> None:
    # Workers killed for a time-out after shutdown are replaced while tasks wait.
    pool = make_pool(2, task_timeout=0.5)
    slow = [pool.submit(process_tasks.sleep_for, 5) for _ in range(2)]
    short = [pool.submit(process_tasks.sleep_for, 0.1) for _ in range(3)]

    assert shut_down(pool), "shutdown(wait=True) did not return"

    for future in slow:
        assert isinstance(future.exception(timeout=0), TaskTimeout)
    assert [f.result(timeout=0) for f in short] == [0.1] * 3
    assert pool.workers == []


def test_queued_tasks_run_after_shutdown_when_the_only_worker_dies(
    make_pool: Callable[..., ProcessPool],
) -> None:
    pool = make_pool(1)
    doomed = pool.submit(process_tasks.die_by_sigkill)
    rest = [pool.submit(process_tasks.add, i, 1) for i in range(5)]

    assert shut_down(pool), "shutdown(wait=True) did not return"

    assert isinstance(doomed.exception(timeout=0), WorkerLost)
    assert [f.result(timeout=0) for f in rest] == [1, 2, 3, 4, 5]
    assert pool.workers == []


def test_a_closed_pool_with_no_worker_left_cancels_what_is_queued(
    make_pool: Callable[..., ProcessPool], gate: Gate
) -> None:
    pool = make_pool(1)
    events = Recorder(pool)
    busy = pool.submit(process_tasks.wait_at_gate, gate.path, "done")
    events.wait_for(E.TASK_PROGRESS, busy.task_id)
    queued = [pool.submit(process_tasks.add, i, 1) for i in range(3)]
    pool.close()

    [worker_id] = pool.dismiss_workers(1)  # busy: it leaves after its task, takes no other

    for future in queued:
        assert future.cancelled()
        assert "no worker left" in future.task.error.message
    gate.let_through()
    assert busy.result(timeout=WAIT) == "done"
    assert shut_down(pool)
    assert events.worker_kinds(worker_id)[-2:] == [E.WORKER_EXITED, E.WORKER_JOINED]


def test_terminate_kills_running_tasks_and_leaves_no_worker_process(
    pool: ProcessPool, events: Recorder
) -> None:
    pids = worker_pids(pool)
    running = [pool.submit(process_tasks.sleep_for, 30) for _ in range(2)]
    for future in running:
        events.wait_for(E.TASK_STARTED, future.task_id)
    queued = pool.submit(process_tasks.noop)
    started = time.monotonic()

    pool.terminate()

    for future in [*running, queued]:
        with pytest.raises(cf.CancelledError):
            future.result(timeout=WAIT)
    pool.join()
    assert time.monotonic() - started < 3.0
    assert [pid for pid in pids.values() if not process_gone(pid)] == []
    assert pool.workers == []


# -------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param({"workers": 0}, "workers must be at least 1", id="no-workers"),
        pytest.param({"workers": 1, "task_timeout": -1.0}, "task_timeout must be a positive", id="negative"),
        pytest.param({"workers": 1, "task_timeout": 0}, "task_timeout must be a positive", id="zero"),
        pytest.param({"workers": 1, "start_method": "fork"}, "start_method 'fork' is refused", id="fork"),
    ],
)
def test_bad_pool_options_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ProcessPool(**options)


def test_submitting_after_shutdown_raises_pool_closed(pool: ProcessPool) -> None:
    pool.shutdown(wait=True)

    with pytest.raises(PoolClosed):
        pool.submit(process_tasks.noop)
    with pytest.raises(PoolClosed):
        pool.schedule(process_tasks.noop)
    with pytest.raises(PoolClosed):
        pool.map(process_tasks.add, [1, 2])


def test_a_worker_holds_no_more_than_its_share_while_another_is_idle(make_pool) -> None:
    pool = make_pool(2)
    for future in [pool.submit(process_tasks.noop) for _ in range(8)]:
        future.result(timeout=WAIT)  # short tasks first: workers may then send ahead
    before = {w.id: w.tasks_done for w in pool.workers}

    futures = [pool.submit(process_tasks.sleep_for, 0.1) for _ in range(8)]
    assert [f.result(timeout=WAIT) for f in futures] == [0.1] * 8

    shares = sorted(w.tasks_done - before.get(w.id, 0) for w in pool.workers)
    assert shares == [4, 4]


def test_tasks_asked_back_by_an_idle_peer_run_once_even_when_the_child_started_them(make_pool) -> None:
    # An idle worker asks its peer to take back the tasks it sent ahead; the
    # child may have started the next one just then. Round after round of
    # short batches hits that window: every task must still end exactly once.
    pool = make_pool(2)
    events = Recorder(pool)
    deadline = time.monotonic() + 3.0
    rounds = 0
    while time.monotonic() < deadline:
        futures = [pool.submit(process_tasks.add, i, 10 * i) for i in range(30)]
        assert [f.result(timeout=WAIT) for f in futures] == [11 * i for i in range(30)]
        rounds += 1
    ends = Counter(e.task_id for e in events.events if e.kind in (E.TASK_DONE, E.TASK_FAILED))
    assert len(ends) == 30 * rounds and set(ends.values()) == {1}


def test_a_retry_sees_its_attempt_number_in_the_worker(pool: ProcessPool, tmp_path: Path) -> None:
    future = pool.schedule(process_tasks.attempt_after_first_failure, (str(tmp_path / "marker"),), retries=1)

    assert future.result(timeout=WAIT) == 2
    assert future.task.attempt == 2


def test_tasks_sent_ahead_of_a_long_task_move_to_an_idle_worker(make_pool) -> None:
    pool = make_pool(2)
    for future in [pool.submit(process_tasks.noop) for _ in range(8)]:
        future.result(timeout=WAIT)  # short tasks first: workers may then send ahead
    slow = pool.submit(process_tasks.sleep_for, 3.0)
    quick = [pool.submit(process_tasks.add, i, 1) for i in range(20)]

    assert [f.result(timeout=WAIT) for f in quick] == [i + 1 for i in range(20)]
    assert not slow.done()  # none of them waited behind the long task
    assert slow.result(timeout=WAIT) == 3.0
