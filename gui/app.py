"""``poolscope``: start the PoolScope window.

Arguments are parsed before any Qt module is imported, so ``poolscope --help``
works on a machine without a display.
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="poolscope",
        description=(
            "PoolScope: a desktop job monitor. Opens a window with a thread pool and a "
            "process pool; queue demo tasks or any Python function, watch queue depth, "
            "throughput, a task stream and the workers live, pause, add or dismiss "
            "workers, and inspect every failure with its traceback."
        ),
        epilog=(
            "Keyboard: Ctrl+N enqueue, Ctrl+D demo tasks, Ctrl+P pause/resume, Ctrl+K cancel "
            "queued, Ctrl+= / Ctrl+- add / dismiss a worker, Alt+1 / Alt+2 switch pools. "
            "Settings (File > Settings) are remembered between runs. "
            "Without a window: poolscope run --help, poolscope processors."
        ),
    )
    parser.add_argument(
        "--workers",
        type=_positive_int,
        default=None,
        metavar="N",
        help="thread pool workers (default: as set)",
    )
    parser.add_argument(
        "--process-workers",
        type=_positive_int,
        default=None,
        metavar="N",
        help="process pool workers (default: as set, else one per CPU)",
    )
    parser.add_argument("--demo", action="store_true", help="queue demo tasks on both pools at start")
    parser.add_argument(
        "--theme", choices=["light", "dark"], default=None, help="colour theme (default: the last one used)"
    )
    parser.add_argument(
        "--quit-after",
        type=float,
        default=None,
        metavar="SECONDS",
        help="close the window after SECONDS, cancelling what still runs (for scripts and screenshots)",
    )
    parser.add_argument(
        "--screenshot",
        default=None,
        metavar="FILE.png",
        help="with --quit-after: save a picture of the window just before closing",
    )
    return parser


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("run", "processors", "history"):
        from core.cli import main as command_line  # no Qt: works without a display

        return command_line(argv)
    args = build_parser().parse_args(argv)

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from . import resources
    from .main_window import CANCEL, MainWindow
    from .settings import Settings

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName("PoolScope")
    app.setApplicationName("PoolScope")
    app.setDesktopFileName("poolscope")
    app.setWindowIcon(resources.icon("poolscope"))
    settings = Settings.load()
    settings.theme = args.theme or settings.theme
    settings.thread_workers = args.workers or settings.thread_workers
    settings.process_workers = args.process_workers or settings.process_workers
    resources.apply_theme(app, settings.theme)

    window = MainWindow(settings)
    window.show()
    if args.demo:
        window.run_demo_tasks(pool_index=0)
        window.run_demo_tasks(pool_index=1)
    if args.quit_after is not None:

        def finish() -> None:
            if args.screenshot:
                window.grab().save(args.screenshot)
            window.ask_on_close = lambda: CANCEL
            window.close()

        QTimer.singleShot(int(args.quit_after * 1000), finish)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
