"""The ``compress`` processor: gzip a file into the output folder."""

from __future__ import annotations

import gzip
import os
from typing import Any

from .base import Option, Processor, check_input, open_input, read_blocks
from .outputs import atomic_write, output_folder, output_path

__all__ = ["PROCESSOR", "planned_output", "process"]


def planned_output(path: str, out_dir: str | None = None, **_options: Any) -> str:
    """``<name>.gz`` in ``out_dir`` (by default the input's folder)."""
    return os.path.join(output_folder(path, out_dir), os.path.basename(path) + ".gz")


def process(path: str, level: int = 6, out_dir: str | None = None, overwrite: bool = False) -> dict[str, Any]:
    """Write ``<name>.gz`` into ``out_dir`` (by default the input's folder).

    Returns ``{"path", "output", "bytes_in", "bytes_out", "ratio"}``."""
    if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 9:
        raise ValueError(f"the gzip level must be a whole number from 1 to 9, not {level!r}")
    info = check_input(path, PROCESSOR)
    folder, name = os.path.split(planned_output(path, out_dir))
    target = output_path(folder, name, overwrite, inputs=(path,))
    size_in = 0
    with open_input(path) as source, atomic_write(target, overwrite, source=path) as out:
        with gzip.GzipFile(
            filename=os.path.basename(path),
            mode="wb",
            compresslevel=level,
            fileobj=out.file,
            mtime=int(info.st_mtime),
        ) as packed:
            for block in read_blocks(source, info.st_size, "compressed"):
                packed.write(block)
                size_in += len(block)
        size_out = out.file.tell()
    return {
        "path": path,
        "output": out.path,
        "bytes_in": size_in,
        "bytes_out": size_out,
        "ratio": round(size_out / size_in, 4) if size_in else None,
    }


PROCESSOR = Processor(
    name="compress",
    function=process,
    description="Compress a file with gzip into the output folder.",
    options=(
        Option("level", "int", 6, "Compression level: 1 is fastest, 9 is smallest.", minimum=1, maximum=9),
        Option("out_dir", "folder", None, "Where the .gz file goes (default: next to the input)."),
        Option("overwrite", "bool", False, "Replace an existing output instead of numbering a new one."),
    ),
    pool="process",  # zlib compression is CPU-bound
    needs_content=False,
    planned_output=planned_output,
)
