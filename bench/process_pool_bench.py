"""ProcessPool against the process pools people use today, in one process and one run.

    python bench/process_pool_bench.py [--tasks 20000] [--workers 2] [--repeat 3] [--quick]

Every pool gets the same number of workers and the forkserver start method:
``ProcessPoolExecutor(mp_context=...)``, ``multiprocessing.get_context(
"forkserver").Pool``, pebble ``ProcessPool(context=...)``, loky
``get_reusable_executor(context="forkserver")`` (loky 3.7 accepts it; its
default would be its own spawn-like "loky" method) and PoolScope's own
default on Linux. The forkserver is started once, before any pool, so no pool
pays for it. PoolScope runs with monitoring on: an event buffer receives
every event, as the window's would.

Rounds are interleaved (one run of every pool per round) and each figure is
the best of --repeat rounds, on a fresh pool each time, warmed up first so
that the figure measures work, not start-up; start-up is measured on its own:

1. no-op tasks per second, per task: submit them all, then wait for all;
2. ``map`` of a no-op over --tasks items;
3. sha256 of --files files of 64 KiB (on a temporary folder, in the page
   cache), per task and with ``map``;
4. pool creation to first result (median of a few runs).

Targets: per-task PoolScope >= 1.0x ``multiprocessing.Pool.apply_async``;
PoolScope ``map`` chunksize=100 >= 1.0x ``ProcessPoolExecutor.map``
chunksize=100; files: PoolScope within 5 % of the fastest.
"""

from __future__ import annotations

import argparse
import gc
import math
import multiprocessing
import multiprocessing.forkserver
import multiprocessing.resource_tracker
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Before any pool starts, so that the forkserver (and every child) can import
# the task module and core; the forkserver re-imports this script too, as
# __mp_main__, which runs these lines again (harmlessly) in the server.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _bench_tasks as tasks
import psutil
from _bench_common import multiprocessing_helpers, revision

from core import ProcessPool

try:
    import pebble
except ImportError:  # pragma: no cover - optional anchor
    pebble = None
try:
    import loky
    import loky.backend.resource_tracker
except ImportError:  # pragma: no cover - optional anchor
    loky = None

START_METHOD = "forkserver"
FORKSERVER = multiprocessing.get_context(START_METHOD)
FILE_SIZE = 64 * 1024


@dataclass(frozen=True)
class Kind:
    """One pool library behind the same four verbs."""

    name: str
    make: Callable[[int], Any]
    submit: Callable[..., Any]  # (pool, fn, *args) -> handle
    get: Callable[[Any], Any]  # handle -> value
    map: Callable[[Any, Callable[..., Any], list, int | None], list]  # chunksize None: the pool's own
    close: Callable[[Any], None]


def _poolscope(workers: int) -> ProcessPool:
    pool = ProcessPool(workers, start_method=START_METHOD)
    pool._bench_buffer = pool.events.buffer()  # monitoring on
    return pool


def _close_mp(pool) -> None:
    pool.close()
    pool.join()


POOLSCOPE = Kind(
    "PoolScope ProcessPool",
    _poolscope,
    lambda pool, fn, *args: pool.submit(fn, *args),
    lambda future: future.result(),
    lambda pool, fn, items, c: list(pool.map(fn, items, chunksize=c)),
    lambda pool: pool.shutdown(),
)
EXECUTOR = Kind(
    "ProcessPoolExecutor",
    lambda w: ProcessPoolExecutor(w, mp_context=FORKSERVER),
    lambda pool, fn, *args: pool.submit(fn, *args),
    lambda future: future.result(),
    lambda pool, fn, items, c: list(pool.map(fn, items, chunksize=c or 1)),
    lambda pool: pool.shutdown(),
)
MP_POOL = Kind(
    "multiprocessing.Pool",
    lambda w: FORKSERVER.Pool(w),
    lambda pool, fn, *args: pool.apply_async(fn, args),
    lambda result: result.get(),
    lambda pool, fn, items, c: pool.map(fn, items, c),
    _close_mp,
)
KINDS = [POOLSCOPE, EXECUTOR, MP_POOL]
if pebble is not None:
    KINDS.append(
        Kind(
            "pebble ProcessPool",
            lambda w: pebble.ProcessPool(w, context=FORKSERVER),
            lambda pool, fn, *args: pool.schedule(fn, args),
            lambda future: future.result(),
            lambda pool, fn, items, c: list(pool.map(fn, items, chunksize=c or 1).result()),
            _close_mp,
        )
    )
