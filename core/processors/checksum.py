"""The ``checksum`` processor: a file's digest, streamed in 1 MiB blocks."""

from __future__ import annotations

import hashlib
from typing import Any

from .base import Option, Processor, check_input, open_input, read_blocks

__all__ = ["ALGORITHMS", "PROCESSOR", "process"]

ALGORITHMS = ("sha256", "md5", "sha1", "blake2b")


def process(path: str, algorithm: str = "sha256") -> dict[str, Any]:
    """``{"path", "algorithm", "digest", "bytes"}`` for the file at ``path``."""
    if algorithm not in ALGORITHMS:
        raise ValueError(f"unknown checksum algorithm {algorithm!r}; choose one of {', '.join(ALGORITHMS)}")
    info = check_input(path, PROCESSOR)
    # usedforsecurity=False: md5 and sha1 stay usable on FIPS systems, where
    # they serve as checksums here, not as security.
    digest = hashlib.new(algorithm, usedforsecurity=False)
    size = 0
    with open_input(path) as handle:
        for block in read_blocks(handle, info.st_size, "hashed"):
            digest.update(block)
            size += len(block)
    return {"path": path, "algorithm": algorithm, "digest": digest.hexdigest(), "bytes": size}


PROCESSOR = Processor(
    name="checksum",
    function=process,
    description="Compute a file's checksum (SHA-256 unless another algorithm is chosen).",
    options=(Option("algorithm", "choice", "sha256", "The hash algorithm.", choices=ALGORITHMS),),
    pool="thread",  # hashlib releases the GIL on large blocks
    needs_content=False,  # the checksum of an empty file is well defined
)
