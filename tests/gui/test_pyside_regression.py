"""PySide6 6.12.0 aborted the interpreter after a few thousand Signal.emit()
calls on Python 3.11 (a leaked reference to True, "Fatal Python error:
bool_dealloc"). pyproject.toml excludes that release; this test catches a
future release with the same fault."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_twenty_thousand_emits_exit_cleanly():
    script = textwrap.dedent(
        """
        from PySide6.QtCore import QCoreApplication, QObject, Signal

        class Source(QObject):
            fired = Signal(object)
            flag = Signal(bool)

        app = QCoreApplication([])
        source = Source()
        seen = []
        source.fired.connect(seen.append)
        source.flag.connect(seen.append)
        for i in range(10_000):
            source.fired.emit(i)
            source.flag.emit(True)
        assert len(seen) == 20_000, len(seen)
        print("emitted", len(seen))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "emitted 20000" in done.stdout
