"""Pillow, kept off the event loop: what an upload really is, and the clean variants made from it.

Every variant is re-encoded from pixels alone, so no EXIF, GPS, XMP or maker note of the upload can
travel into a file anyone is served.

Decoding cost is not bounded by file size: a valid progressive JPEG may repeat a scan a thousand
times, and each repeat walks every block of the image again. So a JPEG with more scans than any
encoder writes is refused before decoding, and all decoding happens in a helper process with a CPU
limit: whatever a file does, it costs at most that budget, then the helper is killed (and replaced).
"""

from __future__ import annotations

import asyncio
import io
import math
import multiprocessing
import os
import re
import resource
import signal
import threading
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import TypeVar

import blurhash
import imagehash
import pillow_heif
from PIL import Image, ImageCms, ImageFilter, ImageOps

pillow_heif.register_heif_opener()

T = TypeVar("T")
LARGE = 1080
THUMB = 320
#: Pillow's format names for what we accept, with the name we store. MPO (phones' multi-picture JPEGs,
#: e.g. HDR gain maps) is a JPEG followed by more pictures; Pillow opens its first frame.
ACCEPTED = {"JPEG": "jpeg", "MPO": "jpeg", "PNG": "png", "WEBP": "webp", "HEIF": "heif"}
#: libjpeg's progressive script has 10 scans and optimisers (mozjpeg) stay near that; cameras write 1.
#: Past this a file is built to burn CPU: each scan costs a walk over every block of the image.
MAX_JPEG_SCANS = 64
#: CPU seconds a helper may spend proving an upload is an image (a 40 MP progressive JPEG takes ~0.7 s)
INSPECT_CPU_SECONDS = 2
#: CPU seconds a helper may spend making the variants (a 40 MP image takes ~1 s)
VARIANTS_CPU_SECONDS = 10
_SOS = b"\xff\xda"
# How libjpeg finds the next marker: bytes other than 0xFF are discarded, a run of 0xFF is fill before the
# marker's code, and 0xFF00 is discarded like any other junk.
_MARKER = re.compile(rb"\xff+([^\xff])")
_STANDALONE_MARKERS = {0x00, 0x01, *range(0xD0, 0xD8)}  # junk, TEM and RSTn carry no length
_EOI = 0xD9
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1"}
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
# Decoding is CPU and memory heavy (a 40 MP image is 160 MB of pixels): at most one per core. Each
# thread hands its work to a helper process of its own, so a file that is killed for its CPU use takes
# no one else's work with it.
_POOL = ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="images")
_HELPERS = threading.local()
# Helpers fork from a small server process that has imported this module (and so the codecs) once:
# forking the API or worker itself, with its threads and sockets, is unsafe, and spawning is slow.
_PROCESSES = multiprocessing.get_context("forkserver")
_PROCESSES.set_forkserver_preload([__name__])


class NotAnImage(ValueError):
    """The content is none of the accepted formats, whatever its name or header said."""


class BadImage(ValueError):
    """An accepted format, but truncated, corrupt or too big to decode safely."""


class HelperLost(RuntimeError):
    """The helper died for the machine's reasons (the OOM killer, a stall on a busy box): try again later."""


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
    if kind == "JPEG" and jpeg_scans(data) > MAX_JPEG_SCANS:
        raise BadImage(f"the JPEG has more than {MAX_JPEG_SCANS} scans; save it again from a photo app")
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


def jpeg_scans(data: bytes) -> int:
    """How many scans (SOS markers) a JPEG has, counted without decoding.

    The headers before the first scan are walked by their lengths (an EXIF thumbnail holds a scan of its
    own), skipping what libjpeg skips between them; after it, entropy-coded data escapes every 0xFF, so each
    remaining 0xFFDA is a scan. Headers that cannot be walked to a scan are refused: where this walk and
    libjpeg's could part, scans would go uncounted.
    """
    at = 2
    while (found := _MARKER.search(data, at)) is not None:
        marker, at = found[1][0], found.end()
        if marker == _SOS[1]:
            return 1 + data.count(_SOS, at)
        if marker == _EOI:
            break
        if marker in _STANDALONE_MARKERS:
            continue
        length = int.from_bytes(data[at : at + 2], "big")
        if length < 2 or at + length > len(data):
            break
        at += length
    raise BadImage("the image is truncated or corrupt")


