"""What the tests of jobs share (core and window alike): input files made
on disk, a job over functions of ``process_tasks`` through the python
processor, and a terminal-style loop that runs a job to its end."""

from __future__ import annotations

import time
from pathlib import Path

from core.jobs import Job, JobSpec, make_spec
from core.processors import get

#: The longest a test waits for a job; only reached when it is failing.
JOB_WAIT = 30.0


def make_inputs(folder: Path, count: int) -> list[str]:
    """``count`` small text files, each with its own content; their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    made = []
    for i in range(count):
        path = folder / f"f{i:02d}.txt"
        path.write_text(f"data {i}\n")
        made.append(str(path))
    return made


def python_spec(function: str, paths: list[str], **options) -> JobSpec:
    """A job calling ``process_tasks.<function>(path)`` on each input."""
    return make_spec(get("python"), paths, {"function": f"process_tasks:{function}"}, **options)


def run_to_end(job: Job, timeout: float = JOB_WAIT) -> None:
    """Poll the job, as a terminal front end would, until every input settled."""
    deadline = time.monotonic() + timeout
    while not job.finished:
        assert time.monotonic() < deadline, f"the job did not finish: {job.progress()}"
        job.poll(timeout=0.05)
