"""The ``text-stats`` processor: lines, words, characters and bytes of a text
file, and the encoding it seems to be in.

Detection, in order: a byte order mark (UTF-8 or UTF-16); else UTF-8 when the
file is UTF-8 apart from a few bad bytes (more valid non-ASCII characters
than undecodable bytes); else cp1252, or latin-1 when the file holds one of
the five bytes cp1252 leaves undefined. Undecodable bytes are counted, never
fatal, and are not counted as characters.

``lines`` counts line feeds, plus one for a last line without one.
"""

from __future__ import annotations

import codecs
import threading
from typing import Any

from .base import Processor, check_input, open_input, read_blocks

__all__ = ["PROCESSOR", "process"]

_UNDEFINED_IN_CP1252 = (b"\x81", b"\x8d", b"\x8f", b"\x90", b"\x9d")
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)

# The decoders' error handler counts the bytes it skips, per thread.
_skipped = threading.local()


def _count_and_skip(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeDecodeError):
        raise error
    _skipped.count = getattr(_skipped, "count", 0) + (error.end - error.start)
    return "", error.end


_ERRORS = "poolscope.count-and-skip"
codecs.register_error(_ERRORS, _count_and_skip)


class _Tally:
    """Running counts over decoded chunks; a word split across two chunks is
    counted once."""

    def __init__(self) -> None:
        self.lines = 0
        self.words = 0
        self.characters = 0
        self.non_ascii = 0
        self.in_word = False
        self.last = ""

    def add(self, text: str) -> None:
        if not text:
            return
        self.lines += text.count("\n")
        self.characters += len(text)
        self.non_ascii += len(text) - len(text.encode("ascii", "ignore"))
        words = len(text.split())
        if self.in_word and not text[0].isspace():
            words -= 1
        self.words += words
        self.in_word = not text[-1].isspace()
        self.last = text[-1]

    def summary(self) -> dict[str, int]:
        lines = self.lines + (1 if self.last and self.last != "\n" else 0)
        return {"lines": lines, "words": self.words, "characters": self.characters}


def _decode(path: str, size: int, encoding: str, skip: int) -> tuple[_Tally, int, bool]:
    """One pass over the file: the tally, the undecodable byte count and
    whether a byte undefined in cp1252 was seen."""
    decoder = codecs.getincrementaldecoder(encoding)(errors=_ERRORS)
    tally = _Tally()
    undefined_seen = False
    _skipped.count = 0
    with open_input(path) as handle:
        handle.seek(skip)
        for block in read_blocks(handle, size, "read"):
            if not undefined_seen:
                undefined_seen = any(byte in block for byte in _UNDEFINED_IN_CP1252)
            tally.add(decoder.decode(block))
        tally.add(decoder.decode(b"", final=True))
    return tally, _skipped.count, undefined_seen


def process(path: str) -> dict[str, Any]:
    """``{"path", "encoding", "bom", "lines", "words", "characters", "bytes",
    "undecodable_bytes"}``."""
    info = check_input(path, PROCESSOR)
    with open_input(path) as handle:
        head = handle.read(4)
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            tally, undecodable, _ = _decode(path, info.st_size, encoding, len(bom))
            return _result(path, info.st_size, encoding, True, tally, undecodable)
    tally, undecodable, undefined_seen = _decode(path, info.st_size, "utf-8", 0)
    if undecodable and tally.non_ascii < undecodable:
        encoding = "latin-1" if undefined_seen else "cp1252"
        tally, undecodable, _ = _decode(path, info.st_size, encoding, 0)
    else:
        encoding = "utf-8"
    return _result(path, info.st_size, encoding, False, tally, undecodable)


def _result(
    path: str, size: int, encoding: str, bom: bool, tally: _Tally, undecodable: int
) -> dict[str, Any]:
    return {
        "path": path,
        "encoding": encoding,
        "bom": bom,
        **tally.summary(),
        "bytes": size,
        "undecodable_bytes": undecodable,
    }


PROCESSOR = Processor(
    name="text-stats",
    function=process,
    description="Count lines, words, characters and bytes of a text file and detect its encoding.",
    options=(),
    pool="process",  # decoding and splitting are CPU-bound
    needs_content=True,
)
