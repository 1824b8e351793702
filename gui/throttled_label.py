"""A label whose text may change at most a few times a second.

Under a storm of events a panel's counts change on every tick. Each new text
of another width makes Qt lay the panel out again and repaint the widgets
around the label, up to the window itself: measured, that was more of the
window's repaints than the data views. A busy view therefore slows its
labels down (``interval``); a calm one shows every change at once, as
people and tests expect after they click.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QLabel

__all__ = ["ThrottledLabel"]


class ThrottledLabel(QObject):
    """Sets ``label``'s text at once, or, within ``interval`` seconds of the
    last change, once the interval is over (the newest text then)."""

    def __init__(self, label: QLabel, interval: float = 0.0) -> None:
        super().__init__(label)
        self.label = label
        self.interval = interval
        self._shown_at = float("-inf")
        self._pending: str | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._on_timer_timeout)

    def set_text(self, text: str, urgent: bool = False) -> None:
        """Show ``text`` now, or soon; ``urgent``: now in any case (an answer
        to what the user just did, such as hovering a chart)."""
        now = time.monotonic()
        wait = self._shown_at + self.interval - now
        if wait <= 0 or urgent:
            self._timer.stop()
            self._pending = None
            self._show(text, now)
            return
        self._pending = text
        if not self._timer.isActive():
            self._timer.start(max(1, round(wait * 1000)))

    def _on_timer_timeout(self) -> None:
        if self._pending is not None:
            text, self._pending = self._pending, None
            self._show(text, time.monotonic())

    def _show(self, text: str, now: float) -> None:
        if text != self.label.text():
            self.label.setText(text)
        self._shown_at = now
