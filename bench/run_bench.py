"""``poolscope run`` against a plain multiprocessing.Pool script, same work.

    python bench/run_bench.py [--files 2000] [--size 65536] [--workers 2] [--repeat 3]

sha256 of every file in a folder, each as a fresh command (interpreter start
included, as a user would run it). Target (issue 5): within 10% of the
script. Prints the best of --repeat for each and the ratio.

``poolscope run`` records its run, as it does for a user, but into a history
file in the benchmark's temporary folder (--db), never the user's own. Both
commands may cache their bytecode (in the temporary folder too), as an
installed package has it: a PYTHONDONTWRITEBYTECODE in the environment would
otherwise make every run compile poolscope from source, which no user pays.
One untimed run of each comes first, to fill that cache.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent(
    """
    import hashlib, multiprocessing, os, sys

    def digest(path):
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        return path, h.hexdigest()

    if __name__ == "__main__":
        folder, workers = sys.argv[1], int(sys.argv[2])
        paths = [os.path.join(folder, n) for n in sorted(os.listdir(folder))]
        with multiprocessing.get_context("forkserver").Pool(workers) as pool:
            results = pool.map(digest, paths)
        print(len(results))
    """
)


def timed(command: list[str], cache: Path) -> float:
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONPYCACHEPREFIX=str(cache))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{command[:4]}… failed ({done.returncode}): {done.stderr[-2000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--size", type=int, default=64 * 1024)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "files"
        folder.mkdir()
        for i in range(args.files):
            (folder / f"f{i:05d}.bin").write_bytes(os.urandom(args.size))
        script = Path(tmp) / "mp_script.py"
        script.write_text(SCRIPT)
        cache = Path(tmp) / "bytecode"
        # The installed command, as a user types it (``python -m gui.app`` where
        # there is none).
        installed = Path(sys.executable).with_name("poolscope")
        command = [str(installed)] if installed.exists() else [sys.executable, "-m", "gui.app"]
        ours = [
            *command, "run", "-p", "checksum", "--pool", "process",
            "--workers", str(args.workers), "--db", str(Path(tmp) / "history.sqlite3"), str(folder),
        ]  # fmt: skip
        theirs = [sys.executable, str(script), str(folder), str(args.workers)]
        for command in (ours, theirs):  # warm-up: the bytecode cache and the page cache
            timed(command, cache)
        times: dict[str, list[float]] = {"poolscope run": [], "multiprocessing.Pool script": []}
        for _ in range(args.repeat):  # interleaved, so both see the same machine load
            times["poolscope run"].append(timed(ours, cache))
            times["multiprocessing.Pool script"].append(timed(theirs, cache))
    best = {name: min(values) for name, values in times.items()}
    base = best["multiprocessing.Pool script"]
    size = f"{args.size // 1024} KiB"
    print(f"sha256 of {args.files} files of {size}, {args.workers} workers, best of {args.repeat}")
    for name, seconds in best.items():
        print(
            f"{name:30} {seconds:7.3f} s  {args.files / seconds:9,.0f} files/s  x{seconds / base:5.2f} time"
            f"  (all: {', '.join(f'{t:.3f}' for t in times[name])})"
        )
    verdict = "MET" if best["poolscope run"] <= base * 1.10 else "MISS"
    print(f"{verdict}  poolscope run within 10% of the script: {best['poolscope run'] / base - 1:+.1%}")


if __name__ == "__main__":
    main()
