"""Live charts of one pool: queue depth, running tasks, throughput, failures.

Data flow::

    window tick (~30 Hz) ──apply_stats(PoolStats)──► _SampleRing   every sample, the last ~18 min
                                                  └─► _RunSummary  the whole run, merged buckets
                         one redraw per event-loop turn ──► setData on four curves (created once)

Memory stays flat however long the run: both stores are numpy arrays
allocated once. The ring overwrites its oldest samples; the summary merges
neighbouring buckets pairwise when it fills up (and doubles their width), so
"Whole run" always shows the whole run, at a resolution that coarsens as the
run grows.

Following pyqtgraph's ``scrollingPlots`` example, curves take slices of the
preallocated arrays with clip-to-view, automatic peak downsampling, no finite
check and no antialiasing, so a tick costs a few array slices.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, QTimer, Slot
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from .throttled_label import ThrottledLabel

if TYPE_CHECKING:
    from collections.abc import Sequence

    from PySide6.QtGui import QShowEvent

    from core import PoolStats

__all__ = ["WINDOWS", "CountAxis", "ElapsedAxis", "LiveCharts", "TimeOrigin", "format_elapsed"]

# Columns of a sample: when, and the four series.
T, QUEUED, RUNNING, RATE, FAILED = range(5)
COLUMNS = 5

#: The window selector's choices: label and width in seconds (None: the whole run).
WINDOWS: tuple[tuple[str, float | None], ...] = (
    ("Last minute", 60.0),
    ("Last 10 minutes", 600.0),
    ("Whole run", None),
)


class _Series(NamedTuple):
    key: str
    column: int
    axis_label: str
    readout: str  # a format for the hover read-out
    counts: bool = True  # whole numbers: ticks on whole numbers only


SERIES: tuple[_Series, ...] = (
    _Series("queued", QUEUED, "queued", "queued {:,.0f}"),
    _Series("running", RUNNING, "running", "running {:,.0f}"),
    _Series("throughput", RATE, "tasks/s", "{:,.1f} tasks/s", counts=False),
    # Cumulative rather than per second: a few failures a minute would be
    # 30-per-second spikes on a per-tick rate, while a running total shows
    # both bursts (steps) and a steady failure rate (a slope).
    _Series("failed", FAILED, "failed", "failed {:,.0f} in all"),
)


@dataclass(frozen=True)
class _Theme:
    background: str
    foreground: str
    crosshair: str
    series: dict[str, str]


# Colours picked to keep their contrast on both backgrounds: the light theme
# takes the darker shade of each hue, the dark theme the lighter one.
THEMES: dict[str, _Theme] = {
    "light": _Theme(
        background="#ffffff",
        foreground="#4a5263",
        crosshair="#8a94a6",
        series={"queued": "#1f6fb2", "running": "#188a5b", "throughput": "#b86e00", "failed": "#c8322f"},
    ),
    "dark": _Theme(
        background="#1b2130",
        foreground="#a9b2c3",
        crosshair="#6b7385",
        series={"queued": "#5ab4f0", "running": "#4cc38a", "throughput": "#f2b33d", "failed": "#ff6b6b"},
    ),
}


def format_elapsed(seconds: float, spacing: float = 1.0) -> str:
    """``seconds`` since the start as ``m:ss`` (``h:mm:ss`` past an hour),
    with tenths when ticks are closer than a second."""
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    if spacing < 1.0:
        whole = math.floor(seconds)
        tenths = min(9, round((seconds - whole) * 10))
        hours, rest = divmod(whole, 3600)
        minutes, secs = divmod(rest, 60)
        tail = f"{secs:02d}.{tenths}"
    else:
        hours, rest = divmod(round(seconds), 3600)
        minutes, secs = divmod(rest, 60)
        tail = f"{secs:02d}"
    if hours:
        return f"{sign}{hours}:{minutes:02d}:{tail}"
    return f"{sign}{minutes}:{tail}"


class ElapsedAxis(pg.AxisItem):
    """A time axis in elapsed ``m:ss``: "3:20 into the run" reads better than 200.0."""

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:  # noqa: N802 - Qt-style override
        return [format_elapsed(v * scale, spacing * scale) for v in values]


class CountAxis(pg.AxisItem):
    """A y axis for counts: ticks on whole numbers only. Half a running task
    reads as nonsense, and on a small range pyqtgraph would put ticks at 0.5."""

    def tickSpacing(self, minVal: float, maxVal: float, size: float) -> list[tuple[float, float]]:  # noqa: N802, N803 - pyqtgraph override
        levels = [
            (spacing, offset) for spacing, offset in super().tickSpacing(minVal, maxVal, size) if spacing >= 1
        ]
        return levels or [(1.0, 0.0)]


class TimeOrigin(NamedTuple):
    """Time zero shared by the panels of one view, on both clocks they use:
    events are stamped with ``time.time()`` (the task stream) and samples
    with ``time.monotonic()`` (the charts). Taken at one instant, so that
    "0:20" on the charts and on the stream is the same moment."""

    wall: float
    monotonic: float

    @classmethod
    def now(cls) -> TimeOrigin:
        return cls(time.time(), time.monotonic())


class _SampleRing:
    """The last ``capacity`` samples, oldest first, always as one contiguous view.

    Each sample is written twice, at ``i`` and ``i + capacity``; then the
    latest ``capacity`` samples are always one slice, and a redraw hands numpy
    views to pyqtgraph instead of stitching the two halves of a ring together.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 2:
            raise ValueError(f"a sample ring needs room for at least 2 samples, got {capacity}")
        self.capacity = capacity
        self._data = np.zeros((COLUMNS, 2 * capacity))
        self._next = 0
        self.count = 0
        self.appended = 0

    def append(self, row: Sequence[float]) -> None:
        i = self._next
        data = self._data
        data[:, i] = row
        data[:, i + self.capacity] = row
        self._next = i + 1 if i + 1 < self.capacity else 0
        if self.count < self.capacity:
            self.count += 1
        self.appended += 1

    def view(self) -> np.ndarray:
        """The samples held, oldest first: a view, valid until the next append."""
        end = self._next + self.capacity
        return self._data[:, end - self.count : end]

    @property
    def wrapped(self) -> bool:
        """True once the oldest samples have been overwritten."""
        return self.appended > self.capacity

    @property
    def nbytes(self) -> int:
        return self._data.nbytes

    def clear(self) -> None:
        self._next = self.count = self.appended = 0


