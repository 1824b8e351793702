"""Process settings for a window that shares its interpreter with busy pools.

Measured under a storm of events and a million tasks (bench/gui_bench.py):

- a 1 ms switch interval: Qt calls back into Python all the time, and each
  call waits for the GIL up to one interval while pool threads hold it;
- fewer, cheaper garbage collections: the start-up objects frozen out of
  them, and a larger young generation (full passes over a big backlog of
  events took up to half a second);
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

__all__ = ["tune_process"]

#: glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def tune_process() -> None:
    """Apply the settings above; harmless to call twice."""
    sys.setswitchinterval(min(sys.getswitchinterval(), 0.001))
    gc.freeze()
    threshold, *older = gc.get_threshold()
    gc.set_threshold(max(threshold, 20_000), *older)
    _tune_malloc()


def _tune_malloc() -> None:
    if not sys.platform.startswith("linux"):
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library the process runs on
    except (OSError, AttributeError):
        return  # not glibc (musl has no mallopt): nothing to tune
    mallopt(_M_MMAP_THRESHOLD, 128 * 1024)  # large blocks stay in mmap, returned when freed
    mallopt(_M_TRIM_THRESHOLD, 1024 * 1024)  # give freed heap back past 1 MiB
