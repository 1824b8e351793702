"""The live charts and the task stream: fed by a real ThreadPool and by
synthetic data, bounded in memory, and cheap to paint."""

from __future__ import annotations

import statistics
import threading
import time
from concurrent.futures import wait

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QWheelEvent
from PySide6.QtWidgets import QApplication

from core import Event, EventKind, PoolStats, TaskCancelled, TaskError, TaskTimeout, ThreadPool
from gui.charts import COLUMNS, QUEUED, RATE, RUNNING, WINDOWS, LiveCharts, _SampleRing, format_elapsed
from gui.charts import FAILED as FAILED_COLUMN
from gui.charts import T as TIME_COLUMN
from gui.task_stream import THEMES as STREAM_THEMES
from gui.task_stream import BarState, TaskStream

K = EventKind

# ---------------------------------------------------------------- fixtures


@pytest.fixture
def gate():
    """Holds blocking tasks until the test (or the teardown) opens it."""
    return threading.Event()


@pytest.fixture
def pool(gate):
    pool = ThreadPool(workers=2)
    yield pool
    gate.set()  # let any blocked or abandoned task return before the shutdown
    pool.shutdown(wait=True, cancel_futures=True)


@pytest.fixture
def events(pool):
    buffer = pool.events.buffer()
    yield buffer
    buffer.close()


@pytest.fixture
def charts(qtbot):
    widget = LiveCharts()
    widget.resize(700, 480)
    qtbot.addWidget(widget)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


@pytest.fixture
def stream(qtbot):
    widget = TaskStream()
    widget.resize(900, 360)
    qtbot.addWidget(widget)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def make_stats(**fields) -> PoolStats:
    values = dict(
        queued=0,
        running=0,
        done=0,
        failed=0,
        cancelled=0,
        submitted=0,
        workers=4,
        idle_workers=4,
        tasks_per_second=0.0,
        paused=False,
        closed=False,
    )
    values.update(fields)
    return PoolStats(**values)