async def run(work: Callable[..., T], *args: object, cpu_seconds: int = VARIANTS_CPU_SECONDS) -> T:
    """Run blocking image work in a helper process that may spend ``cpu_seconds`` of CPU on it.

    Raises BadImage when the work runs out of CPU, HelperLost when the helper dies of anything else; the
    work's own NotAnImage and BadImage come through.
    """
    return await asyncio.get_running_loop().run_in_executor(_POOL, _in_helper, work, args, cpu_seconds)


def _in_helper(work: Callable[..., T], args: tuple[object, ...], cpu_seconds: int) -> T:
    helper, connection = _helper()
    try:
        connection.send((work, args, cpu_seconds))
        # The CPU limit is the bound; the wall clock only catches a helper stalled (swapping, stopped) long
        # past it, with room for a busy machine sharing its cores.
        outcome: tuple[bool, object] | None = connection.recv() if connection.poll(cpu_seconds * 5) else None
    except (EOFError, OSError):  # the helper died before answering
        outcome = None
    if outcome is None:
        helper.kill()
        helper.join()
        connection.close()
        _HELPERS.current = None
        if helper.exitcode == -signal.SIGXCPU:
            raise BadImage("the image takes too long to decode")
        if helper.exitcode is not None and helper.exitcode < 0:
            # Killed from outside (the OOM killer, or the wall clock above on a machine too busy to give the
            # helper its CPU): the file is not to blame, and may well decode on the next try.
            raise HelperLost(f"the image helper was killed by signal {-helper.exitcode}")
        raise RuntimeError(f"the image helper ended without an answer (exit code {helper.exitcode})")
    done, value = outcome
    if done:
        return value  # type: ignore[return-value]
    raise value  # type: ignore[misc]


def _helper() -> tuple[BaseProcess, Connection]:
    """This pool thread's helper process, started when there is none (first use, or the last one was killed)."""
    current: tuple[BaseProcess, Connection] | None = getattr(_HELPERS, "current", None)
    if current is None:
        mine, theirs = _PROCESSES.Pipe()
        helper = _PROCESSES.Process(target=_serve, args=(theirs,), name="harvest-images", daemon=True)
        helper.start()
        theirs.close()
        current = _HELPERS.current = (helper, mine)
    return current


def _serve(connection: Connection) -> None:
    """A helper's loop: one piece of work at a time, each allowed ``cpu_seconds`` more CPU than spent so far."""
    while True:
        try:
            work, args, cpu_seconds = connection.recv()
        except EOFError:  # the parent is gone
            return
        usage = resource.getrusage(resource.RUSAGE_SELF)
        spent = math.ceil(usage.ru_utime + usage.ru_stime)
        # Past the soft limit the kernel sends SIGXCPU, whose default action ends the process. The hard limit
        # stays unlimited: an unprivileged process could never raise it again for the next piece of work.
        resource.setrlimit(resource.RLIMIT_CPU, (spent + cpu_seconds, resource.RLIM_INFINITY))
        try:
            outcome: tuple[bool, object] = (True, work(*args))
        except (NotAnImage, BadImage) as exc:
            outcome = (False, exc)
        # Any other exception is a defect: it ends the helper with its traceback, and the caller's RuntimeError.
        connection.send(outcome)


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
        converted = ImageCms.profileToProfile(image, ImageCms.ImageCmsProfile(io.BytesIO(icc)), _SRGB, outputMode="RGB")
    except (ImageCms.PyCMSError, OSError):
        return image
    return converted or image  # None only when converting in place, which this does not ask for


def _webp(image: Image.Image, quality: int) -> bytes:
    # Rebuilt from raw pixels: the copy carries no info dict, so nothing but pixels is encoded.
    clean = Image.frombytes(image.mode, image.size, image.tobytes())
    out = io.BytesIO()
    clean.save(out, "WEBP", quality=quality, method=4)
    return out.getvalue()
