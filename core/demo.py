"""Demo tasks: what the window's "Run demo tasks" puts on a pool.

Module-level functions, so that a process pool can run them too.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from .task import current_task, report_progress

__all__ = ["DemoTask", "burn_cpu", "demo_batch", "demo_task", "nap", "report_steps", "unlucky"]


def nap(seconds: float) -> float:
    """Sleep for ``seconds``; returns them."""
    time.sleep(seconds)
    return seconds


def burn_cpu(rounds: int) -> str:
    """Hash a block ``rounds`` times; returns the last digest's start."""
    digest = b"poolscope"
    for _ in range(rounds):
        digest = hashlib.sha256(digest * 64).digest()
    return digest.hex()[:16]


def report_steps(steps: int, seconds_per_step: float) -> int:
    """Work in ``steps`` steps, reporting progress after each; stops early
    (as CANCELLED) when asked to."""
    for step in range(1, steps + 1):
        time.sleep(seconds_per_step)
        report_progress(step / steps, f"step {step} of {steps}")
        current_task().raise_if_cancelled()
    return steps


class DemoFailure(RuntimeError):
    """What an unlucky demo task raises."""


def unlucky(chance: float, seconds: float = 0.05, seed: int | None = None) -> str:
    """Sleep a little, then fail with probability ``chance``."""
    time.sleep(seconds)
    rng = random.Random(seed)
    if rng.random() < chance:
        _fail_deep(rng.choice(["disk full", "checksum mismatch", "connection reset"]))
    return "lucky"


def _fail_deep(reason: str) -> None:
    # A couple of frames, so the traceback viewer has something to show.
    def parse_record(reason: str) -> None:
        raise DemoFailure(f"demo failure: {reason}")

    parse_record(reason)


class DemoTask(NamedTuple):
    fn: Callable[..., Any]
    args: tuple
    label: str


def demo_batch(count: int = 60, seed: int | None = None) -> list[DemoTask]:
    """A mix of short sleeps, CPU work, progress reporters and failures."""
    rng = random.Random(seed)
    return [demo_task(i, rng) for i in range(count)]


def demo_task(i: int, rng: random.Random) -> DemoTask:
    """The ``i``-th task of a demo batch, of a kind drawn from ``rng``."""
    kind = rng.choices(["sleep", "cpu", "progress", "fail"], weights=[4, 3, 2, 1])[0]
    if kind == "sleep":
        seconds = round(rng.uniform(0.05, 0.6), 2)
        return DemoTask(nap, (seconds,), f"sleep {seconds:g} s #{i}")
    if kind == "cpu":
        rounds = rng.randrange(2_000, 20_000)
        return DemoTask(burn_cpu, (rounds,), f"cpu {rounds} rounds #{i}")
    if kind == "progress":
        steps = rng.randrange(5, 15)
        return DemoTask(report_steps, (steps, 0.05), f"progress {steps} steps #{i}")
    return DemoTask(unlucky, (0.7, 0.1, rng.randrange(1 << 30)), f"may fail #{i}")
