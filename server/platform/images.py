"""Pillow, kept off the event loop: what an upload really is, and the clean variants made from it.

Every variant is re-encoded from pixels alone, so no EXIF, GPS, XMP or maker note of the upload can
travel into a file anyone is served.
"""

from __future__ import annotations

import asyncio
import io
import os
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import blurhash
import imagehash
import pillow_heif
from PIL import Image, ImageCms, ImageFilter, ImageOps

pillow_heif.register_heif_opener()

T = TypeVar("T")
LARGE = 1080
THUMB = 320
#: Pillow's format names for what we accept, with the name we store
ACCEPTED = {"JPEG": "jpeg", "PNG": "png", "WEBP": "webp", "HEIF": "heif"}
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1"}
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
# Decoding is CPU and memory heavy (a 40 MP image is 160 MB of pixels): at most one per core.
_POOL = ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="images")


class NotAnImage(ValueError):
    """The content is none of the accepted formats, whatever its name or header said."""


class BadImage(ValueError):
    """An accepted format, but truncated, corrupt or too big to decode safely."""


@dataclass(frozen=True)
class Variants:
    large: bytes
    thumb: bytes
    blurred: bytes
    #: a compact placeholder the app paints while the image loads
    blurhash: str
    #: 64-bit perceptual hash (hex) for finding the same picture uploaded again
    phash: str
    width: int
    height: int


def sniff(head: bytes) -> str | None:
    """The format named by the content's magic number (Pillow's name), or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        return "HEIF"
    return None


def decode(data: bytes, max_pixels: int, scale_to: int = LARGE) -> Image.Image:
    """Open and decode all of ``data``; JPEGs at the smallest scale that still covers ``scale_to`` pixels."""
    kind = sniff(data[:16])
    if kind is None:
        raise NotAnImage("send a JPEG, PNG, WebP or HEIC image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=[kind])
            width, height = image.size
            if width * height > max_pixels:
                raise BadImage(
                    f"the image is {width}×{height}; at most {max_pixels // 1_000_000} megapixels are accepted"
                )
            if kind == "JPEG":
                image.draft("RGB", (scale_to, scale_to))
            image.load()
    except BadImage:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise BadImage(
            f"the image has too many pixels; at most {max_pixels // 1_000_000} megapixels are accepted"
        ) from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise BadImage("the image is truncated or corrupt") from exc
    return image


def inspect(data: bytes, max_pixels: int) -> str:
    """Prove ``data`` is a whole image of an accepted format within the pixel limit; returns the format.

    Every byte is still decoded (that is what finds a truncated file), but JPEGs at an eighth of their size.
    """
    image = decode(data, max_pixels, scale_to=1)
    return ACCEPTED[image.format or ""]


def make_variants(data: bytes, max_pixels: int) -> Variants:
    """Orientation applied, colours in sRGB, metadata gone: large, thumbnail and blurred WebPs."""
    image = ImageOps.exif_transpose(decode(data, max_pixels))
    large = _to_srgb(_flatten(_fit(image, LARGE)), image.info.get("icc_profile"))
    thumb = _fit(large, THUMB)
    tiny = thumb.resize((max(1, thumb.width // 16), max(1, thumb.height // 16)), Image.Resampling.BOX)
    blurred = tiny.filter(ImageFilter.GaussianBlur(1)).resize(thumb.size, Image.Resampling.BILINEAR)
    return Variants(
        large=_webp(large, 82),
        thumb=_webp(thumb, 80),
        blurred=_webp(blurred, 60),
        blurhash=blurhash.encode(tiny.copy(), x_components=4, y_components=3),
        phash=str(imagehash.phash(large)),
        width=large.width,
        height=large.height,
    )


async def run(work: Callable[..., T], *args: object) -> T:
    """Run blocking image work on the bounded image pool."""
    return await asyncio.get_running_loop().run_in_executor(_POOL, work, *args)


def _fit(image: Image.Image, longest: int) -> Image.Image:
    scale = longest / max(image.size)
    if scale >= 1:
        return image.copy()
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def _flatten(image: Image.Image) -> Image.Image:
    """RGB on white: transparency has no place in a profile photo, and one mode keeps the rest simple."""
    if image.mode == "RGB":
        return image
    rgba = image.convert("RGBA")
    canvas = Image.new("RGB", rgba.size, (255, 255, 255))
    canvas.paste(rgba, mask=rgba.getchannel("A"))
    return canvas


def _to_srgb(image: Image.Image, icc: bytes | None) -> Image.Image:
    """Phones shoot in wide gamuts (Display P3); convert so colours look right once the profile is dropped."""
    if not icc:
        return image
    try:
        return ImageCms.profileToProfile(image, ImageCms.ImageCmsProfile(io.BytesIO(icc)), _SRGB, outputMode="RGB")
    except (ImageCms.PyCMSError, OSError):
        return image


def _webp(image: Image.Image, quality: int) -> bytes:
    # Rebuilt from raw pixels: the copy carries no info dict, so nothing but pixels is encoded.
    clean = Image.frombytes(image.mode, image.size, image.tobytes())
    out = io.BytesIO()
    clean.save(out, "WEBP", quality=quality, method=4)
    return out.getvalue()
