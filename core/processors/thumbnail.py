"""The ``thumbnail`` processor: a small copy of an image, upright and with
its aspect ratio kept, written into the output folder."""

from __future__ import annotations

import os
import warnings
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError

from .base import InputError, Option, Processor, check_input, open_input, raise_if_cancelled
from .outputs import atomic_write, output_path

__all__ = ["FORMATS", "PROCESSOR", "process"]

FORMATS = ("png", "jpeg", "webp")
_EXTENSIONS = {"png": "png", "jpeg": "jpg", "webp": "webp"}


def _load(path: str, size: int) -> Image.Image:
    """The decoded image, turned upright by its EXIF orientation; any
    failure to read it is the input's fault."""
    with open_input(path) as handle:
        try:
            with warnings.catch_warnings():
                # A decompression bomb *warning* becomes an error: a huge image is a bad input.
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                with Image.open(handle) as image:
                    image.draft("RGB", (size, size))  # JPEG decodes at a smaller scale: much faster
                    image.load()
                    upright = ImageOps.exif_transpose(image)
                    return upright if upright is not image else image.copy()
        except UnidentifiedImageError:
            raise InputError(path, "is not an image (Pillow does not recognise its format)") from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise InputError(path, f"is too large an image to open safely ({exc})") from None
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise InputError(path, f"is a damaged or unsupported image ({exc})") from None


_MODES_KEPT = {
    "png": {"1", "L", "LA", "P", "RGB", "RGBA"},
    "jpeg": {"L", "RGB"},
    "webp": {"RGB", "RGBA"},
}


def _for_format(image: Image.Image, fmt: str) -> Image.Image:
    """Convert to a mode the output format can store; transparency becomes
    white in a JPEG."""
    if image.mode in _MODES_KEPT[fmt]:
        return image
    has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    if not has_alpha:
        return image.convert("RGB")
    rgba = image.convert("RGBA")
    if fmt != "jpeg":
        return rgba
    flat = Image.new("RGB", rgba.size, (255, 255, 255))
    flat.paste(rgba, mask=rgba.getchannel("A"))
    return flat


def process(
    path: str,
    size: int = 256,
    format: str = "png",
    out_dir: str | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Write ``<stem>.thumb.<ext>`` no larger than ``size`` pixels on its long
    edge (smaller images are not enlarged). Returns ``{"path", "output",
    "width", "height", "original_width", "original_height", "format"}``."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"the thumbnail size must be a whole number of pixels above 0, not {size!r}")
    if format not in FORMATS:
        raise ValueError(f"unknown thumbnail format {format!r}; choose one of {', '.join(FORMATS)}")
    check_input(path, PROCESSOR)
    image = _load(path, size)
    original = image.size
    raise_if_cancelled()
    image.thumbnail((size, size), Image.Resampling.LANCZOS)
    image = _for_format(image, format)
    folder = out_dir if out_dir is not None else os.path.dirname(os.path.abspath(path))
    stem = os.path.splitext(os.path.basename(path))[0]
    target = output_path(folder, f"{stem}.thumb.{_EXTENSIONS[format]}", overwrite, inputs=(path,))
    raise_if_cancelled()
    with atomic_write(target, overwrite) as out:
        image.save(out.file, format=format.upper())
    return {
        "path": path,
        "output": out.path,
        "width": image.width,
        "height": image.height,
        "original_width": original[0],
        "original_height": original[1],
        "format": format,
    }


PROCESSOR = Processor(
    name="thumbnail",
    function=process,
    description="Make a thumbnail of an image, upright and with its aspect ratio kept.",
    options=(
        Option("size", "int", 256, "Longest edge of the thumbnail, in pixels.", minimum=1, maximum=10_000),
        Option("format", "choice", "png", "Image format of the thumbnail.", choices=FORMATS),
        Option("out_dir", "folder", None, "Where the thumbnail goes (default: next to the input)."),
        Option("overwrite", "bool", False, "Replace an existing output instead of numbering a new one."),
    ),
    pool="process",  # decoding and resampling are CPU-bound
    needs_content=True,
)
