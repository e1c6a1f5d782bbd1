"""The base every request and response body builds on: camelCase on the wire, snake_case in Python."""

from __future__ import annotations

import msgspec


class Camel(msgspec.Struct, rename="camel", kw_only=True):
    pass
