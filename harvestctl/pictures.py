"""Photos drawn in the terminal for the review screens: blurred by default, sharp only when revealed.

A picture is drawn with the upper half block "▀": its foreground is one pixel and its background the pixel below,
so every character cell shows two pixels and any terminal with true colour (tmux included) draws it with no image
protocol. Blurred thumbnails come from the photo's blurhash, decoded here: nothing sharp is fetched to draw one,
so looking at a screen reveals nobody. A reveal fetches the photo itself through an audited API call; its pixels
live in memory for that screen only and are never written to disk.
"""

from __future__ import annotations

import io
from typing import Any

import blurhash
from PIL import Image, UnidentifiedImageError
from rich.color import Color
from rich.console import Group, RenderableType
from rich.style import Style
from rich.table import Table
from rich.text import Text

UPPER_HALF = "▀"
#: a blurred thumbnail's size in character cells (columns, rows): 4:5 photos look right in cells twice as tall
THUMB = (10, 6)
#: the largest a revealed photo is drawn (columns, rows)
REVEALED = (36, 22)


def _cells(image: Image.Image) -> Text:
    """An RGB image as half-block text: one line per two rows of pixels."""
    rgb = image.convert("RGB")
    width, height = rgb.size
    # RGB pixels are (r, g, b) tuples; Pillow's stubs type them for every mode.
    pixels: Any = rgb.load()
    text = Text(no_wrap=True, overflow="crop")
    for top in range(0, height - 1, 2):
        for x in range(width):
            upper, lower = pixels[x, top], pixels[x, top + 1]
            text.append(UPPER_HALF, Style(color=Color.from_rgb(*upper), bgcolor=Color.from_rgb(*lower)))
        text.append("\n")
    text.rstrip()
    return text


def blurred(hash_: str | None, size: tuple[int, int] = THUMB) -> Text:
    """The thumbnail a blurhash stands for; a grey box with "?" when there is none or it does not decode."""
    columns, rows = size
    try:
        if not hash_:
            raise ValueError("no blurhash")
        return _cells(blurhash.decode(hash_, columns, rows * 2))
    except (ValueError, blurhash.BlurhashDecodeError):
        middle = rows // 2
        return Text(
            "\n".join(("?".center(columns) if row == middle else " " * columns) for row in range(rows)),
            style="on grey23",
        )


def sharp(data: bytes, size: tuple[int, int] = REVEALED) -> Text:
    """A photo's bytes drawn as large as fits ``size`` (columns, rows), keeping its shape."""
    columns, rows = size
    try:
        image = Image.open(io.BytesIO(data))
        image.thumbnail((columns, rows * 2), Image.Resampling.LANCZOS)
    except (UnidentifiedImageError, OSError):
        return Text("(not an image this terminal can draw)", style="red")
    return _cells(image)


def row(pictures: list[tuple[str, Text]]) -> RenderableType:
    """Pictures side by side, each captioned; wraps onto no further lines (the screen's room is counted)."""
    if not pictures:
        return Group()
    grid = Table.grid(padding=(0, 2))
    for _ in pictures:
        grid.add_column(no_wrap=True)
    grid.add_row(*(picture for _, picture in pictures))
    grid.add_row(*(Text(caption, style="dim", no_wrap=True, overflow="ellipsis") for caption, _ in pictures))
    return grid


def height(pictures: list[tuple[str, Text]]) -> int:
    """Lines ``row`` takes on screen."""
    return max((len(picture.plain.splitlines()) for _, picture in pictures), default=-1) + 1
