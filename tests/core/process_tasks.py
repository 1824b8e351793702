"""Task functions for the ProcessPool tests.

They live at module level in a module of their own because a worker process
receives a task by pickle, that is by module and name: the child imports
``process_tasks`` (test_process_pool puts this folder on ``sys.path`` before
the first pool starts the forkserver, which hands its ``sys.path`` on to every
worker). No test functions here.
"""

from __future__ import annotations

import ctypes
import itertools
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from core import TaskCancelled, current_task, report_progress

# ------------------------------------------------------------- plain tasks


def noop() -> None:
    return None


def add(a: int, b: int = 0) -> int:
    return a + b


def blob(size: int) -> bytes:
    """``size`` bytes that are not all alike, so a garbled copy shows."""
    return bytes(range(256)) * (size // 256) + bytes(size % 256)


def pid() -> int:
    """The id of the worker process that runs the task."""
    return os.getpid()


def sleep_for(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def spin(seconds: float) -> int:
    """Keep a CPU busy for ``seconds``; returns how many rounds it made."""
    deadline = time.monotonic() + seconds
    rounds = 0
    while time.monotonic() < deadline:
        rounds += 1
    return rounds


def boom(message: str = "boom from the child") -> None:
    raise ValueError(message)


def positive(x: int) -> int:
    """``x`` itself; a ValueError for anything not above zero (one bad item of a map)."""
    if x <= 0:
        raise ValueError(f"{x} is not positive")
    return x


# --------------------------------------------------- tasks that end a worker


def die_by_sigkill() -> None:
    os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(10)  # the signal is on its way; never return normally


def exit_hard() -> None:
    os._exit(7)


def segfault() -> None:
    ctypes.string_at(0)


def kill_first_attempt(marker: str) -> str:
    """Kill the worker on the first call; later calls (retries) succeed.

    ``marker`` is a file path that does not exist yet: its creation records
    that the first attempt happened."""
    path = Path(marker)
    if not path.exists():
        path.write_text(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(10)
    return f"attempt after {path.read_text()}"


# ------------------------------------------------ exits that must not escape


def call_sys_exit(code: int = 3) -> None:
    sys.exit(code)


def raise_keyboard_interrupt() -> None:
    raise KeyboardInterrupt


# ----------------------------------------------------- pickling trouble


def return_unpicklable() -> Any:
    return threading.Lock()


def return_lambda() -> Any:
    return lambda: None


class UnpicklableError(Exception):
    """Pickles fine in the child, but cannot be rebuilt: unpickling calls
    ``UnpicklableError(*self.args)`` with one argument where two are required."""

    def __init__(self, code: int, detail: str) -> None:
        super().__init__(f"code {code}: {detail}")
        self.code = code
        self.detail = detail


def raise_unpicklable_error() -> None:
    raise UnpicklableError(42, "cannot come back in one piece")


# ----------------------------------------------------- progress and cancel


def report_steps(steps: int = 4, pause: float = 0.06) -> int:
    """Report ``steps`` evenly spaced fractions, slowly enough that none is
    throttled (the child sends progress at most every 0.05 s)."""
    for step in range(1, steps + 1):
        time.sleep(pause)
        report_progress(step / steps, f"step {step} of {steps}")
    return steps


def wait_for_cancel(limit: float = 10.0) -> str:
    """Run until asked to cancel, then stop by raising TaskCancelled.

    Reports progress 0.0 first, so a test knows the task runs in the child."""
    report_progress(0.0, "waiting for cancel")
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if current_task().cancel_requested:
            raise TaskCancelled("stopped by itself after cancel was requested")
        time.sleep(0.005)
    return "never cancelled"


def attempt_after_first_failure(marker: str) -> int:
    """Fail the first attempt (marked by a file), then say which attempt this is."""
    if not os.path.exists(marker):
        open(marker, "w").close()
        raise RuntimeError("the first attempt fails")
    return current_task().attempt


# ------------------------------------- inputs of jobs (the python processor)
# The python processor finds these by name (process_tasks:...). On a thread
# pool they share this module with the test, so a test can hold and count them.

#: held inputs wait for this
GATE = threading.Event()
#: how often each input was processed
CALLS: dict[str, int] = {}
_calls_lock = threading.Lock()


def _count(path: str) -> int:
    with _calls_lock:
        CALLS[path] = CALLS.get(path, 0) + 1
        return CALLS[path]


def held_input(path: str) -> dict[str, Any]:
    """Process an input once the test opens ``GATE``."""
    if not GATE.wait(10.0):
        raise RuntimeError("the gate was never opened")
    return {"path": path, "calls": _count(path)}


def input_failing_once(path: str) -> dict[str, Any]:
    """Fail the first time an input is processed, succeed after."""
    calls = _count(path)
    if calls == 1:
        raise RuntimeError(f"first try at {os.path.basename(path)}")
    return {"path": path, "calls": calls}


# --------------------------------------- gates, the GIL, chunks, time-outs
# (for the process pool tests of shutdown, idle deaths, prefetch and chunks)


def wait_at_gate(gate: str, value: Any = None) -> Any:
    """Wait until the test lets this task through ``gate``, a FIFO that the
    test holds open and writes one byte to per task: a busy worker that ends
    when told, without sleeps. Reports progress 0.0 once it waits there."""
    with open(gate, "rb", buffering=0) as fifo:
        report_progress(0.0, "at the gate")
        if not fifo.read(1):
            raise RuntimeError("the gate was closed before this task was let through")
    return value


def record_run(path: str, value: Any) -> int:
    """Append ``value`` and this process's id to ``path``, one line per run
    (one write with O_APPEND: lines of several processes never mix), and
    return the id: a test can count where, and how often, a task ran."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, f"{value} {os.getpid()}\n".encode())
    finally:
        os.close(fd)
    return os.getpid()


def hold_the_gil() -> int:
    """Say that it runs, then stay for minutes in C code that never lets go of
    the GIL: no other thread of the worker (its lifeline) runs meanwhile."""
    report_progress(0.0, "holding the GIL")
    return sum(itertools.repeat(1, 10**11))


def hang_first_attempt(marker: str) -> int:
    """Hang on the first attempt (it creates ``marker``), so that a time-out
    ends it; a later attempt returns its attempt number at once."""
    if not os.path.exists(marker):
        open(marker, "w").close()
        time.sleep(60)
    return current_task().attempt


def exit_or_square(x: int) -> int:
    """``x * x``, except: 3 calls sys.exit(3), 5 raises KeyboardInterrupt, and
    a negative one raises ValueError (items of a map chunk)."""
    if x == 3:
        sys.exit(3)
    if x == 5:
        raise KeyboardInterrupt
    if x < 0:
        raise ValueError(f"{x} is negative")
    return x * x
