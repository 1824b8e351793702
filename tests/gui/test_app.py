"""The ``poolscope`` command: --help without a display, and a real window."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(args, env=None, timeout=60):
    return subprocess.run(
        [sys.executable, "-m", "gui.app", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def test_help_works_without_a_display():
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "QT_QPA_PLATFORM")}
    done = _run(["--help"], env=env)
    assert done.returncode == 0, done.stderr
    assert "PoolScope" in done.stdout
    assert "--workers" in done.stdout


def test_bad_arguments_are_refused():
    done = _run(["--workers", "0"])
    assert done.returncode == 2
    assert "must be at least 1" in done.stderr


#: What ``--quit-after`` prints per pool.
SUMMARY = re.compile(
    r"^(?P<pool>\w+): panels (?P<panels>built|not built); (?P<submitted>\d+) submitted, "
    r"(?P<done>\d+) done, (?P<failed>\d+) failed, (?P<cancelled>\d+) cancelled$",
    re.MULTILINE,
)
#: A few seconds of demo work on both pools: 60 tasks each, most of them short.
DEMO = ["--demo", "--workers", "4", "--process-workers", "2", "--no-history"]


def _assert_the_demo_ran(stdout: str) -> None:
    """Both pools' panels were built and each pool finished demo tasks: a
    screenshot of placeholders, or of pools that never ran, would not do."""
    pools = {m["pool"]: m for m in SUMMARY.finditer(stdout)}
    assert set(pools) == {"Threads", "Processes"}, stdout
    for name, figures in pools.items():
        assert figures["panels"] == "built", f"{name}: {stdout}"
        assert int(figures["submitted"]) == 60, f"{name}: {stdout}"
        assert int(figures["done"]) + int(figures["failed"]) >= 10, f"{name} finished too little: {stdout}"


def _run_the_demo(args, env, timeout=60) -> subprocess.CompletedProcess[str]:
    """Run the app as ``_run`` does, and check that every process it started
    (the process pool's workers, its forkserver, the resource tracker) is
    gone once it has exited: orphans would outlive the test unseen."""
    app = subprocess.Popen(
        [sys.executable, "-m", "gui.app", *args],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    family: dict[int, psutil.Process] = {}
    names: dict[int, str] = {}
    deadline = time.monotonic() + timeout
    try:
        # Its descendants, noted as they appear, until it exits.
        while app.poll() is None and time.monotonic() < deadline:
            try:
                for child in psutil.Process(app.pid).children(recursive=True):
                    family.setdefault(child.pid, child)
                    names.setdefault(child.pid, " ".join(child.cmdline()[:3]))
            except (psutil.NoSuchProcess, psutil.ZombieProcess):
                pass  # it is on its way out
            time.sleep(0.1)
        stdout, stderr = app.communicate(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if app.poll() is None:
            app.kill()
    assert len(family) >= 2, f"no worker processes were seen: {stderr}"  # --process-workers 2
    _, alive = psutil.wait_procs(list(family.values()), timeout=10)
    assert not alive, f"left behind: {[names[p.pid] for p in alive]}"
    return subprocess.CompletedProcess(app.args, app.returncode, stdout, stderr)


def test_offscreen_run_with_demo_tasks_exits_cleanly(tmp_path):
    shot = tmp_path / "window.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path))
    done = _run_the_demo([*DEMO, "--quit-after", "4", "--screenshot", str(shot)], env=env)
    assert done.returncode == 0, done.stderr
    _assert_the_demo_ran(done.stdout)
    assert _distinct_colours(shot) > 20


@pytest.fixture
def xvfb_display(tmp_path):
    """A real X server (Xvfb) for the duration of a test."""
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        if os.environ.get("CI"):
            pytest.fail("Xvfb is missing; .ci/run installs it (apt-get install xvfb)")
        pytest.skip("Xvfb is not installed (apt-get install xvfb)")
    display = f":{os.getpid() % 400 + 100}"
    server = subprocess.Popen([xvfb, display, "-screen", "0", "1280x800x24", "-nolisten", "tcp"])
    try:
        socket = Path(f"/tmp/.X11-unix/X{display[1:]}")
        deadline = time.monotonic() + 10
        while not socket.exists():
            assert server.poll() is None, "Xvfb exited at start"
            assert time.monotonic() < deadline, "Xvfb did not come up"
            time.sleep(0.05)
        yield display
    finally:
        server.terminate()
        server.wait(10)


def _distinct_colours(path: Path) -> int:
    from PySide6.QtGui import QImage

    image = QImage(str(path))
    assert not image.isNull()
    return len({image.pixel(x, y) for x in range(0, image.width(), 7) for y in range(0, image.height(), 7)})


def test_real_window_under_xvfb(tmp_path, xvfb_display):
    shot = tmp_path / "window.png"
    env = dict(os.environ, DISPLAY=xvfb_display, QT_QPA_PLATFORM="xcb", XDG_CONFIG_HOME=str(tmp_path))
    done = _run_the_demo([*DEMO, "--quit-after", "4", "--screenshot", str(shot)], env=env)
    assert done.returncode == 0, done.stderr
    _assert_the_demo_ran(done.stdout)
    assert _distinct_colours(shot) > 20  # a painted window, not a blank one
