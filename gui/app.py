"""``poolscope``: start the PoolScope window.

Arguments are parsed before any Qt module is imported, so ``poolscope --help``
works on a machine without a display. ``poolscope PATH…`` opens the window
with those paths in the job dialog; ``poolscope run|processors|history …``
is the command line (core.cli), with no window at all.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .main_window import MainWindow

__all__ = ["build_parser", "main", "open_window"]

#: First words that mean the command line, not the window.
COMMANDS = ("run", "processors", "history")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="poolscope",
        description=(
            "PoolScope: a desktop job monitor. Opens a window with a thread pool and a "
            "process pool; drop files and folders on it to checksum, thumbnail, compress "
            "or run a command on each, queue demo tasks or any Python function, watch queue "
            "depth, throughput, a task stream and the workers live, pause, add or dismiss "
            "workers, and inspect every failure with its traceback."
        ),
        epilog=(
            "Keyboard: Ctrl+O process files, Ctrl+V paste paths, Ctrl+N enqueue, Ctrl+D demo "
            "tasks, Ctrl+P pause/resume, Ctrl+K cancel queued, Ctrl+= / Ctrl+- add / dismiss a "
            "worker, Alt+1 / Alt+2 switch pools, Ctrl+J jobs, Ctrl+H history. "
            "Settings (File > Settings) are remembered between runs. "
            "Without a window: poolscope run --help, poolscope processors. "
            "(A file named like one of those commands: write ./run.)"
        ),
    )
    parser.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="files or folders to process: the window opens with them in the job dialog",
    )
    parser.add_argument(
        "--workers",
        type=_positive_int,
        default=None,
        metavar="N",
        help="thread pool workers this time (default: as set in the window; not saved)",
    )
    parser.add_argument(
        "--process-workers",
        type=_positive_int,
        default=None,
        metavar="N",
        help="process pool workers this time (default: as set, else one per CPU; not saved)",
    )
    parser.add_argument("--demo", action="store_true", help="queue demo tasks on both pools at start")
    history = parser.add_mutually_exclusive_group()
    history.add_argument(
        "--db",
        metavar="PATH",
        default=None,
        help="record jobs in this history file (default: as set; else in the user's data folder)",
    )
    history.add_argument(
        "--no-history", action="store_true", help="record nothing, and show no history, this time"
    )
    parser.add_argument(
        "--theme",
        choices=["light", "dark"],
        default=None,
        help="colour theme this time (default: the last one chosen in the window)",
    )
    parser.add_argument(
        "--quit-after",
        type=float,
        default=None,
        metavar="SECONDS",
        help=(
            "close the window after SECONDS, cancelling what still runs, and print what each "
            "pool did (for scripts and screenshots)"
        ),
    )
    parser.add_argument(
        "--screenshot",
        default=None,
        metavar="FILE.png",
        help=(
            "with --quit-after: save a picture of the window just before closing "
            "(and of an open dialog, as FILE-dialog.png)"
        ),
    )
    return parser


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in COMMANDS:
        if argv[0] == "run":
            from core.warm_start import start_workers_early

            start_workers_early(argv[1:])  # while the rest of the engine imports
        from core.cli import main as command_line  # no Qt: works without a display

        return command_line(argv)
    args = build_parser().parse_args(argv)

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from .main_window import CANCEL

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName("PoolScope")
    app.setApplicationName("PoolScope")
    window = open_window(args)
    if args.quit_after is not None:

        def finish() -> None:
            if args.screenshot:
                save_screenshots(window, args.screenshot)
            print_summary(window)
            window.ask_on_close = lambda: CANCEL
            window.close()

        QTimer.singleShot(int(args.quit_after * 1000), finish)
    return app.exec()


def open_window(args: argparse.Namespace) -> MainWindow:
    """Show the window the arguments ask for (a QApplication must exist):
    settings, theme, demo tasks, and the job dialog for ``args.paths``."""
    from PySide6.QtWidgets import QApplication

    from . import resources
    from .main_window import MainWindow
    from .settings import Settings

    app = QApplication.instance()
    assert isinstance(app, QApplication), "open_window needs a QApplication"
    app.setDesktopFileName("poolscope")
    app.setWindowIcon(resources.icon("poolscope"))
    settings = Settings.load()
    # For this session only: the window uses them and never saves them.
    overrides = {
        name: value
        for name, value in (
            ("theme", args.theme),
            ("thread_workers", args.workers),
            ("process_workers", args.process_workers),
        )
        if value is not None
    }
    resources.apply_theme(app, overrides.get("theme", settings.theme))

    history = False if args.no_history else (os.path.abspath(args.db) if args.db else None)
    window = MainWindow(settings, history=history, overrides=overrides)
    window.show()
    if args.demo:
        window.run_demo_tasks(pool_index=0)
        window.run_demo_tasks(pool_index=1)
    if args.paths:
        window.open_job_dialog([os.path.abspath(path) for path in args.paths])
    return window


def print_summary(window: MainWindow) -> None:
    """One line per pool on stdout: what a script (or a test of a
    screenshot) checks -- that the panels were built and the work ran."""
    for view in window.views:
        stats = view.pool.stats()
        panels = "panels built" if view.panels_built else "panels not built"
        print(
            f"{view.name}: {panels}; {stats.submitted} submitted, {stats.done} done, "
            f"{stats.failed} failed, {stats.cancelled} cancelled",
            flush=True,
        )


def save_screenshots(window: MainWindow, path: str) -> None:
    """The window to ``path``; an open dialog to ``<stem>-dialog.png``
    beside it (a dialog is a window of its own, not in the window's grab)."""
    from PySide6.QtWidgets import QApplication, QDialog

    window.grab().save(path)
    stem, suffix = os.path.splitext(path)
    for widget in QApplication.topLevelWidgets():
        if isinstance(widget, QDialog) and widget.isVisible():
            widget.grab().save(f"{stem}-dialog{suffix or '.png'}")
            break


if __name__ == "__main__":
    sys.exit(main())
