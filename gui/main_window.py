"""PoolScope's main window: a thread pool, live figures, demo work.

The window owns a ``core.ThreadPool`` and a ``core.signals.PoolSignals`` that
drains its events about 30 times a second; every widget here updates from
those signals on the GUI thread and never reaches into the pool's internals.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QSettings, Qt, Slot
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QVBoxLayout,
    QWidget,
)

from core import PoolStats, TaskError, ThreadPool
from core.demo import demo_batch
from core.signals import PoolSignals

from . import resources

__all__ = ["MainWindow"]

#: How many failures the "Recent failures" list keeps.
RECENT_FAILURES = 200


class _Tile(QFrame):
    """One big live number with a caption."""

    def __init__(self, caption: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("tile")
        self.value = QLabel("0", objectName="tileValue")
        self.value.setAlignment(Qt.AlignmentFlag.AlignCenter)
        label = QLabel(caption.upper(), objectName="tileCaption")
        label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout = QVBoxLayout(self)
        layout.addWidget(self.value)
        layout.addWidget(label)

    def set(self, text: str) -> None:
        if self.value.text() != text:
            self.value.setText(text)


class MainWindow(QMainWindow):
    """The PoolScope window around one thread pool."""

    def __init__(self, workers: int = 4, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("PoolScope")
        self.setWindowIcon(resources.icon("poolscope"))
        self.pool = ThreadPool(workers=workers)
        self.signals = PoolSignals(self.pool, parent=self)
        self._batch_total = 0
        self._batch_base = 0
        self._batch_started = 0.0

        self._build_actions()
        self._build_central()
        self._build_status_bar()

        self.signals.stats_changed.connect(self._on_pool_stats_changed)
        self.signals.task_failed.connect(self._on_pool_task_failed)
        self._restore_settings()

    # ------------------------------------------------------------------ build

    def _build_actions(self) -> None:
        toolbar = self.addToolBar("Pool")
        toolbar.setObjectName("poolToolBar")
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        menu = self.menuBar().addMenu("&Pool")

        def action(text: str, icon: str, shortcut: str, slot, tip: str) -> QAction:
            act = QAction(resources.icon(icon), text, self)
            act.setShortcut(QKeySequence(shortcut))
            act.setStatusTip(tip)
            act.setToolTip(f"{tip} ({QKeySequence(shortcut).toString()})")
            act.triggered.connect(slot)
            toolbar.addAction(act)
            menu.addAction(act)
            return act

        self.run_demo_action = action(
            "Run demo tasks",
            "run-demo",
            "Ctrl+D",
            self.run_demo_tasks,
            "Queue a mix of sleeps, CPU work, progress reporters and failures",
        )
        self.pause_action = action(
            "Pause", "pause", "Ctrl+P", self._on_pause_triggered, "Stop or restart handing out tasks"
        )
        self.pause_action.setCheckable(True)
        toolbar.addSeparator()
        self.add_worker_action = action(
            "Add worker", "add-worker", "Ctrl+=", self._on_add_worker_triggered, "Start one more worker"
        )
        self.dismiss_worker_action = action(
            "Dismiss worker",
            "dismiss-worker",
            "Ctrl+-",
            self._on_dismiss_worker_triggered,
            "Dismiss one worker: an idle one at once, else a busy one after its task",
        )
        toolbar.addSeparator()
        self.cancel_queued_action = action(
            "Cancel queued",
            "cancel",
            "Ctrl+K",
            self._on_cancel_queued_triggered,
            "Cancel every task that has not started",
        )
        menu.addSeparator()
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        menu.addAction(quit_action)
        help_menu = self.menuBar().addMenu("&Help")
        about = QAction("&About PoolScope", self)
        about.triggered.connect(self._on_about_triggered)
        help_menu.addAction(about)

    def _build_central(self) -> None:
        central = QWidget(self)
        layout = QVBoxLayout(central)
        layout.setContentsMargins(12, 12, 12, 12)
        layout.setSpacing(10)

        grid = QGridLayout()
        grid.setSpacing(10)
        self.tiles = {
            name: _Tile(caption)
            for name, caption in [
                ("queued", "Queued"),
                ("running", "Running"),
                ("done", "Done"),
                ("failed", "Failed"),
                ("rate", "Tasks / s"),
                ("workers", "Workers"),
            ]
        }
        for column, tile in enumerate(self.tiles.values()):
            grid.addWidget(tile, 0, column)
        layout.addLayout(grid)

        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("No batch yet: press Run demo tasks")
        layout.addWidget(self.progress)

        layout.addWidget(QLabel("Recent failures (hover for the traceback)"))
        self.failures = QListWidget()
        self.failures.setAlternatingRowColors(True)
        layout.addWidget(self.failures, stretch=1)
        self.setCentralWidget(central)

    def _build_status_bar(self) -> None:
        self.status_label = QLabel()
        self.statusBar().addPermanentWidget(self.status_label)

    # ---------------------------------------------------------------- actions

    @Slot()
    def run_demo_tasks(self, count: int = 60) -> None:
        """Queue a batch of demo tasks on the pool."""
        stats = self.pool.stats()
        if not stats.queued and not stats.running:
            self._batch_total = 0
            self._batch_base = stats.done + stats.failed + stats.cancelled
            self._batch_started = time.monotonic()
        for task in demo_batch(count):
            self.pool.schedule(task.fn, task.args, label=task.label)
        self._batch_total += count
        self.statusBar().showMessage(f"Queued {count} demo tasks", 3000)

    @Slot(bool)
    def _on_pause_triggered(self, checked: bool) -> None:
        if checked:
            self.pool.pause()
            self.pause_action.setText("Resume")
            self.pause_action.setIcon(resources.icon("resume"))
        else:
            self.pool.resume()
            self.pause_action.setText("Pause")
            self.pause_action.setIcon(resources.icon("pause"))

    @Slot()
    def _on_add_worker_triggered(self) -> None:
        self.pool.add_workers(1)

    @Slot()
    def _on_dismiss_worker_triggered(self) -> None:
        if not self.pool.dismiss_workers(1):
            self.statusBar().showMessage("No worker left to dismiss", 3000)

    @Slot()
    def _on_cancel_queued_triggered(self) -> None:
        count = self.pool.cancel_queued()
        self.statusBar().showMessage(f"Cancelled {count} queued tasks", 3000)

    @Slot()
    def _on_about_triggered(self) -> None:
        QMessageBox.about(
            self,
            "About PoolScope",
            "<h3>PoolScope</h3><p>Run work on thread and process pools and watch "
            "every task and worker: queue depth, throughput, failures with their "
            "tracebacks.</p>",
        )

    # ------------------------------------------------------------ pool events

    @Slot(object)
    def _on_pool_stats_changed(self, stats: PoolStats) -> None:
        self.tiles["queued"].set(f"{stats.queued:,}")
        self.tiles["running"].set(f"{stats.running:,}")
        self.tiles["done"].set(f"{stats.done:,}")
        self.tiles["failed"].set(f"{stats.failed:,}")
        self.tiles["rate"].set(f"{stats.tasks_per_second:,.0f}")
        self.tiles["workers"].set(f"{stats.workers}")
        state = "paused" if stats.paused else "running"
        self.status_label.setText(
            f"{state} · queued {stats.queued:,} · running {stats.running:,} · done {stats.done:,} · "
            f"failed {stats.failed:,} · {stats.tasks_per_second:,.1f} tasks/s"
        )
        self._update_progress(stats)

    def _update_progress(self, stats: PoolStats) -> None:
        if not self._batch_total:
            return
        finished = stats.done + stats.failed + stats.cancelled - self._batch_base
        finished = max(0, min(finished, self._batch_total))
        self.progress.setRange(0, self._batch_total)
        self.progress.setValue(finished)
        left = self._batch_total - finished
        if not left:
            self.progress.setFormat(f"Batch done: {finished} of {self._batch_total}")
            return
        elapsed = time.monotonic() - self._batch_started
        eta = ""
        if finished and elapsed > 0.5:
            eta = f" · about {left * elapsed / finished:,.0f} s left"
        self.progress.setFormat(f"%v of %m tasks (%p%){eta}")

    @Slot(object)
    def _on_pool_task_failed(self, event) -> None:
        error: TaskError = event.payload
        item = QListWidgetItem(f"task {event.task_id}: {error}")
        item.setToolTip(f"<pre>{_escape(error.traceback or str(error))}</pre>")
        self.failures.insertItem(0, item)
        while self.failures.count() > RECENT_FAILURES:
            self.failures.takeItem(self.failures.count() - 1)

    # ---------------------------------------------------------------- closing

    def _restore_settings(self) -> None:
        geometry = QSettings().value("main_window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(960, 600)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        """Cancel what has not started, let running tasks end, stop every worker."""
        QSettings().setValue("main_window/geometry", self.saveGeometry())
        self.signals.close()
        self.pool.terminate()
        self.pool.join()
        super().closeEvent(event)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
