"""GUI tests: each test gets its own QSettings (an INI file in its temporary
folder), so none reads or writes the user's settings or another test's.

The core tests' task functions (``tests/core/process_tasks.py``) serve the
window's tests too: the python processor finds them by name."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QCoreApplication, QSettings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core"))


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path):
    QCoreApplication.setOrganizationName("PoolScopeTests")
    QCoreApplication.setApplicationName("PoolScopeTests")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "settings"))
    QSettings().clear()