class _RunSummary:
    """The whole run in at most ``capacity`` buckets.

    Samples merge into buckets ``width`` seconds wide; when the buckets run
    out, neighbours merge pairwise and the width doubles. An endless run thus
    costs a fixed amount of memory. Merging keeps what a reader looks for: the
    peak of the gauges (a burst of queued work must not vanish into an
    average), the mean of the rate, and the last value of the running total.
    """

    def __init__(self, capacity: int, width: float = 1.0) -> None:
        if capacity < 2:
            raise ValueError(f"a run summary needs room for at least 2 buckets, got {capacity}")
        self.capacity = capacity + capacity % 2  # pairs merge cleanly
        self.initial_width = width
        self.width = width
        self._data = np.zeros((COLUMNS, self.capacity))
        self.count = 0
        self._open: list[float] | None = None
        self._open_start = 0.0
        self._open_samples = 0

    def add(self, row: Sequence[float]) -> None:
        t = row[T]
        bucket = self._open
        if bucket is not None and t >= self._open_start + self.width:
            self._close()
            bucket = None
        if bucket is None:
            self._open = list(row)
            self._open_start = t
            self._open_samples = 1
            return
        bucket[T] = t
        bucket[QUEUED] = max(bucket[QUEUED], row[QUEUED])
        bucket[RUNNING] = max(bucket[RUNNING], row[RUNNING])
        bucket[RATE] += row[RATE]
        bucket[FAILED] = row[FAILED]
        self._open_samples += 1

    def _close(self) -> None:
        bucket = self._open
        assert bucket is not None
        bucket[RATE] /= self._open_samples
        if self.count == self.capacity:
            self._compact()
        self._data[:, self.count] = bucket
        self.count += 1
        self._open = None

    def _compact(self) -> None:
        half = self.count // 2
        pairs = self._data[:, : 2 * half].reshape(COLUMNS, half, 2)
        merged = np.empty((COLUMNS, half))
        merged[T] = pairs[T, :, 1]
        merged[QUEUED] = pairs[QUEUED].max(axis=1)
        merged[RUNNING] = pairs[RUNNING].max(axis=1)
        merged[RATE] = pairs[RATE].mean(axis=1)
        merged[FAILED] = pairs[FAILED, :, 1]
        self._data[:, :half] = merged
        self.count = half
        self.width *= 2

    def view(self) -> np.ndarray:
        """The closed buckets, oldest first (each stamped with its last sample's time)."""
        return self._data[:, : self.count]

    @property
    def nbytes(self) -> int:
        return self._data.nbytes

    def clear(self) -> None:
        self.count = 0
        self.width = self.initial_width
        self._open = None


