"""The first window: it starts, runs demo tasks on a real pool, and closes
leaving no worker behind."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QCoreApplication, QSettings

from gui.main_window import MainWindow


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path, monkeypatch):
    QCoreApplication.setOrganizationName("PoolScopeTests")
    QCoreApplication.setApplicationName("PoolScopeTests")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path))


@pytest.fixture
def window(qtbot):
    window = MainWindow(workers=3)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    yield window
    if window.isVisible():
        window.close()


def test_demo_tasks_run_and_the_status_bar_follows(qtbot, window):
    window.run_demo_tasks(count=24)

    def batch_finished():
        stats = window.pool.stats()
        assert stats.done + stats.failed == 24

    qtbot.waitUntil(batch_finished, timeout=30000)
    stats = window.pool.stats()
    qtbot.waitUntil(lambda: f"done {stats.done}" in window.status_label.text(), timeout=5000)
    assert window.tiles["done"].value.text() == f"{stats.done:,}"
    assert window.progress.value() == 24
    # Every failure is listed with its traceback in the tooltip.
    qtbot.waitUntil(lambda: window.failures.count() == stats.failed, timeout=5000)
    for row in range(window.failures.count()):
        assert "Traceback" in window.failures.item(row).toolTip()


def test_toolbar_steers_the_real_pool(qtbot, window):
    window.add_worker_action.trigger()
    assert window.pool.stats().workers == 4
    window.dismiss_worker_action.trigger()
    qtbot.waitUntil(lambda: window.pool.stats().workers == 3, timeout=5000)

    window.pause_action.trigger()
    assert window.pool.paused
    assert window.pause_action.text() == "Resume"
    window.run_demo_tasks(count=10)
    assert window.pool.stats().running == 0
    window.cancel_queued_action.trigger()
    assert window.pool.stats().cancelled == 10
    window.pause_action.trigger()
    assert not window.pool.paused


def test_close_stops_every_worker(qtbot, window):
    window.run_demo_tasks(count=30)
    qtbot.waitUntil(lambda: window.pool.stats().running > 0, timeout=5000)
    window.close()
    assert window.pool.stats().closed
    assert all(w.state.value == "joined" for w in window.pool.workers) or not window.pool.workers