if loky is not None:
    KINDS.append(
        Kind(
            "loky reusable executor",
            lambda w: loky.get_reusable_executor(max_workers=w, context=START_METHOD),
            lambda pool, fn, *args: pool.submit(fn, *args),
            lambda future: future.result(),
            lambda pool, fn, items, c: list(pool.map(fn, items, chunksize=c or 1)),
            lambda pool: pool.shutdown(wait=True, kill_workers=True),
        )
    )

#: What each pool's per-task call is, for the table.
VERB = {
    POOLSCOPE.name: "submit",
    EXECUTOR.name: "submit",
    MP_POOL.name: "apply_async",
    "pebble ProcessPool": "schedule",
    "loky reusable executor": "submit",
}


# --------------------------------------------------------------- measuring


def timed(body: Callable[[], Any]) -> tuple[float, Any]:
    gc.collect()
    start = time.perf_counter()
    value = body()
    return time.perf_counter() - start, value


def warm(kind: Kind, pool, workers: int) -> None:
    """Make sure every worker is up (some pools start them on demand)."""
    handles = [kind.submit(pool, tasks.noop, i) for i in range(workers * 4)]
    for handle in handles:
        kind.get(handle)


def run_per_task(kind: Kind, workers: int, fn: Callable[..., Any], items: list) -> tuple[float, list]:
    """Seconds to submit one task per item, then wait for every result."""
    pool = kind.make(workers)
    try:
        warm(kind, pool, workers)

        def body() -> list:
            handles = [kind.submit(pool, fn, item) for item in items]
            return [kind.get(handle) for handle in handles]

        return timed(body)
    finally:
        kind.close(pool)


def run_map(
    kind: Kind, workers: int, fn: Callable[..., Any], items: list, chunksize: int | None
) -> tuple[float, list]:
    pool = kind.make(workers)
    try:
        warm(kind, pool, workers)
        return timed(lambda: kind.map(pool, fn, items, chunksize))
    finally:
        kind.close(pool)


def best_of(repeat: int, cases: list[tuple[str, Callable[[], tuple[float, list]]]], expected: list) -> dict:
    """Interleaved rounds: every case once per round; the best time of each.
    Every run's results are checked against ``expected``."""
    times: dict[str, float] = {}
    for _ in range(repeat):
        for name, case in cases:
            seconds, values = case()
            if values != expected:
                raise AssertionError(f"{name} returned wrong results")
            times[name] = min(seconds, times.get(name, math.inf))
    return times


def startup(kind: Kind, workers: int) -> tuple[float, str]:
    """Seconds from creating the pool to its first result; and where the
    children imported the task module from."""
    gc.collect()
    start = time.perf_counter()
    pool = kind.make(workers)
    try:
        origin = kind.get(kind.submit(pool, tasks.where))[0]
        return time.perf_counter() - start, origin
    finally:
        kind.close(pool)


def helper_pids() -> set[int]:
    """multiprocessing's forkserver and resource trackers: they live as long as this process."""
    pids = multiprocessing_helpers()
    if loky is not None:
        pids.add(loky.backend.resource_tracker._resource_tracker._pid)
    return {pid for pid in pids if pid is not None}


def leftover_children() -> list[psutil.Process]:
    helpers = helper_pids()
    left = []
    for child in psutil.Process().children(recursive=True):
        try:
            if child.pid not in helpers and child.status() != psutil.STATUS_ZOMBIE:
                left.append(child)
        except psutil.NoSuchProcess:
            pass
    return left


def make_files(folder: str, count: int) -> list[str]:
    paths = []
    for i in range(count):
        path = os.path.join(folder, f"f{i:05d}.bin")
        with open(path, "wb") as f:
            f.write(os.urandom(FILE_SIZE))
        paths.append(path)
    return paths


# --------------------------------------------------------------- printing


def rate_table(
    title: str, unit: str, n: int, times: dict[str, float], anchors: list[tuple[str, str]]
) -> None:
    heads = "".join(f" {label:>9}" for label, _ in anchors)
    print(f"\n{title:52} {unit:>11}{heads}")
    for name, seconds in times.items():
        ratios = "".join(f" {times[anchor] / seconds:9.2f}" for _, anchor in anchors)
        print(f"{name:52} {n / seconds:11,.0f}{ratios}")


