"""What the user chose, remembered with QSettings, and the dialog to choose it."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QComboBox, QDialog, QDialogButtonBox, QFormLayout, QSpinBox, QWidget

__all__ = ["Settings", "SettingsDialog"]


@dataclass
class Settings:
    thread_workers: int = 4
    process_workers: int = max(1, os.cpu_count() or 1)
    #: finished tasks each tasks table keeps before dropping the oldest
    history: int = 100_000
    theme: str = "light"

    @classmethod
    def load(cls) -> Settings:
        store = QSettings()
        settings = cls()
        for field in fields(cls):
            default = getattr(settings, field.name)
            value = store.value(f"settings/{field.name}", default)
            try:
                setattr(settings, field.name, type(default)(value))
            except (TypeError, ValueError):
                pass  # a hand-edited or old value: keep the default
        settings.theme = settings.theme if settings.theme in ("light", "dark") else "light"
        return settings

    def save(self) -> None:
        store = QSettings()
        for field in fields(self):
            store.setValue(f"settings/{field.name}", getattr(self, field.name))


class SettingsDialog(QDialog):
    """Worker counts per pool, the history window and the theme."""

    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.thread_workers = QSpinBox(minimum=1, maximum=512, value=settings.thread_workers)
        self.process_workers = QSpinBox(minimum=1, maximum=256, value=settings.process_workers)
        self.history = QSpinBox(minimum=100, maximum=10_000_000, value=settings.history, singleStep=10_000)
        self.history.setGroupSeparatorShown(True)
        self.history.setSuffix(" finished tasks")
        self.theme = QComboBox()
        self.theme.addItems(["light", "dark"])
        self.theme.setCurrentText(settings.theme)
        form = QFormLayout(self)
        form.addRow("Thread pool workers", self.thread_workers)
        form.addRow("Process pool workers", self.process_workers)
        form.addRow("Tasks table keeps", self.history)
        form.addRow("Theme", self.theme)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def settings(self) -> Settings:
        return Settings(
            thread_workers=self.thread_workers.value(),
            process_workers=self.process_workers.value(),
            history=self.history.value(),
            theme=self.theme.currentText(),
        )
