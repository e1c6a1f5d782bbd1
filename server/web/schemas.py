"""The base every request and response body builds on: camelCase on the wire, snake_case in Python."""

from __future__ import annotations

import sys
import unicodedata

import msgspec

#: joiners some scripts need inside a word (Persian, Indic scripts, emoji sequences)
_JOINERS = {"\u200c", "\u200d"}
#: bidirectional embeddings, overrides and isolates: they reorder how the text around them is shown
BIDI_CONTROLS = r"\u202a-\u202e\u2066-\u2069"


def _invisible_formatting() -> str:
    """Unicode's format characters (category Cf: bidi controls, zero-width spaces, tags…) as a regex
    class body, read from this Python's Unicode tables so no new one slips through."""
    found = [c for c in map(chr, range(sys.maxunicode + 1)) if unicodedata.category(c) == "Cf" and c not in _JOINERS]
    ranges: list[list[str]] = []
    for char in found:
        if ranges and ord(ranges[-1][1]) == ord(char) - 1:
            ranges[-1][1] = char
        else:
            ranges.append([char, char])
    return "".join(
        _escaped(first) if first == last else f"{_escaped(first)}-{_escaped(last)}" for first, last in ranges
    )


def _escaped(char: str) -> str:
    """Spelt out, so the pattern stays readable where it is shown (the OpenAPI schema)."""
    return f"\\u{ord(char):04x}" if ord(char) <= 0xFFFF else f"\\U{ord(char):08x}"


#: a regex class body: Unicode's format characters but the joiners
INVISIBLE = _invisible_formatting()
#: for one-line text (names, titles): no control characters, C0 or C1 (Postgres cannot even store NUL), and no
#: invisible formatting, which would let a name hide characters or display reversed
ONE_LINE = msgspec.Meta(pattern=f"^[^\\x00-\\x1f\\x7f-\\x9f{INVISIBLE}]*$")
#: for free text (a bio, a message): tabs and line breaks allowed, other control characters (C0 and C1, which
#: terminals read as escape sequences) and bidi controls not
#: (the other format characters stay: emoji flags and sequences are built with them)
FREE_TEXT = msgspec.Meta(pattern=f"^[^\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f{BIDI_CONTROLS}]*$")


class Camel(msgspec.Struct, rename="camel", kw_only=True):
    pass
