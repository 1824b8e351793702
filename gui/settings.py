"""What the user chose, remembered with QSettings, and the dialog to choose it."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)

__all__ = ["Settings", "SettingsDialog"]


@dataclass
class Settings:
    thread_workers: int = 4
    process_workers: int = max(1, os.cpu_count() or 1)
    #: finished tasks each tasks table keeps before dropping the oldest
    history: int = 100_000
    theme: str = "light"
    #: record jobs in the history file
    record_history: bool = True
    #: the history file; empty: the default one in the user's data folder
    history_file: str = ""
    #: runs the history keeps (older ones are deleted when a run ends); 0: all
    keep_runs: int = 0

    @classmethod
    def load(cls) -> Settings:
        store = QSettings()
        settings = cls()
        for field in fields(cls):
            default = getattr(settings, field.name)
            value = store.value(f"settings/{field.name}", default)
            try:
                setattr(settings, field.name, _as(type(default), value))
            except (TypeError, ValueError):
                pass  # a hand-edited or old value: keep the default
        settings.theme = settings.theme if settings.theme in ("light", "dark") else "light"
        settings.keep_runs = max(0, settings.keep_runs)
        return settings

    def save(self) -> None:
        store = QSettings()
        for field in fields(self):
            store.setValue(f"settings/{field.name}", getattr(self, field.name))


def _as(kind: type, value: object) -> object:
    """A stored value as ``kind``; QSettings' INI files give back text, and
    ``bool("false")`` is true."""
    if kind is bool and isinstance(value, str):
        if value.lower() not in ("true", "false"):
            raise ValueError(value)
        return value.lower() == "true"
    return kind(value)


class SettingsDialog(QDialog):
    """Worker counts per pool, the tasks table's window, the theme and the
    history of jobs (on or off, its file, how many runs it keeps)."""

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
        self.record_history = QCheckBox("Record every job, so it can be resumed, retried and exported")
        self.record_history.setChecked(settings.record_history)
        self.history_file = QLineEdit(settings.history_file)
        self.history_file.setPlaceholderText(str(default_history_file()))
        self.history_file.setToolTip("The SQLite file of the history; empty for the default one")
        self.history_file.setMinimumWidth(320)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._on_browse_clicked)
        file_row = QHBoxLayout()
        file_row.addWidget(self.history_file, 1)
        file_row.addWidget(browse)
        self.keep_runs = QSpinBox(minimum=0, maximum=1_000_000, value=settings.keep_runs)
        self.keep_runs.setSpecialValueText("every run")
        self.keep_runs.setPrefix("the last ")
        self.keep_runs.setSuffix(" runs")
        self.keep_runs.setToolTip("Older runs are deleted when a run ends; 0 keeps every run")
        for widget in (self.history_file, browse, self.keep_runs):
            self.record_history.toggled.connect(widget.setEnabled)
            widget.setEnabled(settings.record_history)
        form = QFormLayout(self)
        form.addRow("Thread pool workers", self.thread_workers)
        form.addRow("Process pool workers", self.process_workers)
        form.addRow("Tasks table keeps", self.history)
        form.addRow("Theme", self.theme)
        form.addRow("History", self.record_history)
        form.addRow("History file", file_row)
        form.addRow("History keeps", self.keep_runs)
        form.addRow("", _note("The history file takes effect when PoolScope starts next."))
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
            record_history=self.record_history.isChecked(),
            history_file=self.history_file.text().strip(),
            keep_runs=self.keep_runs.value(),
        )

    def _on_browse_clicked(self) -> None:
        current = self.history_file.text().strip() or str(default_history_file())
        path, _ = QFileDialog.getSaveFileName(
            self,
            "History file",
            current,
            "SQLite files (*.sqlite3 *.sqlite *.db);;All files (*)",
            options=QFileDialog.Option.DontConfirmOverwrite,
        )
        if path:
            self.history_file.setText(path)


def default_history_file() -> Path:
    from core.store import default_path

    return default_path()


def _note(text: str) -> QLabel:
    label = QLabel(text)
    label.setEnabled(False)  # drawn in the muted colour of the palette
    label.setWordWrap(True)
    return label