class LiveCharts(QWidget):
    """Four stacked, x-linked plots of a pool's counters against elapsed time.

    The window calls ``apply_stats`` once per tick; the charts redraw once
    per event-loop turn however many samples arrived, and not at all while
    hidden (they catch up when shown).
    """

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        capacity: int = 32_768,
        summary_capacity: int = 4_096,
        theme: str = "light",
        origin: TimeOrigin | None = None,
    ) -> None:
        """``origin``: time zero shared with other panels; None: the first sample."""
        super().__init__(parent)
        # 32,768 samples hold about 18 minutes at 30 Hz: enough for the
        # 10-minute window at full resolution.
        self._ring = _SampleRing(capacity)
        self._summary = _RunSummary(summary_capacity)
        self._origin = origin
        self._t0: float | None = None if origin is None else origin.monotonic
        self._now = 0.0
        self._window: float | None = WINDOWS[0][1]
        self._shown = np.zeros((COLUMNS, 0))
        self._hover_x: float | None = None
        self._theme = THEMES["light"]  # set_theme below checks the name

        self.window_box = QComboBox()
        for label, seconds in WINDOWS:
            self.window_box.addItem(label, seconds)
        self.window_box.setToolTip("How much of the run the charts show")
        self.readout = QLabel()
        self.readout.setTextFormat(Qt.TextFormat.RichText)
        self.readout.setMinimumWidth(50)
        #: the read-out's text, slowed down by a busy window (see ThrottledLabel)
        self.readout_label = ThrottledLabel(self.readout)

        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.ci.setSpacing(0)
        self.plots: dict[str, pg.PlotItem] = {}
        self.curves: dict[str, pg.PlotDataItem] = {}
        self._crosshairs: list[pg.InfiniteLine] = []
        self._build_plots()

        header = QHBoxLayout()
        header.setContentsMargins(0, 0, 0, 0)
        header.addWidget(self.readout, stretch=1)
        header.addWidget(self.window_box)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addLayout(header)
        layout.addWidget(self.graphics, stretch=1)

        self._redraw_timer = QTimer(self)
        self._redraw_timer.setSingleShot(True)
        self._redraw_timer.setInterval(0)
        self._redraw_timer.timeout.connect(self._on_redraw_timer_timeout)
        self._stale = True
        self.window_box.currentIndexChanged.connect(self._on_window_box_changed)
        # Rate-limited, so a fast mouse costs at most 60 look-ups a second.
        self._mouse_proxy = pg.SignalProxy(
            self.graphics.scene().sigMouseMoved,
            rateLimit=60,
            slot=self._on_scene_mouse_moved,
            threadSafe=False,
        )
        self.set_theme(theme)
        self._update_readout()

    def _build_plots(self) -> None:
        first: pg.PlotItem | None = None
        for row, series in enumerate(SERIES):
            last = row == len(SERIES) - 1
            axes = {"bottom": ElapsedAxis("bottom")}
            if series.counts:
                axes["left"] = CountAxis("left")
            plot = self.graphics.addPlot(row=row, col=0, axisItems=axes)
            plot.setMenuEnabled(False)
            plot.hideButtons()
            plot.setMouseEnabled(x=False, y=False)
            plot.disableAutoRange()
            # Vertical grid lines only: pyqtgraph's horizontal grid costs more to
            # paint than the four curves together (measured), every tick.
            plot.showGrid(x=True, y=False, alpha=0.15)
            # Short and small: four plots share little height, and longer
            # rotated labels run into each other.
            plot.setLabel("left", series.axis_label, **{"font-size": "7pt"})
            # A fixed axis width keeps the four plots aligned whatever their numbers.
            plot.getAxis("left").setWidth(56)
            plot.getAxis("bottom").setStyle(showValues=last)
            if not last:
                plot.getAxis("bottom").setHeight(6)
            if first is None:
                first = plot
            else:
                plot.setXLink(first)
            # One-pixel pens: Qt strokes wider lines through a path stroker,
            # which measured slower than everything else in a tick together.
            curve = plot.plot(
                pen=pg.mkPen(width=1),
                antialias=False,
                skipFiniteCheck=True,
                name=series.key,
            )
            curve.setClipToView(True)
            curve.setDownsampling(auto=True, method="peak")
            crosshair = pg.InfiniteLine(angle=90, movable=False)
            crosshair.setVisible(False)
            plot.addItem(crosshair, ignoreBounds=True)
            self._crosshairs.append(crosshair)
            self.plots[series.key] = plot
            self.curves[series.key] = curve

    # ------------------------------------------------------------------ data

    def apply_stats(self, stats: PoolStats, now: float | None = None, redraw: bool = True) -> None:
        """Add one sample; ``now`` is in seconds on any steady clock
        (``time.monotonic()`` when None). The first sample is time zero.
        With ``redraw`` False the curves wait for a later sample (or
        ``refresh``) to show it."""
        if now is None:
            now = time.monotonic()
        if self._t0 is None:
            self._t0 = now
        row = (now - self._t0, stats.queued, stats.running, stats.tasks_per_second, stats.failed)
        self._ring.append(row)
        self._summary.add(row)
        self._now = row[T]
        if redraw and not self._redraw_timer.isActive():
            self._redraw_timer.start()

    def clear(self) -> None:
        """Forget every sample; the next one is time zero again (or, with a
        shared origin, time zero stays the origin)."""
        self._ring.clear()
        self._summary.clear()
        self._t0 = None if self._origin is None else self._origin.monotonic
        self._now = 0.0
        self.refresh()

    @property
    def sample_count(self) -> int:
        """Samples taken since the start (or the last ``clear``)."""
        return self._ring.appended

    @property
    def nbytes(self) -> int:
        """Bytes held by the sample stores: fixed at construction."""
        return self._ring.nbytes + self._summary.nbytes

    @property
    def summary_width(self) -> float:
        """Seconds per bucket of the whole-run summary (doubles as the run grows)."""
        return self._summary.width

    def shown_data(self) -> np.ndarray:
        """What the curves show now: rows time, queued, running, tasks/s, failed."""
        return self._shown

    # ---------------------------------------------------------------- window

    @property
    def window(self) -> float | None:
        """Seconds shown up to now; None for the whole run."""
        return self._window

    def set_window(self, seconds: float | None) -> None:
        """Show the last ``seconds`` (one of ``WINDOWS``), or None for the whole run."""
        index = self.window_box.findData(seconds)
        if index < 0:
            known = ", ".join(str(s) for _, s in WINDOWS)
            raise ValueError(f"no window of {seconds!r} s; the windows are: {known}")
        self.window_box.setCurrentIndex(index)

    @Slot(int)
    def _on_window_box_changed(self, index: int) -> None:
        self._window = self.window_box.itemData(index)
        self.refresh()

    def x_range(self) -> tuple[float, float]:
        """The elapsed seconds the plots span now."""
        (left, right), _ = self.plots[SERIES[0].key].viewRange()
        return left, right

    # ---------------------------------------------------------------- redraw

    @Slot()
    def _on_redraw_timer_timeout(self) -> None:
        self.refresh()

    def refresh(self) -> None:
        """Redraw now (normally done once per event-loop turn after ``apply_stats``)."""
        self._redraw_timer.stop()
        if not self.isVisible():
            self._stale = True
            return
        self._stale = False
        data, left = self._visible_samples()
        # Copies: the ring is written in place, and pyqtgraph keeps what it is
        # given until the next setData.
        data = data.copy()
        self._shown = data
        x = data[T]
        for series in SERIES:
            self.curves[series.key].setData(x, data[series.column])
        # A young run fills a fixed-width window from the left, then scrolls.
        right = max(self._now, 1.0 if self._window is None else self._window)
        self.plots[SERIES[0].key].setXRange(left, right, padding=0)
        for series in SERIES:
            column = data[series.column]
            top = float(column.max()) if column.size else 0.0
            self.plots[series.key].setYRange(0.0, _nice_top(top), padding=0)
        self._update_readout()

    def _visible_samples(self) -> tuple[np.ndarray, float]:
        """The samples in the selected window, and the window's left edge.

        The fine ring serves whenever it reaches back to the left edge; past
        that (the whole of a long run, or 10 minutes at a fast tick) the
        summary does, ending with the latest sample so the line reaches now.
        """
        ring = self._ring.view()
        left = 0.0 if self._window is None else max(0.0, self._now - self._window)
        if not self._ring.wrapped or (ring.shape[1] and ring[T, 0] <= left):
            return _from(ring, left), left
        summary = _from(self._summary.view(), left)
        return np.concatenate([summary, ring[:, -1:]], axis=1), left

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if self._stale:
            self.refresh()

    # ----------------------------------------------------------------- hover

    @Slot(object)
    def _on_scene_mouse_moved(self, args: tuple[QPointF]) -> None:
        pos = args[0]
        for plot in self.plots.values():
            if plot.vb.sceneBoundingRect().contains(pos):
                self.show_readout_at(plot.vb.mapSceneToView(pos).x())
                return
        self.show_readout_at(None)

    def show_readout_at(self, x: float | None) -> None:
        """Show the values at ``x`` elapsed seconds (None: the latest values)."""
        self._hover_x = x
        for line in self._crosshairs:
            line.setVisible(x is not None)
            if x is not None:
                line.setValue(x)
        self._update_readout()

    def _update_readout(self) -> None:
        data = self._shown
        if not data.shape[1]:
            self.readout_label.set_text("No samples yet")
            return
        if self._hover_x is None:
            index, prefix = data.shape[1] - 1, "now"
        else:
            index = _nearest(data[T], self._hover_x)
            prefix = "at"
        colours = self._theme.series
        parts = [f"{prefix} <b>{format_elapsed(data[T, index], 0.1)}</b>"]
        for series in SERIES:
            text = series.readout.format(data[series.column, index])
            parts.append(f'<span style="color:{colours[series.key]}">{text}</span>')
        self.readout_label.set_text(" · ".join(parts), urgent=self._hover_x is not None)

    def readout_text(self) -> str:
        """The read-out without markup (what a user reads; handy in tests)."""
        return _strip_tags(self.readout.text())

    # ----------------------------------------------------------------- theme

    def set_theme(self, theme: str) -> None:
        """Recolour for a "light" or "dark" background."""
        if theme not in THEMES:
            raise ValueError(f"no chart theme {theme!r}; the themes are: {', '.join(THEMES)}")
        self._theme = colours = THEMES[theme]
        self.graphics.setBackground(colours.background)
        for series in SERIES:
            plot = self.plots[series.key]
            for name in ("left", "bottom"):
                axis = plot.getAxis(name)
                axis.setPen(pg.mkPen(colours.foreground))
                axis.setTextPen(pg.mkPen(colours.foreground))
            self.curves[series.key].setPen(pg.mkPen(colours.series[series.key], width=1))
        for line in self._crosshairs:
            line.setPen(pg.mkPen(colours.crosshair, style=Qt.PenStyle.DashLine))
        self._update_readout()


def _from(data: np.ndarray, left: float) -> np.ndarray:
    """The columns of ``data`` from one sample before ``left`` on, so the line
    enters the plot from its edge instead of starting inside it."""
    start = max(0, int(np.searchsorted(data[T], left)) - 1)
    return data[:, start:]


def _nearest(times: np.ndarray, x: float) -> int:
    i = int(np.searchsorted(times, x))
    if i <= 0:
        return 0
    if i >= times.size:
        return times.size - 1
    return i if times[i] - x < x - times[i - 1] else i - 1


def _nice_top(value: float) -> float:
    """A y-axis top a little above ``value``: 0 to 1 for an empty plot."""
    return max(1.0, value * 1.1)


def _strip_tags(html: str) -> str:
    out, inside = [], False
    for char in html:
        if char == "<":
            inside = True
        elif char == ">":
            inside = False
        elif not inside:
            out.append(char)
    return "".join(out)
