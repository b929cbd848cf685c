"""Safe image loading: any portrait Pillow reads goes in, an upright RGB image comes out, or a typed error.

Limits are checked before pixels are decoded, so a decompression bomb costs a header read, not the memory.
"""
import io
import math
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import EmptyImageError, ImageError, ImageTooLargeError, InputError, NotAnImageError, TruncatedImageError

MAX_BYTES = 20 * 2**20  # 20 MiB: several times a full-resolution phone JPEG
MAX_PIXELS = 50_000_000  # 50 megapixels: above phone cameras, far below what fills the memory of a small instance
_HIGH_BIT_MODES = {"I", "F", "I;16", "I;16B", "I;16L", "I;16N"}
_ALPHA_MODES = {"LA", "La", "PA", "RGBA", "RGBa"}


def read_bytes(src, max_bytes: int = MAX_BYTES) -> bytes:
    "The bytes of `src` (a path or bytes), refusing empty and oversized input before reading it all."
    if isinstance(src, (bytes, bytearray, memoryview)):
        data = bytes(src)
    elif isinstance(src, (str, Path)):
        path = Path(src)
        if not path.is_file():
            raise InputError(f"Image file '{path.name}' was not found; pass the path of an existing image file.")
        size = path.stat().st_size
        if size > max_bytes:
            raise ImageTooLargeError(f"Image is {size:,} bytes; at most {max_bytes:,} bytes are allowed.")
        data = path.read_bytes()
    else:
        raise InputError(f"An image must be given as a file path or bytes; got {type(src).__name__}.")
    if not data:
        raise EmptyImageError("Image is empty (0 bytes); send a JPEG, PNG or other image file.")
    if len(data) > max_bytes:
        raise ImageTooLargeError(f"Image is {len(data):,} bytes; at most {max_bytes:,} bytes are allowed.")
    return data


def _open(data: bytes, max_pixels: int, side: int | None = None, mode: str = "RGB") -> tuple[Image.Image, tuple]:
    """Open and decode the first frame, turning Pillow's many failure modes into our typed errors; return it and its
    stored (width, height).

    With `side`, a JPEG decodes at 1/2, 1/4 or 1/8 scale when that still leaves `side` pixels on the long side
    (Pillow's draft mode, here in `mode`), a JPEG 2000 at 1/2^n; other formats decode in full. The limits are
    checked before either."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            im = Image.open(io.BytesIO(data))
        except UnidentifiedImageError:
            raise NotAnImageError("File is not an image Pillow can read; send a JPEG, PNG, WebP, BMP, GIF or TIFF.")
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageTooLargeError(f"Image has too many pixels (a decompression bomb?); at most {max_pixels:,}.")
        except Exception as e:  # a corrupt header surfaces as SyntaxError, ValueError, struct.error ...
            raise NotAnImageError(f"Image header is corrupt ({e}); send an intact image file.")
    width, height = im.size
    if width * height > max_pixels:
        raise ImageTooLargeError(
            f"Image is {width}x{height} = {width * height:,} pixels; at most {max_pixels:,} pixels are allowed.")
    if width == 0 or height == 0:
        raise EmptyImageError(f"Image is {width}x{height}: it has no pixels.")
    try:
        im.seek(0)  # animated GIF/WebP/APNG: the first frame is the portrait
        if side is not None and max(width, height) > side:
            k = side / max(width, height)  # draft keeps at least this size: ask for exactly the scaled size
            im.draft(mode, (max(1, round(width * k)), max(1, round(height * k))))  # a no-op but for JPEG
            if im.format == "JPEG2000":  # its own reduced decode: halve the size `reduce` times
                im.reduce = max(0, math.floor(math.log2(max(width, height) / side)))
        im.load()
    except Exception as e:  # OSError('image file is truncated'), zlib and decoder errors
        raise TruncatedImageError(f"Image data is truncated or corrupt ({e}); send the complete file.")
    return im, (width, height)


def _upright(im: Image.Image) -> Image.Image:
    "Apply the EXIF orientation, as a phone's gallery would; a broken EXIF block is ignored, not fatal."
    try:
        return ImageOps.exif_transpose(im)
    except Exception:
        return im


def to_rgb(im: Image.Image) -> Image.Image:
    "Normalise any Pillow mode to 8-bit RGB: high-bit images stretched, transparency flattened onto white."
    if im.mode in _HIGH_BIT_MODES:
        a = np.asarray(im, dtype=np.float64)
        lo, hi = float(a.min()), float(a.max())
        a = (a - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(a)
        im = Image.fromarray(a.astype(np.uint8), "L")
    if im.mode == "P":
        im = im.convert("RGBA")  # a palette may carry transparency
    if im.mode in _ALPHA_MODES:
        im = Image.alpha_composite(Image.new("RGBA", im.size, "white"), im.convert("RGBA"))
    try:
        return im.convert("RGB")
    except ValueError as e:
        raise ImageError(f"Image mode {im.mode} cannot be converted to RGB ({e}).")


def load_image(src, max_pixels: int = MAX_PIXELS, max_bytes: int = MAX_BYTES) -> Image.Image:
    "Load `src` (path or bytes) as an upright RGB image, or raise an `ImageError` saying what is wrong."
    return to_rgb(_upright(_open(read_bytes(src, max_bytes), max_pixels)[0]))


def load_reduced(src, side: int, gray: bool = False, max_pixels: int = MAX_PIXELS,
                 max_bytes: int = MAX_BYTES) -> tuple[Image.Image, tuple[int, int]]:
    """Load `src` upright, decoding only what a copy of `side` pixels on the long side needs (JPEG, JPEG 2000).

    Returns the image (RGB, or L when `gray`, which also spares a JPEG its colour), at least `side` pixels on its
    long side when the original is, and the original's upright (width, height): coordinates in the image times
    original width / image width are the original's pixels. Size limits are checked before anything is decoded."""
    im, full = _open(read_bytes(src, max_bytes), max_pixels, side, "L" if gray else "RGB")
    up = _upright(im)
    if up.size != im.size:  # EXIF turned it by 90 or 270 degrees: so is the original
        full = full[::-1]
    if gray:
        return (up if up.mode == "L" else to_rgb(up).convert("L")), full
    return to_rgb(up), full
