"""The main window on real pools: tabs, toolbar, dialogs, status, closing."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable

import pytest
from PySide6.QtCore import QRect, QSettings, QSize, Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import (
    QApplication,
    QDialogButtonBox,
    QMainWindow,
    QMenu,
    QMessageBox,
    QSplitter,
    QWidget,
)

from core.demo import nap, unlucky
from gui.app import build_parser, open_window
from gui.enqueue_dialog import KINDS, EnqueueDialog, PlannedTask
from gui.main_window import CANCEL, FINISH, STAY, MainWindow, version
from gui.settings import Settings, SettingsDialog
from gui.task_table_model import Column
from gui.workers_panel import COL_ID

WAIT = 20_000


def wait_for_gate(gate: threading.Event) -> str:
    """A thread task that ignores cancellation: it ends when the test says so."""
    if not gate.wait(WAIT / 1000):
        raise TimeoutError("the test never opened the gate")
    return "through"


def answer_popup(kind: type[QWidget], answer: Callable[[QWidget], object]) -> QTimer:
    """Answer the next visible top-level ``kind`` (a message box, a menu)
    from a timer: the code under test is blocked in its ``exec()`` meanwhile.
    The timer stops once it answered; a test checks ``not timer.isActive()``."""
    timer = QTimer()
    timer.setInterval(10)

    def look() -> None:
        for widget in QApplication.topLevelWidgets():
            if isinstance(widget, kind) and widget.isVisible():
                timer.stop()
                answer(widget)
                return

    timer.timeout.connect(look)
    timer.start()
    return timer


def active_timers(window: MainWindow) -> list[str]:
    return [t.objectName() or repr(t.parent()) for t in window.findChildren(QTimer) if t.isActive()]


def close_and_wait(qtbot, window: MainWindow) -> None:
    """Close with cancel and quit, and wait until the window really closed
    (it waits, alive, for running tasks to stop)."""
    window.ask_on_close = lambda: CANCEL
    window.close()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=WAIT)


@pytest.fixture
def window(qtbot):
    """A shown window on real pools. Not given to ``qtbot.addWidget``: that
    closes and deletes it before this fixture's end, while the close may
    still wait for running tasks; here the close is waited for, then the
    timers are checked, then it is deleted."""
    window = MainWindow(Settings(thread_workers=3, process_workers=2, history=1000))
    window.ask_on_close = lambda: CANCEL
    window.show()
    qtbot.waitExposed(window)
    qtbot.waitUntil(lambda: window.views[0].panels_built, timeout=WAIT)  # the shown tab, after its paint
    window.views[1].build_panels()  # the hidden one would wait a moment
    yield window
    if window.isVisible():
        close_and_wait(qtbot, window)
    # STYLE rule 12 for timers: a closed window runs none (the fixture in
    # tests/conftest.py checks threads and processes).
    assert not active_timers(window), f"timers still running after the close: {active_timers(window)}"
    window.deleteLater()


def finished(pool) -> int:
    stats = pool.stats()
    return stats.done + stats.failed + stats.cancelled


def test_two_pools_side_by_side(window):
    assert [window.tabs.tabText(i) for i in range(window.tabs.count())] == ["Threads", "Processes"]
    assert window.thread_pool.stats().workers == 3
    assert window.process_pool.stats().workers == 2


def test_demo_tasks_on_both_pools_fill_the_panels_and_the_status(qtbot, window):
    window.run_demo_tasks(count=16, pool_index=0)
    window.run_demo_tasks(count=8, pool_index=1)
    qtbot.waitUntil(
        lambda: finished(window.thread_pool) == 16 and finished(window.process_pool) == 8, timeout=60_000
    )
    qtbot.waitUntil(lambda: window.progress.value() == 24, timeout=WAIT)
    assert window.progress.text().startswith("all 24")
    threads = window.views[0]
    qtbot.waitUntil(lambda: threads.tasks.model.rowCount() == 16, timeout=WAIT)
    assert "Threads" in window.status_label.text()
    window.tabs.setCurrentIndex(1)
    qtbot.waitUntil(lambda: "Processes" in window.status_label.text(), timeout=WAIT)
    qtbot.waitUntil(lambda: window.views[1].tasks.model.rowCount() == 8, timeout=WAIT)


def test_toolbar_acts_on_the_current_pool(qtbot, window):
    window.tabs.setCurrentIndex(0)
    window.add_worker_action.trigger()
    assert window.thread_pool.stats().workers == 4
    window.dismiss_worker_action.trigger()
    qtbot.waitUntil(lambda: window.thread_pool.stats().workers == 3, timeout=WAIT)

    window.pause_action.trigger()
    assert window.thread_pool.paused and not window.process_pool.paused
    assert window.pause_action.text() == "Resume"
    window.run_demo_tasks(count=10, pool_index=0)
    assert window.thread_pool.stats().running == 0
    window.cancel_queued_action.trigger()
    assert window.thread_pool.stats().cancelled == 10

    window.tabs.setCurrentIndex(1)
    assert window.pause_action.text() == "Pause"  # the process pool is not paused
    window.tabs.setCurrentIndex(0)
    window.pause_action.trigger()
    assert not window.thread_pool.paused


def test_clear_finished_empties_the_table_of_finished_rows(qtbot, window):
    window.run_demo_tasks(count=6, pool_index=0)
    view = window.views[0]
    qtbot.waitUntil(lambda: view.tasks.model.finished_count == 6, timeout=WAIT)
    window.clear_finished_action.trigger()
    assert view.tasks.model.rowCount() == 0


def test_enqueue_dialog_refuses_bad_input_and_queues_good(qtbot, window):
    dialog = window.open_enqueue_dialog()
    dialog.kind_box.setCurrentIndex(KINDS.index("Call a Python function"))
    ok = dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok)

    for name, arguments, message in [
        ("", "", "name the function"),
        ("no_such_module_here:run", "", "no module named 'no_such_module_here'"),
        ("math:pi", "", "not something that can be called"),
        ("math:nope", "", "has no attribute 'nope'"),
        ("math:factorial", "[5", "not valid JSON"),
        ("not a name", "", "package.module:function"),
    ]:
        dialog.function_edit.setText(name)
        dialog.arguments_edit.setPlainText(arguments)
        ok.click()
        assert dialog.isVisible()
        assert message in dialog.error_label.text()
    assert window.thread_pool.stats().submitted == 0

    dialog.count_box.setValue(3)
    dialog.function_edit.setText("math:factorial")
    dialog.arguments_edit.setPlainText("[5]")
    ok.click()
    assert not dialog.isVisible()
    qtbot.waitUntil(lambda: window.thread_pool.stats().done == 3, timeout=WAIT)


def test_enqueue_dialog_demo_kinds_go_to_the_chosen_pool(qtbot, window):
    dialog = window.open_enqueue_dialog()
    dialog.pool_box.setCurrentIndex(1)
    dialog.kind_box.setCurrentIndex(KINDS.index("Sleep"))
    dialog.count_box.setValue(4)
    dialog.sleep_min.setValue(0.01)
    dialog.sleep_max.setValue(0.02)
    dialog.accept()
    qtbot.waitUntil(lambda: window.process_pool.stats().done == 4, timeout=WAIT)
    assert window.thread_pool.stats().submitted == 0


def test_a_function_that_cannot_reach_a_worker_process_is_refused_in_the_dialog(
    qtbot, window, tmp_path, monkeypatch
):
    (tmp_path / "lambdas_here.py").write_text("shout = lambda text: text.upper()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    dialog = window.open_enqueue_dialog()
    dialog.kind_box.setCurrentIndex(KINDS.index("Call a Python function"))
    dialog.function_edit.setText("lambdas_here:shout")
    dialog.arguments_edit.setPlainText('["hi"]')
    dialog.pool_box.setCurrentIndex(1)  # Processes
    dialog.accept()
    assert dialog.isVisible()
    assert "cannot be sent to a worker process" in dialog.error_label.text()
    assert window.process_pool.stats().submitted == 0

    dialog.pool_box.setCurrentIndex(0)  # a thread takes it as it is
    dialog.count_box.setValue(2)
    dialog.accept()
    assert not dialog.isVisible()
    qtbot.waitUntil(lambda: window.thread_pool.stats().done == 2, timeout=WAIT)


def test_a_large_batch_goes_in_a_slice_at_a_time_and_the_window_keeps_working(qtbot, window):
    pool = window.thread_pool
    pool.pause()  # so that everything queued stays queued, to be counted
    dialog = window.open_enqueue_dialog()
    dialog.kind_box.setCurrentIndex(KINDS.index("Sleep"))
    dialog.count_box.setValue(30_000)
    fired = []
    probe = QTimer(interval=5, timeout=lambda: fired.append(pool.stats().queued))
    probe.start()
    dialog.accept()
    assert 0 < pool.stats().queued < 30_000  # the first slice, at once
    assert window._work_left()
    qtbot.waitUntil(lambda: pool.stats().queued == 30_000, timeout=WAIT)
    probe.stop()
    assert any(0 < queued < 30_000 for queued in fired), "the window did not run while it queued"
    assert "Queued 30,000 tasks on Threads" in window.statusBar().currentMessage()
    assert pool.stats().submitted == 30_000
    pool.cancel_queued()
    pool.resume()


def test_a_task_the_pool_refuses_stops_the_batch_and_says_how_far_it_got(qtbot, window):
    answered = answer_popup(QMessageBox, lambda box: box.accept())
    window.thread_pool.close()  # it takes nothing more
    window.enqueue([PlannedTask(nap, (0.01,), {}, f"late {i}") for i in range(3)], pool_index=0)
    qtbot.waitUntil(lambda: not answered.isActive(), timeout=WAIT)
    message = window.statusBar().currentMessage()
    assert "Threads took 0 of 3 tasks, then refused one: PoolClosed" in message
    assert not window._work_left()


def test_settings_resize_pools_and_are_remembered(qtbot, window):
    dialog = window.open_settings()
    dialog.thread_workers.setValue(5)
    dialog.process_workers.setValue(1)
    dialog.history.setValue(500)
    dialog.theme.setCurrentText("dark")
    dialog.accept()
    assert window.thread_pool.stats().workers == 5
    qtbot.waitUntil(lambda: window.process_pool.stats().workers == 1, timeout=WAIT)
    assert window.views[0].tasks.model.max_finished == 500
    assert window.theme_action.isChecked()
    remembered = Settings.load()
    assert (remembered.thread_workers, remembered.process_workers, remembered.history, remembered.theme) == (
        5,
        1,
        500,
        "dark",
    )


def test_closing_with_work_running_asks_and_stay_keeps_everything(qtbot, window):
    window.run_demo_tasks(count=30, pool_index=0)
    asked = []
    window.ask_on_close = lambda: asked.append(1) or STAY
    window.close()
    assert asked and window.isVisible()
    assert not window.thread_pool.stats().closed


def test_cancel_and_quit_stops_every_worker(qtbot, window):
    from core import EventKind

    buffers = [pool.events.buffer() for pool in window.pools]  # before the ids: no worker slips between
    ids = [{w.id for w in pool.workers} for pool in window.pools]
    window.run_demo_tasks(count=30, pool_index=0)
    window.run_demo_tasks(count=10, pool_index=1)
    qtbot.waitUntil(lambda: window.thread_pool.stats().running > 0, timeout=WAIT)
    window.ask_on_close = lambda: CANCEL
    window.close()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=WAIT)  # naps cannot be stopped, only waited for
    for pool, buffer, started in zip(window.pools, buffers, ids, strict=True):
        assert pool.stats().closed
        assert pool.stats().running == 0 and pool.stats().queued == 0
        assert pool.workers == []  # joined workers leave the list
        events = buffer.drain()
        started |= {e.worker_id for e in events if e.kind is EventKind.WORKER_STARTED}
        assert started and {e.worker_id for e in events if e.kind is EventKind.WORKER_JOINED} == started


def test_finish_then_quit_lets_queued_work_run(qtbot, window):
    window.run_demo_tasks(count=8, pool_index=0)
    window.ask_on_close = lambda: FINISH
    window.close()
    assert window.isVisible()  # still finishing
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=60_000)
    stats = window.thread_pool.stats()
    assert stats.done + stats.failed == 8 and stats.cancelled == 0


def splitter_sizes(window: MainWindow, view_index: int) -> dict[str, list[int]]:
    view = window.views[view_index]
    return {s.objectName(): s.sizes() for s in view.findChildren(QSplitter) if s.objectName()}


def test_geometry_and_splitters_are_restored_in_the_next_window(qtbot, window):
    window.resize(1111, 777)
    qtbot.waitUntil(lambda: window.size() == QSize(1111, 777), timeout=WAIT)
    for name, first in (("Threads/main", 200), ("Threads/bottom", 600), ("Threads/left", 250)):
        splitter = window.views[0].findChild(QSplitter, name)
        assert splitter is not None, name
        total = sum(splitter.sizes())
        splitter.setSizes([first, total - first])
    expected = splitter_sizes(window, 0)
    assert expected["Threads/main"][0] == 200
    window.tabs.setCurrentIndex(1)
    window.close()
    assert not window.isVisible()
    settings = QSettings()
    assert int(settings.value("main_window/tab")) == 1
    # What this platform makes of the saved geometry: the offscreen test
    # screen (800 px wide) shrinks a window wider than itself.
    probe = QMainWindow()
    assert probe.restoreGeometry(settings.value("main_window/geometry"))
    if probe.screen().availableGeometry().contains(QRect(probe.pos(), QSize(1111, 777))):
        assert probe.size() == QSize(1111, 777)

    again = MainWindow(Settings(thread_workers=1, process_workers=1))
    qtbot.addWidget(again)
    try:
        assert again.geometry() == probe.geometry()
        assert again.size() != QSize(1280, 820)  # not what a first start gets
        assert again.tabs.currentIndex() == 1
        again.resize(1111, 777)  # the splitters' room as it was, whatever the screen
        again.show()
        qtbot.waitExposed(again)
        again.tabs.setCurrentIndex(0)
        qtbot.waitUntil(lambda: again.views[0].panels_built, timeout=WAIT)
        qtbot.waitUntil(lambda: splitter_sizes(again, 0) == expected, timeout=WAIT)
    finally:
        close_and_wait(qtbot, again)


# ------------------------------------------------------- the real close dialog


@pytest.mark.parametrize("button", ["Finish, then quit", "Cancel and quit", "Stay"])
def test_the_close_dialog_maps_its_buttons(qtbot, window, button):
    """The real question (no replaced ``ask_on_close``), answered by clicking."""
    window.ask_on_close = window._ask_on_close  # what the window asks with, unless a test replaces it
    gate = threading.Event()
    held = [PlannedTask(wait_for_gate, (gate,), {}, f"held {i}") for i in range(3)]  # every worker
    window.enqueue([*held, *(PlannedTask(nap, (0.01,), {}, f"queued {i}") for i in range(4))], pool_index=0)
    qtbot.waitUntil(lambda: window.thread_pool.stats().running == 3, timeout=WAIT)
    asked: list[str] = []

    def click(box: QMessageBox) -> None:
        asked.append(box.text())
        [choice] = [b for b in box.buttons() if b.text() == button]
        choice.click()

    answering = answer_popup(QMessageBox, click)
    window.close()
    assert not answering.isActive(), "the close dialog never showed"
    assert asked and re.search(r"\d+ tasks are running and \d+ are queued", asked[0])
    stats = window.thread_pool.stats
    if button == "Stay":
        assert window.isVisible() and not stats().closed
        gate.set()
        qtbot.waitUntil(lambda: stats().done == 7, timeout=WAIT)
        return
    assert window.isVisible()  # waiting, alive, for the held task
    gate.set()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=WAIT)
    assert stats().closed
    if button == "Finish, then quit":
        assert stats().done == 7 and stats().cancelled == 0
    else:
        assert (stats().done, stats().cancelled) == (3, 4)


# ----------------------------------------------------------- cancel and quit


def test_cancel_and_quit_waits_alive_for_a_thread_task_that_will_not_stop(qtbot, window):
    gate = threading.Event()
    window.enqueue([PlannedTask(wait_for_gate, (gate,), {}, "stubborn")], pool_index=0)
    window.enqueue([PlannedTask(nap, (0.01,), {}, f"queued {i}") for i in range(20)], pool_index=1)
    qtbot.waitUntil(lambda: window.thread_pool.stats().running == 1, timeout=WAIT)
    window.ask_on_close = lambda: CANCEL
    window.close()  # returns at once: no shutdown(wait=True) on the GUI thread
    assert window.isVisible()
    message = window.statusBar().currentMessage()
    assert "waiting for 1 running thread task" in message, message
    assert not window.enqueue_action.isEnabled() and not window.run_demo_action.isEnabled()
    # The event loop runs meanwhile: the views go on ticking.
    with qtbot.waitSignal(window.views[0].stats_changed, timeout=WAIT):
        pass
    window.close()  # asked again: still waiting, nothing blocks
    assert window.isVisible()
    gate.set()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=WAIT)
    for pool in window.pools:
        assert pool.stats().closed and pool.stats().running == 0
        assert all(w.state.value == "joined" for w in pool.workers)
    assert window.store is None  # the history was closed too


# ---------------------------------------------------------- command line


def test_command_line_values_are_used_but_never_saved(qtbot):
    Settings(thread_workers=2, process_workers=1, theme="light").save()
    args = build_parser().parse_args(
        ["--workers", "3", "--process-workers", "2", "--theme", "dark", "--no-history"]
    )
    window = open_window(args)
    qtbot.addWidget(window)
    try:
        assert (window.thread_pool.stats().workers, window.process_pool.stats().workers) == (3, 2)
        assert window.theme_action.isChecked()

        dialog = window.open_settings()
        assert (dialog.thread_workers.value(), dialog.process_workers.value()) == (3, 2)
        dialog.accept()  # as shown: the command-line values stay this session's
        saved = Settings.load()
        assert (saved.thread_workers, saved.process_workers, saved.theme) == (2, 1, "light")
        assert window.thread_pool.stats().workers == 3

        window.theme_action.trigger()  # the user's own choice: saved, the rest still not
        saved = Settings.load()
        assert (saved.thread_workers, saved.process_workers, saved.theme) == (2, 1, "light")
        window.theme_action.trigger()
        assert Settings.load().theme == "dark"

        dialog = window.open_settings()
        dialog.thread_workers.setValue(4)  # a value the user changes is remembered
        dialog.accept()
        saved = Settings.load()
        assert (saved.thread_workers, saved.process_workers) == (4, 1)
        assert window.thread_pool.stats().workers == 4
        assert window.process_pool.stats().workers == 2
    finally:
        close_and_wait(qtbot, window)


# ------------------------------------------------------------ enqueue dialog


def test_the_enqueue_dialog_time_out_makes_tasks_time_out(qtbot, window):
    dialog = window.open_enqueue_dialog()
    dialog.pool_box.setCurrentIndex(1)  # processes: a timed-out task's process is killed
    dialog.kind_box.setCurrentIndex(KINDS.index("Sleep"))
    dialog.count_box.setValue(2)
    dialog.sleep_min.setValue(5.0)
    dialog.sleep_max.setValue(5.0)
    assert dialog.timeout_box.text() == "none"
    dialog.timeout_box.setValue(0.3)
    dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok).click()
    assert not dialog.isVisible()
    assert all(task.timeout == 0.3 for task in dialog.planned)
    qtbot.waitUntil(lambda: window.process_pool.stats().failed == 2, timeout=WAIT)
    model = window.views[1].tasks.model
    qtbot.waitUntil(
        lambda: [model.display(row, Column.STATE) for row in model.rows()] == ["timed out"] * 2, timeout=WAIT
    )


# -------------------------------------------------------------- shortcuts


def test_keyboard_shortcuts(qtbot, window):
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=WAIT)
    ctrl, alt = Qt.KeyboardModifier.ControlModifier, Qt.KeyboardModifier.AltModifier

    QTest.keyClick(window, Qt.Key.Key_N, ctrl)
    dialogs = [w for w in QApplication.topLevelWidgets() if isinstance(w, EnqueueDialog) and w.isVisible()]
    assert len(dialogs) == 1
    dialogs[0].reject()
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=WAIT)

    QTest.keyClick(window, Qt.Key.Key_P, ctrl)
    assert window.thread_pool.paused and window.pause_action.text() == "Resume"
    QTest.keyClick(window, Qt.Key.Key_D, ctrl)
    assert window.thread_pool.stats().submitted == 60 and window.thread_pool.stats().running == 0
    QTest.keyClick(window, Qt.Key.Key_P, ctrl)
    assert not window.thread_pool.paused

    QTest.keyClick(window, Qt.Key.Key_2, alt)
    assert window.tabs.currentIndex() == 1
    QTest.keyClick(window, Qt.Key.Key_1, alt)
    assert window.tabs.currentIndex() == 0

    history_shown = window.history_dock.isVisible()
    QTest.keyClick(window, Qt.Key.Key_H, ctrl)
    assert window.history_dock.isVisible() != history_shown
    jobs_shown = window.jobs_dock.isVisible()
    QTest.keyClick(window, Qt.Key.Key_J, ctrl)
    assert window.jobs_dock.isVisible() != jobs_shown


def test_keyboard_shortcuts_for_the_pool(qtbot, window):
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=WAIT)
    ctrl, shift = Qt.KeyboardModifier.ControlModifier, Qt.KeyboardModifier.ShiftModifier
    pool = window.thread_pool
    workers = pool.stats().workers

    QTest.keyClick(window, Qt.Key.Key_Equal, ctrl)  # add a worker
    qtbot.waitUntil(lambda: pool.stats().workers == workers + 1, timeout=WAIT)
    QTest.keyClick(window, Qt.Key.Key_Minus, ctrl)  # dismiss one
    qtbot.waitUntil(lambda: pool.stats().workers == workers, timeout=WAIT)

    pool.pause()
    window.enqueue([PlannedTask(nap, (0.01,), {}, f"queued {i}") for i in range(3)], pool_index=0)
    QTest.keyClick(window, Qt.Key.Key_K, ctrl)  # cancel queued
    assert pool.stats().cancelled == 3
    tasks = window.views[0].tasks
    qtbot.waitUntil(lambda: tasks.model.finished_count == 3, timeout=WAIT)
    QTest.keyClick(window, Qt.Key.Key_L, ctrl)  # clear finished
    assert tasks.model.rowCount() == 0
    pool.resume()

    theme = window.settings.theme
    QTest.keyClick(window, Qt.Key.Key_T, ctrl | shift)
    assert window.settings.theme != theme

    QTest.keyClick(window, Qt.Key.Key_Comma, ctrl)  # settings
    [dialog] = [w for w in window.findChildren(SettingsDialog) if w.isVisible()]
    dialog.reject()


# ------------------------------------------------------- about, icons, status


def test_the_about_box_names_the_version(qtbot, window):
    [about] = [a for a in window.menuBar().actions()[-1].menu().actions() if "About" in a.text()]
    texts: list[str] = []
    answering = answer_popup(QMessageBox, lambda box: (texts.append(box.text()), box.accept()))
    about.trigger()
    assert not answering.isActive()
    assert re.fullmatch(r"\d+\.\d+(\.\d+)?\S*", version())
    assert f"PoolScope {version()}" in texts[0]


def test_process_files_has_its_own_icon(window):
    from gui import resources

    assert "process-files" in resources.icon_names()
    icon = window.process_files_action.icon()
    assert not icon.isNull()
    assert icon.pixmap(24, 24).toImage() == resources.icon("process-files").pixmap(24, 24).toImage()


def test_progress_shows_an_eta_and_the_status_bar_the_pool_figures(qtbot, window):
    gate = threading.Event()
    quick = [PlannedTask(nap, (0.01,), {}, f"quick {i}") for i in range(5)]
    failing = [PlannedTask(unlucky, (1.0, 0.0), {}, "fails")]
    window.enqueue([*quick, *failing, PlannedTask(wait_for_gate, (gate,), {}, "held")], pool_index=0)
    # Six of seven end at once; an estimate shows from half a second on.
    qtbot.waitUntil(lambda: "left" in window.progress.text(), timeout=WAIT)
    assert re.fullmatch(r"6 of 7 \(85%\) · \d+ s left", window.progress.text()), window.progress.text()
    gate.set()
    qtbot.waitUntil(lambda: window.progress.text() == "all 7 done", timeout=WAIT)
    qtbot.waitUntil(lambda: "done 6 " in window.status_label.text(), timeout=WAIT)
    assert re.fullmatch(
        r"Threads: running · 3 workers · queued 0 · running 0 · done 6 · failed 1 · [\d.,]+ tasks/s",
        window.status_label.text(),
    ), window.status_label.text()


def test_retries_from_the_inspector_are_a_batch_of_their_own_on_the_progress_bar(qtbot, window):
    failing = [PlannedTask(unlucky, (1.0, 0.0, seed), {}, f"fails #{seed}") for seed in range(3)]
    window.enqueue([*failing, *(PlannedTask(nap, (0.01,), {}, f"quick {i}") for i in range(2))], 0)
    qtbot.waitUntil(lambda: window.progress.text() == "all 5 done", timeout=WAIT)
    inspector = window.views[0].inspector
    qtbot.waitUntil(lambda: inspector.failure_count == 3, timeout=WAIT)
    group = inspector.groups[0]  # the demo's failures come in kinds: one or more of them
    retried = group.count
    inspector.select_group(group)
    with qtbot.waitSignal(inspector.tasks_retried, timeout=WAIT):
        qtbot.mouseClick(inspector.retry_group_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.progress.text() == f"all {retried} done", timeout=WAIT)
    assert window.thread_pool.stats().submitted == 5 + retried


# ------------------------------------------------------------ right-clicks


def test_right_click_a_queued_task_and_cancel_it(qtbot, window):
    window.thread_pool.pause()
    window.enqueue([PlannedTask(nap, (0.01,), {}, f"queued {i}") for i in range(3)], pool_index=0)
    tasks = window.views[0].tasks
    qtbot.waitUntil(lambda: tasks.model.rowCount() == 3, timeout=WAIT)
    row = tasks.model.row_at(1)
    position = tasks.view.visualRect(tasks.proxy.index(1, Column.LABEL)).center()
    chosen: list[list[str]] = []

    def cancel(menu: QMenu) -> None:
        chosen.append([a.text() for a in menu.actions() if a.isEnabled()])
        [action] = [a for a in menu.actions() if a.text() == "Cancel"]
        action.trigger()
        menu.close()

    answering = answer_popup(QMenu, cancel)
    tasks.view.customContextMenuRequested.emit(position)
    assert not answering.isActive()
    assert "Cancel" in chosen[0] and "Retry" not in chosen[0]  # a queued task: nothing to retry yet
    assert window.thread_pool.stats().cancelled == 1
    qtbot.waitUntil(lambda: tasks.model.display(tasks.model.find(row.task_id), Column.STATE) == "cancelled")
    assert [tasks.model.display(r, Column.STATE) for r in tasks.model.rows()].count("cancelled") == 1
    window.thread_pool.resume()


def test_right_click_a_worker_and_join_the_dismissed(qtbot, window):
    panel = window.views[0].workers_panel
    window.thread_pool.dismiss_workers(1)
    panel.refresh()
    index = panel.proxy.index(0, COL_ID)
    menus: list[list[str]] = []

    def join(menu: QMenu) -> None:
        menus.append([a.text() for a in menu.actions() if a.text()])
        [action] = [a for a in menu.actions() if a.text() == "Join dismissed"]
        action.trigger()
        menu.close()

    with qtbot.waitSignal(panel.workers_joined, timeout=WAIT) as joined:
        answering = answer_popup(QMenu, join)
        panel.table.customContextMenuRequested.emit(panel.table.visualRect(index).center())
        assert not answering.isActive()
    assert menus[0] == ["Dismiss selected", "Add N", "Dismiss N", "Join dismissed"]
    assert len(joined.args[0]) == 1
    assert window.thread_pool.stats().workers == 2
