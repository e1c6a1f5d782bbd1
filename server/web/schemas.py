"""The base every request and response body builds on: camelCase on the wire, snake_case in Python."""

from __future__ import annotations

import msgspec

#: for one-line text (names, titles): no control characters at all; Postgres cannot even store NUL
ONE_LINE = msgspec.Meta(pattern=r"^[^\x00-\x1f\x7f]*$")
#: for free text (a bio): tabs and line breaks allowed, other control characters not
FREE_TEXT = msgspec.Meta(pattern=r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$")


class Camel(msgspec.Struct, rename="camel", kw_only=True):
    pass
