"""PoolScope's main window: a thread pool and a process pool, each in a tab
with live charts, a task stream, its tasks, workers and failures.

The window owns the pools. Toolbar actions act on the pool of the current
tab; the status bar shows that pool's live figures and the overall progress
of what was queued, with an estimate of the time left.

Files and folders dropped on the window (or pasted, or named on the command
line) open the job dialog; each job it starts gets a panel in the Jobs dock
and a run in the history (core.store), shown in the History dock::

    drop / paste / poolscope PATHS ─► JobDialog ─► core.jobs.Job on the chosen pool ─► JobPanel
                                                        └─► core.recorded_jobs.JobRun ─► Store
    History: Resume / Retry failures / the offer at start ─► plan_resume ─► a Job over what
                                                        did not end, into the same run

The history opens just after the window is first shown (it is not needed for
the first paint); a run the last session left unfinished is then offered
for resuming.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEvent, QSettings, Qt, QTimer, Slot
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QGuiApplication,
    QKeySequence,
)
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QTabWidget,
    QWidget,
)

from core import Pool, PoolStats, ProcessPool, ThreadPool
from core.demo import demo_batch
from core.errors import StoreError
from core.jobs import Job, JobSpec
from core.recorded_jobs import JobRun, ResumePlan, plan_resume

from . import resources
from .enqueue_dialog import EnqueueDialog, PlannedTask
from .enqueuing import Feed
from .history_panel import HistoryPanel
from .job_dialog import POOL_KINDS, JobDialog, PathDropTarget, paths_from_mime
from .job_panel import JobPanel, JobsDock
from .pool_view import PoolView
from .settings import Settings, SettingsDialog
from .tuning import QuietCollector, tune_process

if TYPE_CHECKING:
    from core.store import Store

__all__ = ["MainWindow"]

FINISH, CANCEL, STAY = "finish", "cancel", "stay"
#: The history opens this long after the window is created: after its first paint.
HISTORY_OPEN_DELAY_MS = 150
#: While a close waits for work to end, it looks again this often.
CLOSE_POLL_MS = 100
#: A cancel and quit waits this long (seconds) for running tasks to stop
#: before it shows that it waits: tasks that stop at once close the window at
#: once, without a status message flashing by.
CLOSE_GRACE = 0.25
#: Settings the command line may set for one session (``poolscope --workers``…).
OVERRIDABLE = ("thread_workers", "process_workers", "theme")


class MainWindow(PathDropTarget, QMainWindow):
    """The PoolScope window around a thread pool and a process pool."""

    def __init__(
        self,
        settings: Settings | None = None,
        parent: QWidget | None = None,
        *,
        history: str | bool | None = None,
        overrides: Mapping[str, Any] | None = None,
    ) -> None:
        """``history``: None records jobs as the settings say, False records
        nothing, a path records into that file (``poolscope --db``).

        ``overrides``: settings the command line sets for this session only
        (names from ``OVERRIDABLE``). They are used, never saved: saving the
        settings later (the theme toggle, the settings dialog) writes what
        the user chose, not ``--workers 32`` given once."""
        super().__init__(parent)
        #: what is remembered between sessions (never holds the overrides)
        self.settings = settings or Settings.load()
        unknown = set(overrides or ()) - set(OVERRIDABLE)
        if unknown:
            raise ValueError(f"cannot override {sorted(unknown)}; these can: {', '.join(OVERRIDABLE)}")
        #: this session's values from the command line, until the user picks others
        self.overrides: dict[str, Any] = dict(overrides or {})
        effective = self.effective_settings
        self.setWindowTitle("PoolScope")
        self.setWindowIcon(resources.icon("poolscope"))
        self.thread_pool = ThreadPool(workers=effective.thread_workers)
        self.process_pool = ProcessPool(workers=effective.process_workers)
        self.views = [
            PoolView(self.thread_pool, "Threads", self.settings.history),
            PoolView(self.process_pool, "Processes", self.settings.history),
        ]
        #: Asked when the window closes with work running: FINISH, CANCEL or STAY.
        self.ask_on_close: Callable[[], str] = self._ask_on_close
        #: FINISH or CANCEL once the user chose to quit; None before
        self._closing: str | None = None
        self._ready_to_close = False
        self._shut = False
        self._close_timer = QTimer(self)
        self._close_timer.setInterval(CLOSE_POLL_MS)
        self._close_timer.timeout.connect(self._on_close_timer_timeout)
        #: The batch the progress bar follows: the tasks submitted to the
        #: pools since they were last seen idle (retries included), counted
        #: from the pools' own figures. None until the first one.
        self._batch_base: int | None = None
        self._batch_started = 0.0
        #: tasks submitted in all when the pools were last seen idle
        self._idle_at = 0
        #: plans still going into a pool (see enqueue)
        self._feeds: list[Feed] = []

        self.tabs = QTabWidget(documentMode=True)
        for view, icon in zip(self.views, ("threads", "processes"), strict=True):
            self.tabs.addTab(view, resources.icon(icon), view.name)
            view.stats_changed.connect(self._on_view_stats_changed)
        self.tabs.currentChanged.connect(self._on_tabs_current_changed)
        self.setCentralWidget(self.tabs)
        self.jobs_dock = JobsDock(self)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.jobs_dock)
        #: the job dialog last opened (for tests and scripts)
        self.job_dialog: JobDialog | None = None
        #: the history file, once open (None while closed or off)
        self.store: Store | None = None
        self._history_choice = history
        self._history_opened = False
        self._job_runs: dict[JobPanel, JobRun] = {}
        self.history_panel = HistoryPanel(None)
        self.history_panel.set_unavailable("Opening the history…")
        self.history_panel.set_keep_runs(self.settings.keep_runs)
        self.history_panel.resume_requested.connect(self._on_history_panel_resume_requested)
        self.history_panel.retry_requested.connect(self._on_history_panel_retry_requested)
        self.history_panel.keep_runs_changed.connect(self._on_history_panel_keep_runs_changed)
        self.history_dock = QDockWidget("History", self)
        self.history_dock.setObjectName("historyDock")
        self.history_dock.setWidget(self.history_panel)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.history_dock)
        self.tabifyDockWidget(self.jobs_dock, self.history_dock)
        self.setAcceptDrops(True)
        self._build_actions()
        self._build_status_bar()
        self._restore_geometry()
        self.jobs_dock.hide()  # whatever the last session left: no job yet
        self.set_theme(effective.theme)
        tune_process()  # the window shares its interpreter with busy pools (gui.tuning)
        self._collector = QuietCollector(self)
        QTimer.singleShot(HISTORY_OPEN_DELAY_MS, self.open_history)

    # ------------------------------------------------------------------ build

    def _build_actions(self) -> None:
        toolbar = self.addToolBar("Main")
        toolbar.setObjectName("mainToolBar")
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        file_menu = self.menuBar().addMenu("&File")
        edit_menu = self.menuBar().addMenu("&Edit")
        pool_menu = self.menuBar().addMenu("&Pool")
        view_menu = self.menuBar().addMenu("&View")
        help_menu = self.menuBar().addMenu("&Help")

        def action(text, icon, shortcut, slot, tip, menu, on_toolbar=True) -> QAction:
            act = QAction(text, self)
            if icon:
                act.setIcon(resources.icon(icon))
            if shortcut:
                act.setShortcut(QKeySequence(shortcut))
                tip = f"{tip} ({act.shortcut().toString(QKeySequence.SequenceFormat.NativeText)})"
            act.setStatusTip(tip)
            act.setToolTip(tip)
            act.triggered.connect(slot)
            menu.addAction(act)
            if on_toolbar:
                toolbar.addAction(act)
            return act

        self.process_files_action = action(
            "Process files…",
            "process-files",
            "Ctrl+O",
            self._on_process_files_triggered,
            "Checksum, thumbnail, compress… files and folders (or drop them on the window)",
            file_menu,
        )
        self.enqueue_action = action(
            "Enqueue…", "enqueue", "Ctrl+N", self.open_enqueue_dialog, "Queue tasks on a pool", file_menu
        )
        self.paste_paths_action = action(
            "Paste paths",
            None,
            QKeySequence.StandardKey.Paste,
            self.paste_paths,
            "Process the files and folders on the clipboard (paths one a line, or copied files)",
            edit_menu,
            False,
        )
        self.run_demo_action = action(
            "Run demo tasks",
            "run-demo",
            "Ctrl+D",
            self._on_run_demo_triggered,
            "Queue a mix of sleeps, CPU work, progress reporters and failures",
            file_menu,
        )
        file_menu.addSeparator()
        self.settings_action = action(
            "Settings…",
            "settings",
            "Ctrl+,",
            self.open_settings,
            "Workers, history and theme",
            file_menu,
            False,
        )
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)
        toolbar.addSeparator()

        self.pause_action = action(
            "Pause",
            "pause",
            "Ctrl+P",
            self._on_pause_triggered,
            "Stop or restart handing out tasks",
            pool_menu,
        )
        self.pause_action.setCheckable(True)
        self.cancel_queued_action = action(
            "Cancel queued",
            "cancel",
            "Ctrl+K",
            self._on_cancel_queued_triggered,
            "Cancel every task of this pool that has not started",
            pool_menu,
        )
        self.clear_finished_action = action(
            "Clear finished",
            "clear",
            "Ctrl+L",
            self._on_clear_finished_triggered,
            "Remove finished tasks from this pool's table",
            pool_menu,
        )
        toolbar.addSeparator()
        self.add_worker_action = action(
            "Add worker",
            "add-worker",
            "Ctrl+=",
            self._on_add_worker_triggered,
            "Start one more worker",
            pool_menu,
        )
        self.dismiss_worker_action = action(
            "Dismiss worker",
            "dismiss-worker",
            "Ctrl+-",
            self._on_dismiss_worker_triggered,
            "Dismiss one worker: an idle one at once, else a busy one after its task",
            pool_menu,
        )
        for index, view in enumerate(self.views):
            act = QAction(f"Show {view.name}", self)
            act.setShortcut(QKeySequence(f"Alt+{index + 1}"))
            act.triggered.connect(lambda _=False, i=index: self.tabs.setCurrentIndex(i))
            view_menu.addAction(act)
        self.theme_action = QAction("Dark theme", self, checkable=True)
        self.theme_action.setShortcut(QKeySequence("Ctrl+Shift+T"))
        self.theme_action.setChecked(self.effective_settings.theme == "dark")
        self.theme_action.toggled.connect(self._on_theme_toggled)
        view_menu.addSeparator()
        jobs_action = self.jobs_dock.toggleViewAction()
        jobs_action.setText("Show jobs")
        jobs_action.setShortcut(QKeySequence("Ctrl+J"))
        view_menu.addAction(jobs_action)
        history_action = self.history_dock.toggleViewAction()
        history_action.setText("Show history")
        history_action.setShortcut(QKeySequence("Ctrl+H"))
        view_menu.addAction(history_action)
        view_menu.addAction(self.theme_action)
        about = QAction("&About PoolScope", self)
        about.triggered.connect(self._on_about_triggered)
        help_menu.addAction(about)

    def _build_status_bar(self) -> None:
        self.status_label = QLabel()
        self.progress = QProgressBar()
        self.progress.setMinimumWidth(300)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("nothing queued yet")
        self.statusBar().addPermanentWidget(self.status_label, 1)
        self.statusBar().addPermanentWidget(self.progress)

    # -------------------------------------------------------------- queueing

    @property
    def pools(self) -> list[Pool]:
        return [view.pool for view in self.views]

    @property
    def current_view(self) -> PoolView:
        return self.views[self.tabs.currentIndex()]

    @property
    def current_pool(self) -> Pool:
        return self.current_view.pool

    def enqueue(self, planned: Collection[PlannedTask], pool_index: int | None = None) -> Feed:
        """Queue tasks on a pool (the current one by default): a few at once,
        many a slice per event-loop turn (``gui.enqueuing``)."""
        index = self.tabs.currentIndex() if pool_index is None else pool_index
        pool, name = self.pools[index], self.views[index].name

        def submit(task: PlannedTask) -> None:
            fn, args, kwargs, label, timeout = task
            pool.schedule(fn, args, kwargs, label=label, timeout=timeout, block=False)

        feed = Feed(planned, len(planned), submit, self)
        self._feeds.append(feed)
        status = self.statusBar()
        feed.progressed.connect(
            lambda queued, count: status.showMessage(f"Queuing on {name}: {queued:,} of {count:,} tasks")
        )
        feed.finished.connect(lambda: status.showMessage(f"Queued {feed.count:,} tasks on {name}", 3000))
        feed.failed.connect(lambda reason, queued: self._on_feed_failed(name, reason, queued, feed.count))
        for signal in (feed.finished, feed.failed):
            signal.connect(lambda *_: self._feeds.remove(feed) if feed in self._feeds else None)
            signal.connect(feed.deleteLater)
        feed.start()
        return feed

    def _on_feed_failed(self, name: str, reason: str, queued: int, count: int) -> None:
        message = f"{name} took {queued:,} of {count:,} tasks, then refused one: {reason}"
        self.statusBar().showMessage(message)
        box = QMessageBox(QMessageBox.Icon.Warning, "Not everything was queued", message, parent=self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()  # not exec(): this may run inside the dialog's accept

    def run_demo_tasks(self, count: int = 60, pool_index: int | None = None) -> None:
        self.enqueue([PlannedTask.of_demo(task) for task in demo_batch(count)], pool_index)

    @Slot()
    def _on_run_demo_triggered(self) -> None:
        self.run_demo_tasks()

    @Slot()
    def open_enqueue_dialog(self) -> EnqueueDialog:
        def check(index: int, task: PlannedTask) -> None:
            self.pools[index].check_task(task.fn, task.args, task.kwargs)

        dialog = EnqueueDialog([v.name for v in self.views], self.tabs.currentIndex(), self, check)
        dialog.accepted.connect(lambda: self.enqueue(dialog.planned, dialog.pool_index))
        dialog.open()
        return dialog

    # ------------------------------------------------------------------ jobs

    def paths_dropped(self, paths: list[str]) -> None:
        """Dropped files and folders: ask what to do with them."""
        self.open_job_dialog(paths)

    @Slot()
    def paste_paths(self) -> JobDialog | None:
        """The clipboard's files (copied in a file manager) or paths (text,
        one a line) go to the job dialog."""
        paths = paths_from_mime(QGuiApplication.clipboard().mimeData())
        if not paths:
            self.statusBar().showMessage("The clipboard holds no file or folder paths", 4000)
            return None
        return self.open_job_dialog(paths)

    @Slot()
    def _on_process_files_triggered(self) -> None:
        self.open_job_dialog()

    def open_job_dialog(self, paths: Sequence[str] = ()) -> JobDialog:
        """The job dialog for ``paths``; on Start, the job runs."""
        counts = {kind: pool.stats().workers for kind, pool in zip(POOL_KINDS, self.pools, strict=True)}
        dialog = JobDialog(paths, counts, self)
        dialog.accepted.connect(lambda: self._on_job_dialog_accepted(dialog))
        dialog.finished.connect(dialog.deleteLater)
        self.job_dialog = dialog
        dialog.open()
        return dialog

    def _on_job_dialog_accepted(self, dialog: JobDialog) -> None:
        assert dialog.job_spec is not None
        self.start_job(dialog.job_spec, dialog.pool_index, dialog.workers)

    def start_job(
        self, spec: JobSpec, pool_index: int, workers: int | None = None, plan: ResumePlan | None = None
    ) -> JobPanel:
        """Run ``spec`` on a pool (resized to ``workers``), record it in the
        history and show its panel; with ``plan``, finish that recorded run."""
        pool = self.pools[pool_index]
        if workers:
            _resize(pool, workers)
        job = Job(pool, spec, resume=plan.resume if plan is not None else None)
        panel = JobPanel(job, self.views[pool_index].name)
        if plan is not None:
            panel.title = f"run {plan.record.id} · {panel.title}"
        run = self._record_job(job, POOL_KINDS[pool_index], workers, plan)
        if run is not None:
            self._job_runs[panel] = run
            panel.round_started.connect(lambda: self._on_job_round_started(panel))
            panel.finished.connect(lambda: self._on_job_finished(panel))
        panel.halted.connect(self._on_job_halted)
        self.jobs_dock.add(panel)
        self.tabs.setCurrentIndex(pool_index)
        panel.start()
        if run is not None:
            self.history_panel.refresh()
        return panel

    @property
    def job_panels(self) -> list[JobPanel]:
        return self.jobs_dock.panels

    @Slot(str)
    def _on_job_halted(self, reason: str) -> None:
        self.statusBar().showMessage(f"Job halted: {reason}", 8000)

    # --------------------------------------------------------------- history

    @Slot()
    def open_history(self) -> Store | None:
        """Open the history file (once), show it, and offer to resume a run
        the last session left unfinished. A file that cannot be used turns
        history off with a message; a damaged one is kept aside."""
        if self._history_opened:
            return self.store
        self._history_opened = True
        choice = self._history_choice
        if choice is False or (choice is None and not self.settings.record_history):
            self.history_panel.set_unavailable("History is off: File > Settings turns it on.")
            return None
        from core.store import open_store

        path = choice if isinstance(choice, str) else (self.settings.history_file or None)
        store, note = open_store(path)
        self.store = store
        if store is None:
            self.history_panel.set_unavailable(note or "History is off.")
        else:
            self._keep_runs()
            self.history_panel.set_store(store, note)
        if note:
            self.statusBar().showMessage(note, 15_000)
        if store is not None:
            self._offer_resume(store)
        return store

    def _offer_resume(self, store: Store) -> None:
        try:
            unfinished = store.unfinished_runs()
        except StoreError as exc:
            self.statusBar().showMessage(f"The history cannot be read: {exc}", 10_000)
            return
        if unfinished:
            self.history_panel.offer_resume(unfinished[0], others=len(unfinished) - 1)
            self.history_dock.show()
            self.history_dock.raise_()

    def _record_job(self, job: Job, pool: str, workers: int | None, plan: ResumePlan | None) -> JobRun | None:
        store = self.open_history()
        if store is None:
            return None
        try:
            if plan is not None:
                return JobRun.resume(store, plan, job)
            return JobRun.begin(store, job, pool, workers)
        except (StoreError, ValueError) as exc:  # ValueError: options JSON cannot hold
            self.statusBar().showMessage(f"This job is not recorded in the history: {exc}", 10_000)
            return None

    def _on_job_round_started(self, panel: JobPanel) -> None:
        run = self._job_runs.get(panel)
        if run is None:
            return
        try:
            run.reopen(panel.job)
        except StoreError as exc:
            self._job_runs.pop(panel, None)
            self.statusBar().showMessage(f"This job is no longer recorded: {exc}", 10_000)

    def _on_job_finished(self, panel: JobPanel) -> None:
        run = self._job_runs.get(panel)
        if run is None or not run.recording:
            return
        try:
            run.end(panel.job)
        except StoreError as exc:
            self.statusBar().showMessage(f"The history of this job may be incomplete: {exc}", 10_000)
            return
        self._keep_runs()
        self.history_panel.refresh()

    def _keep_runs(self) -> None:
        n = self.settings.keep_runs
        if self.store is not None and n:
            try:
                self.store.keep_runs(n)
            except StoreError as exc:
                self.statusBar().showMessage(f"Old runs were not deleted: {exc}", 10_000)

    def resume_run(
        self, run_id: int, *, include_failed: bool = False, only: list[str] | None = None
    ) -> JobPanel | None:
        """Run again what run ``run_id`` did not finish (or the inputs named
        in ``only``), into the same run; None, with a message, if it cannot."""
        store = self.open_history()
        if store is None:
            self.statusBar().showMessage("History is off: there is no run to resume", 8000)
            return None
        try:
            plan = plan_resume(store, run_id, include_failed=include_failed, only=only)
        except (StoreError, ValueError) as exc:
            self.history_panel.status_label.setText(f"Run {run_id} cannot be run again: {exc}")
            self.statusBar().showMessage(f"Run {run_id} cannot be run again: {exc}", 10_000)
            return None
        if not plan.resume.again and not plan.resume.walk:
            self.statusBar().showMessage(f"Run {run_id} has nothing left to run", 8000)
            return None
        return self.start_job(plan.spec, POOL_KINDS.index(plan.pool), plan=plan)

    @Slot(int)
    def _on_history_panel_resume_requested(self, run_id: int) -> None:
        self.resume_run(run_id)

    @Slot(int, object)
    def _on_history_panel_retry_requested(self, run_id: int, records: list) -> None:
        self.resume_run(run_id, only=[record.input or record.label for record in records])

    @Slot(int)
    def _on_history_panel_keep_runs_changed(self, n: int) -> None:
        self.settings.keep_runs = n
        self.settings.save()

    # ------------------------------------------------------------ pool steer

    @Slot(bool)
    def _on_pause_triggered(self, checked: bool) -> None:
        pool = self.current_pool
        pool.pause() if checked else pool.resume()
        self._show_pause_state(checked)

    def _show_pause_state(self, paused: bool) -> None:
        self.pause_action.setChecked(paused)
        self.pause_action.setText("Resume" if paused else "Pause")
        self.pause_action.setIcon(resources.icon("resume" if paused else "pause"))

    @Slot(int)
    def _on_tabs_current_changed(self, index: int) -> None:
        self._show_pause_state(self.views[index].pool.paused)
        if self.views[index].stats is not None:
            self._show_stats(self.views[index].stats)

    @Slot()
    def _on_cancel_queued_triggered(self) -> None:
        count = self.current_pool.cancel_queued()
        self.statusBar().showMessage(f"Cancelled {count:,} queued tasks", 3000)

    @Slot()
    def _on_clear_finished_triggered(self) -> None:
        self.current_view.clear_finished()

    @Slot()
    def _on_add_worker_triggered(self) -> None:
        self.current_pool.add_workers(1)

    @Slot()
    def _on_dismiss_worker_triggered(self) -> None:
        if not self.current_pool.dismiss_workers(1):
            self.statusBar().showMessage("No worker left to dismiss", 3000)

    # ------------------------------------------------------------ settings

    @Slot()
    def open_settings(self) -> SettingsDialog:
        """The settings dialog, showing what is in use (command-line values too)."""
        dialog = SettingsDialog(self.effective_settings, self)
        dialog.accepted.connect(lambda: self.apply_settings(dialog.settings()))
        dialog.open()
        return dialog

    @property
    def effective_settings(self) -> Settings:
        """The settings in use: the remembered ones with this session's
        command-line values over them."""
        return dataclasses.replace(self.settings, **self.overrides)

    def apply_settings(self, settings: Settings) -> None:
        """Resize the pools, set the history window and the theme; remember
        them, except a command-line value the user left as it was: that one
        stays in use for this session and the remembered one stays saved."""
        saved = dataclasses.replace(settings)
        for name, value in list(self.overrides.items()):
            if getattr(settings, name) == value:
                setattr(saved, name, getattr(self.settings, name))
            else:
                del self.overrides[name]  # the user chose anew: that choice is remembered
        for pool, wanted in (
            (self.thread_pool, settings.thread_workers),
            (self.process_pool, settings.process_workers),
        ):
            _resize(pool, wanted)
        for view in self.views:
            view.set_history(settings.history)
        self.settings = saved
        saved.save()
        self.history_panel.set_keep_runs(settings.keep_runs)
        self._keep_runs()
        self.history_panel.refresh()
        self.theme_action.setChecked(settings.theme == "dark")
        self.set_theme(settings.theme)

    @Slot(bool)
    def _on_theme_toggled(self, dark: bool) -> None:
        self.overrides.pop("theme", None)  # the user's choice beats --theme, and is remembered
        self.settings.theme = "dark" if dark else "light"
        self.settings.save()
        self.set_theme(self.settings.theme)

    def set_theme(self, theme: str) -> None:
        app = QApplication.instance()
        if isinstance(app, QApplication):
            resources.apply_theme(app, theme)
        for view in self.views:
            view.set_theme(theme)

    @Slot()
    def _on_about_triggered(self) -> None:
        QMessageBox.about(
            self,
            "About PoolScope",
            f"<h3>PoolScope {version()}</h3><p>Run work on thread and process pools and watch every "
            "task and worker: queue depth, throughput, a task stream, failures grouped "
            "with their tracebacks. Dismiss, add or join workers while work runs.</p>",
        )

    # ------------------------------------------------------------ live view

    @Slot(object)
    def _on_view_stats_changed(self, stats: PoolStats) -> None:
        if self.sender() is self.current_view:
            self._show_stats(stats)
        self._update_progress()

    def _show_stats(self, stats: PoolStats) -> None:
        state = "closed" if stats.closed else "paused" if stats.paused else "running"
        self.status_label.setText(
            f"{self.current_view.name}: {state} · {stats.workers} workers · queued {stats.queued:,} · "
            f"running {stats.running:,} · done {stats.done:,} · failed {stats.failed:,} · "
            f"{stats.tasks_per_second:,.1f} tasks/s"
        )

    def _update_progress(self) -> None:
        stats = [view.stats for view in self.views if view.stats is not None]
        submitted = sum(s.submitted for s in stats)
        finished = sum(s.done + s.failed + s.cancelled for s in stats)
        if submitted > self._idle_at and (self._batch_base is None or self._batch_base < self._idle_at):
            # New work since the pools were idle: a new batch (the last one
            # stays on show until then).
            self._batch_base, self._batch_started = self._idle_at, time.monotonic()
        if submitted == finished and len(stats) == len(self.views) and not self._queuing():
            self._idle_at = submitted
        if self._batch_base is None:
            return
        total, finished = submitted - self._batch_base, finished - self._batch_base
        self.progress.setRange(0, total)
        self.progress.setValue(finished)
        left = total - finished
        if not left:
            more = self._queuing()
            self.progress.setFormat(f"{total:,} done, more to come" if more else f"all {total:,} done")
            return
        elapsed = time.monotonic() - self._batch_started
        eta = f" · {_duration(left * elapsed / finished)} left" if finished and elapsed > 0.5 else ""
        self.progress.setFormat(f"%v of %m (%p%){eta}")

    # -------------------------------------------------------------- closing

    def _restore_geometry(self) -> None:
        settings = QSettings()
        geometry = settings.value("main_window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1280, 820)
        state = settings.value("main_window/state")
        if state is not None:
            self.restoreState(state)
        else:
            # A first start: the panels get the room (Ctrl+H shows the history;
            # a run left unfinished shows it anyway).
            self.history_dock.hide()
        self.tabs.setCurrentIndex(int(settings.value("main_window/tab", 0)) % len(self.views))

    def _ask_on_close(self) -> str:
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle("Work is still running")
        running = sum(p.stats().running for p in self.pools)
        queued = sum(p.stats().queued for p in self.pools)
        box.setText(f"{running:,} tasks are running and {queued:,} are queued.")
        box.setInformativeText("Let them finish and then quit, cancel them and quit now, or stay?")
        finish = box.addButton("Finish, then quit", QMessageBox.ButtonRole.AcceptRole)
        cancel = box.addButton("Cancel and quit", QMessageBox.ButtonRole.DestructiveRole)
        stay = box.addButton("Stay", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(stay)
        box.exec()
        return {finish: FINISH, cancel: CANCEL}.get(box.clickedButton(), STAY)

    def _queuing(self) -> bool:
        """Tasks are still going into a pool: an enqueued plan, a job's scan."""
        return bool(self._feeds) or self.jobs_dock.feeding()

    def _work_left(self) -> bool:
        return self._queuing() or any(s.queued or s.running for s in (p.stats() for p in self.pools))

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        """Ask when work runs; quit leaving no worker thread or process.

        What has to end first -- the queued work (finish), or tasks that run
        on after a cancel (a thread cannot be stopped, only asked to) -- is
        waited for with the window alive: it keeps showing the pools and says
        in the status bar what it waits for, and closes once that ended."""
        if self._closing is not None and not self._ready_to_close:
            event.ignore()  # already quitting: a second request waits as well
            self._show_close_wait()
            return
        if self._closing is None and self._work_left():
            answer = self.ask_on_close()
            if answer == STAY:
                event.ignore()
                return
            self._closing = answer
            self._stop_queueing()
            if answer == FINISH:
                for pool in self.pools:
                    pool.close()  # take nothing new; what is queued still runs
            else:
                self.jobs_dock.close_jobs()  # no feeder thread queues into a pool that shuts down
                for pool in self.pools:
                    pool.terminate()
                self._wait_briefly()
            if self._close_wait_text():
                event.ignore()
                self._show_close_wait()
                self._close_timer.start()
                return
        self._shut_down()
        super().closeEvent(event)

    def _shut_down(self) -> None:
        """Save the window's state and stop everything it runs: feeders, the
        views' drains, the pools (quick when what ran has ended), the history
        and every timer. Runs once."""
        if self._shut:
            return
        self._shut = True
        self._close_timer.stop()
        self._save_state()
        self.jobs_dock.close_jobs()  # no feeder thread queues into a pool that shuts down
        for view in self.views:
            view.close_signals()
        for pool in self.pools:
            pool.shutdown(wait=True, cancel_futures=True)
        self._close_history(self._closing == CANCEL)
        self._stop_timers()

    def event(self, event: QEvent) -> bool:
        """A window deleted while its close waits for running tasks (say a
        ``deleteLater`` right after ``close()``) leaves no window to wait in:
        it shuts its pools down then, waiting for them, so that still no
        thread or process outlives it."""
        if event.type() == QEvent.Type.DeferredDelete and self._closing is not None:
            self._shut_down()
        return super().event(event)

    def _stop_queueing(self) -> None:
        """While a close waits, nothing new can be queued: the pools take no
        more (cancel queued stays, to quit sooner after a Finish)."""
        for feed in self._feeds:
            feed.stop()
        self._feeds.clear()
        for act in (
            self.process_files_action,
            self.enqueue_action,
            self.paste_paths_action,
            self.run_demo_action,
            self.pause_action,
            self.add_worker_action,
            self.dismiss_worker_action,
            self.settings_action,
        ):
            act.setEnabled(False)
        self.setAcceptDrops(False)

    def _wait_briefly(self) -> None:
        """Give cancelled tasks a moment to stop (most do at once) before the
        close turns into a visible wait."""
        deadline = time.monotonic() + CLOSE_GRACE
        while self._close_wait_text() and time.monotonic() < deadline:
            time.sleep(0.01)

    def _close_wait_text(self) -> str:
        """What a close still waits for, in words; empty once nothing."""
        finishing = self._closing == FINISH
        parts = []
        for pool in self.pools:
            stats = pool.stats()
            kind = "process" if isinstance(pool, ProcessPool) else "thread"
            counts = [("running", stats.running)] + ([("queued", stats.queued)] if finishing else [])
            for what, n in counts:
                if n:
                    parts.append(f"{n:,} {what} {kind} task{'s' if n != 1 else ''}")
        if finishing and self.jobs_dock.feeding():
            parts.append("a job still queueing its inputs")
        if not parts:
            return ""
        if finishing:
            return f"Finishing, then quitting: waiting for {', '.join(parts)}…"
        return (
            f"Cancelled. Quitting once they stop: waiting for {', '.join(parts)} "
            "(a thread task can only be asked to stop)…"
        )

    def _show_close_wait(self) -> None:
        text = self._close_wait_text()
        if text:
            self.statusBar().showMessage(text)

    @Slot()
    def _on_close_timer_timeout(self) -> None:
        if self._close_wait_text():
            self._show_close_wait()
            return
        self._close_timer.stop()
        self._ready_to_close = True
        self.statusBar().showMessage("Quitting…")
        self.close()

    def _stop_timers(self) -> None:
        """A closed window runs no timer: the panels' clocks and redraws
        would otherwise tick on in a hidden window until it is deleted."""
        for timer in self.findChildren(QTimer):
            timer.stop()

    def _close_history(self, cut_off: bool) -> None:
        """End the runs of the jobs that ended; a run cut off by the close
        stays unfinished (the store marks it interrupted) and is offered for
        resuming at the next start."""
        if not cut_off:
            for panel, run in list(self._job_runs.items()):
                panel.job.poll()
                if run.recording and panel.job.finished:
                    with contextlib.suppress(StoreError):
                        run.end(panel.job)
        self._job_runs.clear()
        self._history_opened = True  # the delayed open, if still to come, opens nothing now
        self.history_panel.shutdown()
        if self.store is not None:
            self.store.close()
            self.store = None

    def _save_state(self) -> None:
        settings = QSettings()
        settings.setValue("main_window/geometry", self.saveGeometry())
        settings.setValue("main_window/state", self.saveState())
        settings.setValue("main_window/tab", self.tabs.currentIndex())
        for view in self.views:
            view.save_splitters()


def version() -> str:
    """PoolScope's version: the installed package's, else (run from a
    checkout that was never installed) the one pyproject.toml declares."""
    from importlib import metadata

    try:
        return metadata.version("poolscope")
    except metadata.PackageNotFoundError:
        pass
    import tomllib

    try:
        with open(Path(__file__).resolve().parents[1] / "pyproject.toml", "rb") as file:
            return str(tomllib.load(file)["project"]["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "(version unknown)"


def _resize(pool: Pool, wanted: int) -> None:
    """Add or dismiss workers until the pool has ``wanted``."""
    have = pool.stats().workers
    if wanted > have:
        pool.add_workers(wanted - have)
    elif wanted < have:
        pool.dismiss_workers(have - wanted)


def _duration(seconds: float) -> str:
    seconds = int(seconds + 0.5)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
