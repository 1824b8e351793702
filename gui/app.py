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
            "PoolScope: a desktop job monitor. Opens a window with a thread pool; "
            "queue demo tasks, watch queue depth, throughput and workers live, "
            "pause, add or dismiss workers, and read every failure's traceback."
        ),
        epilog="Keyboard: Ctrl+D demo tasks, Ctrl+P pause/resume, Ctrl+= / Ctrl+- add / dismiss a worker.",
    )
    parser.add_argument(
        "--workers",
        type=_positive_int,
        default=4,
        metavar="N",
        help="worker threads to start with (default 4)",
    )
    parser.add_argument("--demo", action="store_true", help="queue a batch of demo tasks at start")
    parser.add_argument(
        "--theme",
        choices=["light", "dark"],
        default=None,
        help="colour theme (default: the last one used, else light)",
    )
    parser.add_argument(
        "--quit-after",
        type=float,
        default=None,
        metavar="SECONDS",
        help="close the window after SECONDS (for scripted runs and screenshots)",
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
    args = build_parser().parse_args(argv)

    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from . import resources
    from .main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName("PoolScope")
    app.setApplicationName("PoolScope")
    app.setDesktopFileName("poolscope")
    app.setWindowIcon(resources.icon("poolscope"))
    settings = QSettings()
    theme = args.theme or settings.value("theme", "light")
    if theme not in resources.theme_names():
        theme = "light"
    settings.setValue("theme", theme)
    app.setStyleSheet(resources.stylesheet(theme))

    window = MainWindow(workers=args.workers)
    window.show()
    if args.demo:
        window.run_demo_tasks()
    if args.quit_after is not None:

        def finish() -> None:
            if args.screenshot:
                window.grab().save(args.screenshot)
            window.close()

        QTimer.singleShot(int(args.quit_after * 1000), finish)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
