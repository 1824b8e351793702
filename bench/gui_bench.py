"""GUI benchmarks of PoolScope: an event storm, memory under a million tasks, start-up.

    .venv/bin/python bench/gui_bench.py                  # all three, offscreen
    .venv/bin/python bench/gui_bench.py --only storm     # one of them (repeatable)
    .venv/bin/python bench/gui_bench.py --quick          # a short smoke run
    .venv/bin/python bench/gui_bench.py --platform xvfb  # on a private Xvfb server

1. **Event storm.** A real MainWindow (shown, at least 1280x800, panels
   built) is fed 200,000 task events a second for 10 s through the pool's
   real event path: a background thread emits on the thread pool's EventBus,
   as workers would (per task TASK_SUBMITTED with a real Task record,
   TASK_STARTED, then TASK_DONE, or TASK_FAILED with a TaskError for ~3%).
   A 10 ms timer on the GUI thread records its lateness. Targets: p99 < 20 ms,
   max < 100 ms. Also reports the events consumed per second, the backlog and
   drops at the end, the catch-up time, and where the GUI thread's time went
   (the hand-overs of folded changes, each panel's ``apply_changes`` turn,
   the paint per panel, GC pauses), with the GUI thread's CPU per event and
   the longest call of each kind -- figures that depend less than the
   lateness on what else the machine runs. After the storm it checks the
   panels against the truth: the table's queued and running rows, and the
   inspector's failures filed plus those it says it was not shown (the
   pool's ``stats()`` counts the synthetic failures, as its workers would).
2. **Memory.** 1,000,000 tasks through one PoolView's panels, in 20,000-event
   batches drained as the real tick would, with Qt events processed between
   batches; resident memory every 100,000 tasks. Targets: growth < 300 MB,
   flat (spread < 5 MB) from the first sample at which every bounded window
   (the tasks table's finished rows, the stream's bars, the inspector's
   failures) is full, found from the samples and printed.
3. **Start-up.** ``python -m gui.app`` in a fresh process with fresh settings,
   to the main window shown and painted; median of 5. Target < 1 s from spawn.

Each measurement runs in its own process (the storm's memory does not count
against the memory run, and a crash in one does not hide the others). Every
process gets a private XDG_CONFIG_HOME (QSettings) in a temporary folder, so
the user's settings are never read or written. Nothing in gui/ or core/ is
changed: the timings wrap methods on instances inside the benchmark process.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from bisect import bisect_right
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
for _path in (str(BENCH), str(ROOT)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from _gui_bench_helpers import (  # noqa: E402 - after the path set-up
    STARTUP_MARK,
    Pauses,
    SyntheticTasks,
    Timings,
    Xvfb,
    environment_report,
    percentile,
    rate_windows,
    summarise,
    verdict,
)

# Targets
LATENESS_P99_MS = 20.0
LATENESS_MAX_MS = 100.0
MEMORY_GROWTH_MB = 300.0
MEMORY_FLAT_MB = 5.0
STARTUP_S = 1.0

PROBE_MS = 10
MB = 1024 * 1024
ISOLATION_VAR = "POOLSCOPE_GUI_BENCH_TMP"
MEASUREMENTS = ("storm", "memory", "startup")


# ================================================================ shared Qt bits


def _check_isolated() -> None:
    """Refuse to open a window (and QSettings) outside the private folder."""
    tmp = os.environ.get(ISOLATION_VAR)
    config = os.environ.get("XDG_CONFIG_HOME", "")
    if not tmp or not config.startswith(tmp):
        raise SystemExit("gui_bench: run the benchmark without --child; it isolates the settings first")


def _quiet_qt_messages(mode: Any, context: Any, message: str) -> None:
    """Qt's messages, less the offscreen plugin's note on every window shown."""
    if "does not support propagateSizeHints" not in message:
        print(message, file=sys.stderr, flush=True)


def _make_app() -> Any:
    from PySide6.QtCore import qInstallMessageHandler
    from PySide6.QtWidgets import QApplication

    _check_isolated()
    qInstallMessageHandler(_quiet_qt_messages)
    app = QApplication.instance() or QApplication([sys.argv[0]])
    # As gui.app names it, so QSettings() finds the same (private) file.
    app.setOrganizationName("PoolScope")
    app.setApplicationName("PoolScope")
    return app


def _wait_for(predicate: Any, timeout: float, step_ms: int = 10) -> bool:
    """Run the event loop until ``predicate()`` or ``timeout`` seconds."""
    from PySide6.QtCore import QEventLoop, QTimer

    if predicate():
        return True
    loop = QEventLoop()
    deadline = time.monotonic() + timeout

    def check() -> None:
        if predicate() or time.monotonic() > deadline:
            loop.quit()

    timer = QTimer()
    timer.setInterval(step_ms)
    timer.timeout.connect(check)
    timer.start()
    loop.exec()
    timer.stop()
    return bool(predicate())


def _settle(seconds: float) -> None:
    end = time.monotonic() + seconds
    _wait_for(lambda: time.monotonic() >= end, seconds + 1)


def _exposed(widget: Any) -> bool:
    handle = widget.windowHandle()
    return handle is not None and handle.isExposed()


def _panels(view: Any) -> dict[str, Any]:
    return {
        "tasks": view.tasks,
        "stream": view.stream,
        "charts": view.charts,
        "workers": view.workers_panel,
        "inspector": view.inspector,
    }


def _ms(seconds: float) -> str:
    return f"{'-':>8}" if math.isnan(seconds) else f"{seconds * 1000:8.2f}"


def _row(name: str, value: str, target: str, ok: bool | None, text: str) -> dict[str, Any]:
    return {"name": name, "value": value, "target": target, "ok": ok, "verdict": text}


def _out(line: str = "") -> None:
    print(line, flush=True)


# ===================================================================== 1. storm

Call = tuple[float, float, float]  # start, wall seconds, CPU seconds of the GUI thread


def _paint_profiler(window: Any, owners_of: dict[Any, str]) -> Any:
    """An event filter that times each repaint of the window and splits it
    by panel. A repaint is one UpdateRequest: the filter runs it itself
    (``obj.event``) between two clock reads and stops it there. Inside it,
    each widget gets its Paint event in turn; the time until the next
    widget's Paint is that widget's (the last segment also holds the flush
    of the backing store)."""
    from PySide6.QtCore import QEvent, QObject

    paint, update_request = QEvent.Type.Paint, QEvent.Type.UpdateRequest
    clock, cpu_clock = time.perf_counter, time.thread_time

    class PaintProfiler(QObject):
        def __init__(self) -> None:
            super().__init__()
            #: (start, wall, cpu, {part: [wall, cpu]})
            self.repaints: list[tuple[float, float, float, dict[str, list[float]]]] = []
            self._marks: list[tuple[float, float, str]] | None = None

        def owner(self, obj: Any) -> str:
            name = owners_of.get(obj)
            if name is None:
                parent, name = obj.parentWidget(), "window chrome"
                while parent is not None:
                    if parent in owners_of:
                        name = owners_of[parent]
                        break
                    parent = parent.parentWidget()
                owners_of[obj] = name
            return name

        def eventFilter(self, obj: Any, event: Any) -> bool:  # noqa: N802 - Qt override
            kind = event.type()
            if kind == paint:
                if self._marks is not None:
                    self._marks.append((clock(), cpu_clock(), self.owner(obj)))
                return False
            if kind != update_request or self._marks is not None:
                return False
            self._marks = marks = []
            start, cpu = clock(), cpu_clock()
            try:
                obj.event(event)
            finally:
                self._marks = None
            end, cpu_end = clock(), cpu_clock()
            split: dict[str, list[float]] = {}
            if marks:
                points = [(start, cpu, "repaint set-up"), *marks, (end, cpu_end, "")]
                names = ["repaint set-up", *(m[2] for m in marks[:-1]), "flush (+ last widget)"]
                for name, (t, c, _), (t_next, c_next, _) in zip(names, points, points[1:], strict=False):
                    part = split.setdefault(name, [0.0, 0.0])
                    part[0] += t_next - t
                    part[1] += c_next - c
            self.repaints.append((start, end - start, cpu_end - cpu, split))
            return True

    profiler = PaintProfiler()
    for widget in [window, *owners_of]:
        widget.installEventFilter(profiler)
    handle = window.windowHandle()
    if handle is not None:
        handle.installEventFilter(profiler)
    return profiler


def _instrument_tick(view: Any, ticks: list[tuple[float, float, float, int, int]]) -> Any:
    """Time every hand-over of a view's PoolSignals (a tick's drain, fold and
    emit, or a catch-up turn's): wrap ``_hand_over`` on the instance, which
    both callers look up at call time, to record (start, wall, CPU, backlog,
    events)."""
    signals = view.signals
    buffer = signals._buffer
    hand_over = signals._hand_over
    clock, cpu_clock = time.perf_counter, time.thread_time

    def timed() -> Any:
        backlog = len(buffer)
        start, cpu = clock(), cpu_clock()
        changes = hand_over()
        ticks.append((start, clock() - start, cpu_clock() - cpu, backlog, changes.count))
        return changes

    signals._hand_over = timed
    return timed


class _TimeTable:
    """The 'where the GUI thread's time went' table.

    Columns: wall time per call (mean, p99, max); ``own ms``, the GUI
    thread's CPU time less the GC pauses that ran on it (the code's own
    cost, without GIL waits or collections); ``max-GC``, the longest call
    less every GC pause inside it (on any thread: a collection stops all).
    """

    def __init__(self, wall: float, gc_any: Pauses, gc_gui: Pauses, events: int) -> None:
        self.wall, self.gc_any, self.gc_gui, self.events = wall, gc_any, gc_gui, events

    def header(self) -> str:
        return (
            f"{'':<40}{'calls':>6} {'mean ms':>8} {'own ms':>8} {'p99 ms':>8} {'max ms':>8} "
            f"{'max-GC':>8} {'total s':>7} {'of wall':>7} {'own us/ev':>9}"
        )

    def line(self, label: str, calls: list[Call], per_event: bool = False, is_gc: bool = False) -> str:
        walls = [w for _, w, _ in calls]
        s = summarise(walls)
        own = [c - self.gc_gui.overlap(t, w) for t, w, c in calls if not math.isnan(c)]
        own_mean = math.nan if is_gc or not own else statistics.fmean(own)
        no_gc = (
            math.nan if is_gc else max((w - self.gc_any.overlap(t, w) for t, w, _ in calls), default=math.nan)
        )
        us = f"{sum(own) / self.events * 1e6:9.2f}" if per_event and own and self.events else ""
        return (
            f"{label:<40}{s['n']:6,} {_ms(s['mean'])} {_ms(own_mean)} {_ms(s['p99'])} {_ms(s['max'])} "
            f"{_ms(no_gc)} {s['total']:7.2f} {s['total'] / self.wall:7.1%} {us}"
        )

    def total(self, label: str, seconds: float, note: str = "") -> str:
        blank = " " * 47
        return f"{label:<40}{blank}{seconds:7.2f} {seconds / self.wall:7.1%} {note}"


def run_storm(args: argparse.Namespace) -> dict[str, Any]:
    import gc
    import threading

    from PySide6.QtCore import Qt, QTimer
    from PySide6.QtWidgets import QWidget

    app = _make_app()
    from gui.main_window import CANCEL, MainWindow

    rate, seconds = args.rate, args.seconds
    _out(f"== 1. Event storm: {rate:,} events/s for {seconds:g} s into a real MainWindow ==")
    window = MainWindow()
    window.ask_on_close = lambda: CANCEL
    window.tabs.setCurrentIndex(0)
    if window.width() < 1280 or window.height() < 800:
        window.resize(max(1280, window.width()), max(800, window.height()))
    window.show()
    view = window.views[0]
    if not _wait_for(lambda: all(v.panels_built for v in window.views) and _exposed(window), 60):
        raise RuntimeError("the window did not show its panels within 60 s")
    _settle(1.0)
    panels = _panels(view)
    _out(
        f"window {window.width()}x{window.height()} on '{app.platformName()}', "
        f"tab '{view.name}', pool {view.pool!r}"
    )
    _out("panels: " + ", ".join(f"{name} {w.width()}x{w.height()}" for name, w in panels.items()))
    hidden = [name for name, w in panels.items() if not w.isVisible() or w.width() < 50 or w.height() < 50]
    if hidden:
        raise RuntimeError(f"panels not visible: {hidden}")

    # ------------------------------------------------------------ instruments
    clock, cpu_clock = time.perf_counter, time.thread_time
    timings = Timings()
    for name in ("tasks", "stream", "workers", "inspector"):
        timings.wrap(panels[name], "apply_changes", f"{name}.apply_changes")
    timings.wrap(view, "_resync", "PoolView._resync")
    timings.wrap(view.charts, "apply_stats", "charts.apply_stats")
    timings.wrap(view.charts, "refresh", "charts.refresh")
    workers_panel = view.workers_panel
    timings.wrap(workers_panel, "refresh", "workers.refresh")
    # Its coalescing timer holds the bound method: point it at the wrapper.
    workers_panel._refresh_timer.timeout.disconnect()
    workers_panel._refresh_timer.timeout.connect(workers_panel.refresh)
    buffer = view.signals._buffer
    timings.wrap(buffer, "drain", "buffer.drain")
    # The pool's counters, as its workers would have kept them: the
    # synthetic tasks bypass the workers, so their failures are added here.
    # The inspector compares its count with the pool's to say how many
    # failures it was never shown.
    synthetic: dict[str, Any] = {}
    pool_stats = view.pool.stats

    def stats_with_synthetic() -> Any:
        stats = pool_stats()
        source = synthetic.get("source")
        if source is None:
            return stats
        return dataclasses.replace(stats, failed=stats.failed + source.failed)

    view.pool.stats = stats_with_synthetic
    timings.wrap(view.pool, "stats", "pool.stats()")
    timings.wrap(window, "_show_stats", "status bar")
    timings.wrap(window, "_update_progress", "progress bar")
    ticks: list[tuple[float, float, float, int, int]] = []
    idle_ticks: list[tuple[float, float, float, int, int]] = []
    keep = [_instrument_tick(view, ticks), _instrument_tick(window.views[1], idle_ticks)]

    profiler = None
    if not args.no_paint_profile:
        owners: dict[Any, str] = {}
        for name, root in panels.items():
            owners[root] = name
            for child in root.findChildren(QWidget):
                owners[child] = name
        for widget in window.findChildren(QWidget):
            owners.setdefault(widget, "window chrome")
        profiler = _paint_profiler(window, owners)

    stamps: list[float] = []
    probe = QTimer()
    probe.setTimerType(Qt.TimerType.PreciseTimer)
    probe.setInterval(PROBE_MS)
    probe.timeout.connect(lambda: stamps.append(clock()))

    # (start, wall, generation, thread, CPU of the collecting thread): wall
    # may hold more than the collection -- the other thread's turn when the
    # callback let go of the GIL, or the OS running another process.
    gc_pauses: list[tuple[float, float, int, str, float]] = []
    gc_start: list[float] = [0.0, 0.0]

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            gc_start[:] = clock(), cpu_clock()
        else:
            name = threading.current_thread().name
            cpu = cpu_clock() - gc_start[1]
            gc_pauses.append((gc_start[0], clock() - gc_start[0], info["generation"], name, cpu))

    # ----------------------------------------------------------------- storm
    pool = view.pool
    source = SyntheticTasks(pool, sorted(w.id for w in pool.workers))
    synthetic["source"] = source
    emitted_points: list[tuple[float, int]] = []
    emitter: dict[str, Any] = {}
    steps_per_burst = max(1, args.burst // 3)

    def emit_storm() -> None:
        """Paced: each burst waits until the rate allows it; a late emitter
        catches up with back-to-back bursts."""
        cpu = time.thread_time()
        start = clock()
        deadline = start + seconds
        emitted = bursts = 0
        try:
            while True:
                now = clock()
                if now >= deadline:
                    break
                wait = start + emitted / rate - now
                if wait > 0:
                    time.sleep(wait)
                    continue
                n = source.steps(steps_per_burst)
                emitted += n
                bursts += 1
                emitted_points.append((clock(), n))
        except BaseException as exc:
            emitter["error"] = exc
        emitter.update(
            start=start,
            end=clock(),
            emitted=emitted,
            bursts=bursts,
            backlog=len(buffer),
            cpu=time.thread_time() - cpu,
        )

    gc.callbacks.append(on_gc)
    probe.start()
    _settle(1.0)  # the idle baseline
    gui_cpu0 = time.thread_time()
    thread = threading.Thread(target=emit_storm, name="storm-emitter", daemon=True)
    thread.start()
    _wait_for(lambda: not thread.is_alive(), seconds + 60)
    gui_cpu = time.thread_time() - gui_cpu0
    if "error" in emitter or "end" not in emitter:
        raise RuntimeError(f"the emitter thread failed: {emitter.get('error')!r}")
    storm_start, storm_end = emitter["start"], emitter["end"]

    def caught_up() -> float | None:
        for start, wall, _, backlog, n in ticks:
            if start >= storm_end and backlog <= n:
                return start + wall
        return None

    _wait_for(lambda: caught_up() is not None, 300, step_ms=20)
    _settle(0.5)
    probe.stop()
    gc.callbacks.remove(on_gc)
    done_at = caught_up()
    dropped = view.signals.dropped
    left_over = len(buffer)
    # The panels against the truth, once the view has caught up (and resynced
    # from the records if events were lost): the source leaves its last
    # tasks queued and running.
    _wait_for(lambda: not view._steps and not view._resync_timer.isActive(), 30)
    model = view.tasks.model
    settled = {
        "unfinished": model.unfinished_count,
        "failures": view.inspector.failure_count,
        "unseen": view.inspector.unseen_failure_count,
        "truth_failed": source.failed,
    }
    settled["truth_unfinished"] = len(source._queue) + sum(t is not None for t in source._running.values())
    _out(
        f"after the storm: the tasks table holds {settled['unfinished']:,} queued or running rows "
        f"(the source left {settled['truth_unfinished']:,}); the inspector filed {settled['failures']:,} "
        f"failures and says {settled['unseen']:,} were not shown (the source failed {source.failed:,})"
    )

    # ---------------------------------------------------------------- figures
    duration = storm_end - storm_start
    emitted = emitter["emitted"]
    achieved = emitted / duration
    intervals = [(b, (b - a) * 1000 - PROBE_MS) for a, b in itertools.pairwise(stamps)]

    def lateness(start: float, end: float) -> list[float]:
        return [late for t, late in intervals if start <= t < end]

    def in_storm(calls: list[Call]) -> list[Call]:
        return [c for c in calls if storm_start <= c[0] < storm_end]

    idle = lateness(storm_start - 1.0, storm_start)
    during = lateness(storm_start, storm_end)
    after = lateness(storm_end, done_at if done_at is not None else storm_end)
    storm_ticks = [t for t in ticks if storm_start <= t[0] < storm_end]
    consumed = sum(t[4] for t in storm_ticks)
    consumed_all = sum(t[4] for t in ticks if t[0] >= storm_start)
    catch_up = (done_at - storm_end) if done_at is not None else math.nan
    backlog_peak = max((t[3] for t in storm_ticks), default=0)
    per_tick = [t[4] for t in storm_ticks]
    p50, p99, worst = percentile(during, 50), percentile(during, 99), max(during, default=math.nan)

    _out(
        f"emitter: {emitted:,} events ({source.submitted:,} tasks, {source.failed:,} failed) in "
        f"{duration:.2f} s = {achieved:,.0f} events/s ({achieved / rate:.1%} of the {rate:,} asked), "
        f"{emitter['bursts']:,} bursts of {steps_per_burst * 3}"
    )
    _out(
        f"  emitter thread CPU {emitter['cpu']:.2f} s = {emitter['cpu'] / emitted * 1e6:.2f} us per event "
        f"(Task record, label, Event tuple, buffer append, GC it triggers)"
    )
    if achieved < 0.95 * rate:
        _out("  NOTE: the emitter fell short of the rate asked: it shares the GIL with the GUI thread")
    mean_tick = statistics.fmean(per_tick) if per_tick else 0
    _out(
        f"GUI consumed {consumed:,} events during the storm = {consumed / duration:,.0f} events/s "
        f"(mean {mean_tick:,.0f} per tick, max {max(per_tick, default=0):,}, {len(per_tick)} ticks); "
        f"peak backlog {backlog_peak:,}"
    )
    catch_rate = emitter["backlog"] / catch_up if catch_up and catch_up > 0 else math.nan
    _out(
        f"at the storm's end {emitter['backlog']:,} events were still buffered; caught up "
        f"{catch_up:.2f} s later ({catch_rate:,.0f} events/s with the emitter stopped); "
        f"dropped {dropped:,}; left {left_over:,}; consumed in all {consumed_all:,} of {emitted:,}"
    )
    _out(
        f"10 ms probe lateness: p50 {p50:.2f} ms, p99 {p99:.2f} ms, max {worst:.2f} ms "
        f"over {len(during):,} probe ticks (idle before the storm: p99 {percentile(idle, 99):.2f}, "
        f"max {max(idle, default=math.nan):.2f}; while catching up: max {max(after, default=0.0):.2f})"
    )

    tick_starts = [t[0] for t in ticks]
    tick_ends = [t[0] + t[1] for t in ticks]

    def in_tick(start: float) -> bool:
        i = bisect_right(tick_starts, start) - 1
        return i >= 0 and start < tick_ends[i]

    # Per second of the storm.
    consumed_by_second = rate_windows([(t[0], t[4]) for t in ticks], storm_start, storm_end)
    # Timed work of the GUI thread (ticks, repaints, timers' redraws not
    # inside a tick), clipped to each second.
    busy_calls = [(t[0], t[1]) for t in ticks]
    for name in ("charts.refresh", "workers.refresh"):
        busy_calls += [(c[0], c[1]) for c in timings.calls.get(name, ()) if not in_tick(c[0])]
    if profiler is not None:
        busy_calls += [(r[0], r[1]) for r in profiler.repaints]
    _out("")
    _out(" second  emitted/s  consumed/s   backlog  late p99 ms  late max ms  GUI busy (timed)")
    for i, ((lo, hi, e), (_, _, c)) in enumerate(
        zip(rate_windows(emitted_points, storm_start, storm_end), consumed_by_second, strict=True)
    ):
        late = lateness(lo, hi)
        backlog = next((t[3] for t in ticks if t[0] >= hi), 0)
        busy = sum(max(0.0, min(hi, t + d) - max(lo, t)) for t, d in busy_calls) / (hi - lo)
        _out(
            f" {i + 1:6d} {e / (hi - lo):10,.0f} {c / (hi - lo):11,.0f} {backlog:9,} "
            f"{percentile(late, 99):12.2f} {max(late, default=math.nan):12.2f} {busy:12.0%}"
        )

    # Where the GUI thread's time went.
    def calls(name: str, inside: bool | None = None) -> list[Call]:
        found = in_storm(timings.calls.get(name, []))
        return found if inside is None else [c for c in found if in_tick(c[0]) == inside]

    drains = calls("buffer.drain", True)
    gui_thread = threading.current_thread().name
    table = _TimeTable(
        duration,
        Pauses((t, d) for t, d, _, _, _ in gc_pauses),
        Pauses((t, d) for t, d, _, name, _ in gc_pauses if name == gui_thread),
        consumed,
    )
    tick_calls: list[Call] = [(t[0], t[1], t[2]) for t in storm_ticks]
    nested: dict[str, list[Call]] = {"buffer.drain (deque to list)": drains}
    nested_wall = sum(c[1] for v in nested.values() for c in v)
    # Each in an event-loop turn of its own (PoolView's steps), or on the tick
    # after the hand-over (the stats).
    turns: dict[str, list[Call]] = {
        "tasks.apply_changes": calls("tasks.apply_changes"),
        "stream.apply_changes": calls("stream.apply_changes"),
        "inspector.apply_changes": calls("inspector.apply_changes"),
        "workers.apply_changes": calls("workers.apply_changes"),
        "PoolView._resync (after lost events)": calls("PoolView._resync"),
        "charts.apply_stats": calls("charts.apply_stats"),
        "pool.stats()": calls("pool.stats()"),
        "status bar and progress bar": calls("status bar") + calls("progress bar"),
    }
    _out("")
    _out(f"Where the GUI thread's time went during the storm ({duration:.1f} s wall; CPU = GUI thread's;")
    _out(" max-GC = the longest call less the GC pauses inside it; us/event = total / events consumed):")
    _out(table.header())
    _out(table.line(f"hand-over of the {view.name} view (drain, fold)", tick_calls, per_event=True))
    for name, found in nested.items():
        if found:
            _out(table.line(f"  {name}", found, per_event=True))
    _out(table.total("  rest of the hand-over (fold, emit)", sum(c[1] for c in tick_calls) - nested_wall))
    timed_cpu = sum(c[2] for c in tick_calls)
    for name, found in turns.items():
        if found:
            _out(table.line(name, found, per_event=True))
            timed_cpu += sum(c[2] for c in found)
    if profiler is not None:
        repaints = [r for r in profiler.repaints if storm_start <= r[0] < storm_end]
        _out(table.line("repaint of the window (all widgets)", [(r[0], r[1], r[2]) for r in repaints]))
        timed_cpu += sum(r[2] for r in repaints)
        parts: dict[str, list[Call]] = {}
        for start, _, _, split in repaints:
            for name, (wall, cpu) in split.items():
                parts.setdefault(name, []).append((start, wall, cpu))
        for name in sorted(parts, key=lambda k: -sum(c[1] for c in parts[k])):
            _out(table.line(f"  paint: {name}", parts[name]))
    outside = {
        "charts.refresh (redraw timer)": calls("charts.refresh"),
        "workers.refresh (tick and coalescing timer)": calls("workers.refresh"),
        "hand-over of the idle Processes view": in_storm([(t[0], t[1], t[2]) for t in idle_ticks]),
    }
    for name, found in outside.items():
        _out(table.line(name, found))
        timed_cpu += sum(c[2] for c in found)
    _out(
        table.total(
            "GUI thread CPU (time.thread_time)",
            gui_cpu,
            f"= {gui_cpu / max(consumed, 1) * 1e6:.2f} us per event consumed",
        )
    )
    _out(table.total("  of which not timed above", gui_cpu - timed_cpu, "Qt scene/layout work, other timers"))
    _out(
        table.total(
            "  hand-overs' wall - their CPU",
            sum(c[1] for c in tick_calls) - sum(c[2] for c in tick_calls),
            "waits for the GIL (and for GC on the emitter)",
        )
    )
    _out(table.total("emitter thread CPU", emitter["cpu"]))
    storm_gc = [g for g in gc_pauses if storm_start <= g[0] < storm_end]
    for generation in (0, 1, 2):
        found = [(t, d, math.nan) for t, d, g, _, _ in storm_gc if g == generation]
        if found:
            who = sorted({n for _, _, g, n, _ in storm_gc if g == generation})
            cpu = [c for _, _, g, _, c in storm_gc if g == generation]
            _out(
                table.line(f"GC pauses, gen {generation} ({', '.join(who)})", found, is_gc=True)
                + f" CPU mean {statistics.fmean(cpu) * 1000:.1f} max {max(cpu) * 1000:.1f} ms"
            )

    applied = tick_calls + [
        c for name, found in turns.items() if name.endswith("apply_changes") for c in found
    ]
    tick_us = sum(c - table.gc_gui.overlap(t, w) for t, w, c in applied) / max(consumed, 1) * 1e6
    emit_us = emitter["cpu"] / max(emitted, 1) * 1e6
    _out(
        f"GIL budget per event: emitter {emit_us:.2f} us + GUI hand-over and panels {tick_us:.2f} us "
        f"(own CPU, no paint, no GC) = {emit_us + tick_us:.2f} us, so one interpreter can carry at most "
        f"{1e6 / (emit_us + tick_us):,.0f} events/s end to end, before painting and GC"
    )

    # ------------------------------------------------------------ close down
    window.close()
    _wait_for(lambda: not window.isVisible(), 30)
    del keep

    mean_repaint = statistics.fmean(r[1] for r in repaints) if profiler is not None and repaints else math.nan
    ok99, text99 = verdict(p99, LATENESS_P99_MS, "ms")
    okmax, textmax = verdict(worst, LATENESS_MAX_MS, "ms")
    gen2 = max((d for _, d, g, _, _ in storm_gc if g == 2), default=0.0)
    own_cost = {  # CPU less the GC pauses on the GUI thread, per event
        name.split(".")[0]: sum(c - table.gc_gui.overlap(t, w) for t, w, c in found) / max(consumed, 1) * 1e6
        for name, found in turns.items()
        if found and name.endswith("apply_changes")
    }
    repaint_walls = [r[1] for r in repaints] if profiler is not None else []
    longest = max(
        [c[1] for c in tick_calls] + [c[1] for found in turns.values() for c in found] + repaint_walls,
        default=math.nan,
    )
    ranked = sorted(own_cost.items(), key=lambda kv: -kv[1])
    repaint_text = "-" if math.isnan(mean_repaint) else f"{mean_repaint * 1000:.1f}"
    _out("")
    _out(f"TARGET probe lateness p99 < {LATENESS_P99_MS:g} ms: {p99:.2f} ms  {text99}")
    _out(f"TARGET probe lateness max < {LATENESS_MAX_MS:g} ms: {worst:.2f} ms  {textmax}")
    return {
        "rows": [
            _row("storm: probe lateness p99", f"{p99:.2f} ms", f"< {LATENESS_P99_MS:g} ms", ok99, text99),
            _row("storm: probe lateness max", f"{worst:.2f} ms", f"< {LATENESS_MAX_MS:g} ms", okmax, textmax),
            _row("storm: probe lateness p50", f"{p50:.2f} ms", "-", None, "info"),
            _row("storm: emitted", f"{achieved:,.0f} ev/s", f"{rate:,} ev/s", None, "info"),
            _row(
                "storm: GUI consumed during the storm", f"{consumed / duration:,.0f} ev/s", "-", None, "info"
            ),
            _row(
                "storm: backlog at end / dropped", f"{emitter['backlog']:,} / {dropped:,}", "-", None, "info"
            ),
            _row("storm: catch-up after the storm", f"{catch_up:.2f} s", "-", None, "info"),
            _row("storm: GUI rate with the emitter stopped", f"{catch_rate:,.0f} ev/s", "-", None, "info"),
            _row(
                "storm: GIL budget, emitter + GUI tick",
                f"{emit_us:.2f} + {tick_us:.2f} us/event",
                "-",
                None,
                "info",
            ),
            _row(
                "storm: mean hand-over / mean repaint",
                f"{statistics.fmean(c[1] for c in tick_calls) * 1000:.1f} / {repaint_text} ms",
                "-",
                None,
                "info",
            ),
            _row(
                "storm: longest timed call on the GUI thread",
                f"{longest * 1000:.1f} ms",
                "-",
                None,
                "info",
            ),
            _row(
                "storm: GUI thread CPU per event consumed",
                f"{gui_cpu / max(consumed, 1) * 1e6:.2f} us",
                "-",
                None,
                "info",
            ),
            _row(
                "storm: after it, rows queued/running (truth)",
                f"{settled['unfinished']:,} ({settled['truth_unfinished']:,})",
                "-",
                None,
                "info",
            ),
            _row(
                "storm: after it, inspector failures (pool's)",
                f"{settled['failures']:,} + {settled['unseen']:,} not shown ({settled['truth_failed']:,})",
                "-",
                None,
                "info",
            ),
            _row(
                "storm: apply_changes own CPU, us/event",
                " ".join(f"{name} {us:.2f}" for name, us in ranked),
                "-",
                None,
                "info",
            ),
            _row("storm: longest GC pause (gen 2)", f"{gen2 * 1000:.0f} ms", "-", None, "info"),
        ]
    }


# ==================================================================== 2. memory


def run_memory(args: argparse.Namespace) -> dict[str, Any]:
    import gc

    import psutil

    app = _make_app()
    from core import ThreadPool
    from gui import resources
    from gui.pool_view import PoolView
    from gui.tuning import tune_process

    tune_process()  # as the main window does at start

    total, every, history, batch = args.tasks, args.sample_every, args.history, args.batch
    _out(
        f"== 2. Memory: {total:,} tasks through one PoolView in {batch:,}-event batches "
        f"(tasks table keeps {history:,} finished) =="
    )
    app.setStyleSheet(resources.stylesheet("light"))
    pool = ThreadPool(workers=4)
    view = PoolView(pool, "Threads", history)
    view.resize(1280, 800)
    view.show()
    if not _wait_for(lambda: view.panels_built and _exposed(view), 60):
        raise RuntimeError("the view did not build its panels within 60 s")
    _settle(0.5)
    if args.quick:  # so that this bound, too, fills within a smoke run
        view.inspector.max_failures = 2_000
    # The tick is driven by hand: one full batch per drain, as under load.
    view.signals._timer.stop()
    timings = Timings()
    panels = _panels(view)
    for name in ("tasks", "stream", "workers", "inspector"):
        timings.wrap(panels[name], "apply_changes", name)
    source = SyntheticTasks(pool, sorted(w.id for w in pool.workers))
    proc = psutil.Process()
    clock = time.perf_counter
    model, inspector = view.tasks.model, view.inspector
    stream_capacity = view.stream.history.capacity

    def sample() -> dict[str, Any]:
        gc.collect()
        return {
            "tasks": source.submitted,
            "rss": int(proc.memory_info().rss),
            "objects": len(gc.get_objects()),
            "rows": model.rowCount(),
            "finished": model.finished_count,
            "bars": view.stream.history.count,
            "failures": len(inspector._kept),
        }

    samples = [{**sample(), "ms": math.nan, "rate": math.nan, "panels": {}}]
    base = samples[0]["rss"]
    steps_per_batch = max(1, batch // 3)
    next_sample = every
    block_start, block_time, block_batches = 0, 0.0, 0
    block_panels = {name: len(c) for name, c in timings.calls.items()}
    started = clock()
    while source.submitted < total:
        source.steps(min(steps_per_batch, next_sample - source.submitted))
        t = clock()
        while True:  # every event: a tick stops at its time budget
            changes = view.signals.drain()
            while view._steps or view.signals.held:  # the panels' turns
                app.processEvents()
            if not changes and not view.signals.backlog:
                break
        app.processEvents()
        block_time += clock() - t
        block_batches += 1
        if source.submitted >= next_sample:
            per_panel = {
                name: statistics.fmean(w for _, w, _ in calls[block_panels[name] :]) * 1000
                for name, calls in timings.calls.items()
            }
            samples.append(
                {
                    **sample(),
                    "ms": block_time / block_batches * 1000,
                    "rate": (source.submitted - block_start) / block_time,
                    "panels": per_panel,
                }
            )
            block_start, block_time, block_batches = source.submitted, 0.0, 0
            block_panels = {name: len(c) for name, c in timings.calls.items()}
            next_sample += every
    elapsed = clock() - started

    names = list(timings.calls)
    _out(
        f"RSS with the view built and shown, before any task: {base / MB:.1f} MB "
        f"(sampled after gc.collect(); the inspector keeps at most {inspector.max_failures:,} failures)"
    )
    _out(
        "    tasks   RSS MB  growth MB  Python objs  table rows  failures kept  ms/batch  tasks/s  "
        + "  ".join(f"{n[:9]:>9}" for n in names)
        + "  (ms per batch)"
    )
    for s in samples:
        _out(
            f"{s['tasks']:9,} {s['rss'] / MB:8.1f} {(s['rss'] - base) / MB:10.1f} {s['objects']:12,} "
            f"{s['rows']:11,} "
            f"{s['failures']:14,} {s['ms']:9.1f} {s['rate']:8,.0f}  "
            + "  ".join(f"{s['panels'].get(n, math.nan):9.1f}" for n in names)
        )
    _out(
        f"{total:,} tasks ({source.events:,} events, {source.failed:,} failed) in {elapsed:.1f} s "
        f"(ms/batch = drain + the panels + processEvents, i.e. the paint, per batch of {batch:,} events)"
    )
    _out(
        f"held at the end: table {model.rowCount():,} rows ({model.finished_count:,} finished), "
        f"{len(model._forgotten):,} forgotten ids, stream {view.stream.history.count:,} bars, "
        f"inspector {len(inspector._kept):,} failures and {len(inspector._live):,} live tasks"
    )

    def spread_after(first: int) -> tuple[float, float]:
        rest = [s for s in samples if s["tasks"] >= first]
        if len(rest) < 2:
            return math.nan, math.nan
        values = [s["rss"] for s in rest]
        slope = statistics.linear_regression([s["tasks"] for s in rest], values).slope
        return (max(values) - min(values)) / MB, slope * every / MB

    growth = (samples[-1]["rss"] - base) / MB
    trimmed = _malloc_trim_rss(proc)
    if trimmed is not None:
        _out(
            f"after the last sample, malloc_trim(0) brings RSS from {samples[-1]['rss'] / MB:.1f} to "
            f"{trimmed / MB:.1f} MB: {(samples[-1]['rss'] - trimmed) / MB:.1f} MB of it was memory glibc had "
            "freed but kept (the series above is untrimmed)"
        )
    # Flat from the first sample at which every bounded window is full: the
    # table's finished rows, the stream's bars and the inspector's failures.
    # Found from the samples, not assumed: under load the table lists only
    # part of each hand-over (PoolView's shedding), so its window fills well
    # after `history` tasks.
    bounds = {
        "table": lambda s: s["finished"] >= history,
        "stream": lambda s: s["bars"] >= stream_capacity,
        "inspector": lambda s: s["failures"] >= inspector.max_failures,
    }
    full_at = {
        name: next((s["tasks"] for s in samples if s["tasks"] and is_full(s)), math.inf)
        for name, is_full in bounds.items()
    }
    all_full = max(full_at.values())
    spread, slope = spread_after(all_full)
    filled = ", ".join(
        f"{name} at {at:,} tasks" if math.isfinite(at) else f"{name} never" for name, at in full_at.items()
    )
    ok_growth, text_growth = verdict(growth, MEMORY_GROWTH_MB, "MB")
    ok_flat, text_flat = verdict(spread, MEMORY_FLAT_MB, "MB")
    if not math.isfinite(all_full):
        ok_flat, text_flat = False, "FAIL (a bounded window never filled: run more tasks)"
    where = f"{all_full:,}" if math.isfinite(all_full) else "-"
    rows = [
        _row("memory: growth", f"{growth:.1f} MB", f"< {MEMORY_GROWTH_MB:g} MB", ok_growth, text_growth),
        _row(
            f"memory: spread from {where} tasks (all full)",
            f"{spread:.1f} MB",
            f"< {MEMORY_FLAT_MB:g} MB",
            ok_flat,
            text_flat,
        ),
        _row("memory: trend from there", f"{slope:+.2f} MB/{every // 1000}k", "-", None, "info"),
    ]
    _out("")
    _out(f"bounded windows first full at the samples: {filled}")
    _out(f"TARGET growth < {MEMORY_GROWTH_MB:g} MB: {growth:.1f} MB  {text_growth}")
    _out(
        f"TARGET flat once every bounded window is full (spread of the samples from {where} tasks, "
        f"the first with the table, the stream and the inspector all full, < {MEMORY_FLAT_MB:g} MB): "
        f"{spread:.1f} MB, trend {slope:+.2f} MB per {every:,} tasks  {text_flat}"
    )
    view.close_signals()
    view.close()
    pool.shutdown(wait=True, cancel_futures=True)
    return {"rows": rows}


def _malloc_trim_rss(proc: Any) -> int | None:
    """RSS after glibc returns its free memory to the system (None elsewhere)."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if not sys.platform.startswith("linux") or not name:
        return None
    try:
        ctypes.CDLL(name).malloc_trim(0)
    except (OSError, AttributeError):
        return None
    return int(proc.memory_info().rss)


