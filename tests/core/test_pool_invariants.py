"""Random sequences of pool operations keep the pool's promises: every task
ends exactly once, the counters agree with the events, and no worker thread
outlives shutdown."""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import CancelledError

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from core import Event, EventKind, TaskFuture, ThreadPool

E = EventKind
ENDINGS = {E.TASK_DONE, E.TASK_FAILED, E.TASK_CANCELLED}

#: The longest the machine waits for tasks that should end at once (their
#: work takes milliseconds; kept short so that shrinking a failure stays quick).
WAIT = 2.0

#: Most workers the machine lets a pool grow to; keeps examples cheap.
MAX_WORKERS = 5


def quick() -> str:
    return "ok"


def unlucky() -> None:
    raise ValueError("unlucky task")


def nap() -> str:
    time.sleep(0.003)
    return "rested"


TASKS = {"quick": quick, "unlucky": unlucky, "nap": nap}


class PoolMachine(RuleBasedStateMachine):
    """Drives one ThreadPool; checks its books at teardown."""

    def __init__(self) -> None:
        super().__init__()
        self.threads_before = {t.ident for t in threading.enumerate()}
        self.pool = ThreadPool(workers=2)
        self.events: list[Event] = []  # list.append is atomic: safe from any thread
        self.pool.events.subscribe(self.events.append)
        self.futures: dict[int, TaskFuture] = {}

    @rule(kind=st.sampled_from(sorted(TASKS)))
    def submit(self, kind: str) -> None:
        future = self.pool.submit(TASKS[kind])
        assert future.task_id not in self.futures
        self.futures[future.task_id] = future

    @precondition(lambda self: self.pool.stats().workers < MAX_WORKERS)
    @rule(n=st.integers(1, 2))
    def add_workers(self, n: int) -> None:
        n = min(n, MAX_WORKERS - self.pool.stats().workers)
        added = self.pool.add_workers(n)
        assert len(added) == n

    @rule(n=st.integers(0, 2))
    def dismiss_workers(self, n: int) -> None:
        # Keep one worker, so that shutdown has someone to run the queue.
        active = self.pool.stats().workers
        n = min(n, active - 1)
        dismissed = self.pool.dismiss_workers(n)
        assert len(dismissed) == n
        assert self.pool.stats().workers == active - n

    @rule()
    def pause(self) -> None:
        self.pool.pause()
        assert self.pool.paused

    @rule()
    def resume(self) -> None:
        self.pool.resume()
        assert not self.pool.paused

    @precondition(lambda self: self.futures)
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        task_id = data.draw(st.sampled_from(sorted(self.futures)), label="task id")
        if self.pool.cancel(task_id):
            assert self.futures[task_id].cancelled()

    @rule()
    def settle(self) -> None:
        """Resumed and left alone, an open pool works through its whole queue
        (a lost wake-up would strand tasks here, before shutdown could hide it)."""
        self.pool.resume()
        deadline = time.monotonic() + WAIT
        stranded = []
        for task_id, future in self.futures.items():
            # Per future rather than concurrent.futures.wait(): this checks the
            # pool, not wait()'s bookkeeping of cancelled futures.
            try:
                future.exception(timeout=max(0.0, deadline - time.monotonic()))
            except CancelledError:
                pass
            except TimeoutError:
                stranded.append(task_id)
        assert not stranded, f"tasks stranded in an open pool: {stranded}"

    @invariant()
    def keeps_a_worker(self) -> None:
        assert self.pool.stats().workers >= 1

    def teardown(self) -> None:
        pool = self.pool
        pool.resume()
        pool.shutdown(wait=True)

        for task_id, future in self.futures.items():
            assert future.done(), f"task {task_id} never ended"

        per_task: dict[int, Counter[EventKind]] = {}
        for event in self.events:
            if event.task_id is not None and event.kind.value.startswith("task_"):
                per_task.setdefault(event.task_id, Counter())[event.kind] += 1
        assert set(per_task) == set(self.futures)
        for task_id, kinds in per_task.items():
            assert kinds[E.TASK_SUBMITTED] == 1, (task_id, kinds)
            assert kinds[E.TASK_STARTED] <= 1, (task_id, kinds)
            assert sum(kinds[k] for k in ENDINGS) == 1, (task_id, kinds)

        totals = Counter(event.kind for event in self.events)
        stats = pool.stats()
        assert (stats.queued, stats.running) == (0, 0)
        assert stats.submitted == totals[E.TASK_SUBMITTED] == len(self.futures)
        assert stats.done == totals[E.TASK_DONE]
        assert stats.failed == totals[E.TASK_FAILED]
        assert stats.cancelled == totals[E.TASK_CANCELLED]

        assert pool.workers == []
        left = [t.name for t in threading.enumerate() if t.ident not in self.threads_before]
        assert left == [], f"threads alive after shutdown: {left}"


PoolMachine.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=25,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_pool_invariants = PoolMachine.TestCase
