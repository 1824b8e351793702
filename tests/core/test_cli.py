"""``poolscope run`` and ``poolscope processors``, end to end in a subprocess."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from permission_probe import skip_unless_modes_are_enforced

ROOT = Path(__file__).resolve().parents[2]


def environment(home: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "QT_QPA_PLATFORM")}
    env["PYTHONPATH"] = str(ROOT)
    if home is not None:
        env["HOME"] = str(home)
    return env


def poolscope(*args: str, cwd: Path, home: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gui.app", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env=environment(home),
    )


def poolscope_bytes(*args: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "gui.app", *args], cwd=cwd, capture_output=True, timeout=120, env=environment()
    )


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(5):
        (folder / f"f{i}.txt").write_text(f"hello {i}\n")
    (folder / "x; rm -rf ~.txt").write_text("tricky\n")
    return folder


def test_checksum_of_a_folder_with_results_as_json(inputs: Path, tmp_path: Path) -> None:
    os.mkfifo(inputs / "pipe")
    done = poolscope(
        "run", "-p", "checksum", str(inputs), str(tmp_path / "missing"), "--results", "r.json", cwd=tmp_path
    )
    assert done.returncode == 1, done.stderr  # the FIFO and the missing path
    rows = json.loads((tmp_path / "r.json").read_text())
    by_input = {os.path.basename(row["input"]): row for row in rows}
    assert {row["state"] for row in rows} == {"done", "rejected"}
    assert "FIFO" in by_input["pipe"]["error"]
    assert "does not exist" in by_input["missing"]["error"]
    for name in ["f0.txt", "x; rm -rf ~.txt"]:
        expected = hashlib.sha256((inputs / name).read_bytes()).hexdigest()
        assert by_input[name]["result"]["digest"] == expected
        assert {"input", "state", "result", "error"} <= set(by_input[name])
    assert "6 done, 2 failed, of 8 inputs" in done.stdout


def test_all_good_exits_zero_and_writes_csv_on_a_process_pool(inputs: Path, tmp_path: Path) -> None:
    done = poolscope(
        "run", "-p", "checksum", "-o", "algorithm=md5", "--pool", "process", "--workers", "2",
        str(inputs), "--results", "r.csv", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    with open(tmp_path / "r.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 6 and {row["state"] for row in rows} == {"done"}
    row = next(r for r in rows if r["input"].endswith("f1.txt"))
    assert json.loads(row["result"])["digest"] == hashlib.md5(b"hello 1\n").hexdigest()


EARLY_START = """
import sys
from multiprocessing import forkserver

from core.warm_start import start_workers_early

