"""``poolscope run`` and ``poolscope processors``, end to end in a subprocess."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def poolscope(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "QT_QPA_PLATFORM")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "gui.app", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
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


def test_a_failing_command_halts_the_batch_after_n_failures(inputs: Path, tmp_path: Path) -> None:
    done = poolscope(
        "run", "-p", "command", "-o", "template=sh -c 'exit 3'", "--workers", "1", "--halt-after", "2",
        str(inputs), "--results", "r.json", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 1
    rows = json.loads((tmp_path / "r.json").read_text())
    failed = [row for row in rows if row["state"] == "failed"]
    assert failed and "3" in failed[0]["error"]
    assert len(failed) < len(rows)  # the rest was not run


def test_a_name_with_shell_syntax_is_one_argument(inputs: Path, tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    canary.write_text("alive")
    out = tmp_path / "out"
    done = poolscope(
        "run", "-p", "command", "-o", "template=cp {path} {out_dir}/{stem}.copy", "--out", str(out),
        str(inputs / "x; rm -rf ~.txt"), cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert (out / "x; rm -rf ~.copy").read_text() == "tricky\n"
    assert canary.read_text() == "alive"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "-p", "nosuch", "."], "no processor named 'nosuch'"),
        (["run", "-p", "checksum", "-o", "algorithm=crc", "."], "must be one of"),
        (["run", "-p", "checksum", "-o", "algorithm", "."], "KEY=VALUE"),
        (["run", "-p", "checksum", "--results", "r.txt", "."], ".csv or .json"),
        (["run", "-p", "checksum"], "the following arguments are required: PATH"),
    ],
)
def test_bad_usage_exits_two_with_a_message(tmp_path: Path, args: list[str], message: str) -> None:
    done = poolscope(*args, cwd=tmp_path)
    assert done.returncode == 2
    assert message in done.stderr


def test_processors_lists_every_processor_with_its_options(tmp_path: Path) -> None:
    done = poolscope("processors", cwd=tmp_path)
    assert done.returncode == 0
    for name in ["checksum", "thumbnail", "compress", "text-stats", "command", "python"]:
        assert f"\n{name}  (" in f"\n{done.stdout}"
    assert "--option algorithm=" in done.stdout