# =================================================================== 3. startup


_LAUNCHER = """\
import time
T0 = time.perf_counter()
import sys
sys.path.insert(0, {bench!r})
from _gui_bench_helpers import launch_app
launch_app(T0)
"""


def run_startup(args: argparse.Namespace, env: dict[str, str], tmp: Path) -> dict[str, Any]:
    _out(f"== 3. Start-up: python -m gui.app to the main window painted, {args.starts} fresh starts ==")
    code = _LAUNCHER.format(bench=str(BENCH))
    runs: list[dict[str, Any]] = []
    _out(
        "seconds from the parent's spawn of the process, except 'launcher' (from the launcher's first line):"
    )
    _out(
        " run  painted  launcher  interp.  QApp   show  expose  1st paint | Threads panels: imports  widgets"
        "  built | both built  painted |  exit"
    )
    for i in range(args.starts):
        run_env = dict(env)
        run_env["XDG_CONFIG_HOME"] = str(tmp / f"startup-{i}" / "config")  # no saved settings: a first start
        spawned = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env=run_env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        exited = time.perf_counter()
        line = next((ln for ln in proc.stdout.splitlines() if ln.startswith(STARTUP_MARK)), None)
        if line is None or proc.returncode != 0:
            _out(f" {i + 1:3d}  FAILED (exit {proc.returncode})")
            _out("      " + "\n      ".join((proc.stdout + proc.stderr).strip().splitlines()[-20:]))
            if line is None:
                continue
        marks = json.loads(line[len(STARTUP_MARK) :])
        if "painted" not in marks:
            _out(f" {i + 1:3d}  no paint within the launcher's time-out ({marks.get('reason')})")
            continue

        def at(key: str, marks: dict[str, Any] = marks, spawned: float = spawned) -> float:
            return marks[key] - spawned if key in marks else math.nan

        build = next((b for b in marks["build"] if b[0] == "Threads"), None)
        run = {
            "painted": at("painted"),
            "launcher": marks["painted"] - marks["t0"],
            "interpreter": at("t0"),
            "qapplication": at("qapplication"),
            "show": at("show"),
            "expose": at("expose"),
            "first_paint": at("first_paint"),
            "imports": (build[2] - build[1]) if build else math.nan,
            "widgets": (build[3] - build[2]) if build else math.nan,
            "built": (build[3] - spawned) if build else math.nan,
            "all_built": max((b[3] for b in marks["build"]), default=math.nan) - spawned,
            "panels_painted": at("panels_painted"),
            "panels_first": bool(marks["panels_at_first_paint"][0]),
            "exit": exited - spawned,
        }
        runs.append(run)
        _out(
            f" {i + 1:3d} {run['painted']:8.3f} {run['launcher']:9.3f} {run['interpreter']:8.3f} "
            f"{run['qapplication']:6.3f} {run['show']:6.3f} {run['expose']:7.3f} {run['first_paint']:10.3f} |"
            f" {run['imports']:23.3f} {run['widgets']:8.3f} {run['built']:6.3f} | {run['all_built']:10.3f}"
            f" {run['panels_painted']:8.3f} |"
            f" {run['exit']:5.2f}"
            + ("  [panels built BEFORE the first paint]" if run["panels_first"] else "")
        )
    if not runs:
        return {"rows": [_row("startup: median to painted", "no data", f"< {STARTUP_S:g} s", False, "FAIL")]}

    def median(key: str) -> float:
        return statistics.median(r[key] for r in runs)

    ok, text = verdict(median("painted"), STARTUP_S, "s")
    _out(
        "(painted = the event loop turn after the first Paint of the MainWindow; the OS file cache is warm, "
        "the settings fresh)"
    )
    _out(
        f"medians: painted {median('painted'):.3f} s, launcher→painted {median('launcher'):.3f} s, "
        f"interpreter {median('interpreter'):.3f} s, show {median('show'):.3f} s, "
        f"panel imports {median('imports'):.3f} s + widgets {median('widgets'):.3f} s, "
        f"panels painted {median('panels_painted'):.3f} s"
    )
    before = sum(r["panels_first"] for r in runs)
    if before:
        _out(
            f"in {before} of {len(runs)} starts the panels (pyqtgraph import and all) were built BEFORE "
            "the first paint, so the window showed only once they were"
        )
    _out("")
    _out(
        f"TARGET start-up (spawn → main window painted, median of {len(runs)}) < {STARTUP_S:g} s: "
        f"{median('painted'):.3f} s  {text}"
    )
    return {
        "rows": [
            _row(
                f"startup: median of {len(runs)} to painted",
                f"{median('painted'):.3f} s",
                f"< {STARTUP_S:g} s",
                ok,
                text,
            ),
            _row("startup: median, from the launcher", f"{median('launcher'):.3f} s", "-", None, "info"),
            _row("startup: median to window shown", f"{median('show'):.3f} s", "-", None, "info"),
            _row(
                "startup: panels import + build",
                f"{median('imports'):.3f} + {median('widgets'):.3f} s",
                "-",
                None,
                "info",
            ),
            _row("startup: median to panels painted", f"{median('panels_painted'):.3f} s", "-", None, "info"),
            _row("startup: panels built before 1st paint", f"{before} of {len(runs)}", "-", None, "info"),
        ]
    }