def verdict(label: str, ok: bool, detail: str) -> str:
    return f"  {'MET ' if ok else 'MISS'}  {label}: {detail}"


def bench_per_task(n: int, w: int, r: int) -> list[str]:
    items = [None] * n
    cases = [(k.name, lambda k=k: run_per_task(k, w, tasks.noop, items)) for k in KINDS]
    per_task = {f"{name} {VERB[name]}": seconds for name, seconds in best_of(r, cases, items).items()}
    mp_key, ppe_key, ours_key = (f"{k.name} {VERB[k.name]}" for k in (MP_POOL, EXECUTOR, POOLSCOPE))
    rate_table(
        f"{n} no-op tasks, one call each, then wait for all",
        "tasks/s",
        n,
        per_task,
        [("x mp.apply", mp_key), ("x PPE", ppe_key)],
    )
    ratio = per_task[mp_key] / per_task[ours_key]
    return [verdict("per task >= 1.0x multiprocessing.Pool.apply_async", ratio >= 1.0, f"{ratio:.3f}x")]


def bench_map(n: int, w: int, r: int) -> list[str]:
    numbers = list(range(n))
    cases = [
        ("PoolScope map (auto chunks)", lambda: run_map(POOLSCOPE, w, tasks.noop, numbers, None)),
        ("PoolScope map chunksize=100", lambda: run_map(POOLSCOPE, w, tasks.noop, numbers, 100)),
        ("ProcessPoolExecutor map chunksize=100", lambda: run_map(EXECUTOR, w, tasks.noop, numbers, 100)),
        ("multiprocessing.Pool.map (auto chunks)", lambda: run_map(MP_POOL, w, tasks.noop, numbers, None)),
        ("multiprocessing.Pool.map chunksize=100", lambda: run_map(MP_POOL, w, tasks.noop, numbers, 100)),
    ]
    for kind in KINDS[3:]:
        cases.append(
            (f"{kind.name} map chunksize=100", lambda k=kind: run_map(k, w, tasks.noop, numbers, 100))
        )
    maps = best_of(r, cases, numbers)
    ppe_map, mp_map = "ProcessPoolExecutor map chunksize=100", "multiprocessing.Pool.map (auto chunks)"
    rate_table(
        f"map of a no-op over {n} items", "items/s", n, maps, [("x PPE c100", ppe_map), ("x mp.map", mp_map)]
    )
    targets = []
    for ours in ("PoolScope map chunksize=100", "PoolScope map (auto chunks)"):
        ratio = maps[ppe_map] / maps[ours]
        targets.append(verdict(f"{ours} >= 1.0x PPE map chunksize=100", ratio >= 1.0, f"{ratio:.3f}x"))
    return targets


def bench_files(n_files: int, w: int, r: int) -> list[str]:
    with tempfile.TemporaryDirectory(prefix="poolscope-bench-") as folder:
        paths = make_files(folder, n_files)
        serial, digests = timed(lambda: [tasks.sha256_file(p) for p in paths])
        chunk = math.ceil(n_files / (4 * w))  # what multiprocessing.Pool.map and PoolScope pick
        cases = [
            (f"{k.name} {VERB[k.name]}", lambda k=k: run_per_task(k, w, tasks.sha256_file, paths))
            for k in KINDS
        ]
        cases += [
            (f"{k.name} map chunks of {chunk}", lambda k=k: run_map(k, w, tasks.sha256_file, paths, chunk))
            for k in KINDS
        ]
        files = best_of(r, cases, digests)
    per_task = {name: t for name, t in files.items() if " map " not in name}
    maps = {name: t for name, t in files.items() if " map " in name}
    fastest = min(files.values())
    megabytes = n_files * FILE_SIZE / 1e6
    print(
        f"\n{f'sha256 of {n_files} files of 64 KiB ({megabytes:.0f} MB)':52} {'files/s':>11} {'MB/s':>7} "
        f"{'vs fastest':>10} {'vs best same API':>16}"
    )
    for group in (per_task, maps):
        best_in_group = min(group.values())
        for name, seconds in group.items():
            print(
                f"{name:52} {n_files / seconds:11,.0f} {megabytes / seconds:7.0f} "
                f"{seconds / fastest - 1:+10.1%} {seconds / best_in_group - 1:+16.1%}"
            )
    print(
        f"{'(serial in this process, no pool: a reference)':52} {n_files / serial:11,.0f} "
        f"{megabytes / serial:7.0f} {serial / fastest - 1:+10.1%}"
    )
    ours_task, ours_map = f"{POOLSCOPE.name} submit", f"{POOLSCOPE.name} map chunks of {chunk}"
    targets = []
    for label, name, group in (
        ("per task", ours_task, per_task),
        ("map", ours_map, maps),
        ("PoolScope's best", min((ours_task, ours_map), key=files.__getitem__), files),
    ):
        slower = files[name] / min(group.values()) - 1
        against = "the fastest" if group is files else f"the fastest {label}"
        targets.append(
            verdict(f"files, {label}: {name} within 5% of {against}", slower <= 0.05, f"{slower:+.1%}")
        )
    return targets


