"""The ``thumbnail`` processor: a small copy of an image, upright and with
its aspect ratio kept, written into the output folder."""

from __future__ import annotations

import os
import warnings
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError

from ..task import report_progress
from .base import InputError, Option, Processor, check_input, open_input, raise_if_cancelled
from .outputs import atomic_write, output_folder, output_path

__all__ = ["FORMATS", "PROCESSOR", "planned_output", "process"]

FORMATS = ("png", "jpeg", "webp")
_EXTENSIONS = {"png": "png", "jpeg": "jpg", "webp": "webp"}
#: images of more pixels than this report their progress (decoded, resized, written)
PROGRESS_PIXELS = 4_000_000
#: EXIF orientations that turn the image a quarter (width and height swap)
_QUARTER_TURNS = {5, 6, 7, 8}
_ORIENTATION = 0x0112


def planned_output(path: str, format: str = "png", out_dir: str | None = None, **_options: Any) -> str:
    """``<stem>.thumb.<ext>`` in ``out_dir`` (by default the input's folder)."""
    stem = os.path.splitext(os.path.basename(path))[0]
    return os.path.join(output_folder(path, out_dir), f"{stem}.thumb.{_EXTENSIONS.get(format, format)}")


def _load(path: str, size: int) -> tuple[Image.Image, tuple[int, int]]:
    """The decoded image turned upright by its EXIF orientation, and its full
    size as shown upright. The size is read as soon as the file is open:
    ``draft`` makes a JPEG decode at a fraction of it. Any failure to read
    the image is the input's fault."""
    with open_input(path) as handle:
        try:
            with warnings.catch_warnings():
                # A decompression bomb *warning* becomes an error: a huge image is a bad input.
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                with Image.open(handle) as image:
                    width, height = image.size
                    if image.getexif().get(_ORIENTATION) in _QUARTER_TURNS:
                        width, height = height, width
                    large = width * height > PROGRESS_PIXELS
                    image.draft("RGB", (size, size))  # JPEG decodes at a smaller scale: much faster
                    image.load()
                    if large:
                        report_progress(0.5, f"decoded {width}x{height}")
                    upright = ImageOps.exif_transpose(image)
                    return (upright if upright is not image else image.copy()), (width, height)
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
    "width", "height", "original_width", "original_height", "format"}``; the
    original size is the full image's, upright (as the thumbnail is). An image
    of more than ``PROGRESS_PIXELS`` reports its progress."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"the thumbnail size must be a whole number of pixels above 0, not {size!r}")
    if format not in FORMATS:
        raise ValueError(f"unknown thumbnail format {format!r}; choose one of {', '.join(FORMATS)}")
    check_input(path, PROCESSOR)
    image, original = _load(path, size)
    large = original[0] * original[1] > PROGRESS_PIXELS
    raise_if_cancelled()
    image.thumbnail((size, size), Image.Resampling.LANCZOS)
    image = _for_format(image, format)
    if large:
        report_progress(0.8, f"resized to {image.width}x{image.height}")
    folder, name = os.path.split(planned_output(path, format, out_dir))
    target = output_path(folder, name, overwrite, inputs=(path,))
    raise_if_cancelled()
    with atomic_write(target, overwrite, source=path) as out:
        image.save(out.file, format=format.upper())
    if large:
        report_progress(1.0, "written")
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
    planned_output=planned_output,
)
