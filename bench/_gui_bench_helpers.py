"""Pieces of bench/gui_bench.py that carry no Qt at import time.

The start-up launcher (``launch_app``) lives here so that the process it runs
in imports nothing before the clock starts but this module and the standard
library; the synthetic task source, the statistics and the Xvfb helper are
shared by the measurements.
"""

from __future__ import annotations

import itertools
import math
import os
import shutil
import subprocess
import time
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "STARTUP_MARK",
    "Pauses",
    "SyntheticTasks",
    "Timings",
    "Xvfb",
    "launch_app",
    "percentile",
    "process_item",
    "summarise",
    "verdict",
]

#: The line prefix the start-up launcher prints its measurements after.
STARTUP_MARK = "GUI_BENCH_STARTUP "


# ---------------------------------------------------------------- statistics


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by linear interpolation; nan when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    k = (len(ordered) - 1) * q / 100.0
    low = math.floor(k)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def summarise(values: Sequence[float]) -> dict[str, float]:
    """count, mean, p50, p99, max and total of ``values``."""
    if not values:
        return {"n": 0, "mean": math.nan, "p50": math.nan, "p99": math.nan, "max": math.nan, "total": 0.0}
    return {
        "n": len(values),
        "mean": sum(values) / len(values),
        "p50": percentile(values, 50),
        "p99": percentile(values, 99),
        "max": max(values),
        "total": sum(values),
    }


def verdict(value: float, target: float, unit: str, scale: float = 1.0) -> tuple[bool, str]:
    """PASS when ``value < target``; a FAIL says by how much (in ``unit``,
    values multiplied by ``scale`` for display)."""
    if math.isnan(value):
        return False, "FAIL (no data)"
    if value < target:
        return True, "PASS"
    over = (value - target) * scale
    ratio = value / target if target else math.inf
    return False, f"FAIL by {over:,.1f} {unit} ({ratio:.2f}x the target)"


# ------------------------------------------------------------------- timings


class Timings:
    """Wall and CPU times of wrapped callables, as (start, wall s, CPU s) per call.

    ``wrap`` replaces a bound method with a timing wrapper on the instance
    only (a monkeypatch inside the benchmark process, never in the app's
    code); callers that look the method up at call time go through it. CPU
    is the calling thread's (``time.thread_time``): wall minus CPU is time
    spent waiting, mostly for the GIL while another thread runs Python.
    """

    def __init__(self) -> None:
        self.calls: dict[str, list[tuple[float, float, float]]] = {}
        #: per name, the thread's CPU clock at the start of each call
        self.cpu_starts: dict[str, list[float]] = {}

    def wrap(self, obj: object, attr: str, name: str) -> None:
        original = getattr(obj, attr)
        setattr(obj, attr, self.timed(original, name))

    def timed(self, fn: Callable[..., Any], name: str) -> Callable[..., Any]:
        record = self.calls.setdefault(name, []).append
        record_cpu = self.cpu_starts.setdefault(name, []).append
        clock, cpu_clock = time.perf_counter, time.thread_time

        def timed(*args: Any, **kwargs: Any) -> Any:
            start, cpu = clock(), cpu_clock()
            record_cpu(cpu)
            try:
                return fn(*args, **kwargs)
            finally:
                record((start, clock() - start, cpu_clock() - cpu))

        return timed

    def add(self, name: str, start: float, wall: float, cpu: float) -> None:
        self.calls.setdefault(name, []).append((start, wall, cpu))

    def between(self, name: str, start: float, end: float) -> list[tuple[float, float, float]]:
        """The calls of ``name`` that began in [start, end)."""
        return [c for c in self.calls.get(name, ()) if start <= c[0] < end]


class Pauses:
    """Intervals (start, seconds) such as GC pauses; how much of any other
    interval they cover."""

    def __init__(self, intervals: Iterable[tuple[float, float]]) -> None:
        self.intervals = sorted(intervals)
        self.starts = [s for s, _ in self.intervals]
        self.longest = max((d for _, d in self.intervals), default=0.0)

    def overlap(self, start: float, seconds: float) -> float:
        end = start + seconds
        i = bisect_left(self.starts, start - self.longest)
        covered = 0.0
        for s, d in self.intervals[i:]:
            if s >= end:
                break
            covered += max(0.0, min(end, s + d) - max(start, s))
        return covered


# ---------------------------------------------------------- synthetic tasks


def process_item(i: int) -> int:
    """The callable the synthetic tasks name (never run)."""
    return i


_TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "/work/main/core/thread_pool.py", line 97, in _run\n'
    "    value = task.fn(*task.args)\n"
    '  File "/home/user/jobs/ingest.py", line 41, in process_item\n'
    "    record = parse(read_block(path))\n"
    '  File "/home/user/jobs/ingest.py", line 18, in parse\n'
    "    raise {kind}({message!r})\n"
    "{kind}: {message}\n"
)


