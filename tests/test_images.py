"""prcvd.images: every bad portrait gets its own typed error and a message that says what is wrong."""
import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from prcvd.errors import (DeploymentError, EmptyImageError, ImageTooLargeError, InputError, NotAnImageError,
                          TruncatedImageError)
from prcvd.images import load_image


def png_bytes(im: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=kw.pop("format", "PNG"), **kw)
    return buf.getvalue()


def fake_png_header(width: int, height: int) -> bytes:
    "A PNG whose header claims `width` x `height` pixels: what a decompression bomb looks like before decoding."
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def test_loads_path_and_bytes_alike(pictures):
    from_path = load_image(pictures["astronaut"])
    from_bytes = load_image(pictures["astronaut"].read_bytes())
    assert from_path.mode == from_bytes.mode == "RGB"
    assert from_path.size == (512, 512)
    assert np.array_equal(np.asarray(from_path), np.asarray(from_bytes))


def test_empty_bytes():
    with pytest.raises(EmptyImageError, match="empty"):
        load_image(b"")


def test_empty_file(tmp_path):
    (tmp_path / "e.jpg").write_bytes(b"")
    with pytest.raises(EmptyImageError, match="0 bytes"):
        load_image(tmp_path / "e.jpg")


def test_not_an_image():
    with pytest.raises(NotAnImageError, match="not an image"):
        load_image(b"%PDF-1.4 this is a document, not a picture")


def test_truncated_png(pictures):
    data = pictures["astronaut"].read_bytes()
    with pytest.raises(TruncatedImageError, match="truncated or corrupt"):
        load_image(data[: len(data) // 2])


def test_truncated_jpeg():
    data = png_bytes(Image.new("RGB", (300, 300), "red"), format="JPEG")
    with pytest.raises(TruncatedImageError, match="truncated"):
        load_image(data[: len(data) // 3])


def test_too_many_bytes(pictures):
    with pytest.raises(ImageTooLargeError, match="at most 1,000 bytes"):
        load_image(pictures["astronaut"].read_bytes(), max_bytes=1000)


def test_too_many_pixels_is_refused_before_decoding():
    with pytest.raises(ImageTooLargeError, match="9000x9000 = 81,000,000 pixels"):
        load_image(fake_png_header(9000, 9000))


def test_decompression_bomb_beyond_pillows_own_limit():
    with pytest.raises(ImageTooLargeError, match="pixels"):
        load_image(fake_png_header(200_000, 200_000))


def test_pixel_limit_is_ours_to_set():
    with pytest.raises(ImageTooLargeError, match="at most 100 pixels"):
        load_image(png_bytes(Image.new("L", (20, 20))), max_pixels=100)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="'nope.png' was not found"):
        load_image(tmp_path / "nope.png")


def test_wrong_type():
    with pytest.raises(InputError, match="file path or bytes; got int"):
        load_image(42)


def test_errors_carry_public_message():
    with pytest.raises(DeploymentError) as e:
        load_image(b"")
    assert e.value.public_error_message == str(e.value)


def test_exif_orientation_applied():
    im = Image.new("RGB", (40, 20), "blue")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    out = load_image(png_bytes(im, format="JPEG", exif=exif.tobytes()))
    assert out.size == (20, 40)


@pytest.mark.parametrize("mode", ["1", "L", "P", "LA", "RGBA", "CMYK", "I;16", "I", "F", "YCbCr"])
def test_any_mode_becomes_rgb(mode):
    im = Image.new("RGB", (16, 8), (200, 100, 50)).convert(mode)
    fmt = {"CMYK": "JPEG", "YCbCr": "JPEG", "F": "TIFF", "I": "TIFF"}.get(mode, "PNG")
    out = load_image(png_bytes(im, format=fmt))
    assert out.mode == "RGB" and out.size == (16, 8)


def test_transparency_becomes_white():
    im = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    assert load_image(png_bytes(im)).getpixel((0, 0)) == (255, 255, 255)


def test_palette_transparency_becomes_white():
    im = Image.new("P", (4, 4), 0)
    im.putpalette([255, 0, 0] * 256)
    assert load_image(png_bytes(im, transparency=0)).getpixel((1, 1)) == (255, 255, 255)


def test_sixteen_bit_keeps_its_contrast():
    a = np.zeros((4, 8), np.uint16)
    a[:, 4:] = 4000  # a 12-bit camera: clipping to 8 bits would make both halves white
    out = np.asarray(load_image(png_bytes(Image.fromarray(a))))
    assert out[0, 0, 0] == 0 and out[0, 7, 0] == 255


def test_animated_gif_uses_first_frame():
    frames = [Image.new("RGB", (8, 8), c) for c in ("red", "blue", "green")]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:])
    assert load_image(buf.getvalue()).getpixel((0, 0)) == (255, 0, 0)


# --- load_reduced: decode only what the search needs ------------------------------------------------------------

from prcvd.images import load_reduced  # noqa: E402


def test_a_jpeg_is_decoded_at_a_reduced_scale_and_says_its_full_size():
    data = png_bytes(Image.new("RGB", (1600, 1200), "red"), format="JPEG")
    im, full = load_reduced(data, 300, gray=True)
    assert full == (1600, 1200)
    assert im.mode == "L" and im.size == (400, 300)  # 1/4 scale: the smallest that keeps 300 px


def test_formats_without_a_draft_mode_decode_in_full():
    im, full = load_reduced(png_bytes(Image.new("RGB", (800, 600), "red")), 300)
    assert im.mode == "RGB" and im.size == full == (800, 600)


def test_a_small_jpeg_is_not_reduced():
    im, full = load_reduced(png_bytes(Image.new("RGB", (200, 100), "red"), format="JPEG"), 300)
    assert im.size == full == (200, 100)


def test_reduced_decode_is_turned_upright_and_so_is_the_full_size():
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    im, full = load_reduced(png_bytes(Image.new("RGB", (1600, 800), "blue"), format="JPEG", exif=exif.tobytes()), 200)
    assert full == (800, 1600) and im.size == (100, 200)


def test_reduced_decode_checks_the_pixel_limit_before_decoding():
    with pytest.raises(ImageTooLargeError, match="9000x9000 = 81,000,000 pixels"):
        load_reduced(fake_png_header(9000, 9000), 300)


def test_reduced_decode_checks_the_byte_limit_first():
    with pytest.raises(ImageTooLargeError, match="at most 1,000 bytes"):
        load_reduced(png_bytes(Image.new("RGB", (800, 600)), format="JPEG", quality=100), 300, max_bytes=1000)


def test_a_truncated_jpeg_is_refused_in_draft_mode_too():
    data = png_bytes(Image.new("RGB", (1600, 1200), "red"), format="JPEG")
    with pytest.raises(TruncatedImageError, match="truncated"):
        load_reduced(data[: len(data) // 3], 300)


def test_a_jpeg_2000_is_decoded_at_a_reduced_scale_too():
    im, full = load_reduced(png_bytes(Image.new("RGB", (1600, 1200), "red"), format="JPEG2000"), 300)
    assert full == (1600, 1200) and im.size == (400, 300)
