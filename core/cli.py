"""``poolscope run`` and ``poolscope processors``: the engine from a terminal.

No Qt here: ``poolscope run`` works on a machine without a display. Exit
status: 0 when every input succeeded, 1 when some failed (or were rejected),
2 for bad usage.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import queue
import sys
import time
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any, TextIO

from .expand import Rejected, expand_paths
from .pool import Pool
from .process_pool import ProcessPool
from .processors import registry
from .processors.base import Option, Processor
from .thread_pool import ThreadPool

__all__ = ["main"]

USAGE_ERROR = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="poolscope", description="Process files on a pool, from a terminal."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "run",
        help="run a processor over files and folders",
        description="Run a processor over files and folders (folders recursively), in parallel.",
    )
    run.add_argument("--processor", "-p", required=True, help="what to do; see: poolscope processors")
    run.add_argument(
        "--option",
        "-o",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a processor option (repeatable)",
    )
    run.add_argument("--pool", choices=["thread", "process"], help="default: the processor's own choice")
    run.add_argument("--workers", type=_at_least(1), help="default: 4 threads, or one process per CPU")
    run.add_argument("--out", metavar="DIR", help="output folder, for processors that write files")
    run.add_argument("--timeout", type=float, metavar="SECONDS", help="per-task time-out")
    run.add_argument("--retries", type=_at_least(0), default=0, help="re-run a failed task up to N times")
    run.add_argument("--halt-after", type=_at_least(1), metavar="N", help="stop after N failures")
    run.add_argument("--include", action="append", default=[], metavar="GLOB", help="only files matching")
    run.add_argument("--exclude", action="append", default=[], metavar="GLOB", help="skip files matching")
    run.add_argument("--follow-symlinks", action="store_true", help="walk into symlinked folders")
    run.add_argument("--results", metavar="FILE", help="write one row per input to FILE.csv or FILE.json")
    run.add_argument("paths", nargs="+", metavar="PATH")
    commands.add_parser("processors", help="list the processors and their options")
    return parser


def _at_least(minimum: int):
    def parse(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    args = build_parser().parse_args(argv)
    if args.command == "processors":
        return list_processors(out)
    return run(args, out)


def list_processors(out: TextIO) -> int:
    for name, processor in sorted(registry.processors().items()):
        print(f"{name}  ({processor.pool} pool)  {processor.description}", file=out)
        for option in processor.options:
            extra = f" one of {', '.join(option.choices)};" if option.choices else ""
            print(f"    --option {option.name}=…  {option.help}{extra} default {option.default!r}", file=out)
    for error in registry.load_errors():
        print(f"(plugin not loaded: {error})", file=out)
    return 0


def run(args: argparse.Namespace, out: TextIO) -> int:
    try:
        processor = registry.get(args.processor)
        options = processor.resolve_options(_parse_options(processor, args.option, args.out))
    except (KeyError, ValueError) as exc:
        print(f"poolscope run: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return USAGE_ERROR
    if args.results and not args.results.endswith((".csv", ".json")):
        print("poolscope run: --results must name a .csv or .json file", file=sys.stderr)
        return USAGE_ERROR
    kind = args.pool or processor.pool
    pool: Pool = (
        ProcessPool(workers=args.workers) if kind == "process" else ThreadPool(workers=args.workers or 4)
    )
    rows: list[dict[str, Any]] = []
    progress = _Progress(sys.stderr)
    try:
        rows = _process(pool, processor, options, args, progress)
    except KeyboardInterrupt:
        pool.terminate()
        print("\npoolscope run: interrupted", file=sys.stderr)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    progress.finish()
    done = sum(row["state"] == "done" for row in rows)
    failed = len(rows) - done
    print(f"{done} done, {failed} failed, of {len(rows)} inputs", file=out)
    for row in rows:
        if row["state"] != "done":
            print(f"  {row['state']}: {row['input']}: {row['error']}", file=out)
    if args.results:
        _write_results(args.results, rows)
    return 0 if rows and not failed else 1


def _parse_options(processor: Processor, pairs: list[str], out_dir: str | None) -> dict[str, Any]:
    known = {option.name: option for option in processor.options}
    options: dict[str, Any] = {}
    if out_dir is not None and "out_dir" in known:
        os.makedirs(out_dir, exist_ok=True)
        options["out_dir"] = out_dir
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep:
            raise ValueError(f"--option {pair!r} is not of the form KEY=VALUE")
        option = known.get(key)
        options[key] = _convert(option, text) if option is not None else text
    return options


def _convert(option: Option, text: str) -> Any:
    if option.kind == "int":
        return int(text)
    if option.kind == "float":
        return float(text)
    if option.kind == "bool":
        if text.lower() not in ("true", "false", "yes", "no", "1", "0"):
            raise ValueError(f"option {option.name!r} is true or false, not {text!r}")
        return text.lower() in ("true", "yes", "1")
    return text


def _process(
    pool: Pool, processor: Processor, options: dict[str, Any], args: argparse.Namespace, progress: _Progress
) -> list[dict[str, Any]]:
    """Stream the inputs into the pool while results come back; one row per input."""
    rows: list[dict[str, Any]] = []
    pending: dict[Future[Any], dict[str, Any]] = {}
    finished: queue.SimpleQueue[Future[Any]] = queue.SimpleQueue()  # fed by done-callbacks
    failures = 0
    halted = False

    def collect(future: Future[Any]) -> None:
        nonlocal failures, halted
        row = pending.pop(future)
        if future.cancelled():
            row.update(state="cancelled", error="not run: the batch was halted")
        elif future.exception() is not None:
            row.update(state="failed", error=str(future.exception()))
            failures += 1
        else:
            row.update(state="done", result=future.result())
        task = getattr(future, "task", None)
        if task is not None and task.started_at and task.finished_at:
            row["seconds"] = round(task.finished_at - task.started_at, 6)
        progress.update(len(rows) - len(pending), len(rows), failures)

    def halt_if_asked() -> None:
        nonlocal halted
        if args.halt_after and failures >= args.halt_after and not halted:
            halted = True
            pool.cancel_queued()

    for item in expand_paths(args.paths, args.include or ("*",), args.exclude, args.follow_symlinks):
        if isinstance(item, Rejected):
            rows.append({"input": item.path, "state": "rejected", "result": None, "error": item.reason})
            failures += 1
        else:
            row = {"input": item, "state": "queued", "result": None, "error": None, "seconds": None}
            rows.append(row)
            future = pool.schedule(
                processor.function, (item,), options, label=item, timeout=args.timeout, retries=args.retries
            )
            pending[future] = row
            future.add_done_callback(finished.put)
        while not finished.empty():
            collect(finished.get())
        halt_if_asked()
        if halted:
            break
    while pending:
        collect(finished.get())
        halt_if_asked()
    return rows


class _Progress:
    """One line on a terminal, redrawn at most ten times a second."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.live = stream.isatty()
        self.started = time.monotonic()
        self.last = 0.0

    def update(self, finished: int, total: int, failed: int) -> None:
        now = time.monotonic()
        if not self.live or now - self.last < 0.1:
            return
        self.last = now
        rate = finished / max(now - self.started, 1e-9)
        width = 30
        filled = int(width * finished / total) if total else 0
        self.stream.write(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {finished}/{total}  {failed} failed  {rate:,.1f}/s "
        )
        self.stream.flush()

    def finish(self) -> None:
        if self.live:
            self.stream.write("\n")
            self.stream.flush()


def _write_results(path: str, rows: list[dict[str, Any]]) -> None:
    fields = ["input", "state", "result", "error", "seconds"]
    if path.endswith(".json"):
        with open(path, "w", encoding="utf-8") as handle:
            json.dump([{key: row.get(key) for key in fields} for row in rows], handle, indent=2, default=str)
        return
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        for row in rows:
            record = {key: row.get(key) for key in fields}
            if record["result"] is not None:
                record["result"] = json.dumps(record["result"], default=str)
            writer.writerow(record)
