"""One row per input as a CSV or JSON file: the format of
``poolscope run --results`` and of the window's "Export results".

One writer for both, so a file exported from the window and one written by a
script read the same way: JSON is an array of objects with the keys
``RESULT_FIELDS``; CSV has those columns, with a result (a dict) as JSON text.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["RESULT_FIELDS", "check_results_path", "write_results"]

RESULT_FIELDS = ("input", "state", "result", "error", "seconds")


def check_results_path(path: str) -> None:
    """Refuse, before any work starts, a results file we could not write."""
    if not path.endswith((".csv", ".json")):
        raise ValueError(f"{path!r}: the results file must be a .csv or .json file")


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
