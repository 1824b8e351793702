"""One row per input as a CSV or JSON file: the format of
``poolscope run --results`` and of the window's "Export results".

One writer for both, so a file exported from the window and one written by a
script read the same way: JSON is an array of objects with the keys
``RESULT_FIELDS``; CSV has those columns, with a result (a dict) as JSON text.
"""

from __future__ import annotations

import csv
import json
import os
import stat
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["RESULT_FIELDS", "check_results_path", "write_results"]

RESULT_FIELDS = ("input", "state", "result", "error", "seconds")


def check_results_path(path: str, *, writable: bool = False) -> None:
    """Refuse a results file we could not write, with a ``ValueError`` that
    says why: the wrong extension and, with ``writable`` (before any work
    starts: a batch of hours must not end on "cannot write the results"), a
    folder that is missing or cannot be written, or a file in the way.

    The folder is tried for real (a probe file is made and removed there):
    mode bits alone do not say what root, a read-only mount or an ACL allow."""
    if not path.endswith((".csv", ".json")):
        raise ValueError(f"{path!r}: the results file must be a .csv or .json file")
    if not writable:
        return
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        why = "is not a folder" if os.path.exists(folder) else "does not exist"
        raise ValueError(f"{path!r}: the folder {folder} {why}")
    try:
        info = os.stat(path)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise ValueError(f"{path!r} cannot be examined: {exc.strerror or exc}") from None
    if info is not None and not stat.S_ISREG(info.st_mode):
        raise ValueError(f"{path!r} is in the way: it exists and is not a regular file")
    try:
        if info is not None:
            with open(path, "r+b"):  # opened to write, not truncated: the old results stay till the end
                pass
        else:
            import tempfile

            with tempfile.NamedTemporaryFile(dir=folder, prefix=".poolscope-probe-"):
                pass
    except OSError as exc:
        where = path if info is not None else f"the folder {folder}"
        raise ValueError(f"{path!r}: {where} cannot be written: {exc.strerror or exc}") from None


def write_results(path: str, rows: Iterable[Mapping[str, Any]]) -> None:
    """Write ``rows`` (mappings holding at least ``RESULT_FIELDS``; missing
    keys are empty) to ``path``, as JSON or CSV by its extension.

    Paths whose names are not valid UTF-8 come from the file system as
    surrogate escapes: JSON escapes them, CSV writes their original bytes
    back (``surrogateescape``), so the name in the file is the file's name."""
    check_results_path(path)
    fields = list(RESULT_FIELDS)
    if path.endswith(".json"):
        with open(path, "w", encoding="utf-8") as handle:
            json.dump([{key: row.get(key) for key in fields} for row in rows], handle, indent=2, default=str)
        return
    with open(path, "w", encoding="utf-8", errors="surrogateescape", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        for row in rows:
            record = {key: row.get(key) for key in fields}
            if record["result"] is not None:
                record["result"] = json.dumps(record["result"], default=str)
            writer.writerow(record)
