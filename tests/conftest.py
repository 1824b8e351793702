"""Shared fixtures: a display for Qt, and a check that no test leaves a
thread or a child process behind."""

from __future__ import annotations

import os
import threading
import time

import psutil
import pytest

if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def _leftovers(before_threads: set[int]) -> tuple[list[threading.Thread], list[psutil.Process]]:
    threads = [t for t in threading.enumerate() if t.ident not in before_threads and t.is_alive()]
    children = [p for p in psutil.Process().children(recursive=True) if p.is_running()]
    return threads, children


@pytest.fixture(autouse=True)
def no_leftovers(request):
    """Fail a test that leaves a thread or a child process running.

    Threads get a short grace period to finish exiting after a pool's
    shutdown returned. Tests that knowingly abandon a hung thread mark
    themselves with ``@pytest.mark.leaves_threads``."""
    before = {t.ident for t in threading.enumerate()}
    yield
    if request.node.get_closest_marker("leaves_threads"):
        return
    deadline = time.monotonic() + 2.0
    threads, children = _leftovers(before)
    while (threads or children) and time.monotonic() < deadline:
        time.sleep(0.02)
        threads, children = _leftovers(before)
    for child in children:
        child.kill()
    assert not threads, f"test left threads running: {[t.name for t in threads]}"
    assert not children, f"test left child processes: {[c.pid for c in children]}"


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "leaves_threads: the test knowingly abandons a thread that is still running"
    )
