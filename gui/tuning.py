"""Process settings for a window that shares its interpreter with busy pools.

Measured under a storm of events and a million tasks (bench/gui_bench.py):

- a 1 ms switch interval: Qt calls back into Python all the time, and each
  call waits for the GIL up to one interval while pool threads hold it;
- short garbage collections, and none while a view is busy with a storm
  of events: the start-up objects frozen out of them; small young and
  middle generations (passes of a millisecond or two); no automatic full
  pass, which walks every row the window holds (70-100 ms with the tasks
  table full). While a view holds collections back (``hold_collections``:
  a storm allocates tens of thousands of short-lived objects a second, and
  passing over them took a quarter of the storm's time, in pauses of up to
  a fifth of a second), only reference counting frees memory; when the
  last view lets go, what piled up is frozen out of the young generations,
  and ``QuietCollector`` passes over everything once the process is quiet
  (or, in an endless storm, once every few minutes), so garbage in
  reference cycles does not pile up for ever;
- on glibc, fixed malloc thresholds: by default glibc raises its mmap
  threshold each time a large block is freed, so the event batches and
  tables of a long run end up in the heap, whose freed pages it keeps; the
  resident size then crept up by tens of megabytes on a run whose live data
  stayed flat.
"""

from __future__ import annotations

import ctypes
import gc
import sys
import time

from PySide6.QtCore import QObject, QTimer

__all__ = ["QuietCollector", "hold_collections", "release_collections", "tune_process"]

#: Young and middle generation thresholds (see the module docstring).
YOUNG_THRESHOLD = 5_000
MIDDLE_THRESHOLD = 2
#: Who holds collections back now (ids of the holders).
_holders: set[int] = set()
#: So high that the interpreter itself never starts a full pass in practice.
OLD_THRESHOLD = 1_000_000

#: glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def tune_process() -> None:
    """Apply the settings above; harmless to call twice."""
    sys.setswitchinterval(min(sys.getswitchinterval(), 0.001))
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, MIDDLE_THRESHOLD, OLD_THRESHOLD)
    _tune_malloc()


def hold_collections(holder: object) -> None:
    """No cyclic garbage collection until every holder has released."""
    if not _holders:
        gc.disable()
    _holders.add(id(holder))


def release_collections(holder: object) -> None:
    """Undo ``hold_collections``; the last release freezes what was made
    meanwhile (so the next young pass does not walk all of it) and lets
    collections run again. Harmless for a holder that holds nothing."""
    if id(holder) not in _holders:
        return
    _holders.discard(id(holder))
    if not _holders:
        gc.freeze()
        gc.enable()


class QuietCollector(QObject):
    """Runs the full garbage collection that ``tune_process`` took from the
    interpreter, at a moment nobody waits for it.

    Quiet means the process used little CPU over the last ``check_every``
    seconds (below ``quiet_below``, a share of one core): no storm of events
    is being drawn, no pool thread is busy in this interpreter. (The rate of
    young collections says less: a storm's objects mostly die young, and
    collections came as rarely as in a quiet window.) A pass is due once
    objects reached the old generation or were frozen since the last one; it
    takes in the frozen objects too (what ``release_collections`` froze) and
    freezes what survives, the start-up objects with it. An endless storm
    still gets one every ``at_least_every`` seconds, so garbage in reference
    cycles cannot pile up for ever."""

    def __init__(
        self,
        parent: QObject | None = None,
        check_every: float = 2.0,
        quiet_below: float = 0.2,
        at_least_every: float = 300.0,
    ) -> None:
        super().__init__(parent)
        self.quiet_below = quiet_below
        self.at_least_every = at_least_every
        self.collections = 0  # full passes run here
        self._frozen = gc.get_freeze_count()  # what the last pass froze
        self._cpu = time.process_time()
        self._checked = self._last = time.monotonic()
        self._timer = QTimer(self)
        self._timer.setInterval(round(check_every * 1000))
        self._timer.timeout.connect(self._on_timer_timeout)
        self._timer.start()

    def _on_timer_timeout(self) -> None:
        now, cpu = time.monotonic(), time.process_time()
        quiet = cpu - self._cpu < self.quiet_below * (now - self._checked)
        # Middle passes since the last full one, or objects frozen since.
        due = gc.get_count()[2] > 0 or gc.get_freeze_count() != self._frozen
        if due and (quiet or now - self._last > self.at_least_every):
            gc.unfreeze()
            gc.collect()
            gc.freeze()
            self._frozen = gc.get_freeze_count()
            self.collections += 1
            self._last = time.monotonic()
        self._cpu, self._checked = time.process_time(), time.monotonic()


def _tune_malloc() -> None:
    if not sys.platform.startswith("linux"):
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library the process runs on
    except (OSError, AttributeError):
        return  # not glibc (musl has no mallopt): nothing to tune
    mallopt(_M_MMAP_THRESHOLD, 128 * 1024)  # large blocks stay in mmap, returned when freed
    mallopt(_M_TRIM_THRESHOLD, 1024 * 1024)  # give freed heap back past 1 MiB
