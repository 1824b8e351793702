"""``poolscope run`` with history, ``--resume`` after a SIGKILL, ``--joblog``
and ``poolscope history``: real processes on real files."""

from __future__ import annotations

import csv
import io
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from core import TaskState, ThreadPool
from core.cli import _CtrlC, exit_value
from core.errors import TaskError
from core.jobs import make_spec
from core.processors import get
from core.recorded_jobs import job_arguments
from core.store import RunState, Store

ROOT = Path(__file__).resolve().parents[2]
#: The longest a test waits for a subprocess to reach a point it must reach.
PATIENCE = 30.0


def environment(cwd: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "QT_QPA_PLATFORM")}
    env["PYTHONPATH"] = str(ROOT)
    env["XDG_DATA_HOME"] = str(cwd / "data")  # the default history file lives here
    return env


def poolscope(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "core.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env=env or environment(cwd),
    )


def make_inputs(folder: Path, count: int) -> list[str]:
    """``count`` small files; their labels as ``poolscope run in`` names them."""
    folder.mkdir()
    for i in range(count):
        (folder / f"f{i:03}.txt").write_text(f"input {i}\n")
    return [os.path.join(folder.name, f"f{i:03}.txt") for i in range(count)]


def appending(log: Path, delay: float = 0.0) -> str:
    """A command template that (after ``delay`` seconds) appends the input's
    path to ``log``: the log counts how often each input really ran."""
    script = (
        f'sleep {delay}; echo "$1" >> {shlex.quote(str(log))}'
        if delay
        else (f'echo "$1" >> {shlex.quote(str(log))}')
    )
    return f"template=sh -c {shlex.quote(script)} sh {{path}}"


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def wait_for(condition, what: str, timeout: float = PATIENCE) -> None:
    """Poll a subprocess's visible effects (a file, a database) until true."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


def processes_naming(text: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        try:
            if any(text in part for part in process.info["cmdline"] or ()):
                found.append(process)
        except psutil.Error:
            continue
    return found


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "history.sqlite3"


@pytest.fixture
def history(db: Path) -> Iterator[Store]:
    store = Store(db)
    yield store
    store.close()


# ----------------------------------------------------------- run, recorded


def test_run_prints_its_id_first_and_records_into_the_default_history(tmp_path: Path) -> None:
    make_inputs(tmp_path / "in", 3)
    first = poolscope("run", "-p", "checksum", "in", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines()[0] == "run 1 started"
    assert "run 1 finished: 3 done, 0 failed, of 3 inputs" in first.stdout
    default = tmp_path / "data" / "poolscope" / "history.sqlite3"
    assert default.exists()
    second = poolscope("run", "-p", "text-stats", "in", cwd=tmp_path)
    assert second.stdout.startswith("run 2 started\n")

    listed = poolscope("history", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    header, newest, oldest = listed.stdout.splitlines()
    assert header.split() == ["RUN", "STARTED", "STATE", "PROCESSOR", "DONE", "FAILED", "INPUTS", "DURATION"]
    assert newest.split()[0:2] == ["2", time.strftime("%Y-%m-%d")]
    assert newest.split()[3:8] == ["finished", "text-stats", "3", "0", "3"]
    assert oldest.split()[0] == "1" and "checksum" in oldest
    assert newest.endswith(" s")


def test_no_history_records_nothing(tmp_path: Path) -> None:
    make_inputs(tmp_path / "in", 2)
    done = poolscope("run", "-p", "checksum", "--no-history", "in", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "started" not in done.stdout
    assert not (tmp_path / "data").exists()
    assert poolscope("history", cwd=tmp_path).stdout.startswith("no runs recorded yet")


def test_a_damaged_history_is_kept_aside_and_the_run_goes_on(tmp_path: Path, db: Path) -> None:
    make_inputs(tmp_path / "in", 2)
    db.write_bytes(b"garbage, not a database\n" * 100)
    done = poolscope("run", "-p", "checksum", "--db", str(db), "in", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "was damaged; it was kept as" in done.stderr
    assert done.stdout.startswith("run 1 started\n")
    (aside,) = [p for p in tmp_path.iterdir() if p.name.startswith("history.sqlite3.damaged-")]
    assert aside.read_bytes().startswith(b"garbage")


def test_a_history_in_use_turns_history_off_and_the_run_goes_on(
    tmp_path: Path, history: Store, db: Path
) -> None:
    make_inputs(tmp_path / "in", 2)
    done = poolscope("run", "-p", "checksum", "--db", str(db), "in", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (
        f"history is off: the history file {db} is in use by another PoolScope (process {os.getpid()})"
        in (done.stderr)
    )
    assert "started" not in done.stdout and "2 done, 0 failed, of 2 inputs" in done.stdout
    # Listing still works, reading alongside the store that holds the file.
    history.begin_run(title="held here")
    listed = poolscope("history", "--db", str(db), cwd=tmp_path)
    assert listed.returncode == 0 and "running" in listed.stdout


# ----------------------------------------------------------- the SIGKILL resume


def test_a_run_killed_mid_batch_resumes_to_each_input_done_exactly_once(tmp_path: Path, db: Path) -> None:
    inputs = make_inputs(tmp_path / "in", 200)
    log = tmp_path / "processed.log"
    joblog = tmp_path / "jobs.tsv"
    run = subprocess.Popen(
        [sys.executable, "-m", "core.cli", "run", "-p", "command", "-o", appending(log, delay=0.05),
         "--workers", "4", "--db", str(db), "--joblog", str(joblog), "in"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment(tmp_path),
    )  # fmt: skip
    try:
        first_line = run.stdout.readline()  # type: ignore[union-attr]
        assert first_line.startswith("run ") and first_line.endswith(" started\n"), run.stderr.read()  # type: ignore[union-attr]
        run_id = int(first_line.split()[1])

        def done_so_far() -> int:
            with Store(db, read_only=True) as reader:
                return len(reader.tasks(run_id, TaskState.DONE))

        wait_for(lambda: done_so_far() >= 30, "30 inputs recorded DONE")
    finally:
        run.send_signal(signal.SIGKILL)
        run.wait(timeout=PATIENCE)
        run.stdout.close()  # type: ignore[union-attr]
        run.stderr.close()  # type: ignore[union-attr]
    # The commands it had started outlive it, for a moment: let them end.
    wait_for(lambda: not processes_naming(str(log)), "the killed run's commands to end")

    with Store(db) as store:
        assert store.integrity_check() == ["ok"]
        killed = store.run(run_id)
        assert killed.state is RunState.INTERRUPTED
        assert [r.id for r in store.unfinished_runs()] == [run_id]
        done_before = {t.label for t in store.tasks(run_id, TaskState.DONE)}
    assert 30 <= len(done_before) < 200, "the kill did not come mid-batch"

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    resumed = subprocess.run(
        [sys.executable, "-m", "core.cli", "run", "--resume", str(run_id), "--db", str(db), "--joblog",
         str(joblog)],
        cwd=elsewhere, capture_output=True, text=True, timeout=120, env=environment(tmp_path),
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert resumed.stdout.startswith(f"run {run_id} started (resuming: {200 - len(done_before)} of 200")
    assert f"run {run_id} finished: 200 done, 0 failed, of 200 inputs" in resumed.stdout

    with Store(db) as store:
        assert store.integrity_check() == ["ok"]
        assert store.run(run_id).state is RunState.FINISHED
        attempts = store.tasks(run_id)
        assert store.unfinished_runs() == []
    done = Counter(t.label for t in attempts if t.state is TaskState.DONE)
    assert done == Counter(inputs), "each input DONE exactly once"
    assert {t.seq for t in attempts} == set(range(1, 201))
    ran = Counter(lines(log))
    assert set(ran) == set(inputs)
    assert all(ran[label] == 1 for label in done_before), "an input DONE before the kill ran again"
    jobs = lines(joblog)
    assert jobs.count(jobs[0]) == 1 and jobs[0].startswith("Seq\t")
    assert {line.split("\t")[6] for line in jobs[1:] if line.split("\t")[4] == "done"} == set(inputs)


def test_ctrl_c_leaves_an_interrupted_run_that_resumes(tmp_path: Path, db: Path) -> None:
    inputs = make_inputs(tmp_path / "in", 60)
    log = tmp_path / "processed.log"
    run = subprocess.Popen(
        [sys.executable, "-m", "core.cli", "run", "-p", "command", "-o", appending(log, delay=0.05),
         "--workers", "2", "--db", str(db), "in"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment(tmp_path),
    )  # fmt: skip
    first_line = run.stdout.readline()  # type: ignore[union-attr]
    run_id = int(first_line.split()[1])
    wait_for(lambda: len(lines(log)) >= 10, "ten inputs processed")
    run.send_signal(signal.SIGINT)
    out, err = run.communicate(timeout=PATIENCE)
    assert run.returncode == 1, out + err
    assert "poolscope run: interrupted" in err
    assert f"run {run_id} interrupted: " in out
    wait_for(lambda: not processes_naming(str(log)), "the interrupted run's commands to end")
    with Store(db) as store:
        assert store.run(run_id).state is RunState.INTERRUPTED
        assert [r.id for r in store.unfinished_runs()] == [run_id]
    resumed = poolscope("run", "--resume", str(run_id), "--db", str(db), cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    with Store(db) as store:
        done = Counter(t.label for t in store.tasks(run_id, TaskState.DONE))
    assert done == Counter(inputs)


SLOW_TASKS = """
import time