started = start_workers_early(sys.argv[1:])
pid = forkserver._forkserver._forkserver_pid
print(started, pid, " ".join(forkserver._forkserver._preload_modules))
"""


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("argv", "starts"),
    [
        (["-p", "checksum", "--pool", "process", "in"], True),
        (["in", "--pool=process", "--processor=text-stats"], True),
        (["-p", "text-stats", "in"], True),  # its own choice is a process pool
        (["-p", "checksum", "in"], False),  # a thread pool
        (["-p", "text-stats", "--pool", "thread", "in"], False),
        (["-p", "no-such-processor", "--pool", "process", "in"], False),
        (["--resume", "3"], False),  # its pool is in the history
        (["--pool", "process", "in"], False),  # bad usage, for core.cli to report
        (["-p"], False),
    ],
)
def test_a_process_pool_run_starts_its_forkserver_first_thing(argv: list[str], starts: bool) -> None:
    done = subprocess.run(
        [sys.executable, "-c", EARLY_START, *argv],
        capture_output=True, text=True, timeout=60, env=environment(),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    started, pid, *preload = done.stdout.split()
    assert started == str(starts)
    if not starts:
        assert pid == "None"
        return
    assert "core.process_worker" in preload
    assert any(name.startswith("core.processors.") for name in preload)
    try:  # it leaves with the process that started it
        psutil.Process(int(pid)).wait(timeout=10)
    except psutil.NoSuchProcess:
        pass


def test_a_failing_command_halts_the_batch_after_n_failures(inputs: Path, tmp_path: Path) -> None:
    done = poolscope(
        "run", "-p", "command", "-o", "template=sh -c 'exit 3'", "--workers", "1", "--halt-after", "2",
        str(inputs), "--results", "r.json", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 1
    rows = json.loads((tmp_path / "r.json").read_text())
    failed = [row for row in rows if row["state"] == "failed"]
    assert failed and all("exited with code 3" in row["error"] for row in failed)
    assert len(failed) < len(rows)  # the rest was not run
    assert "halted: " in done.stdout and "the stop rule halts after 2" in done.stdout


def test_rejected_paths_do_not_count_towards_halt_after(inputs: Path, tmp_path: Path) -> None:
    missing = [str(tmp_path / f"missing{i}") for i in range(3)]
    done = poolscope(
        "run", "-p", "checksum", "--halt-after", "1", "--no-history", *missing, str(inputs),
        "--results", "r.json", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr  # the missing paths are failures of the run
    rows = json.loads((tmp_path / "r.json").read_text())
    assert sorted(row["state"] for row in rows) == ["done"] * 6 + ["rejected"] * 3
    assert "halted" not in done.stdout


def test_the_time_out_reaches_the_commands_own_time_out(inputs: Path, tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    template = f"template=sh -c 'echo $$ > {pid_file}; exec sleep 60' sh {{path}}"
    started = time.monotonic()
    done = poolscope(
        "run", "-p", "command", "-o", template, "--timeout", "0.5", "--no-history",
        str(inputs / "f0.txt"), "--results", "r.json", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert time.monotonic() - started < 30
    (row,) = json.loads((tmp_path / "r.json").read_text())
    assert "ran longer than its time-out of 0.5 s and was stopped" in row["error"]
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, f"the command (pid {pid}) outlived the run"
        time.sleep(0.02)


def test_odd_names_are_printed_on_one_line_each(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    odd = os.fsencode(folder) + b"/new\nline \xff.txt"
    with open(odd, "wb"):
        pass  # empty: text-stats fails on it
    (folder / "fine.txt").write_text("fine\n")
    done = poolscope_bytes(
        "run", "-p", "text-stats", "--no-history", "in", "--results", "r.json", cwd=tmp_path
    )
    assert done.returncode == 1, done.stderr
    assert b"Traceback" not in done.stderr
    text = done.stdout.decode("utf-8")  # every byte printed is UTF-8
    (line,) = [line for line in text.splitlines() if "line" in line]
    assert line.startswith("  failed: in/new\\nline \\udcff.txt: ") and "is empty" in line
    assert "1 done, 1 failed, of 2 inputs" in text
    (failed,) = [row for row in json.loads((tmp_path / "r.json").read_text()) if row["state"] == "failed"]
    assert os.fsencode(os.path.join(tmp_path, failed["input"])) == odd


def test_the_results_are_written_before_the_summary(inputs: Path, tmp_path: Path) -> None:
    run = subprocess.Popen(
        [sys.executable, "-m", "gui.app", "run", "-p", "checksum", "--no-history", str(inputs),
         "--results", "r.json"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environment(),
    )  # fmt: skip
    run.stdout.close()  # type: ignore[union-attr]  # nobody reads the summary: printing it fails
    try:
        run.wait(timeout=120)
    finally:
        run.stderr.close()  # type: ignore[union-attr]
    assert len(json.loads((tmp_path / "r.json").read_text())) == 6


def test_a_name_with_shell_syntax_is_one_argument(inputs: Path, tmp_path: Path) -> None:
    canary = tmp_path / "~.txt"  # what `rm -rf ~.txt`, had a shell run it, would remove from here
    canary.write_text("alive")
    home = tmp_path / "home"  # and a `~` that was expanded anyway would be this scratch folder
    home.mkdir()
    out = tmp_path / "out"
    done = poolscope(
        "run", "-p", "command", "-o", "template=cp {path} {out_dir}/{stem}.copy", "--out", str(out),
        str(inputs / "x; rm -rf ~.txt"), cwd=tmp_path, home=home,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert (out / "x; rm -rf ~.copy").read_text() == "tricky\n"
    assert canary.read_text() == "alive"
    assert os.listdir(home) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "-p", "nosuch", "."], "no processor named 'nosuch'"),
        (["run", "-p", "checksum", "-o", "algorithm=crc", "."], "must be one of"),
        (["run", "-p", "checksum", "-o", "algorithm", "."], "KEY=VALUE"),
        (["run", "-p", "checksum", "--results", "r.txt", "."], ".csv or .json"),
        (["run", "-p", "checksum"], "the following arguments are required: PATH"),
        (["run", "-p", "checksum", "--timeout", "-1", "."], "must be a positive number of seconds"),
        (["run", "-p", "checksum", "--timeout", "0", "."], "must be a positive number of seconds"),
        (["run", "-p", "checksum", "--timeout", "nan", "."], "must be a positive number of seconds"),
        (["run", "-p", "compress", "--out", "a-file", "."], "is a file, not a folder"),
        (["run", "-p", "checksum", "--out", "out", "."], "writes no files: it takes no output folder"),
        (["run", "-p", "checksum", "--results", "nowhere/r.json", "."], "nowhere does not exist"),
        (["run", "-p", "checksum", "--results", "a-file/r.json", "."], "a-file is not a folder"),
        (["run", "-p", "checksum", "--results", "sub", "."], ".csv or .json"),
        (["run", "-p", "checksum", "--results", "folder.json", "."], "is not a regular file"),
        (["run", "-p", "compress", "-o", "level=x", "."], "option 'level' of the compress processor"),
    ],
)
def test_bad_usage_exits_two_with_a_message(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    (tmp_path / "folder.json").mkdir()
    done = poolscope(*args, cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert sorted(os.listdir(tmp_path)) == ["a-file", "folder.json"]  # no work, no history file


def test_a_results_folder_that_cannot_be_written_is_refused_before_any_work(tmp_path: Path) -> None:
    skip_unless_modes_are_enforced()
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        done = poolscope("run", "-p", "checksum", ".", "--results", "locked/r.csv", cwd=tmp_path)
    finally:
        locked.chmod(0o755)
    assert done.returncode == 2
    assert "cannot be written" in done.stderr and "Traceback" not in done.stderr
    assert "started" not in done.stdout


def test_processors_lists_every_processor_with_its_options(tmp_path: Path) -> None:
    done = poolscope("processors", cwd=tmp_path)
    assert done.returncode == 0
    for name in ["checksum", "thumbnail", "compress", "text-stats", "command", "python"]:
        assert f"\n{name}  (" in f"\n{done.stdout}"
    assert "--option algorithm=" in done.stdout


def test_help_names_the_default_history_file(tmp_path: Path) -> None:
    # The path is looked up only for the help text (a run need not load platformdirs).
    # The tests' XDG_DATA_HOME is tmp_path / "xdg-data", shown from the home folder;
    # compared without white space, which argparse's wrapping moves about.
    shown = "(default:~/xdg-data/poolscope/history.sqlite3)"
    for command in (["run"], ["history"], ["history", "export"], ["history", "delete"]):
        done = poolscope(*command, "--help", cwd=tmp_path, home=tmp_path)
        assert done.returncode == 0, done.stderr
        assert shown in "".join(done.stdout.split()), (command, done.stdout)


def test_the_forkserver_preloads_what_each_worker_would_import(monkeypatch: pytest.MonkeyPatch) -> None:
    from multiprocessing import forkserver

    from core.processors import get
    from core.warm_start import preload_for_workers

    monkeypatch.setattr(forkserver._forkserver, "_preload_modules", ["__main__"])
    assert preload_for_workers(get("checksum").function.__module__)
    preload = forkserver._forkserver._preload_modules
    assert preload[0] == "__main__"
    assert {"core.process_worker", "core.processors.checksum"} <= set(preload)
    assert len(preload) == len(set(preload))
