"""The image pipeline on its own: what it accepts, what it refuses, and that what it makes is clean."""

from __future__ import annotations

import asyncio
import io
import random
import signal
import time

import pytest
from PIL import Image, ImageDraw, ImageFile

from server.platform import images
from tests.integration.photos import samples

LIMIT = 40_000_000


@pytest.mark.parametrize(
    ("mode", "kind"),
    [
        ("1", "PNG"),
        ("L", "JPEG"),
        ("LA", "PNG"),
        ("P", "PNG"),
        ("RGB", "JPEG"),
        ("RGBA", "WEBP"),
        ("CMYK", "JPEG"),
        ("I;16", "PNG"),
    ],
)
def test_every_pixel_mode_comes_out_as_small_rgb_webps(mode, kind):
    encoded = io.BytesIO()
    Image.new(mode, (1600, 900)).save(encoded, kind)
    variants = images.make_variants(encoded.getvalue(), LIMIT)
    large = Image.open(io.BytesIO(variants.large))
    assert large.mode == "RGB" and large.size == (1080, 608)
    assert Image.open(io.BytesIO(variants.thumb)).size == (320, 180)


def test_the_orientation_tag_is_applied_and_then_dropped():
    variants = images.make_variants(samples.iphone_jpeg(), LIMIT)
    assert (variants.width, variants.height) == (810, 1080)
    for data in (variants.large, variants.thumb, variants.blurred):
        assert not Image.open(io.BytesIO(data)).getexif()


def test_the_worker_refuses_a_bomb_instead_of_decoding_it():
    with pytest.raises(images.BadImage, match="megapixels"):
        images.make_variants(samples.png_bomb(), LIMIT)


