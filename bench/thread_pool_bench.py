"""ThreadPool against the thread pools people use today, in one process and one run.

    python bench/thread_pool_bench.py [--tasks 50000] [--workers 4] [--repeat 5]

Rounds are interleaved (each round runs every pool once, on a fresh pool),
so a neighbour's load falls on all of them alike. Prints tasks per second
(best of --repeat rounds, and the median) and each figure as a ratio to
``concurrent.futures.ThreadPoolExecutor``, and the CPU time per task of the
whole process (median), which a busy machine disturbs less than the wall
clock. PoolScope runs with monitoring on: an event buffer receives every
event, as the window's would (and, as with a window that is not drawing,
keeps them).

Targets (issue 2), printed as MET/MISS lines at the end: per-task
submit/result >= 1.5x ThreadPoolExecutor; ``map`` with chunks far above
per-task submit (at least 10x PoolScope's own per-task rate; reported
against ``multiprocessing.dummy.Pool.map`` too); dismiss+join of an idle
worker under 20 ms (the slowest of the samples).
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.dummy import Pool as DummyPool
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core import ThreadPool

try:
    import threadpool as classic  # the classic 'threadpool' 1.3.2 from PyPI
except ImportError:  # pragma: no cover - optional anchor
    classic = None


def noop(x=None):
    return x


Timing = tuple[float, float]  # (wall seconds, CPU seconds of the process)


def interleaved(cases: list[tuple[str, Callable[[], Timing]]], repeat: int) -> dict[str, list[Timing]]:
    """Every case once per round, ``repeat`` rounds; a fresh GC state each run."""
    runs: dict[str, list[Timing]] = {name: [] for name, _ in cases}
    for _ in range(repeat):
        for name, case in cases:
            gc.collect()
            runs[name].append(case())
    return runs


def timed(body) -> Timing:
    start, cpu = time.perf_counter(), time.process_time()
    body()
    return time.perf_counter() - start, time.process_time() - cpu


def best(timings: list[Timing]) -> float:
    return min(wall for wall, _ in timings)


def median_wall(timings: list[Timing]) -> float:
    return statistics.median(wall for wall, _ in timings)


def median_cpu(timings: list[Timing]) -> float:
    return statistics.median(cpu for _, cpu in timings)


def verdict(label: str, ok: bool, detail: str) -> str:
    return f"  {'MET ' if ok else 'MISS'}  {label}: {detail}"


# ------------------------------------------------------------ per-task submit


def submit_result(make_pool, n: int, shutdown=lambda p: p.shutdown()) -> Timing:
    pool = make_pool()

    def body():
        futures = [pool.submit(noop) for _ in range(n)]
        for f in futures:
            f.result()

    seconds = timed(body)
    shutdown(pool)
    return seconds


def poolscope_pool(workers):
    def make():
        pool = ThreadPool(workers)
        pool._bench_buffer = pool.events.buffer()  # monitoring on
        return pool

    return make


def dummy_apply_async(workers: int, n: int) -> Timing:
    pool = DummyPool(workers)

    def body():
        results = [pool.apply_async(noop) for _ in range(n)]
        for r in results:
            r.get()

    seconds = timed(body)
    pool.close()
    pool.join()
    return seconds


def classic_requests(workers: int, n: int) -> Timing:
    pool = classic.ThreadPool(workers)

    def body():
        for request in classic.makeRequests(noop, [None] * n):
            pool.putRequest(request)
        pool.wait()

    seconds = timed(body)
    pool.dismissWorkers(workers, do_join=True)
    return seconds


# ----------------------------------------------------------------------- map


def map_all(make_pool, n: int, chunksize: int) -> Timing:
    pool = make_pool()
    seconds = timed(lambda: list(pool.map(noop, range(n), chunksize=chunksize)))
    pool.shutdown()
    return seconds


def dummy_map(workers: int, n: int, chunksize: int | None) -> Timing:
    pool = DummyPool(workers)
    seconds = timed(lambda: pool.map(noop, range(n), chunksize))
    pool.close()
    pool.join()
    return seconds


# ------------------------------------------------------------ dismiss + join


def dismiss_join_latency(samples: int = 20) -> list[float]:
    pool = ThreadPool(2)
    pool.submit(noop).result()
    times = []
    for _ in range(samples):
        pool.add_workers(1)
        time.sleep(0.005)  # let the new worker park
        start = time.perf_counter()
        pool.dismiss_workers(1, join=True)
        times.append(time.perf_counter() - start)
    pool.shutdown()
    return times


def classic_dismiss_join_latency(samples: int = 3) -> list[float]:
    pool = classic.ThreadPool(1)
    times = []
    for _ in range(samples):
        pool.createWorkers(1)
        time.sleep(0.005)
        start = time.perf_counter()
        pool.dismissWorkers(1, do_join=True)
        times.append(time.perf_counter() - start)
    pool.dismissWorkers(len(pool.workers), do_join=True)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=50_000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--chunksize", type=int, default=256)
    args = parser.parse_args()
    n, w, r = args.tasks, args.workers, args.repeat

    print(
        f"{n} no-op tasks, {w} workers, {r} interleaved rounds; Python {sys.version.split()[0]}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start"
    )
    tpe = "ThreadPoolExecutor submit/result"
    ours = "PoolScope ThreadPool submit/result"
    cases = [
        (tpe, lambda: submit_result(lambda: ThreadPoolExecutor(w), n)),
        (ours, lambda: submit_result(poolscope_pool(w), n)),
        ("multiprocessing.dummy apply_async", lambda: dummy_apply_async(w, n)),
    ]
    if classic is not None:
        cases.append(("threadpool 1.3.2 putRequest/wait", lambda: classic_requests(w, n)))
    per_task = interleaved(cases, r)
    base, base_median, base_cpu = (
        n / best(per_task[tpe]),
        n / median_wall(per_task[tpe]),
        median_cpu(per_task[tpe]),
    )
    print(
        f"\n{'per-task':44} {'tasks/s':>12} {'x TPE':>7} {'median/s':>10} {'x TPE':>7} "
        f"{'CPU µs/task':>12} {'x TPE':>7}"
    )
    for name, timings in per_task.items():
        rate, median, cpu = n / best(timings), n / median_wall(timings), median_cpu(timings)
        print(
            f"{name:44} {rate:12,.0f} {rate / base:7.2f} {median:10,.0f} {median / base_median:7.2f} "
            f"{cpu / n * 1e6:12.2f} {base_cpu / cpu:7.2f}"
        )

    c = args.chunksize
    map_cases = [
        ("ThreadPoolExecutor map", lambda: map_all(lambda: ThreadPoolExecutor(w), n, 1)),
        ("multiprocessing.dummy map (auto chunks)", lambda: dummy_map(w, n, None)),
        (f"multiprocessing.dummy map chunksize={c}", lambda: dummy_map(w, n, c)),
        ("PoolScope map chunksize=1", lambda: map_all(poolscope_pool(w), n, 1)),
        (f"PoolScope map chunksize={c}", lambda: map_all(poolscope_pool(w), n, c)),
    ]
    maps = interleaved(map_cases, r)
    dummy = n / best(maps["multiprocessing.dummy map (auto chunks)"])
    print(f"\n{'map':44} {'items/s':>12} {'x TPE':>7} {'x dummy':>8}")
    for name, timings in maps.items():
        rate = n / best(timings)
        print(f"{name:44} {rate:12,.0f} {rate / base:7.2f} {rate / dummy:8.2f}")

    latencies = dismiss_join_latency()
    print(
        f"\ndismiss+join of an idle worker: PoolScope median {statistics.median(latencies) * 1e3:.2f} ms, "
        f"max {max(latencies) * 1e3:.2f} ms (target < 20 ms)"
    )
    if classic is not None:
        theirs = classic_dismiss_join_latency()
        print(
            f"dismiss+join of an idle worker: threadpool 1.3.2 median "
            f"{statistics.median(theirs) * 1e3:.0f} ms (its poll_timeout is 5 s)"
        )

    ratio = best(per_task[tpe]) / best(per_task[ours])
    median_ratio = median_wall(per_task[tpe]) / median_wall(per_task[ours])
    cpu_ratio = base_cpu / median_cpu(per_task[ours])
    chunked = best(maps["PoolScope map chunksize=1"]) / best(maps[f"PoolScope map chunksize={c}"])
    against_submit = best(per_task[ours]) / best(maps[f"PoolScope map chunksize={c}"])
    against_dummy = best(maps["multiprocessing.dummy map (auto chunks)"]) / best(
        maps[f"PoolScope map chunksize={c}"]
    )
    slowest = max(latencies)
    print("\ntargets")
    print(
        verdict(
            "per-task submit/result >= 1.5x ThreadPoolExecutor (monitoring on)",
            ratio >= 1.5,
            f"{ratio:.2f}x best against best, {median_ratio:.2f}x median against median, "
            f"{cpu_ratio:.2f}x in CPU per task",
        )
    )
    print(
        verdict(
            f"map chunksize={c} >= 10x per-task submit/result",
            against_submit >= 10,
            f"{against_submit:.1f}x submit/result, {chunked:.1f}x map chunksize=1, "
            f"{against_dummy:.2f}x multiprocessing.dummy map",
        )
    )
    print(
        verdict("dismiss+join of an idle worker < 20 ms", slowest < 0.020, f"slowest {slowest * 1e3:.2f} ms")
    )
    print(f"\nload average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
