"""Dropping files on the window: the job dialog, the job on a real pool, and
its panel (progress, results, export, retry, stop rule), pasted paths and
``poolscope PATHS``."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import pytest
from PySide6.QtCore import QByteArray, QMimeData, QPoint, QPointF, Qt, QTimer, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QGuiApplication
from PySide6.QtWidgets import QApplication

from core import jobs as core_jobs
from core.jobs import InputState
from core.result_files import RESULT_FIELDS
from gui import app as poolscope_app
from gui.job_dialog import STOP_RULES, JobDialog
from gui.job_panel import Column, InputRowRole, JobPanel
from gui.main_window import CANCEL, MainWindow
from gui.settings import Settings

WAIT = 30_000
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def window(qtbot):
    window = MainWindow(Settings(thread_workers=3, process_workers=2, history=10_000))
    window.ask_on_close = lambda: CANCEL
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    qtbot.waitUntil(lambda: window.views[0].panels_built, timeout=WAIT)  # the shown tab, after its paint
    window.views[1].build_panels()  # so both pools' tables and charts take their share of the load
    yield window
    if window.isVisible():
        window.ask_on_close = lambda: CANCEL
        window.close()


def make_files(folder: Path, count: int, text: str = "line {}\n") -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    made = []
    for i in range(count):
        path = folder / f"f{i:04d}.txt"
        path.write_text(text.format(i))
        made.append(path)
    return made


def drop(window: MainWindow, paths: list[Path | str]) -> JobDialog:
    """What a file manager does: drag enter, then drop, with file URLs."""
    send_drop(window, paths)
    dialog = window.job_dialog
    assert dialog is not None and dialog.isVisible()
    return dialog


def send_drop(target, paths: list[Path | str]) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path)) for path in paths])
    enter = QDragEnterEvent(
        QPoint(40, 40),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(target, enter)
    assert enter.isAccepted(), "the drag was refused"
    event = QDropEvent(
        QPointF(40, 40),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(target, event)
    assert event.isAccepted()


def start(dialog: JobDialog, window: MainWindow) -> JobPanel:
    before = len(window.job_panels)
    dialog.start_button.click()
    assert not dialog.isVisible(), dialog.error
    assert len(window.job_panels) == before + 1
    return window.job_panels[-1]


def wait_finished(qtbot, panel: JobPanel, timeout: int = WAIT) -> None:
    qtbot.waitUntil(lambda: panel.job.finished and not panel.following, timeout=timeout)


def rows_by_name(panel: JobPanel) -> dict:
    model = panel.model
    rows = [model.index(i, 0).data(InputRowRole) for i in range(model.rowCount())]
    return {os.path.basename(row.input): row for row in rows}


def test_dropped_files_are_hashed_on_the_thread_pool(qtbot, qtmodeltester, window, tmp_path):
    made = make_files(tmp_path / "in", 6)
    tricky = tmp_path / "in" / "x; rm -rf ~ $(echo hi) 'q'.txt"
    tricky.write_text("tricky name\n")
    dialog = drop(window, [*made, tricky])
    assert dialog.paths == [str(p) for p in [*made, tricky]]
    dialog.set_processor("checksum")
    assert dialog.pool_kind == "thread"  # the processor's preference
    assert "checksum" in dialog.description.text()
    assert set(dialog.option_fields) == {"algorithm"}
    panel = start(dialog, window)
    assert window.jobs_dock.isVisible()
    wait_finished(qtbot, panel)

    rows = rows_by_name(panel)
    assert len(rows) == 7
    for path in [*made, tricky]:
        row = rows[path.name]
        assert row.state is InputState.DONE
        assert row.result["digest"] == hashlib.sha256(path.read_bytes()).hexdigest()
    model = panel.model
    first = model.index(0, Column.STATE)
    assert first.data() == "done" and model.index(0, Column.RESULT).data().startswith("algorithm: sha256")
    assert model.index(0, Column.DURATION).data().endswith(("ms", "s"))
    assert "7 found" in panel.state_label.text() and "finished" in panel.state_label.text()
    assert "done 7" in panel.counts_label.text()
    assert panel.progress_bar.value() == panel.progress_bar.maximum() == 7
    qtmodeltester.check(model)
    qtbot.waitUntil(lambda: window.progress.text().startswith("all 7"), timeout=WAIT)


def test_a_dropped_name_that_is_not_utf8_is_hashed(qtbot, window, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    raw = os.fsencode(folder) + b"/caf\xe9 \xff.txt"
    with open(raw, "wb") as handle:
        handle.write(b"latin-1 named\n")
    mime = QMimeData()
    # As a file manager sends it: the URL's bytes, percent-escaped, one a line.
    mime.setData(
        "text/uri-list", QByteArray(b"file://" + urllib.parse.quote_from_bytes(raw).encode() + b"\r\n")
    )
    enter = QDragEnterEvent(
        QPoint(40, 40),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted(), "the drag was refused"
    event = QDropEvent(
        QPointF(40, 40),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(window, event)
    dialog = window.job_dialog
    assert dialog is not None and dialog.isVisible()
    assert dialog.paths == [os.fsdecode(raw)]
    dialog.set_processor("checksum")
    panel = start(dialog, window)
    wait_finished(qtbot, panel)
    (row,) = panel.job.rows
    assert row.state is InputState.DONE and os.fsencode(row.input) == raw
    assert row.result["digest"] == hashlib.sha256(b"latin-1 named\n").hexdigest()
    shown = panel.model.index(0, Column.INPUT).data()
    assert "\\udce9" in shown or "\\xe9" in shown or "\ufffd" in shown  # shown escaped, not dropped


def test_a_dropped_folder_is_hashed_on_the_process_pool(qtbot, window, tmp_path):
    made = make_files(tmp_path / "in", 8) + make_files(tmp_path / "in" / "sub", 4)
    dialog = drop(window, [tmp_path / "in"])
    dialog.set_processor("checksum")
    dialog.set_option("algorithm", "blake2b")
    dialog.set_pool("process")
    dialog.workers_box.setValue(2)
    panel = start(dialog, window)
    assert window.tabs.currentIndex() == 1 and panel.pool_name == "Processes"
    wait_finished(qtbot, panel, timeout=60_000)
    rows = {row.input: row for row in panel.job.rows}
    assert len(rows) == 12
    for path in made:
        assert rows[str(path)].result["digest"] == hashlib.blake2b(path.read_bytes()).hexdigest()
    assert window.process_pool.stats().done == 12


def test_rejected_inputs_are_rows_with_their_reason(qtbot, window, tmp_path):
    folder = tmp_path / "in"
    made = make_files(folder, 3)
    os.mkfifo(folder / "pipe")
    os.symlink(tmp_path / "nowhere", folder / "dangling")
    dialog = drop(window, [folder, tmp_path / "missing.txt"])
    dialog.set_processor("checksum")
    panel = start(dialog, window)
    wait_finished(qtbot, panel)
    rows = rows_by_name(panel)
    assert {name for name, row in rows.items() if row.state is InputState.DONE} == {p.name for p in made}
    assert rows["missing.txt"].error == "does not exist"
    assert "FIFO" in rows["pipe"].error and "never opened" in rows["pipe"].error
    assert "broken symbolic link" in rows["dangling"].error
    index = panel.model.index(rows["pipe"].index, Column.ERROR)
    assert "FIFO" in index.data()
    assert panel.model.index(rows["pipe"].index, Column.STATE).data() == "rejected"
    assert "rejected 3" in panel.counts_label.text()
    panel.problems_box.setChecked(True)
    assert panel.proxy.rowCount() == 3
    panel.problems_box.setChecked(False)
    assert panel.proxy.rowCount() == 6


def test_the_dialog_refuses_bad_input_and_queues_nothing(qtbot, window, tmp_path):
    made = make_files(tmp_path / "in", 2)
    a_file = made[0]
    dialog = drop(window, made)
    for setup, message in [
        (lambda: dialog.set_processor("thumbnail"), "choose an output folder"),
        (lambda: dialog.out_dir_edit.setText(str(a_file)), "is a file, not a folder"),
        (lambda: dialog.set_processor("command"), "is required"),
        (lambda: dialog.set_option("template", "cp {path} {nowhere}"), "unknown placeholder {nowhere}"),
        (lambda: dialog.set_processor("python"), "is required"),
        (lambda: dialog.set_option("function", "no_such_module_here:go"), "no module named"),
        (lambda: dialog.extra_edit.setText("[1"), "not valid JSON"),
    ]:
        setup()
        dialog.start_button.click()
        assert dialog.isVisible()
        assert message in dialog.error, (message, dialog.error)
    dialog.set_paths([])
    dialog.set_processor("checksum")
    dialog.start_button.click()
    assert "nothing to process" in dialog.error
    assert window.thread_pool.stats().submitted == 0 and window.process_pool.stats().submitted == 0
    assert not window.job_panels

    dialog.add_paths([str(p) for p in made])
    panel = start(dialog, window)
    wait_finished(qtbot, panel)
    assert panel.job.count(InputState.DONE) == 2


def test_outputs_go_to_the_chosen_folder_and_overwrite_is_passed_on(qtbot, window, tmp_path):
    made = make_files(tmp_path / "in", 3)
    out = tmp_path / "out"
    out.mkdir()
    (out / "f0000.txt.gz").write_bytes(b"an earlier output")
    dialog = drop(window, made)
    dialog.set_processor("compress")
    assert dialog.overwrite_box.isEnabled() and not dialog.overwrite_box.isChecked()
    dialog.out_dir_edit.setText(str(out))
    panel = start(dialog, window)
    wait_finished(qtbot, panel)
    rows = rows_by_name(panel)
    assert rows["f0000.txt"].output == str(out / "f0000.txt (2).gz")  # the earlier one is kept
    assert (out / "f0000.txt.gz").read_bytes() == b"an earlier output"
    assert panel.model.index(rows["f0001.txt"].index, Column.OUTPUT).data() == str(out / "f0001.txt.gz")

    dialog = drop(window, [made[0]])
    assert dialog.processor.name == "compress" and dialog.out_dir_edit.text() == str(out)  # remembered
    dialog.overwrite_box.setChecked(True)
    panel = start(dialog, window)
    wait_finished(qtbot, panel)
    assert panel.job.rows[0].output == str(out / "f0000.txt.gz")
    assert (out / "f0000.txt.gz").read_bytes() != b"an earlier output"


def test_results_export_as_csv_and_json_like_poolscope_run(qtbot, window, tmp_path):
    made = make_files(tmp_path / "in", 4)
    dialog = drop(window, [*made, tmp_path / "missing"])
    dialog.set_processor("checksum")
    panel = start(dialog, window)
    wait_finished(qtbot, panel)

    panel.export_results(str(tmp_path / "r.json"))
    panel.export_results(str(tmp_path / "r.csv"))
    records = json.loads((tmp_path / "r.json").read_text())
    assert [tuple(record) for record in records] == [RESULT_FIELDS] * 5
    by_name = {os.path.basename(r["input"]): r for r in records}
    assert by_name["missing"]["state"] == "rejected" and by_name["missing"]["error"] == "does not exist"
    digest = hashlib.sha256(made[2].read_bytes()).hexdigest()
    assert by_name["f0002.txt"]["result"]["digest"] == digest
    assert by_name["f0002.txt"]["state"] == "done" and by_name["f0002.txt"]["seconds"] >= 0
    with open(tmp_path / "r.csv", newline="") as handle:
        table = list(csv.DictReader(handle))
    assert tuple(table[0]) == RESULT_FIELDS
    row = next(r for r in table if r["input"] == str(made[2]))
    assert json.loads(row["result"])["digest"] == digest


def test_retry_failed_runs_the_failed_inputs_again(qtbot, window, tmp_path):
    folder = tmp_path / "in"
    good = make_files(folder, 2)
    empty = [folder / f"empty{i}.txt" for i in range(3)]
    for path in empty:
        path.write_text("")
    dialog = drop(window, [folder])
    dialog.set_processor("text-stats")
    panel = start(dialog, window)
    wait_finished(qtbot, panel)
    rows = rows_by_name(panel)
    assert all("is empty" in rows[p.name].error for p in empty)
    assert all(rows[p.name].state is InputState.DONE for p in good)
    assert panel.retry_button.isEnabled()

    for path in empty:
        path.write_text("now there is text\n")
    panel.retry_button.click()
    wait_finished(qtbot, panel)
    assert panel.job.count(InputState.DONE) == 5 and len(panel.job.rows) == 5
    for path in empty:
        row = rows[path.name]
        assert row.result["lines"] == 1 and row.future.task.attempt == 2
    assert not panel.retry_button.isEnabled()


def test_the_stop_rule_halts_the_batch(qtbot, window, tmp_path):
    made = make_files(tmp_path / "in", 60)
    dialog = drop(window, [tmp_path / "in"])
    dialog.set_processor("command")
    dialog.set_option("template", "sh -c 'sleep 0.1; exit 3' {path}")
    dialog.set_pool("thread")
    dialog.workers_box.setValue(1)
    dialog.set_stop_rule(STOP_RULES.index("After N failures"), 3)
    panel = start(dialog, window)
    with qtbot.waitSignal(panel.halted, timeout=WAIT) as halted:
        pass
    assert "3 inputs failed" in halted.args[0]
    wait_finished(qtbot, panel)
    progress = panel.job.progress()
    assert progress.failed >= 3 and progress.cancelled > 0
    assert progress.failed + progress.cancelled == len(made)
    assert "halted" in panel.state_label.text()
    cancelled = [row for row in panel.job.rows if row.state is InputState.CANCELLED]
    assert all(row.error == "not run: the batch was halted" for row in cancelled)
    assert "exited with code 3" in panel.job.rows[0].error
    assert window.thread_pool.stats().queued == 0
    again = drop(window, made[:1])
    assert again.processor.name == "command" and again.stop_box.currentIndex() == 0  # never remembered
    again.reject()


def test_a_large_folder_keeps_the_window_responsive_and_counts_as_it_scans(
    qtbot, window, tmp_path, monkeypatch
):
    make_files(tmp_path / "big", 2_000)
    # The feeder's breather after every burst of files, made longer: the scan
    # then lasts several of the panel's ticks, so a count while it scans must show.
    monkeypatch.setattr(core_jobs, "FEEDER_PAUSE_SECONDS", 0.01)
    # Responsive: between two firings of a 10 ms timer, the GUI thread never
    # works long -- its own CPU time, which a machine that other work keeps
    # busy does not stretch -- nor waits long (for the GIL, say): that, by
    # the wall clock, with room for such a machine.
    turns, gaps = [], []
    probe = QTimer()
    probe.setInterval(10)
    last = [time.thread_time(), time.monotonic()]

    def on_probe() -> None:
        now = [time.thread_time(), time.monotonic()]
        turns.append(now[0] - last[0])
        gaps.append(now[1] - last[1])
        last[:] = now

    probe.timeout.connect(on_probe)
    dialog = drop(window, [tmp_path / "big"])
    dialog.set_processor("checksum")
    probe.start()
    panel = start(dialog, window)
    counts = []
    panel.scan_counted.connect(counts.append)
    shown = []
    panel.progressed.connect(shown.append)
    wait_finished(qtbot, panel, timeout=60_000)
    probe.stop()

    assert panel.job.count(InputState.DONE) == 2_000
    assert counts and counts == sorted(counts) and counts[-1] == 2_000
    while_scanning = [p.inputs for p in shown if p.scanning and 0 < p.inputs < 2_000]
    assert while_scanning, "no count was shown while the folder was being scanned"
    assert "2,000 found" in panel.state_label.text()
    assert panel.model.rowCount() == 2_000
    assert len(turns) >= 3  # it fired while the job ran
    assert max(turns) < 0.25, f"the GUI thread worked {max(turns):.3f} s without a break"
    assert max(gaps) < 2.0, f"the event loop stalled for {max(gaps):.3f} s"


def test_a_job_whose_scan_is_slower_than_its_work_is_one_batch_on_the_progress_bar(
    qtbot, window, tmp_path, monkeypatch
):
    make_files(tmp_path / "in", 200)
    # Bursts of a few files with a rest between them: the pool is done with
    # each burst before the next is queued.
    monkeypatch.setattr(core_jobs, "FEEDER_BURST", 8)
    monkeypatch.setattr(core_jobs, "FEEDER_PAUSE_SECONDS", 0.05)
    dialog = drop(window, [tmp_path / "in"])
    dialog.set_processor("checksum")
    shown: list[str] = []
    probe = QTimer(interval=10, timeout=lambda: shown.append(window.progress.text()))
    probe.start()
    panel = start(dialog, window)
    wait_finished(qtbot, panel, timeout=60_000)
    qtbot.waitUntil(lambda: window.progress.text() == "all 200 done", timeout=WAIT)
    probe.stop()
    assert not [text for text in shown if text.startswith("all") and text != "all 200 done"]


def test_cancelling_a_job_cancels_what_has_not_run(qtbot, window, tmp_path):
    make_files(tmp_path / "in", 30)
    window.thread_pool.pause()
    dialog = drop(window, [tmp_path / "in"])
    dialog.set_processor("checksum")
    panel = start(dialog, window)
    qtbot.waitUntil(lambda: panel.job.progress().inputs == 30 and not panel.job.feeding, timeout=WAIT)
    panel.cancel_button.click()
    wait_finished(qtbot, panel)
    window.thread_pool.resume()
    assert panel.job.count(InputState.CANCELLED) == 30
    assert "cancelled" in panel.state_label.text()
    assert panel.retry_button.isEnabled()


def test_closing_the_window_mid_job_leaves_nothing_running(qtbot, window, tmp_path):
    make_files(tmp_path / "in", 200)
    window.thread_pool.pause()
    dialog = drop(window, [tmp_path / "in"])
    dialog.set_processor("checksum")
    panel = start(dialog, window)
    qtbot.waitUntil(lambda: panel.job.progress().inputs > 0, timeout=WAIT)
    asked = []
    window.ask_on_close = lambda: asked.append(1) or CANCEL
    window.close()
    assert asked and not window.isVisible()
    # no_leftovers (tests/conftest.py) fails the test if the feeder thread or a worker lives on


def test_more_files_can_be_dropped_on_the_dialog(qtbot, window, tmp_path):
    made = make_files(tmp_path / "in", 3)
    dialog = drop(window, made[:1])
    send_drop(dialog, [made[0], *made[1:], tmp_path / "in"])  # the known one is not repeated
    assert dialog.paths == [str(made[0]), str(made[1]), str(made[2]), str(tmp_path / "in")]
    assert dialog.paths_count.text() == "4 paths"
    dialog.paths_list.item(3).setSelected(True)
    dialog.remove_button.click()
    assert dialog.paths == [str(p) for p in made]
    dialog.reject()


def test_pasted_paths_open_the_dialog(qtbot, window, tmp_path):
    made = make_files(tmp_path / "in", 2)
    clipboard = QGuiApplication.clipboard()
    clipboard.setText(f"{made[0]}\n\n{made[1]}\n")
    window.paste_paths_action.trigger()
    dialog = window.job_dialog
    assert dialog is not None and dialog.isVisible()
    assert dialog.paths == [str(p) for p in made]
    dialog.reject()

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(tmp_path / "in"))])
    clipboard.setMimeData(mime)
    dialog = window.paste_paths()
    assert dialog is not None and dialog.paths == [str(tmp_path / "in")]
    dialog.reject()

    clipboard.setText("")
    assert window.paste_paths() is None
    assert "no file or folder paths" in window.statusBar().currentMessage()


def test_poolscope_paths_opens_the_window_with_them_in_the_dialog(qtbot, tmp_path):
    made = make_files(tmp_path / "in", 2)
    args = poolscope_app.build_parser().parse_args(
        ["--workers", "1", "--process-workers", "1", str(made[0]), str(tmp_path / "in")]
    )
    window = poolscope_app.open_window(args)
    qtbot.addWidget(window)
    try:
        dialog = window.job_dialog
        assert dialog is not None and dialog.isVisible()
        assert dialog.paths == [str(made[0]), str(tmp_path / "in")]
    finally:
        window.ask_on_close = lambda: CANCEL
        window.close()


def test_poolscope_paths_from_a_terminal_with_a_screenshot_of_the_dialog(tmp_path):
    make_files(tmp_path / "in", 2)
    shot = tmp_path / "window.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path))
    done = subprocess.run(
        [
            *(sys.executable, "-m", "gui.app", "--process-workers", "1", "--quit-after", "2"),
            *("--screenshot", str(shot), str(tmp_path / "in")),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert shot.exists() and (tmp_path / "window-dialog.png").exists()