def test_a_truncated_png_is_refused():
    whole = samples.png()
    with pytest.raises(images.BadImage, match="truncated"):
        images.inspect(whole[: len(whole) * 2 // 3], LIMIT)


@pytest.mark.parametrize(
    "head",
    [b"GIF89a", b"%PDF-1.7", b"BM", b"\x00\x00\x00\x1cftypavif", b"<svg xmlns", b"II*\x00", b""],
)
def test_formats_we_do_not_accept_are_not_images(head):
    with pytest.raises(images.NotAnImage):
        images.inspect(head + bytes(64), LIMIT)


def test_each_accepted_format_is_named_by_its_content():
    assert images.inspect(samples.iphone_jpeg(), LIMIT) == "jpeg"
    assert images.inspect(samples.png(), LIMIT) == "png"
    assert images.inspect(samples.heic(), LIMIT) == "heif"
    out = io.BytesIO()
    Image.new("RGB", (64, 64), (1, 2, 3)).save(out, "WEBP")
    assert images.inspect(out.getvalue(), LIMIT) == "webp"


def _scene(seed: int) -> Image.Image:
    """Shapes at random places: low-frequency structure like a real photo's, unlike noise."""
    rng = random.Random(seed)
    image = Image.new("RGB", (1200, 900), (rng.randrange(256), rng.randrange(256), rng.randrange(256)))
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x, y = rng.randrange(1100), rng.randrange(800)
        box = (x, y, x + rng.randrange(50, 500), y + rng.randrange(50, 400))
        draw.ellipse(box, fill=(rng.randrange(256), rng.randrange(256), rng.randrange(256)))
    return image


def _jpeg(image: Image.Image, quality: int) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()


def test_similar_pictures_get_close_perceptual_hashes_and_different_ones_do_not():
    scene = _scene(1)
    first = images.make_variants(_jpeg(scene, 92), LIMIT).phash
    # The same picture recompressed and shrunk, as a re-upload from another phone would be.
    second = images.make_variants(_jpeg(scene.resize((800, 600)), 55), LIMIT).phash
    other = images.make_variants(_jpeg(_scene(2), 92), LIMIT).phash
    distance = lambda a, b: bin(int(a, 16) ^ int(b, 16)).count("1")  # noqa: E731
    assert distance(first, second) <= 6 < distance(first, other)


def test_a_progressive_jpeg_with_a_thousand_scans_is_refused_before_decoding(monkeypatch: pytest.MonkeyPatch):
    bomb = samples.scan_bomb()
    assert images.jpeg_scans(bomb) > images.MAX_JPEG_SCANS

    def decoded(*_: object) -> None:
        raise AssertionError("the scan bomb reached the decoder")

    monkeypatch.setattr(ImageFile.ImageFile, "load", decoded)
    with pytest.raises(images.BadImage, match="scans"):
        images.inspect(bomb, LIMIT)


def test_scans_are_counted_from_the_image_not_from_an_exif_thumbnail():
    assert images.jpeg_scans(samples.iphone_jpeg()) == 1
    out = io.BytesIO()
    thumbnail = io.BytesIO()
    Image.new("RGB", (160, 120)).save(thumbnail, "JPEG", progressive=True)
    exif = Image.Exif()
    exif[0x010F] = "Camera"
    exif_bytes = exif.tobytes() + thumbnail.getvalue()  # a thumbnail's scans inside APP1
    Image.new("RGB", (640, 480)).save(out, "JPEG", progressive=True, exif=exif_bytes)
    assert images.jpeg_scans(out.getvalue()) == images.jpeg_scans(_progressive(640, 480))


@pytest.mark.parametrize(
    "extra",
    [b"\x00", b"junk", b"\xff\xff\xff", b"\xff\x00", b"\x00\xff\xff\x00"],
    ids=["junk-byte", "junk-bytes", "fill-bytes", "stuffed-zero", "junk-fill-and-stuffed-zero"],
)
def test_bytes_libjpeg_skips_between_segments_do_not_hide_scans(extra: bytes, monkeypatch: pytest.MonkeyPatch):
    # libjpeg discards such bytes with a warning and decodes on, so the scans after them are paid for.
    clean = _progressive(64, 48)
    assert Image.open(io.BytesIO(samples.after_app0(clean, extra))).load() is not None
    assert images.jpeg_scans(samples.after_app0(clean, extra)) == images.jpeg_scans(clean)
    bomb = samples.after_app0(samples.scan_bomb(repeats=300), extra)

    def decoded(*_: object) -> None:
        raise AssertionError("the scan bomb reached the decoder")

    monkeypatch.setattr(ImageFile.ImageFile, "load", decoded)
    with pytest.raises(images.BadImage, match="scans"):
        images.inspect(bomb, LIMIT)


@pytest.mark.parametrize("keep", [3, 6, 30, 200])
def test_a_jpeg_whose_headers_end_before_its_first_scan_is_refused_unread(keep: int):
    whole = _progressive(64, 48)
    assert whole.index(b"\xff\xda") > 200
    with pytest.raises(images.BadImage, match="truncated"):
        images.jpeg_scans(whole[:keep])


def test_a_header_segment_shorter_than_its_own_length_field_is_refused():
    whole = _progressive(64, 48)
    with pytest.raises(images.BadImage, match="truncated"):
        images.jpeg_scans(whole[:4] + b"\x00\x01" + whole[6:])


def test_an_end_of_image_before_any_scan_is_refused():
    with pytest.raises(images.BadImage, match="truncated"):
        images.jpeg_scans(samples.after_app0(_progressive(64, 48), b"\xff\xd9"))


def _progressive(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height)).save(out, "JPEG", progressive=True)
    return out.getvalue()


async def test_work_past_its_cpu_budget_is_killed_and_other_work_goes_on():
    # sum over ten billion numbers would hold a core for minutes; the helper is killed after one CPU second.
    endless, normal = await asyncio.gather(
        images.run(sum, range(10**10), cpu_seconds=1),
        images.run(images.inspect, samples.iphone_jpeg(), LIMIT, cpu_seconds=images.INSPECT_CPU_SECONDS),
        return_exceptions=True,
    )
    assert isinstance(endless, images.BadImage) and "too long" in str(endless)
    assert normal == "jpeg"
    # The killed helper is replaced: the next piece of work runs as usual.
    assert await images.run(images.inspect, samples.png(), LIMIT) == "png"


async def test_the_works_own_refusals_come_back_from_the_helper():
    with pytest.raises(images.BadImage, match="megapixels"):
        await images.run(images.make_variants, samples.png_bomb(), LIMIT)
    with pytest.raises(images.NotAnImage):
        await images.run(images.inspect, b"GIF89a" + bytes(64), LIMIT)


async def test_a_helper_killed_for_any_reason_but_its_cpu_limit_is_a_retryable_failure():
    # The OOM killer sends SIGKILL: the machine's trouble, not the image's.
    with pytest.raises(images.HelperLost):
        await images.run(signal.raise_signal, signal.SIGKILL)
    # The helper's CPU limit is the image's doing.
    with pytest.raises(images.BadImage, match="too long"):
        await images.run(signal.raise_signal, signal.SIGXCPU)
    assert await images.run(images.inspect, samples.png(), LIMIT) == "png"


async def test_a_helper_stalled_past_the_wall_clock_is_a_retryable_failure():
    # Sleeping spends no CPU: like a helper starved on a busy machine, it is killed by the wall clock.
    with pytest.raises(images.HelperLost):
        await images.run(time.sleep, 60, cpu_seconds=1)
    assert await images.run(images.inspect, samples.png(), LIMIT) == "png"


def test_a_multi_picture_jpeg_is_taken_as_its_first_picture():
    data = samples.mpo(1200, 900)
    assert images.inspect(data, LIMIT) == "jpeg"
    variants = images.make_variants(data, LIMIT)
    # The first picture (orientation tag applied), not the small second one.
    assert (variants.width, variants.height) == (810, 1080)
    assert not Image.open(io.BytesIO(variants.large)).getexif()