# ==================================================================== driver


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--only", action="append", choices=MEASUREMENTS, help="run only this one (repeatable)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="a short smoke run (2 s storm, 200k tasks, 2 starts)"
    )
    parser.add_argument(
        "--platform",
        choices=["offscreen", "xvfb", "inherit"],
        default="offscreen",
        help="Qt platform: offscreen (default), a private Xvfb server, or what the environment says",
    )
    parser.add_argument("--rate", type=int, default=200_000, help="storm: events per second")
    parser.add_argument("--seconds", type=float, default=None, help="storm: how long (default 10, quick 2)")
    parser.add_argument("--burst", type=int, default=200, help="storm: events per burst (default 200 = 1 ms)")
    parser.add_argument("--no-paint-profile", action="store_true", help="storm: do not time the repaints")
    parser.add_argument(
        "--tasks", type=int, default=None, help="memory: tasks (default 1,000,000, quick 200,000)"
    )
    parser.add_argument("--batch", type=int, default=20_000, help="memory: events per batch")
    parser.add_argument(
        "--starts", type=int, default=None, help="start-up: fresh starts (default 5, quick 2)"
    )
    parser.add_argument("--child", choices=["storm", "memory"], help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    return parser


def _settle_args(args: argparse.Namespace) -> None:
    quick = args.quick
    if args.seconds is None:
        args.seconds = 2.0 if quick else 10.0
    if args.tasks is None:
        args.tasks = 200_000 if quick else 1_000_000
    if args.starts is None:
        args.starts = 2 if quick else 5
    # A quick run shrinks the table's window so that it still fills and stays full.
    args.history = 20_000 if quick else 100_000
    args.sample_every = max(1, args.tasks // 10)


def _child_argv(args: argparse.Namespace, which: str, result: Path) -> list[str]:
    argv = [sys.executable, "-u", str(Path(__file__).resolve()), "--child", which, "--result", str(result)]
    argv += ["--rate", str(args.rate), "--seconds", str(args.seconds), "--burst", str(args.burst)]
    argv += ["--tasks", str(args.tasks), "--batch", str(args.batch), "--starts", str(args.starts)]
    if args.quick:
        argv.append("--quick")
    if args.no_paint_profile:
        argv.append("--no-paint-profile")
    return argv


def _isolated_env(tmp: Path, args: argparse.Namespace, display: str | None) -> dict[str, str]:
    env = dict(os.environ)
    env[ISOLATION_VAR] = str(tmp)
    for name in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
        path = tmp / name.lower()
        path.mkdir(parents=True, exist_ok=True)
        env[name] = str(path)
    if not env.get("XDG_RUNTIME_DIR"):
        runtime = tmp / "runtime"
        runtime.mkdir(mode=0o700, exist_ok=True)
        env["XDG_RUNTIME_DIR"] = str(runtime)
    if args.platform == "offscreen":
        env["QT_QPA_PLATFORM"] = "offscreen"
    elif args.platform == "xvfb":
        env["QT_QPA_PLATFORM"] = "xcb"
        env["DISPLAY"] = display or ""
        env.pop("WAYLAND_DISPLAY", None)
    elif not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        env.setdefault("QT_QPA_PLATFORM", "offscreen")
    return env


def _summary(results: list[tuple[str, dict[str, Any] | None]], platform: str) -> bool:
    rows = [row for _, result in results if result is not None for row in result["rows"]]
    name_w = max([len("measurement"), *(len(r["name"]) for r in rows)])
    value_w = max([len("result"), *(len(r["value"]) for r in rows)])
    _out("")
    _out("=" * 100)
    _out(f"SUMMARY  (platform {platform}; " + "; ".join(environment_report()) + ")")
    _out(f"{'measurement':<{name_w}}  {'result':>{value_w}}  {'target':<14} verdict")
    _out("-" * 100)
    all_ok = True
    for which, result in results:
        if result is None:
            _out(f"{which:<{name_w}}  {'ERROR':>{value_w}}  {'':<14} FAIL (it did not finish; see above)")
            all_ok = False
            continue
        for row in result["rows"]:
            if row["ok"] is False:
                all_ok = False
            _out(f"{row['name']:<{name_w}}  {row['value']:>{value_w}}  {row['target']:<14} {row['verdict']}")
    _out("-" * 100)
    _out("ALL TARGETS MET" if all_ok else "SOME TARGETS MISSED")
    return all_ok


def _run_child(args: argparse.Namespace) -> int:
    runner = {"storm": run_storm, "memory": run_memory}[args.child]
    result = runner(args)
    if args.result:
        Path(args.result).write_text(json.dumps(result))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _settle_args(args)
    if args.child:
        return _run_child(args)
    selected = [m for m in MEASUREMENTS if not args.only or m in args.only]
    xvfb = Xvfb()
    results: list[tuple[str, dict[str, Any] | None]] = []
    platform = args.platform
    with tempfile.TemporaryDirectory(prefix="poolscope-gui-bench-") as name:
        tmp = Path(name)
        try:
            display = xvfb.start() if args.platform == "xvfb" else None
            env = _isolated_env(tmp, args, display)
            platform = env.get("QT_QPA_PLATFORM", "default") + (f" on Xvfb {display}" if display else "")
            quick = " (quick)" if args.quick else ""
            _out(f"PoolScope GUI benchmarks: {', '.join(selected)}{quick}; {platform}")
            _out(f"private settings under {tmp}")
            for which in selected:
                _out("")
                if which == "startup":
                    try:
                        results.append((which, run_startup(args, env, tmp)))
                    except Exception as exc:  # reported in the summary
                        _out(f"startup failed: {exc!r}")
                        results.append((which, None))
                    continue
                result_file = tmp / f"{which}.json"
                proc = subprocess.run(_child_argv(args, which, result_file), cwd=ROOT, env=env, check=False)
                if proc.returncode == 0 and result_file.exists():
                    results.append((which, json.loads(result_file.read_text())))
                else:
                    _out(f"{which} failed (exit {proc.returncode})")
                    results.append((which, None))
        finally:
            xvfb.stop()
    return 0 if _summary(results, platform) else 1


if __name__ == "__main__":
    sys.exit(main())
