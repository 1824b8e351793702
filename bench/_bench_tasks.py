"""Task functions for bench/process_pool_bench.py and bench/faults.py.

They live in their own module so that worker processes can import them by
name (``_bench_tasks.noop``): a function defined in the script run as
``__main__`` would travel as ``__main__.noop`` and depend on how each pool
re-imports the main module. The scripts put this folder on ``sys.path``
before any pool starts; forkserver, spawn and loky children inherit it.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import signal
import sys
import threading
import time

#: Read size of ``sha256_file``.
BLOCK = 16 * 1024


# ----------------------------------------------------------------- benchmark


def noop(x=None):
    return x


def sha256_file(path: str) -> str:
    """The hex SHA-256 of a file, read in ``BLOCK``-sized pieces."""
    digest = hashlib.sha256()
    buffer = bytearray(BLOCK)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buffer):
            digest.update(view[:n])
    return digest.hexdigest()


def where() -> tuple[str, str]:
    """Which file this module was imported from, and the first sys.path entry."""
    return __file__, sys.path[0]


# ---------------------------------------------------------------- fault matrix


def square(i: int) -> int:
    """A normal task."""
    return i * i


def hang(seconds: float = 60.0, pidfile: str | None = None) -> str:
    """A task that hangs (until it is killed); it writes its process id to
    ``pidfile`` first, so that a test knows for sure that it runs, and where."""
    if pidfile is not None:
        with open(pidfile + ".tmp", "w") as f:
            f.write(str(os.getpid()))
        os.replace(pidfile + ".tmp", pidfile)
    time.sleep(seconds)
    return "woke up"


def raise_value_error() -> None:
    raise ValueError("boom from the task")


def exit_hard(delay: float = 0.2) -> None:
    """Leave the worker process with os._exit in the middle of the task."""
    time.sleep(delay)
    os._exit(7)


def segfault(delay: float = 0.2) -> None:
    """Crash the worker process with a real SIGSEGV in the middle of the task."""
    time.sleep(delay)
    ctypes.string_at(0)


def call_sys_exit() -> None:
    sys.exit(3)


def raise_keyboard_interrupt() -> None:
    raise KeyboardInterrupt("interrupted inside the task")


def unpicklable_result() -> threading.Lock:
    return threading.Lock()


def kill_self_first_time(marker: str) -> tuple[str, int]:
    """SIGKILL the own worker process on the first call (no ``marker`` file
    yet); on the next call return the attempt number the task sees."""
    if not os.path.exists(marker):
        with open(marker, "w") as f:
            f.write(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(10)  # not reached
    from core import current_task

    return "second attempt ran", current_task().attempt
