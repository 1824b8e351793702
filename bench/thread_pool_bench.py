"""ThreadPool against the thread pools people use today, in one process and one run.

    python bench/thread_pool_bench.py [--tasks 50000] [--workers 4] [--repeat 5]

Prints tasks per second (best of --repeat) and each figure as a ratio to
``concurrent.futures.ThreadPoolExecutor``. PoolScope runs with monitoring on:
an event buffer receives every event, as the window's would.

Targets (issue 2): per-task submit/result >= 1.5x ThreadPoolExecutor;
``map`` with chunks far above per-task submit; dismiss+join of an idle worker
under 20 ms.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
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


def best(fn, repeat: int) -> float:
    """Best of ``repeat`` runs of ``fn() -> seconds``; a fresh GC state each time."""
    times = []
    for _ in range(repeat):
        gc.collect()
        times.append(fn())
    return min(times)


def timed(body) -> float:
    start = time.perf_counter()
    body()
    return time.perf_counter() - start


# ------------------------------------------------------------ per-task submit


def submit_result(make_pool, n: int, shutdown=lambda p: p.shutdown()) -> float:
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


def dummy_apply_async(workers: int, n: int) -> float:
    pool = DummyPool(workers)

    def body():
        results = [pool.apply_async(noop) for _ in range(n)]
        for r in results:
            r.get()

    seconds = timed(body)
    pool.close()
    pool.join()
    return seconds


def classic_requests(workers: int, n: int) -> float:
    pool = classic.ThreadPool(workers)

    def body():
        for request in classic.makeRequests(noop, [None] * n):
            pool.putRequest(request)
        pool.wait()

    seconds = timed(body)
    pool.dismissWorkers(workers, do_join=True)
    return seconds


# ----------------------------------------------------------------------- map


def map_all(make_pool, n: int, chunksize: int) -> float:
    pool = make_pool()
    seconds = timed(lambda: list(pool.map(noop, range(n), chunksize=chunksize)))
    pool.shutdown()
    return seconds


def dummy_map(workers: int, n: int, chunksize: int | None) -> float:
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

    print(f"{n} no-op tasks, {w} workers, best of {r}; Python {sys.version.split()[0]}")
    rows: list[tuple[str, float]] = []
    rows.append(
        ("ThreadPoolExecutor submit/result", best(lambda: submit_result(lambda: ThreadPoolExecutor(w), n), r))
    )
    rows.append(("PoolScope ThreadPool submit/result", best(lambda: submit_result(poolscope_pool(w), n), r)))
    rows.append(("multiprocessing.dummy apply_async", best(lambda: dummy_apply_async(w, n), r)))
    if classic is not None:
        rows.append(("threadpool 1.3.2 putRequest/wait", best(lambda: classic_requests(w, n), r)))
    base = n / rows[0][1]
    print(f"\n{'per-task':44} {'tasks/s':>12} {'x TPE':>7}")
    for name, seconds in rows:
        print(f"{name:44} {n / seconds:12,.0f} {n / seconds / base:7.2f}")

    c = args.chunksize
    maps = [
        ("ThreadPoolExecutor map", best(lambda: map_all(lambda: ThreadPoolExecutor(w), n, 1), r)),
        ("multiprocessing.dummy map (auto chunks)", best(lambda: dummy_map(w, n, None), r)),
        (f"multiprocessing.dummy map chunksize={c}", best(lambda: dummy_map(w, n, c), r)),
        ("PoolScope map chunksize=1", best(lambda: map_all(poolscope_pool(w), n, 1), r)),
        (f"PoolScope map chunksize={c}", best(lambda: map_all(poolscope_pool(w), n, c), r)),
    ]
    dummy = n / maps[1][1]
    print(f"\n{'map':44} {'items/s':>12} {'x TPE':>7} {'x dummy':>8}")
    for name, seconds in maps:
        print(f"{name:44} {n / seconds:12,.0f} {n / seconds / base:7.2f} {n / seconds / dummy:8.2f}")

    ours = dismiss_join_latency()
    print(
        f"\ndismiss+join of an idle worker: PoolScope median {statistics.median(ours) * 1e3:.2f} ms, "
        f"max {max(ours) * 1e3:.2f} ms (target < 20 ms)"
    )
    if classic is not None:
        theirs = classic_dismiss_join_latency()
        print(
            f"dismiss+join of an idle worker: threadpool 1.3.2 median "
            f"{statistics.median(theirs) * 1e3:.0f} ms (its poll_timeout is 5 s)"
        )


if __name__ == "__main__":
    main()