def bench_startup(w: int, runs: int) -> list[str]:
    starts: dict[str, list[float]] = {kind.name: [] for kind in KINDS}
    origins = set()
    for _ in range(runs):  # interleaved, like the rounds above
        for kind in KINDS:
            seconds, origin = startup(kind, w)
            starts[kind.name].append(seconds)
            origins.add(origin)
    medians = {name: statistics.median(times) for name, times in starts.items()}
    quickest = min(medians.values())
    print(
        f"\n{f'pool creation to first result, median of {runs}':52} {'ms':>11} {'vs fastest':>10} "
        f"{'min ms':>7} {'max ms':>7}"
    )
    for name, seconds in medians.items():
        print(
            f"{name:52} {seconds * 1e3:11.1f} {seconds / quickest - 1:+10.1%} "
            f"{min(starts[name]) * 1e3:7.1f} {max(starts[name]) * 1e3:7.1f}"
        )
    print("(ProcessPoolExecutor starts workers on demand: its first result waits for one worker, not all)")
    here = tasks.__file__
    if origins != {here}:
        raise AssertionError(f"children imported the task module from {origins}, expected {here}")
    print(f"every pool's children imported the task module from {here}")
    return []


SECTIONS = ("tasks", "map", "files", "startup")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, help="no-op tasks and map items (default 20000; quick 2000)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, help="best of this many rounds (default 3; quick 1)")
    parser.add_argument("--files", type=int, help="files of 64 KiB to hash (default 2000; quick 200)")
    parser.add_argument("--startup-runs", type=int, help="start-up runs, median (default 5; quick 2)")
    parser.add_argument("--quick", action="store_true", help="a fast smoke run")
    parser.add_argument(
        "--only", choices=SECTIONS, action="append", help="run only this section (repeatable)"
    )
    args = parser.parse_args()
    quick = args.quick
    n = args.tasks or (2_000 if quick else 20_000)
    r = args.repeat or (1 if quick else 3)
    n_files = args.files or (200 if quick else 2_000)
    startup_runs = args.startup_runs or (2 if quick else 5)
    w = args.workers
    sections = args.only or SECTIONS

    versions = [f"Python {sys.version.split()[0]}"]
    if pebble is not None:
        versions.append(f"pebble {pebble.__version__}")
    if loky is not None:
        versions.append(f"loky {loky.__version__}")
    print(
        f"{w} workers, start method {START_METHOD} for every pool, best of {r} interleaved rounds; "
        f"{', '.join(versions)}; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start; "
        f"project at {revision()}"
    )
    missing = [name for name, module in (("pebble", pebble), ("loky", loky)) if module is None]
    if missing:
        print(f"not installed, left out: {', '.join(missing)} (pip install -e '.[bench]')")
    multiprocessing.forkserver.ensure_running()  # shared by every pool; nobody pays for it

    targets: list[str] = []
    if "tasks" in sections:
        targets += bench_per_task(n, w, r)
    if "map" in sections:
        targets += bench_map(n, w, r)
    if "files" in sections:
        targets += bench_files(n_files, w, r)
    if "startup" in sections:
        targets += bench_startup(w, startup_runs)

    if targets:
        print("\ntargets")
        print("\n".join(targets))
    left = leftover_children()
    print(
        f"\nchild processes left after every pool shut down: {len(left)} "
        f"(besides the forkserver and resource trackers, which end with this process); "
        f"load average {os.getloadavg()[0]:.2f} at the end"
    )
    for child in left:
        print(f"  {child.pid} {' '.join(child.cmdline())[:100]}")
    if left:
        sys.exit(1)


if __name__ == "__main__":
    main()
