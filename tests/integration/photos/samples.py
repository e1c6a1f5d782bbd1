"""Images as phones and attackers send them, made on the fly."""

from __future__ import annotations

import io
import zlib
from functools import cache

import pillow_heif
from PIL import Image

pillow_heif.register_heif_opener()

#: Where the sample photos claim to have been taken (a park in Berlin).
GPS = {1: "N", 2: (52.0, 30.0, 51.84), 3: "E", 4: (13.0, 22.0, 34.56), 5: 0, 6: 41.2}
XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" exif:GPSLatitude="52,30.864N" '
    b'exif:GPSLongitude="13,22.576E"/></rdf:RDF></x:xmpmeta>'
)


def _scene(width: int, height: int) -> Image.Image:
    """Something photo-like: a gradient with noise, so encoders have real work to do."""
    noise = Image.effect_noise((width, height), 40).convert("RGB")
    gradient = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    return Image.blend(noise, gradient, 0.6)


def _iphone_exif() -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "Apple"
    exif[0x0110] = "iPhone 15 Pro"
    exif[0x0131] = "17.1"
    exif[0x0112] = 6  # rotated: the camera was held upright
    exif[0x8825] = GPS
    return exif


@cache
def iphone_jpeg(width: int = 4032, height: int = 3024) -> bytes:
    """A 12 MP JPEG the way an iPhone writes it: sensor-wide pixels, an orientation tag, GPS in EXIF and XMP."""
    out = io.BytesIO()
    _scene(width, height).save(out, "JPEG", quality=90, exif=_iphone_exif().tobytes(), xmp=XMP)
    return out.getvalue()


@cache
def heic(width: int = 1600, height: int = 1200) -> bytes:
    out = io.BytesIO()
    _scene(width, height).save(out, "HEIF", quality=80, exif=_iphone_exif().tobytes())
    return out.getvalue()


def png(width: int = 800, height: int = 600) -> bytes:
    out = io.BytesIO()
    _scene(width, height).save(out, "PNG")
    return out.getvalue()


@cache
def big_png(side: int = 6000) -> bytes:
    """36 MP of smooth gradients: a small file that takes the worker a second or two to process."""
    ramp = Image.linear_gradient("L").resize((side, side))
    image = Image.merge("RGB", (ramp, ramp.rotate(90), ramp.transpose(Image.Transpose.FLIP_LEFT_RIGHT)))
    out = io.BytesIO()
    image.save(out, "PNG", compress_level=1)
    return out.getvalue()


def png_bomb(side: int = 20_000) -> bytes:
    """A 20,000 × 20,000 PNG of one colour: a few hundred KB that would decode to 400 million pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    header = side.to_bytes(4, "big") * 2 + bytes([1, 0, 0, 0, 0])  # 1-bit greyscale
    row = b"\x00" + b"\x00" * ((side + 7) // 8)
    pixels = zlib.compress(row * side, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def scan_bomb(side: int = 4000, repeats: int = 1000) -> bytes:
    """A valid progressive JPEG that repeats its last scan: ~94 KB whose decoding walks 16 MP a thousand times."""
    out = io.BytesIO()
    Image.new("L", (side, side), 128).save(out, "JPEG", progressive=True, quality=50)
    data = out.getvalue()
    assert data.endswith(b"\xff\xd9")
    last_scan = data[data.rindex(b"\xff\xda") : -2]
    return data[:-2] + last_scan * repeats + b"\xff\xd9"


def after_app0(jpeg: bytes, extra: bytes) -> bytes:
    """``jpeg`` with ``extra`` between its APP0 segment and the next: libjpeg skips junk and fill bytes there."""
    assert jpeg[2:4] == b"\xff\xe0"
    end = 4 + int.from_bytes(jpeg[4:6], "big")
    return jpeg[:end] + extra + jpeg[end:]


def mpo(width: int = 1200, height: int = 900) -> bytes:
    """A multi-picture JPEG as phones write them: the photo, then a second picture (here a gain map)."""
    out = io.BytesIO()
    gain_map = Image.new("RGB", (width // 4, height // 4), (40, 40, 40))
    _scene(width, height).save(out, "MPO", save_all=True, append_images=[gain_map], exif=_iphone_exif().tobytes())
    return out.getvalue()