class Script:
    """Synthetic events with consecutive seq numbers."""

    def __init__(self) -> None:
        self.seq = 0

    def __call__(self, kind, when, task_id=None, worker_id=None, payload=None) -> Event:
        self.seq += 1
        return Event(self.seq, kind, when, task_id, worker_id, payload)

    def tasks(self, count: int, lanes: int, start: float = 0.0, span: float = 600.0) -> list[Event]:
        """``count`` back-to-back tasks spread over ``lanes`` workers, ``span`` seconds long."""
        per_lane = -(-count // lanes)
        step = span / per_lane
        batch = [self(K.WORKER_STARTED, start, None, w) for w in range(1, lanes + 1)]
        for n in range(count):
            worker, slot = n % lanes + 1, n // lanes
            t0 = start + slot * step
            batch.append(self(K.TASK_STARTED, t0, n + 1, worker))
            batch.append(self(K.TASK_DONE, t0 + step * 0.8, n + 1, worker))
        return batch


def drain_when(qtbot, events, predicate, timeout=5000) -> list[Event]:
    """Drain ``events`` until ``predicate(everything drained)`` holds."""
    got: list[Event] = []

    def check():
        got.extend(events.drain())
        assert predicate(got)

    qtbot.waitUntil(check, timeout=timeout)
    return got


def report(capsys, message: str) -> None:
    with capsys.disabled():
        print(f"\n    {message}")


# ------------------------------------------------------------------ charts


def test_charts_show_the_counters_of_a_real_pool(qtbot, charts, pool, gate):
    blocked = [pool.submit(gate.wait, 10) for _ in range(5)]
    failing = pool.submit(int, "not a number")
    qtbot.waitUntil(lambda: pool.stats().running == 2)
    stats = pool.stats()
    charts.apply_stats(stats)
    qtbot.waitUntil(lambda: charts.shown_data().shape[1] == 1)  # the deferred redraw ran
    shown = charts.shown_data()
    assert shown[RUNNING, -1] == 2
    assert shown[QUEUED, -1] == stats.queued == 4

    gate.set()
    wait([*blocked, failing], timeout=10)
    final = pool.stats()
    charts.apply_stats(final)
    charts.refresh()
    shown = charts.shown_data()
    assert shown.shape[1] == 2
    assert shown[RUNNING, -1] == 0 and shown[QUEUED, -1] == 0
    assert shown[FAILED_COLUMN, -1] == final.failed == 1
    assert shown[RATE, -1] == pytest.approx(final.tasks_per_second)
    x, y = charts.curves["failed"].getData()
    assert list(y) == [0, 1] and x[0] == 0.0
    assert "failed 1 in all" in charts.readout_text()


def test_the_sample_ring_wraps_without_growing():
    ring = _SampleRing(capacity=100)
    before = ring.nbytes
    for i in range(1, 351):
        ring.append((float(i), i, i % 7, 1.5, i // 10))
        view = ring.view()
        assert view.shape == (COLUMNS, min(i, 100))
        assert view[TIME_COLUMN, -1] == i  # newest last, always contiguous
    assert ring.nbytes == before
    assert list(ring.view()[TIME_COLUMN]) == [float(i) for i in range(251, 351)]
    assert ring.wrapped


def test_charts_memory_is_fixed_at_construction(charts):
    before = charts.nbytes
    for i in range(5000):
        charts.apply_stats(make_stats(queued=i % 100, running=3), now=i / 30)
    charts.refresh()
    assert charts.nbytes == before
    assert charts.sample_count == 5000


def test_the_window_selector_changes_the_visible_range(charts):
    # 20 minutes at 2 samples a second.
    for i in range(2401):
        charts.apply_stats(make_stats(queued=i, running=2, tasks_per_second=5.0), now=1000.0 + i / 2)
    now = 1200.0
    assert charts.window == 60.0
    charts.refresh()
    assert charts.x_range() == pytest.approx((now - 60, now))

    for index, (label, seconds) in enumerate(WINDOWS):
        charts.window_box.setCurrentIndex(index)
        assert charts.window_box.currentText() == label
        left = 0.0 if seconds is None else now - seconds
        assert charts.x_range() == pytest.approx((left, now))
        shown = charts.shown_data()
        # The line enters from the left edge and reaches now.
        assert shown[TIME_COLUMN, 0] <= left + 1.0 and shown[TIME_COLUMN, -1] == now
        assert shown[QUEUED, -1] == 2400
    charts.set_window(60.0)
    assert charts.window_box.currentIndex() == 0
    with pytest.raises(ValueError, match="windows are"):
        charts.set_window(42.0)


def test_the_whole_run_stays_bounded_after_100000_samples(charts, capsys):
    before = charts.nbytes
    charts.set_window(None)
    started = time.perf_counter()
    for i in range(100_000):
        # One sample a second: nearly 28 hours; a single burst of 5000 queued.
        queued = 5000 if i == 77_777 else i % 50
        charts.apply_stats(make_stats(queued=queued, failed=i // 1000, tasks_per_second=10.0), now=float(i))
    took = time.perf_counter() - started
    charts.refresh()
    report(capsys, f"100,000 apply_stats calls took {took:.2f} s; whole run in {charts.nbytes:,} bytes")

    assert charts.nbytes == before
    shown = charts.shown_data()
    assert shown.shape[1] <= 4_096 + 1
    assert charts.summary_width > 1.0  # the buckets merged as the run grew
    assert charts.x_range() == pytest.approx((0.0, 99_999.0))
    assert shown[QUEUED].max() == 5000  # merging keeps the peak
    assert shown[RATE].mean() == pytest.approx(10.0)
    assert shown[FAILED_COLUMN, -1] == 99

    charts.set_window(60.0)
    assert charts.x_range() == pytest.approx((99_939.0, 99_999.0))
    assert charts.shown_data().shape[1] <= 62


def test_ten_minutes_fall_back_to_the_summary_when_the_ring_is_short(qtbot):
    charts = LiveCharts(capacity=1000)
    qtbot.addWidget(charts)
    charts.show()
    for i in range(30 * 900):  # 15 minutes at 30 Hz: the ring holds 33 s
        charts.apply_stats(make_stats(queued=7), now=i / 30)
    charts.set_window(600.0)
    now = (30 * 900 - 1) / 30
    assert charts.x_range() == pytest.approx((now - 600, now))
    shown = charts.shown_data()
    assert shown[TIME_COLUMN, 0] <= now - 599 and shown[TIME_COLUMN, -1] == pytest.approx(now)
    assert (shown[QUEUED] == 7).all()


def test_the_hover_readout_follows_the_mouse(qtbot, charts):
    for i in range(61):
        charts.apply_stats(make_stats(queued=i * 10, running=i % 4, failed=i // 20), now=float(i))
    charts.refresh()
    assert charts.readout_text().startswith("now 1:00")

    plot = charts.plots["queued"]
    scene = charts.graphics.scene()
    scene.sigMouseMoved.emit(plot.vb.mapViewToScene(QPointF(30.2, 100.0)))
    qtbot.waitUntil(lambda: charts.readout_text().startswith("at 0:30"))
    assert "queued 300" in charts.readout_text() and "running 2" in charts.readout_text()
    assert all(line.isVisible() and line.value() == pytest.approx(30.2) for line in charts._crosshairs)

    scene.sigMouseMoved.emit(QPointF(-100.0, -100.0))  # off the plots: the latest values
    qtbot.waitUntil(lambda: charts.readout_text().startswith("now"))
    assert not any(line.isVisible() for line in charts._crosshairs)


def test_charts_have_a_light_and_a_dark_theme(charts):
    charts.set_theme("dark")
    assert charts.graphics.backgroundBrush().color() == QColor("#1b2130")
    assert charts.curves["queued"].opts["pen"].color() == QColor("#5ab4f0")
    charts.set_theme("light")
    assert charts.graphics.backgroundBrush().color() == QColor("#ffffff")
    with pytest.raises(ValueError, match="light, dark"):
        charts.set_theme("sepia")


def test_the_curves_are_set_up_for_speed(charts):
    for curve in charts.curves.values():
        assert curve.opts["clipToView"] and curve.opts["autoDownsample"]
        assert curve.opts["downsampleMethod"] == "peak"
        assert curve.opts["skipFiniteCheck"] and not curve.opts["antialias"]


def test_elapsed_times_read_as_clock_times():
    assert format_elapsed(0) == "0:00"
    assert format_elapsed(75) == "1:15"
    assert format_elapsed(3725) == "1:02:05"
    assert format_elapsed(12.34, 0.1) == "0:12.3"
    assert format_elapsed(-5) == "-0:05"


# ------------------------------------------------------------------ stream


def test_the_stream_builds_bars_from_a_real_pool(qtbot, stream, pool, events, gate):
    ok = pool.submit(sum, [1, 2])
    failing = pool.submit(int, "x")

    def cancel_itself():
        raise TaskCancelled("stopped on purpose")

    cancelled = pool.submit(cancel_itself)
    timed_out = pool.schedule(gate.wait, (10,), timeout=0.05)
    wait([ok, failing, cancelled, timed_out], timeout=10)
    assert isinstance(timed_out.exception(), TaskTimeout)
    gate.set()  # the abandoned thread may now leave
    pool.pause()
    never_started = pool.submit(sum, [1])
    assert pool.cancel(never_started.task.id)
    pool.resume()

    stream.apply_events(events.drain())
    bars = stream.bars()
    states = dict(zip(bars.task_id.tolist(), bars.state.tolist(), strict=True))
    assert states == {
        ok.task.id: BarState.DONE,
        failing.task.id: BarState.FAILED,
        cancelled.task.id: BarState.CANCELLED,
        timed_out.task.id: BarState.TIMED_OUT,
    }
    assert never_started.task.id not in states  # no start, no bar
    assert (bars.x1 >= bars.x0).all() and (bars.x0 >= 0).all()
    labels = stream.lane_labels()
    for lane, worker in zip(bars.lane.tolist(), bars.worker_id.tolist(), strict=True):
        assert labels[lane] == f"W{worker}"
    assert stream.plot.getAxis("left")._tickLevels[0] == list(enumerate(labels))


def test_bars_are_coloured_by_state(qtbot, stream):
    script = Script()
    endings = [
        (K.TASK_DONE, None, BarState.DONE),
        (K.TASK_FAILED, TaskError("ValueError", "bad"), BarState.FAILED),
        (K.TASK_CANCELLED, TaskCancelled(), BarState.CANCELLED),
        (K.TASK_FAILED, TaskTimeout(5.0), BarState.TIMED_OUT),
    ]
    batch = []
    for n, (kind, payload, _state) in enumerate(endings, start=1):
        batch += [script(K.TASK_STARTED, 100.0, n, n), script(kind, 110.0, n, n, payload)]
    batch.append(script(K.TASK_STARTED, 100.0, 5, 5))  # still running
    stream.apply_events(batch, now=120.0)
    stream.set_following(False)
    stream.view_box.setRange(xRange=(0, 20), yRange=(-0.5, 4.5), padding=0)
    image = stream.plot_widget.grab().toImage()
    colours = STREAM_THEMES["light"].states
    expected = [state for _, _, state in endings] + [BarState.RUNNING]
    for lane, state in enumerate(expected):
        scene_point = stream.view_box.mapViewToScene(QPointF(5.0, lane))
        pixel = stream.plot_widget.mapFromScene(scene_point)
        assert image.pixelColor(pixel) == QColor(colours[state]), state

    stream.set_theme("dark")
    image = stream.plot_widget.grab().toImage()
    scene_point = stream.view_box.mapViewToScene(QPointF(5.0, 1))
    assert image.pixelColor(stream.plot_widget.mapFromScene(scene_point)) == QColor(
        STREAM_THEMES["dark"].states[BarState.FAILED]
    )


def test_running_bars_grow_between_ticks(qtbot, stream, pool, events, gate):
    started = threading.Event()

    def long_task():
        started.set()
        gate.wait(10)
        return "finished"

    future = pool.submit(long_task)
    qtbot.waitUntil(started.is_set)
    batch = drain_when(qtbot, events, lambda got: any(e.kind is K.TASK_STARTED for e in got))
    t = time.time()
    stream.apply_events(batch, now=t)
    first = stream.bars()
    assert first.state.tolist() == [BarState.RUNNING]
    right_before = stream.bars_item.boundingRect().right()

    stream.apply_events([], now=t + 1.5)
    grown = stream.bars()
    assert grown.x1[0] == pytest.approx(first.x1[0] + 1.5)
    assert grown.x0[0] == first.x0[0]
    assert stream.bars_item.boundingRect().right() > right_before

    gate.set()
    assert future.result(timeout=10) == "finished"
    stream.apply_events(events.drain(), now=t + 2.0)
    done = stream.bars()
    assert done.state.tolist() == [BarState.DONE]
    assert done.x1[0] < first.x1[0] + 1.5  # it ended when the task did, not at "now"


def test_running_bars_grow_even_when_no_tick_brings_events(qtbot, stream):
    script = Script()
    t = time.time()
    stream.apply_events([script(K.TASK_STARTED, t, 1, 1)], now=t)
    first = stream.bars().x1[0]
    qtbot.waitUntil(lambda: stream.bars().x1[0] > first + 0.15, timeout=3000)
    stream.apply_events([script(K.TASK_DONE, time.time(), 1, 1)])
    assert not stream._clock.isActive()  # nothing running: nothing to grow


def test_a_start_and_end_in_one_batch_make_one_bar(stream):
    script = Script()
    stream.apply_events([script(K.TASK_STARTED, 10.0, 1, 1), script(K.TASK_DONE, 10.2, 1, 1)], now=11.0)
    bars = stream.bars()
    assert len(bars) == 1 and bars.state[0] == BarState.DONE
    assert bars.x1[0] - bars.x0[0] == pytest.approx(0.2)
    assert not stream.history.running


def test_bars_stay_bounded_after_many_tasks_of_a_real_pool(qtbot, pool, events):
    stream = TaskStream(capacity=500)
    qtbot.addWidget(stream)
    before = stream.history.nbytes
    futures = [pool.submit(abs, -n) for n in range(3000)]
    wait(futures, timeout=30)
    ended = []  # in the order the tasks ended: two workers may finish out of id order
    while batch := events.drain(limit=2000):  # several ticks' worth
        stream.apply_events(batch)
        ended += [e.task_id for e in batch if e.kind is K.TASK_DONE]
    bars = stream.bars()
    assert len(bars) == 500
    assert stream.history.total == 3000
    assert stream.history.nbytes == before
    assert sorted(ended) == sorted(f.task.id for f in futures)
    assert sorted(bars.task_id.tolist()) == sorted(ended[-500:])  # the newest are kept
    assert (bars.state == BarState.DONE).all()


def test_the_scene_does_not_grow_with_the_bars(stream):
    script = Script()
    stream.apply_events(script.tasks(10, lanes=4), now=600.0)
    items = stream.item_count
    stream.apply_events(script.tasks(50_000, lanes=8, start=600.0), now=1200.0)
    assert len(stream.bars()) == 50_010
    assert stream.item_count == items


def test_painting_50000_bars_is_fast(qtbot, stream, capsys):
    script = Script()
    batch = script.tasks(50_000, lanes=8, span=600.0)
    started = time.perf_counter()
    stream.apply_events(batch, now=601.0)
    ingest = time.perf_counter() - started
    stream.set_following(False)
    stream.view_box.setRange(xRange=(0, 601), yRange=(-0.5, 7.5), padding=0)
    times = []
    for _ in range(5):
        started = time.perf_counter()
        image = stream.grab()
        times.append(time.perf_counter() - started)
    assert not image.isNull()
    assert stream.bars_item.painted == 50_000
    report(
        capsys,
        f"50,000 bars: ingest of {len(batch):,} events {ingest * 1000:.0f} ms; widget.grab() "
        f"median {statistics.median(times) * 1000:.1f} ms, best {min(times) * 1000:.1f} ms",
    )
    assert statistics.median(times) < 5.0  # a sanity bound only; the report has the real figure

    # Culling: a 10-second view paints only the bars inside it.
    stream.view_box.setRange(xRange=(300, 310), padding=0)
    stream.grab()
    assert 0 < stream.bars_item.painted < 2_000


def test_the_stream_follows_until_the_user_pans(qtbot, stream):
    script = Script()
    stream.apply_events(script.tasks(100, lanes=2, span=200.0), now=200.0)
    assert stream.following
    assert stream.x_range() == pytest.approx((140.0, 200.0))

    view = stream.plot_widget
    centre = view.mapFromScene(stream.view_box.sceneBoundingRect().center())
    wheel = QWheelEvent(
        QPointF(centre),
        QPointF(view.viewport().mapToGlobal(centre)),
        QPoint(0, 0),
        QPoint(0, 120),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(view.viewport(), wheel)
    assert not stream.following  # zooming switched following off
    zoomed = stream.x_range()
    assert zoomed[1] - zoomed[0] < 60.0
    stream.apply_events(script.tasks(10, lanes=2, start=200.0, span=50.0), now=250.0)
    assert stream.x_range() == pytest.approx(zoomed)  # left where the user put it

    stream.follow_button.click()
    assert stream.following
    assert stream.x_range() == pytest.approx((190.0, 250.0))


def test_hovering_a_bar_shows_its_task(qtbot, stream):
    script = Script()
    stream.apply_events(
        [
            script(K.TASK_STARTED, 0.0, 7, 3),
            script(K.TASK_FAILED, 2.5, 7, 3, TaskError("OSError", "disk")),
            script(K.TASK_STARTED, 1.0, 8, 4),
        ],
        now=4.0,
    )
    info = stream.bar_at(1.0, 0.1)
    assert info is not None and info.task_id == 7 and info.state is BarState.FAILED
    assert info.duration == pytest.approx(2.5)
    assert stream.bar_at(1.0, 0.5) is None  # between lanes
    assert stream.bar_at(3.0, 1.0).state is BarState.RUNNING

    scene = stream.plot_widget.scene()
    scene.sigMouseMoved.emit(stream.view_box.mapViewToScene(QPointF(1.0, 0.0)))
    qtbot.waitUntil(lambda: "Task 7 on W3" in stream.hover_text)
    assert "failed, 2.50 s" in stream.hover_text
    scene.sigMouseMoved.emit(stream.view_box.mapViewToScene(QPointF(30.0, 0.0)))
    qtbot.waitUntil(lambda: stream.hover_text == "")


def test_lanes_follow_first_appearance_and_are_reused_after_exits(stream):
    script = Script()
    stream.apply_events(
        [
            script(K.WORKER_STARTED, 0.0, None, 5),
            script(K.TASK_STARTED, 0.1, 1, 9),
            script(K.WORKER_STARTED, 0.2, None, 2),
        ],
        now=1.0,
    )
    assert stream.lane_labels() == ["W5", "W9", "W2"]

    stream.apply_events(
        [
            script(K.WORKER_EXITED, 2.0, None, 9),  # its task's end was never seen
            script(K.WORKER_STARTED, 3.0, None, 11),
        ],
        now=3.0,
    )
    assert stream.lane_labels() == ["W5", "W11", "W2"]  # lane 1 reused
    bars = stream.bars()
    assert bars.state.tolist() == [BarState.UNKNOWN] and bars.lane.tolist() == [1]
    assert bars.x1[0] == pytest.approx(2.0)
    assert stream.plot.getAxis("left")._tickLevels[0] == [(0, "W5"), (1, "W11"), (2, "W2")]


def test_clear_forgets_bars_and_restarts_the_clock(stream):
    script = Script()
    stream.apply_events(script.tasks(20, lanes=2, start=50.0, span=10.0), now=61.0)
    stream.clear()
    assert len(stream.bars()) == 0 and stream.lane_labels() == []
    stream.apply_events([script(K.TASK_STARTED, 500.0, 99, 1)], now=501.0)
    assert stream.bars().x0.tolist() == [0.0]
    assert np.isclose(stream.history.now, 1.0)
