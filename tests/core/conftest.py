"""Core tests share fixtures, and import their shared tools (``pool_test_tools``) and the task
functions worker processes run (``process_tasks``) from this folder."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from core import ThreadPool

# On sys.path before any test module or pool exists: the forkserver, started
# by the first ProcessPool, hands this path on to every worker process.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from pool_test_tools import Hold, Recorder

# Thread pool fixtures; test_process_pool.py has its own for process pools.


@pytest.fixture
def make_pool() -> Iterator[Callable[..., ThreadPool]]:
    pools: list[ThreadPool] = []

    def make(workers: int = 2, queue_size: int = 0) -> ThreadPool:
        pool = ThreadPool(workers=workers, queue_size=queue_size)
        pools.append(pool)
        return pool

    yield make
    for pool in pools:
        pool.shutdown(wait=True, cancel_futures=True)


@pytest.fixture
def pool(make_pool: Callable[..., ThreadPool]) -> ThreadPool:
    return make_pool()


@pytest.fixture
def hold(make_pool: Callable[..., ThreadPool]) -> Iterator[Hold]:
    # Requests make_pool so that it is torn down first: held tasks are released
    # before their pools shut down and wait for them.
    held = Hold()
    yield held
    held.release()


@pytest.fixture
def events(pool: ThreadPool) -> Recorder:
    return Recorder(pool)
