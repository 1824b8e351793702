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


def _multiprocessing_helpers() -> set[int]:
    """multiprocessing's own helpers (the forkserver and the resource
    tracker): shared by every pool, they live until the interpreter exits."""
    from multiprocessing import forkserver, resource_tracker

    pids = {
        getattr(forkserver._forkserver, "_forkserver_pid", None),
        getattr(resource_tracker._resource_tracker, "_pid", None),
    }
    return {pid for pid in pids if pid}


def _leftovers(before_threads: set[int]) -> tuple[list[threading.Thread], list[psutil.Process]]:
    threads = [t for t in threading.enumerate() if t.ident not in before_threads and t.is_alive()]
    helpers = _multiprocessing_helpers()
    children = []
    # Pool workers are the forkserver's children: checked like any other.
    for child in psutil.Process().children(recursive=True):
        try:
            if child.pid in helpers or child.status() == psutil.STATUS_ZOMBIE:
                continue
        except psutil.NoSuchProcess:
            continue
        children.append(child)
    return threads, children


@pytest.fixture(autouse=True)
def private_folders(tmp_path, monkeypatch):
    """The user's data and config folders, per test: no test (nor a program it
    starts) reads or writes the real history file or settings."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))


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
