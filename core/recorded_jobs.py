"""A job recorded in the history: the run that holds it, and a job rebuilt
from a run to resume it or to retry its failures.

No Qt here; the window drives it::

    start:   JobRun.begin(store, job, pool kind, workers) ─► a RUNNING run; the job's
             tasks (``job.owns``) and rejected inputs recorded into it
    end:     run.end(job)   ─► FINISHED, or HALTED when a halt rule or a cancel stopped it
    again:   run.reopen(job) (the job's "retry failed") ─► RUNNING again, same run
    resume:  plan_resume(store, run id) ─► (JobSpec, pool kind, Resume) ─► a new Job
             over what did not end, recorded into the same run as next attempts

A run's ``arguments`` (``job_arguments``) are the same whether the window or
``poolscope run`` recorded it, so either can resume a run the other started.
A store that fails raises ``StoreError``: the caller says so and the job
goes on without history.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .jobs import Job, JobSpec, Resume, StopRule, make_spec
from .processors import registry
from .store import RunRecord, RunState, Store

if TYPE_CHECKING:
    from .store import Recording

__all__ = ["JobRun", "ResumePlan", "job_arguments", "plan_resume", "run_title", "spec_of"]


def job_arguments(spec: JobSpec, pool: str, workers: int | None) -> dict[str, Any]:
    """What a resume needs to run ``spec`` again, as JSON-able values."""
    rule = spec.stop_rule
    return {
        "processor": spec.processor.name,
        "options": dict(spec.options),
        "pool": pool,
        "workers": workers,
        "timeout": spec.timeout,
        "retries": spec.retries,
        "halt_after": rule.max_failures,
        "halt_percent": rule.max_failed_percent,
        "include": list(spec.include),
        "exclude": list(spec.exclude),
        "follow_symlinks": spec.follow_symlinks,
        "paths": list(spec.paths),
        "cwd": os.getcwd(),
    }


def run_title(spec: JobSpec) -> str:
    paths = spec.paths
    shown = ", ".join(paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
    return f"{spec.processor.name} over {shown}"


def spec_of(record: RunRecord) -> tuple[JobSpec, str]:
    """The job a run recorded, checked again as when it started, and the
    kind of pool it ran on. ``ValueError`` says why it cannot be rebuilt."""
    arguments = record.arguments
    if not {"processor", "options", "paths"} <= set(arguments):
        raise ValueError(f"run {record.id} did not record what it ran, so it cannot be run again")
    paths = [str(path) for path in arguments["paths"]]
    relative = [path for path in paths if not os.path.isabs(path)]
    if relative and not _in_folder(arguments.get("cwd")):
        # Its inputs were named relative to the folder it ran in; only a
        # resume from there (``poolscope run --resume`` goes there) names
        # them the same way.
        raise ValueError(
            f"run {record.id} named its inputs relative to {arguments.get('cwd') or 'its folder'}; "
            f"resume it from a terminal: poolscope run --resume {record.id}"
        )
    try:
        processor = registry.get(arguments["processor"])
    except KeyError as exc:
        raise ValueError(exc.args[0] if exc.args else str(exc)) from None
    options = dict(arguments["options"])
    out_dir, overwrite = options.pop("out_dir", None), bool(options.pop("overwrite", False))
    spec = make_spec(
        processor,
        paths,
        options,
        out_dir=out_dir,
        overwrite=overwrite,
        include=arguments.get("include") or ("*",),
        exclude=arguments.get("exclude") or (),
        follow_symlinks=bool(arguments.get("follow_symlinks")),
        timeout=arguments.get("timeout"),
        retries=int(arguments.get("retries") or 0),
        stop_rule=StopRule(
            max_failures=arguments.get("halt_after"), max_failed_percent=arguments.get("halt_percent")
        ),
    )
    return spec, str(arguments.get("pool") or processor.pool)


def _in_folder(folder: str | None) -> bool:
    """True when the current folder is ``folder``."""
    try:
        return folder is not None and os.path.samefile(folder, os.getcwd())
    except OSError:
        return False


@dataclass(frozen=True)
class ResumePlan:
    """A recorded run rebuilt: its job, its pool kind and what to feed."""

    record: RunRecord
    spec: JobSpec
    pool: str
    resume: Resume


def plan_resume(
    store: Store, run_id: int, *, include_failed: bool = False, only: list[str] | None = None
) -> ResumePlan:
    """How to finish run ``run_id``: the inputs that did not end (and the
    failed ones with ``include_failed``), then, if the run never saw all its
    inputs, a walk of its paths for those it did not reach. ``only`` names
    the inputs to run again instead (say, one group of failures), with no
    walk. Raises ``ValueError`` or ``StoreError`` with a message."""
    record = store.run(run_id)
    if record.state is RunState.RUNNING:
        raise ValueError(f"run {run_id} is running; it can be resumed once it stops")
    spec, pool = spec_of(record)
    if only is not None:
        return ResumePlan(record, spec, pool, Resume(again=tuple(dict.fromkeys(only))))
    again = tuple(r.input or r.label or "" for r in store.resumable(run_id, include_failed=include_failed))
    walk = not record.inputs_complete
    known = frozenset(store.labels(run_id)) if walk else frozenset()
    return ResumePlan(record, spec, pool, Resume(again=again, known=known, walk=walk))


class JobRun:
    """The run that records one job, from its start through its retries."""

    def __init__(self, store: Store, run_id: int) -> None:
        self.store = store
        self.run_id = run_id
        self._recording: Recording | None = None

    @classmethod
    def begin(cls, store: Store, job: Job, pool: str, workers: int | None) -> JobRun:
        """A new run for ``job`` (before ``job.start()``)."""
        spec = job.spec
        run_id = store.begin_run(
            title=run_title(spec),
            processor=spec.processor.name,
            options=dict(spec.options),
            arguments=job_arguments(spec, pool, workers),
        )
        run = cls(store, run_id)
        run._attach(job)
        return run

    @classmethod
    def resume(cls, store: Store, plan: ResumePlan, job: Job) -> JobRun:
        """Record ``job`` (built from ``plan``) into its run again: each input
        it runs becomes the next attempt of that input."""
        store.resume_run(plan.record.id)
        run = cls(store, plan.record.id)
        run._attach(job)
        return run

    def _attach(self, job: Job) -> None:
        self._recording = self.store.attach(job.pool, self.run_id, select=job.owns)
        job.recorder = self._recording

    @property
    def recording(self) -> bool:
        return self._recording is not None

    def end(self, job: Job, state: RunState | None = None) -> RunRecord:
        """The job's round ended: write what it did and close the run
        (HALTED when its stop rule or a cancel stopped it; ``state``, say
        INTERRUPTED, when it was cut short and is to be resumed)."""
        self._detach(job)
        if state is None:
            state = RunState.HALTED if job.halted or job.cancelled else RunState.FINISHED
        return self.store.finish_run(self.run_id, state)

    def reopen(self, job: Job) -> None:
        """The job is about to run some inputs again ("retry failed"): record
        them into the same run. Call it before ``job.retry_failed()``."""
        if self._recording is None:
            self.store.resume_run(self.run_id)
            self._attach(job)

    def _detach(self, job: Job) -> None:
        if self._recording is not None:
            self._recording.detach()
            self._recording = None
            job.recorder = None
