"""core.jobs without Qt: a batch streamed into a real pool, back-pressure,
cancel, the stop rule, retry, the checks of make_spec, and the results file
format shared with ``poolscope run``."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import threading
import time
from pathlib import Path

import pytest

from core import ThreadPool
from core.jobs import (
    InputState,
    Job,
    JobSpec,
    StopRule,
    make_spec,
    path_from_url,
    paths_from_text,
    printable,
    split_patterns,
    summarize,
)
from core.processors import Processor, get
from core.result_files import RESULT_FIELDS, write_results

WAIT = 30.0


def run_to_end(job: Job, timeout: float = WAIT) -> None:
    """What a terminal front end would do: poll until every input settled."""
    deadline = time.monotonic() + timeout
    while not job.finished:
        assert time.monotonic() < deadline, f"the job did not finish: {job.progress()}"
        job.poll(timeout=0.05)


def files(folder: Path, count: int, text: str = "data {}\n") -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    made = []
    for i in range(count):
        path = folder / f"f{i:04d}.txt"
        path.write_text(text.format(i))
        made.append(path)
    return made


_gate = threading.Event()
_calls: dict[str, int] = {}


def wait_for_gate(path: str) -> dict:
    _gate.wait(WAIT)
    return {"path": path}


def fail_first_time(path: str) -> dict:
    _calls[path] = _calls.get(path, 0) + 1
    if _calls[path] == 1:
        raise RuntimeError(f"first try at {os.path.basename(path)}")
    return {"path": path, "calls": _calls[path]}


def always_fail(path: str) -> dict:
    time.sleep(0.02)
    raise ValueError("no good")


GATED = Processor("gated", wait_for_gate, "waits for the test", needs_content=False)
FLAKY = Processor("flaky", fail_first_time, "fails once per input", needs_content=False)
BROKEN = Processor("broken", always_fail, "always fails", needs_content=False)


@pytest.fixture(autouse=True)
def _reset() -> None:
    _gate.clear()
    _calls.clear()


@pytest.fixture
def jobs():
    made: list[Job] = []
    yield made
    _gate.set()
    for job in made:
        job.cancel()
        job.close()


def start(jobs: list[Job], pool: ThreadPool, spec: JobSpec) -> Job:
    job = Job(pool, spec)
    jobs.append(job)
    job.start()
    return job


def test_a_folder_with_bad_paths_on_a_bounded_queue(tmp_path, make_pool, jobs):
    good = files(tmp_path / "in", 30)
    (tmp_path / "in" / "x; rm -rf ~.txt").write_text("tricky")
    os.mkfifo(tmp_path / "in" / "pipe")
    os.symlink(tmp_path / "nowhere", tmp_path / "in" / "dangling")
    pool = make_pool(workers=2, queue_size=2)
    spec = make_spec(get("checksum"), [tmp_path / "in", tmp_path / "missing"])
    job = start(jobs, pool, spec)
    run_to_end(job)

    by_name = {os.path.basename(row.input): row for row in job.rows}
    assert len(job.rows) == 34
    for path in [*good, tmp_path / "in" / "x; rm -rf ~.txt"]:
        row = by_name[path.name]
        assert row.state is InputState.DONE
        assert row.result["digest"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert row.seconds is not None and row.seconds >= 0
    assert "FIFO" in by_name["pipe"].error
    assert "broken symbolic link" in by_name["dangling"].error
    assert by_name["missing"].error == "does not exist"
    progress = job.progress()
    assert (progress.done, progress.failed, progress.rejected, progress.queued) == (31, 0, 3, 0)
    assert progress.finished and not progress.scanning and progress.settled == 34
    assert [row.index for row in job.rows] == list(range(34))


def test_back_pressure_waits_for_room_and_cancel_stops_the_scan(tmp_path, make_pool, jobs):
    files(tmp_path / "in", 50)
    pool = make_pool(workers=1, queue_size=3)
    job = start(jobs, pool, make_spec(GATED, [tmp_path / "in"]))
    deadline = time.monotonic() + WAIT
    while len(job.rows) < 4:  # one running, three queued: the queue is full
        assert time.monotonic() < deadline
        job.poll(timeout=0.05)
    for _ in range(5):
        job.poll(timeout=0.02)
    assert len(job.rows) == 4 and job.feeding  # the feeder waits for room, the owner does not
    assert pool.stats().queued == 3

    job.cancel()
    _gate.set()
    run_to_end(job)
    job.close()
    assert not job.feeding
    assert len(job.rows) < 50  # the scan stopped
    states = {row.state for row in job.rows}
    assert states <= {InputState.CANCELLED, InputState.DONE}
    assert job.count(InputState.CANCELLED) >= 3
    assert all(row.error == "not run: the job was cancelled" for row in job.rows if row.state == "cancelled")


def test_the_stop_rule_halts_and_cancels_only_this_jobs_queued_tasks(tmp_path, make_pool, jobs):
    files(tmp_path / "in", 40)
    pool = make_pool(workers=1)
    other = pool.schedule(time.sleep, (0,))  # not the job's: left alone
    other.result(WAIT)
    job = start(jobs, pool, make_spec(BROKEN, [tmp_path / "in"], stop_rule=StopRule(max_failures=3)))
    run_to_end(job)
    progress = job.progress()
    assert progress.halted is not None and "inputs failed" in progress.halted
    assert progress.failed >= 3
    assert progress.cancelled >= 1
    assert progress.failed + progress.cancelled == len(job.rows)
    cancelled = [row for row in job.rows if row.state is InputState.CANCELLED]
    assert all(row.error == "not run: the batch was halted" for row in cancelled)
    assert pool.stats().queued == 0


_permits = threading.Semaphore(0)


def wait_for_permit(path: str) -> dict:
    assert _permits.acquire(timeout=WAIT), "the test never let this input through"
    return {"path": path}


def fail_unless_good(path: str) -> dict:
    if "good" not in Path(path).read_text():
        raise ValueError("not good")
    return {"path": path}


PERMITTED = Processor("permitted", wait_for_permit, "runs when the test allows", needs_content=False)
PICKY = Processor("picky", fail_unless_good, "fails on files that are not good")


def picky_when_permitted(path: str) -> dict:
    wait_for_permit(path)
    return fail_unless_good(path)


PICKY_PERMITTED = Processor("picky-permitted", picky_when_permitted, "fails on bad files, when let through")


def test_the_eta_is_what_is_left_at_the_rate_so_far(tmp_path, make_pool, jobs):
    files(tmp_path / "in", 10)
    now = [100.0]
    job = Job(make_pool(workers=1), make_spec(PERMITTED, [tmp_path / "in"]), clock=lambda: now[0])
    jobs.append(job)
    job.start()
    try:
        for _ in range(4):
            _permits.release()
        deadline = time.monotonic() + WAIT
        while job.count(InputState.DONE) < 4 or job.feeding:
            assert time.monotonic() < deadline, job.progress()
            job.poll(timeout=0.05)
        now[0] = 100.4  # too soon to tell
        assert job.progress().eta_seconds is None
        now[0] = 102.0  # 4 inputs in 2 s: the 6 left take 3 s more
        progress = job.progress()
        assert (progress.done, progress.queued, progress.elapsed) == (4, 6, 2.0)
        assert progress.eta_seconds == pytest.approx(3.0)
        now[0] = 106.0
        assert job.progress().eta_seconds == pytest.approx(9.0)
    finally:
        for _ in range(6):
            _permits.release()
    run_to_end(job)
    assert job.progress().eta_seconds is None and job.progress().elapsed == 6.0


def test_the_percentage_stop_rule_halts_a_real_job(tmp_path, make_pool, jobs):
    made = files(tmp_path / "in", 40, text="bad {}\n")
    for path in made[:3]:
        path.write_text("good\n")
    rule = StopRule(max_failed_percent=50, min_finished=8)
    job = start(jobs, make_pool(workers=1), make_spec(PICKY_PERMITTED, [tmp_path / "in"], stop_rule=rule))
    # Eight inputs let through (the three good ones and five bad), the ninth
    # held: the rule has 5 of 8 failed to see before the pool could run on.
    for _ in range(8):
        _permits.release()
    deadline = time.monotonic() + WAIT
    while job.halted is None:
        assert time.monotonic() < deadline, job.progress()
        job.poll(timeout=0.05)
    _permits.release()  # the one that was running when the batch halted
    run_to_end(job)
    while _permits.acquire(blocking=False):  # left over, had it not started
        pass
    progress = job.progress()
    assert progress.halted is not None and "the stop rule halts at 50 %" in progress.halted
    finished = progress.done + progress.failed
    assert finished >= 8 and progress.failed * 2 >= finished and progress.done == 3
    assert progress.cancelled > 0 and progress.cancelled + finished == 40
    # Below the percentage the same rule lets a batch run to its end.
    for path in made[3:]:
        path.write_text("good\n")
    made[5].write_text("bad\n")
    job = start(jobs, make_pool(workers=1), make_spec(PICKY, [tmp_path / "in"], stop_rule=rule))
    run_to_end(job)
    assert job.halted is None and (job.count(InputState.DONE), job.count(InputState.FAILED)) == (39, 1)


def test_stop_rule_percentages_wait_for_enough_finished_inputs():
    rule = StopRule(max_failed_percent=50, min_finished=4)
    assert rule.reason(1, 1) is None  # one early failure is not 100 %
    assert rule.reason(1, 4) is None
    assert "2 of 4 finished inputs failed" in rule.reason(2, 4)
    assert StopRule(max_failures=2).reason(2, 2) == "2 inputs failed (the stop rule halts after 2)"
    assert not StopRule().active and StopRule().describe() == "off"
    with pytest.raises(ValueError, match="at least 1 failure"):
        StopRule(max_failures=0)
    with pytest.raises(ValueError, match="at most 100"):
        StopRule(max_failed_percent=150)


def test_rejected_inputs_never_count_towards_the_stop_rule(tmp_path, make_pool, jobs):
    files(tmp_path / "in", 3)
    missing = [tmp_path / f"missing{i}" for i in range(5)]
    spec = make_spec(get("checksum"), [*missing, tmp_path / "in"], stop_rule=StopRule(max_failures=1))
    job = start(jobs, make_pool(), spec)
    run_to_end(job)
    assert job.halted is None
    assert (job.count(InputState.REJECTED), job.count(InputState.DONE)) == (5, 3)


def test_retry_failed_runs_new_attempts_of_the_same_rows(tmp_path, make_pool, jobs):
    files(tmp_path / "in", 5)
    job = start(jobs, make_pool(), make_spec(FLAKY, [tmp_path / "in"]))
    run_to_end(job)
    assert job.count(InputState.FAILED) == 5
    first_ids = [row.future.task_id for row in job.rows]
    assert job.retry_failed() == 5
    run_to_end(job)
    assert job.count(InputState.DONE) == 5 and len(job.rows) == 5
    for row, first in zip(job.rows, first_ids, strict=True):
        assert row.result["calls"] == 2 and row.error is None
        assert row.future.task.attempt == 2 and row.future.task.retry_of == first
    assert job.retry_failed() == 0


def test_a_pool_shut_down_during_the_scan_ends_the_job_with_a_reason(tmp_path, make_pool, jobs):
    files(tmp_path / "in", 40)
    pool = make_pool(workers=1, queue_size=2)
    job = start(jobs, pool, make_spec(GATED, [tmp_path / "in"]))
    deadline = time.monotonic() + WAIT
    while pool.stats().queued < 2:
        assert time.monotonic() < deadline
        job.poll(timeout=0.02)
    _gate.set()
    pool.shutdown(wait=True, cancel_futures=True)
    run_to_end(job)
    assert "the pool was shut down" in job.progress().ended_early


def test_make_spec_explains_what_is_wrong(tmp_path):
    (tmp_path / "a.txt").write_text("a")
    a_file = str(tmp_path / "a.txt")
    cases = [
        (get("checksum"), [], {}, {}, "nothing to process"),
        (get("checksum"), [a_file], {"algorithm": "crc"}, {}, "must be one of sha256"),
        (get("thumbnail"), [a_file], {}, {}, "choose an output folder"),
        (get("compress"), [a_file], {}, {"out_dir": a_file}, "is a file, not a folder"),
        (get("compress"), [a_file], {"level": 12}, {"out_dir": str(tmp_path / "o")}, "at most 9"),
        (get("checksum"), [a_file], {}, {"out_dir": str(tmp_path)}, "takes no output folder"),
        (get("checksum"), [a_file], {}, {"overwrite": True}, "nothing to overwrite"),
        (get("command"), [a_file], {}, {}, "is required"),
        (get("command"), [a_file], {"template": "cp {path} {nope}"}, {}, "unknown placeholder {nope}"),
        (get("command"), [a_file], {"template": 'echo "unclosed'}, {}, "cannot be split"),
        (get("python"), [a_file], {"function": "no_such_module_here:f"}, {}, "no module named"),
        (get("checksum"), [a_file], {}, {"timeout": -1}, "positive number of seconds"),
    ]
    for processor, paths, options, extra, message in cases:
        with pytest.raises(ValueError, match=message.replace("{", r"\{").replace("}", r"\}")):
            make_spec(processor, paths, options, **extra)
    assert not (tmp_path / "o").exists()  # nothing made for a spec that was refused


def test_make_spec_hands_the_time_out_to_a_processor_that_enforces_it(tmp_path):
    command = make_spec(get("command"), ["x"], {"template": "true {path}"}, timeout=5)
    assert command.options["timeout"] == 5 and command.timeout is None
    checksum = make_spec(get("checksum"), ["x"], timeout=5, retries=2)
    assert checksum.timeout == 5 and checksum.retries == 2
    out = tmp_path / "made" / "here"
    spec = make_spec(get("compress"), ["x"], out_dir=str(out), overwrite=True)
    assert out.is_dir() and spec.options["out_dir"] == str(out) and spec.options["overwrite"] is True
    loose = make_spec(get("thumbnail"), ["x"], out_dir_required=False)
    assert loose.options["out_dir"] is None


def test_pasted_text_and_urls_become_paths():
    text = "/tmp/a b.txt\r\nfile:///tmp/c%20d.txt\n\n# a comment\nfile://localhost/tmp/%FF.bin\nhttp://x/y\n"
    assert paths_from_text(text) == ["/tmp/a b.txt", "/tmp/c d.txt", "/tmp/\udcff.bin"]
    assert path_from_url("file://elsewhere/tmp/x") is None
    assert split_patterns(" *.jpg; *.png,*.gif  ") == ("*.jpg", "*.png", "*.gif")
    assert printable("a\nb\udcff") == "a\\nb\\udcff"


def test_summaries_leave_the_paths_to_their_columns():
    result = {"path": "/a", "output": "/b", "digest": "ab" * 50, "bytes": 3}
    assert summarize(result) == f"digest: {'ab' * 39}a…, bytes: 3"
    assert summarize(None) == "" and summarize(42) == "42"


ROWS = [
    {
        "input": "/in/a.txt",
        "state": "done",
        "result": {"digest": "00", "bytes": 1},
        "error": None,
        "seconds": 0.5,
    },
    {
        "input": "/in/b, c.txt",
        "state": "failed",
        "result": None,
        "error": 'Boom: "quoted"\nline',
        "seconds": 0.1,
    },
    {"input": "/in/pipe", "state": "rejected", "result": None, "error": "is a FIFO"},
]


def test_results_files_read_back_as_written(tmp_path):
    write_results(str(tmp_path / "r.json"), ROWS)
    write_results(str(tmp_path / "r.csv"), ROWS)
    assert json.loads((tmp_path / "r.json").read_text()) == [
        {key: row.get(key) for key in RESULT_FIELDS} for row in ROWS
    ]
    with open(tmp_path / "r.csv", newline="", encoding="utf-8") as handle:
        records = list(csv.DictReader(handle))
    assert [r["input"] for r in records] == [row["input"] for row in ROWS]
    assert records[1]["error"] == 'Boom: "quoted"\nline'
    assert json.loads(records[0]["result"]) == {"digest": "00", "bytes": 1}
    assert records[2]["seconds"] == "" and records[2]["result"] == ""


def test_results_files_keep_names_that_are_not_utf8(tmp_path):
    name = os.fsdecode(b"/in/caf\xe9.txt")
    rows = [{"input": name, "state": "done", "result": None, "error": None, "seconds": 1.0}]
    write_results(str(tmp_path / "r.csv"), rows)
    write_results(str(tmp_path / "r.json"), rows)
    assert b"/in/caf\xe9.txt" in (tmp_path / "r.csv").read_bytes()
    assert json.loads((tmp_path / "r.json").read_text())[0]["input"] == name
    records = list(csv.DictReader(io.StringIO((tmp_path / "r.csv").read_text(errors="surrogateescape"))))
    assert tuple(records[0]) == RESULT_FIELDS
    with pytest.raises(ValueError, match=r"must be a \.csv or \.json file"):
        write_results(str(tmp_path / "r.txt"), rows)