class SyntheticTasks:
    """Task lives emitted on a real pool's EventBus, as its workers would.

    Each ``steps(n)`` submits ``n`` new tasks (TASK_SUBMITTED with a real
    ``core.task.Task`` record); a task starts ``queue_depth`` steps after its
    submission on one of ``worker_ids`` (round robin, TASK_STARTED) and ends
    when that worker starts its next one (TASK_DONE with a small result, or
    TASK_FAILED with a ``TaskError`` for one task in ``fail_every``). So once
    warm, every step is three events, ``queue_depth`` tasks wait and one task
    per worker runs, as in a busy pool with short tasks.
    """

    def __init__(
        self,
        pool: Any,
        worker_ids: Sequence[int],
        *,
        fail_every: int = 33,
        queue_depth: int = 8,
    ) -> None:
        from core import EventKind, Task, TaskError, TaskState, TaskTimeout

        self.pool = pool
        self.workers = list(worker_ids)
        self.fail_every = fail_every
        self.queue_depth = queue_depth
        self.submitted = 0
        self.failed = 0
        self.events = 0
        self._Task = Task
        self._TaskError = TaskError
        self._TaskTimeout = TaskTimeout
        self._kinds = (
            EventKind.TASK_SUBMITTED,
            EventKind.TASK_STARTED,
            EventKind.TASK_DONE,
            EventKind.TASK_FAILED,
        )
        self._states = (TaskState.RUNNING, TaskState.DONE, TaskState.FAILED)
        self._queue: deque[Any] = deque()
        self._running: dict[int, Any] = dict.fromkeys(self.workers)
        self._error_kinds = itertools.cycle(range(4))

    def error(self, i: int) -> Any:
        """A realistic, varied failure record for task number ``i``."""
        which = next(self._error_kinds)
        if which == 3:
            return self._TaskTimeout(2.0)
        kind, message = (
            ("ValueError", f"could not parse record {i}: unexpected byte 0x{i % 256:02x}"),
            ("FileNotFoundError", f"[Errno 2] No such file or directory: '/data/in/item-{i:07d}.dat'"),
            ("ZeroDivisionError", "division by zero"),
        )[which]
        return self._TaskError(kind, message, _TRACEBACK.format(kind=kind, message=message))

    def steps(self, count: int) -> int:
        """Emit ``count`` steps; returns the events emitted. The hot loop of
        the storm: local names, no calls it can do without."""
        emit = self.pool.events.emit
        new_task, pool = self._Task, self.pool
        submitted_kind, started_kind, done_kind, failed_kind = self._kinds
        running_state, done_state, failed_state = self._states
        queue, running, workers = self._queue, self._running, self.workers
        depth, fail_every, n_workers = self.queue_depth, self.fail_every, len(self.workers)
        clock = time.time
        n = self.submitted
        events = 0
        failed = 0
        for _ in range(count):
            n += 1
            now = clock()
            task = new_task(pool, process_item, (n,), None, f"item-{n:07d}.dat", None, 0, None, now)
            emit(submitted_kind, task.id, None, task)
            queue.append(task)
            events += 1
            if len(queue) <= depth:
                continue
            nxt = queue.popleft()
            worker = workers[n % n_workers]
            ending = running[worker]
            if ending is not None:
                i = ending.args[0]
                ending.finished_at = now
                if i % fail_every:
                    ending.state = done_state
                    ending.result = i
                    emit(done_kind, ending.id, worker, i)
                else:
                    error = self.error(i)
                    ending.state = failed_state
                    ending.error = error
                    emit(failed_kind, ending.id, worker, error)
                    failed += 1
                events += 1
            nxt.state = running_state
            nxt.worker_id = worker
            nxt.started_at = now
            emit(started_kind, nxt.id, worker, None)
            running[worker] = nxt
            events += 1
        self.submitted = n
        self.failed += failed
        self.events += events
        return events


# ---------------------------------------------------------------------- Xvfb


