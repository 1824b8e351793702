"""A monitored pool of threads.

Each worker thread runs one loop: take the next task from the core (parking
on its own wake lock when there is none), run it, settle it, repeat. A thread
cannot be stopped from outside, so a task past its time-out is given up: its
task FAILS with TaskTimeout at once, its worker is ABANDONED (it leaves when
the call finally returns, its result discarded) and a fresh worker takes its
place. A watchdog thread, started with the first timed task, keeps the
deadlines.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
import weakref
from typing import Any

from .errors import TaskTimeout
from .events import EventKind
from .pool import Pool, _error_record, _Worker
from .task import Task, _local

__all__ = ["ThreadPool"]

E = EventKind


class _ThreadWorker(_Worker):
    __slots__ = ("pool", "thread")

    def __init__(self, pool: ThreadPool, worker_id: int) -> None:
        super().__init__(worker_id)
        self.pool = pool
        self.thread = threading.Thread(
            target=pool._work, args=(self,), name=f"poolscope-worker-{worker_id}", daemon=True
        )

    def start(self) -> None:
        self.thread.start()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread to end; give up early if the pool abandons it
        meanwhile (its task timed out and may never return)."""
        thread = self.thread
        if thread is threading.current_thread() or thread.ident is None:
            return not thread.is_alive() and thread.ident is not None
        deadline = None if timeout is None else time.monotonic() + timeout
        while thread.is_alive() and not self.abandoned:
            left = 0.05 if deadline is None else min(0.05, deadline - time.monotonic())
            if left <= 0:
                break
            thread.join(left)
        return not thread.is_alive()

    def extra_info(self) -> dict[str, Any]:
        return {"native_id": self.thread.native_id}


class ThreadPool(Pool):
    """A ``concurrent.futures.Executor`` on threads that reports every task and
    worker change as an event.

    >>> with ThreadPool(workers=4) as pool:
    ...     pool.submit(pow, 2, 10).result()
    1024
    """

    _kind = "thread pool"

    def __init__(self, workers: int = 4, queue_size: int = 0) -> None:
        # (deadline, tie-breaker, task, worker); the task is held weakly so that
        # finished tasks and their results are not kept until their deadline.
        self._deadlines: list[tuple[float, int, weakref.ref[Task], _Worker]] = []
        self._deadline_seq = itertools.count().__next__
        self._watchdog: threading.Thread | None = None
        self._watchdog_wake = threading.Condition(threading.Lock())
        super().__init__(workers, queue_size)

    def _new_worker(self, worker_id: int) -> _Worker:
        return _ThreadWorker(self, worker_id)

    def _work(self, worker: _Worker) -> None:
        """The worker thread: claim, run, end, repeat until told to leave."""
        _local.emit_progress = self._report_progress
        emit, claim, park, end, after_end = (
            self._emit,
            self._claim,
            self._park,
            self._end,
            self._after_end,
        )
        started = E.TASK_STARTED
        try:
            while True:
                task = claim(worker)
                if task is None:
                    if park(worker):
                        continue
                    return
                task.started_at = worker.busy_since = emit(started, task.id, worker.id).time
                if task.timeout is not None:
                    self._watch(task, worker)
                _local.task = task
                try:
                    value = task.fn(*task.args, **task.kwargs) if task.kwargs else task.fn(*task.args)
                except BaseException as exc:  # SystemExit too: a task must not end its worker
                    _local.task = None
                    error = _error_record(exc)
                    if end(task, False, error, worker):
                        after_end(task, False, exc, error)
                    del exc
                else:
                    _local.task = None
                    if end(task, True, None, worker):
                        after_end(task, True, value, None)
                    del value
                del task
        finally:
            self._worker_exited(worker)

    # ------------------------------------------------------------- time-outs

    def _watch(self, task: Task, worker: _Worker) -> None:
        assert task.timeout is not None
        deadline = time.monotonic() + task.timeout
        with self._watchdog_wake:
            heapq.heappush(self._deadlines, (deadline, self._deadline_seq(), weakref.ref(task), worker))
            if self._watchdog is None:
                self._watchdog = threading.Thread(
                    target=self._keep_deadlines, name="poolscope-watchdog", daemon=True
                )
                self._watchdog.start()
            self._watchdog_wake.notify()

    def _keep_deadlines(self) -> None:
        deadlines = self._deadlines
        while True:
            with self._watchdog_wake:
                while True:
                    now = time.monotonic()
                    if deadlines and deadlines[0][0] <= now:
                        _, _, ref, worker = heapq.heappop(deadlines)
                        task = ref()
                        if task is not None and worker.task is task:
                            break
                        continue
                    if self._closed:
                        # Keep only deadlines of tasks still running; leave
                        # when none is left.
                        deadlines[:] = [d for d in deadlines if _still_running(d)]
                        heapq.heapify(deadlines)
                        if not deadlines:
                            self._watchdog = None
                            return
                    self._watchdog_wake.wait(deadlines[0][0] - now if deadlines else None)
            self._expire(task, worker)
            del task, worker

    def _expire(self, task: Task, worker: _Worker) -> None:
        assert task.timeout is not None
        error = TaskTimeout(task.timeout)
        if self._end(task, False, error, worker):
            # Its thread runs on: asked to stop, a processor leaves its output unwritten.
            task.cancel_requested = True
            self._abandon(worker)
            self._after_end(task, False, error, error)  # may queue a retry ...
            with self._lock:
                self._replace_locked()  # ... which the replacement then runs

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        super().shutdown(wait, cancel_futures=cancel_futures)
        with self._watchdog_wake:
            watchdog = self._watchdog
            self._watchdog_wake.notify()
        if wait and watchdog is not None:
            watchdog.join()

    shutdown.__doc__ = Pool.shutdown.__doc__

    def _cancel_running_locked(self, task: Task) -> bool:
        # Threads cannot be stopped: the task sees current_task().cancel_requested.
        return False


def _still_running(deadline: tuple[float, int, weakref.ref[Task], _Worker]) -> bool:
    task = deadline[2]()
    return task is not None and deadline[3].task is task