def slow(path, log):
    with open(log, "a") as f:
        print(path, file=f)
    time.sleep(0.2)
    return {"path": path}
"""


@pytest.mark.timeout(120)
def test_ctrl_c_in_a_terminal_leaves_the_running_tasks_to_run_again(tmp_path: Path, db: Path) -> None:
    # A terminal sends SIGINT to every process of the command, the process
    # pool's workers too: their tasks must not fail of it, or a resume would
    # take them for failures and not run them again.
    (tmp_path / "slow_tasks.py").write_text(SLOW_TASKS)
    inputs = make_inputs(tmp_path / "in", 30)
    log = tmp_path / "started.log"
    env = environment(tmp_path)
    env["PYTHONPATH"] += os.pathsep + str(tmp_path)
    run = subprocess.Popen(
        [sys.executable, "-m", "gui.app", "run", "-p", "python", "-o", "function=slow_tasks:slow",
         "-o", f"log={log}", "--pool", "process", "--workers", "2", "--db", str(db), "in"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        start_new_session=True,  # a process group of its own, as a terminal gives it
    )  # fmt: skip
    run_id = int(run.stdout.readline().split()[1])  # type: ignore[union-attr]
    wait_for(lambda: len(lines(log)) >= 6, "six inputs started")
    os.killpg(run.pid, signal.SIGINT)
    out, err = run.communicate(timeout=PATIENCE)
    assert run.returncode == 1, out + err
    assert "poolscope run: interrupted" in err
    with Store(db) as store:
        states = Counter(t.state for t in store.tasks(run_id))
    assert TaskState.FAILED not in states, states
    resumed = poolscope("run", "--resume", str(run_id), "--db", str(db), cwd=tmp_path, env=env)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    with Store(db) as store:
        done = Counter(t.label for t in store.tasks(run_id, TaskState.DONE))
    assert done == Counter(inputs)


def test_ctrl_c_is_a_flag_while_the_run_is_followed_and_a_second_one_raises() -> None:
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    with _CtrlC() as ctrl_c:
        signal.raise_signal(signal.SIGINT)
        assert ctrl_c.pressed  # and nothing was raised
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_an_ignored_ctrl_c_stays_ignored() -> None:
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # as in a background job
    try:
        with _CtrlC() as ctrl_c:
            signal.raise_signal(signal.SIGINT)
        assert not ctrl_c.pressed
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


def test_resume_walks_the_paths_again_when_the_run_had_not_reached_every_input(
    tmp_path: Path, db: Path
) -> None:
    inputs = make_inputs(tmp_path / "in", 6)
    log = tmp_path / "processed.log"
    spec = make_spec(get("command"), ["in"], {"template": appending(log).removeprefix("template=")})
    arguments = {**job_arguments(spec, "thread", 2), "cwd": str(tmp_path)}  # as poolscope run in tmp_path
    with Store(db) as store:  # a run that died after two inputs: they are all it recorded
        run_id = store.begin_run(processor="command", options=dict(spec.options), arguments=arguments)
        with ThreadPool(2) as pool:
            store.attach(pool, run_id)
            for label in inputs[:2]:
                pool.schedule(str.upper, (label,), label=label).result(timeout=PATIENCE)
    resumed = poolscope("run", "--resume", str(run_id), "--db", str(db), cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "the paths are walked again" in resumed.stdout
    assert sorted(lines(log)) == inputs[2:]
    with Store(db) as store:
        tasks = store.tasks(run_id)
        assert [(t.seq, t.label, t.state) for t in tasks] == [
            (i + 1, label, TaskState.DONE) for i, label in enumerate(inputs)
        ]
        assert store.run(run_id).inputs_complete


def test_failures_stay_failed_on_resume_unless_asked(tmp_path: Path, db: Path) -> None:
    inputs = make_inputs(tmp_path / "in", 8)
    (tmp_path / inputs[0]).write_text("bad\n")
    log = tmp_path / "processed.log"
    script = f'grep -q bad "$1" && exit 3; echo "$1" >> {shlex.quote(str(log))}'
    template = f"template=sh -c {shlex.quote(script)} sh {{path}}"
    first = poolscope("run", "-p", "command", "-o", template, "--workers", "1", "--halt-after", "1",
                      "--db", str(db), "in", cwd=tmp_path)  # fmt: skip
    assert first.returncode == 1
    assert "run 1 halted" in first.stdout
    again = poolscope("run", "--resume", "1", "--db", str(db), cwd=tmp_path)
    assert again.returncode == 1, "the failure is still there"
    assert "run 1 finished: 7 done, 1 failed, of 8 inputs" in again.stdout
    assert sorted(lines(log)) == inputs[1:]
    (tmp_path / inputs[0]).write_text("fixed\n")
    fixed = poolscope("run", "--resume", "1", "--retry-failed", "--db", str(db), cwd=tmp_path)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "run 1 finished: 8 done, 0 failed, of 8 inputs" in fixed.stdout
    assert Counter(lines(log)) == Counter(inputs)
    with Store(db) as store:
        first_input = [t for t in store.tasks(1) if t.seq == 1]
    assert [(t.attempt, t.state) for t in first_input] == [(1, TaskState.FAILED), (2, TaskState.DONE)]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--resume", "1", "-p", "checksum"], "leave out --processor"),
        (["run", "--resume", "1", "in"], "leave out PATH"),
        (["run", "--resume", "7"], "no run 7 is recorded"),
        (["run", "--retry-failed", "-p", "checksum", "in"], "--retry-failed goes with --resume"),
        (["run", "in"], "the following arguments are required: --processor/-p"),
        (["history", "export", "7"], "no run 7 is recorded"),
        (["history", "delete", "7"], "no run 7 is recorded"),
    ],
)
def test_bad_resume_and_history_usage_exits_two(
    tmp_path: Path, db: Path, args: list[str], message: str
) -> None:
    Store(db).close()
    done = poolscope(*args, "--db", str(db), cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr


# ----------------------------------------------------------- the job log


def test_the_joblog_has_a_header_and_a_line_per_attempt(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.txt").write_text("fine\n")
    (folder / "b.txt").write_text("bad\n")
    (folder / "tab\tname.txt").write_text("fine\n")
    joblog = tmp_path / "jobs.tsv"
    template = 'template=sh -c \'grep -q bad "$1" && exit 3; cat "$1"\' sh {path}'
    before = time.time()
    done = poolscope("run", "-p", "command", "-o", template, "--retries", "1", "--joblog", str(joblog),
                     "--no-history", "in", "missing.txt", cwd=tmp_path)  # fmt: skip
    after = time.time()
    assert done.returncode == 1
    header, *rows = joblog.read_text().splitlines()
    assert header == "Seq\tWorker\tStarttime\tJobRuntime\tState\tExitval\tInput"
    fields = [row.split("\t") for row in rows]
    assert all(len(f) == 7 for f in fields)
    by_input: dict[str, list[list[str]]] = {}
    for f in fields:
        by_input.setdefault(f[6], []).append(f)
    assert set(by_input) == {"in/a.txt", "in/b.txt", "in/tab\\tname.txt"}  # missing.txt never ran
    assert [(f[0], f[4], f[5]) for f in by_input["in/b.txt"]] == [("2", "failed", "3")] * 2  # two attempts
    assert [(f[0], f[4], f[5]) for f in by_input["in/a.txt"]] == [("1", "done", "0")]
    assert by_input["in/tab\\tname.txt"][0][0] == "3"
    for f in fields:
        assert int(f[1]) >= 1
        assert before <= float(f[2]) <= after
        assert 0 <= float(f[3]) <= after - before


def test_the_joblog_names_the_exception_when_there_is_no_exit_code(tmp_path: Path) -> None:
    make_inputs(tmp_path / "in", 1)
    joblog = tmp_path / "jobs.tsv"
    done = poolscope("run", "-p", "command", "-o", "template=no-such-program-here {path}", "--no-history",
                     "--joblog", str(joblog), "in", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 1
    (line,) = lines(joblog)[1:]
    assert line.split("\t")[4:] == ["failed", "CommandFailed", "in/f000.txt"]


def test_exit_values_read_a_command_failures_code_or_signal() -> None:
    assert exit_value(None) == "0"
    failed = "core.processors.base.CommandFailed"
    assert (
        exit_value(TaskError(failed, "the command 'sh' exited with code 3; its error output ends with:\nx"))
        == "3"
    )
    assert exit_value(TaskError(failed, "the command 'sh' was killed by signal 9")) == "-9"
    assert exit_value(TaskError("core.errors.TaskTimeout", "too long")) == "TaskTimeout"


# ----------------------------------------------------------- history export and delete


def test_history_exports_csv_and_json_and_deletes(tmp_path: Path, db: Path) -> None:
    inputs = make_inputs(tmp_path / "in", 3)
    assert (
        poolscope("run", "-p", "checksum", "--db", str(db), "in", "missing.txt", cwd=tmp_path).returncode == 1
    )
    as_csv = poolscope("history", "export", "1", "--format", "csv", "--db", str(db), cwd=tmp_path)
    assert as_csv.returncode == 0, as_csv.stderr
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert [(row["seq"], row["label"], row["state"]) for row in rows] == [
        *(((str(i + 1), label, "done") for i, label in enumerate(inputs))),
        ("4", "missing.txt", "failed"),
    ]
    assert json.loads(rows[0]["result"])["digest"]
    assert rows[3]["message"] == "does not exist"

    out = tmp_path / "run.json"
    as_json = poolscope("history", "--db", str(db), "export", "1", "--format", "json", "--out", str(out),
                        cwd=tmp_path)  # fmt: skip
    assert as_json.returncode == 0, as_json.stderr
    data = json.loads(out.read_text())
    assert (data["run"]["id"], data["run"]["processor"], data["run"]["done"]) == (1, "checksum", 3)
    assert data["run"]["arguments"]["paths"] == ["in", "missing.txt"]
    assert len(data["tasks"]) == 4

    deleted = poolscope("history", "delete", "1", "--db", str(db), cwd=tmp_path)
    assert deleted.returncode == 0 and deleted.stdout == "run 1 deleted\n"
    assert "no runs recorded yet" in poolscope("history", "--db", str(db), cwd=tmp_path).stdout