class Xvfb:
    """A private X server for the run (started and stopped by us, by pid)."""

    def __init__(self, size: str = "1600x1000x24") -> None:
        self.size = size
        self.process: subprocess.Popen[bytes] | None = None
        self.display = ""

    def start(self) -> str:
        if shutil.which("Xvfb") is None:
            raise RuntimeError("Xvfb is not installed")
        for number in range(77, 140):
            if Path(f"/tmp/.X11-unix/X{number}").exists() or Path(f"/tmp/.X{number}-lock").exists():
                continue
            process = subprocess.Popen(
                ["Xvfb", f":{number}", "-screen", "0", self.size, "-nolisten", "tcp"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and process.poll() is None:
                if Path(f"/tmp/.X11-unix/X{number}").exists():
                    self.process, self.display = process, f":{number}"
                    return self.display
                time.sleep(0.05)
            if process.poll() is None:
                process.terminate()
                process.wait(5)
        raise RuntimeError("could not start Xvfb on any display from :77 to :139")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None


# ------------------------------------------------------------------ start-up


def launch_app(t0: float, timeout: float = 30.0) -> None:
    """Run ``python -m gui.app`` in this process, report when its window was
    shown, exposed and first painted, then close it.

    Adds nothing to the app: the QApplication is created here first (the
    app's ``main`` takes the existing instance), an application-wide event
    filter notes the MainWindow's Show, its window's Expose and its first
    Paint, and a class-level wrapper around ``PoolView.build_panels`` (in this
    process only) notes when the panels were built, splitting the modules it
    imports first from the widgets it makes. Times are ``time.perf_counter()``
    values, the system's monotonic clock, so the parent can subtract its own
    spawn time.
    """
    import importlib
    import json
    import runpy
    import sys

    from PySide6.QtCore import QEvent, QObject, QTimer
    from PySide6.QtGui import QWindow
    from PySide6.QtWidgets import QApplication, QWidget

    clock = time.perf_counter
    marks: dict[str, Any] = {"t0": t0, "build": []}
    app = QApplication(sys.argv[:1])
    marks["qapplication"] = clock()

    import gui.pool_view

    original_build = gui.pool_view.PoolView.build_panels
    panel_modules = ("gui.charts", "gui.inspector", "gui.task_stream", "gui.tasks_panel", "gui.workers_panel")

    def build_panels(self: Any) -> None:
        if self.panels_built:
            return
        start = clock()
        for name in panel_modules:  # what build_panels imports first, in its order
            importlib.import_module(name)
        imported = clock()
        original_build(self)
        marks["build"].append([self.name, start, imported, clock()])

    gui.pool_view.PoolView.build_panels = build_panels  # type: ignore[method-assign]
    paint, show, expose = QEvent.Type.Paint, QEvent.Type.Show, QEvent.Type.Expose
    state: dict[str, Any] = {"window": None, "handle": None, "done": False}

    def finish(reason: str) -> None:
        if state["done"]:
            return
        state["done"] = True
        marks["reason"] = reason
        app.removeEventFilter(watch)
        print(STARTUP_MARK + json.dumps(marks), flush=True)
        window = state["window"]
        if window is not None:
            window.ask_on_close = lambda: "cancel"
            window.close()
        app.quit()

    def painted() -> None:
        marks["painted"] = clock()

    def panels_painted() -> None:
        marks["panels_painted"] = clock()
        finish("painted")

    class Watch(QObject):
        def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
            kind = event.type()
            if kind == expose:
                if isinstance(obj, QWindow) and obj is state["handle"] and "expose" not in marks:
                    marks["expose"] = clock()
                return False
            if kind == show:
                if type(obj).__name__ == "MainWindow" and "show" not in marks:
                    marks["show"] = clock()
                    state["window"] = obj
                    state["handle"] = obj.windowHandle()
                return False
            if kind != paint or not isinstance(obj, QWidget):
                return False
            window = obj.window()
            if type(window).__name__ != "MainWindow":
                return False
            now = clock()
            if "first_paint" not in marks:
                state["window"] = window
                marks["first_paint"] = now
                marks["panels_at_first_paint"] = [v.panels_built for v in window.views]
                QTimer.singleShot(0, painted)
            if "panels_paint" not in marks and window.current_view.panels_built:
                marks["panels_paint"] = now
                QTimer.singleShot(0, panels_painted)
            return False

    watch = Watch()
    app.installEventFilter(watch)
    QTimer.singleShot(int(timeout * 1000), lambda: finish("timeout"))
    sys.argv = [sys.argv[0]]
    runpy.run_module("gui.app", run_name="__main__", alter_sys=True)


def environment_report() -> list[str]:
    """Lines that say where the numbers come from."""
    import platform

    lines = [
        f"Python {platform.python_version()} on {platform.system()} {platform.release()}, "
        f"{os.cpu_count()} CPUs",
    ]
    try:
        import pyqtgraph
        import PySide6

        lines.append(f"PySide6 {PySide6.__version__}, pyqtgraph {pyqtgraph.__version__}")
    except ImportError:  # pragma: no cover - reported, not fatal
        pass
    return lines


def rate_windows(
    points: Iterable[tuple[float, int]], start: float, end: float
) -> list[tuple[float, float, int]]:
    """Whole seconds of [start, end) (a remainder joins the last one), each
    as (from, to, sum of the counts of ``points`` (time, count) in it)."""
    n = max(1, round(end - start))
    edges = [start + i for i in range(n)] + [end]
    sums = [0] * n
    for t, count in points:
        if start <= t < end:
            sums[min(n - 1, int(t - start))] += count
    return [(edges[i], edges[i + 1], sums[i]) for i in range(n)]
