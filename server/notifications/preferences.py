"""What a person wants to hear of, and when: per kind immediate / digest / off, message previews, quiet hours.

Quiet hours are wall-clock times in the person's own time zone (their profile's, else the hour offset their
location suggests, else UTC). A push due inside them is held until they end, never dropped.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Annotated, Literal

import asyncpg
import msgspec
from msgspec import UNSET, UnsetType

from server.matching.service import zone_for
from server.web.schemas import Camel

Kind = Literal["match", "message", "like"]
Mode = Literal["immediate", "digest", "off"]
KINDS: tuple[Kind, ...] = ("match", "message", "like")

#: a push delivery's detail while quiet hours hold it: a preference change releases these, and only these (a push
#: waiting out its burst or a provider's Retry-After keeps waiting)
HELD = "held for quiet hours"

Clock = Annotated[str, msgspec.Meta(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", examples=["22:00"])]


class QuietHours(Camel, forbid_unknown_fields=True):
    """From ``start`` to ``end`` (HH:MM, the person's time zone); an end before the start runs past midnight."""

    start: Clock
    end: Clock


class Preferences(Camel):
    #: each kind: pushed at once, gathered into the digest email, or only listed in the app
    kinds: dict[Kind, Mode]
    #: whether a message push shows what the message says; off, it says only who wrote
    previews: bool
    quiet_hours: QuietHours | None
    #: the zone quiet hours are read in: the profile's (PUT /api/users/profile), else one its place suggests
    time_zone: str


class PreferencesChange(Camel, forbid_unknown_fields=True):
    """What to change; anything left out stays as it is. ``quietHours: null`` turns quiet hours off."""

    kinds: dict[Kind, Mode] | UnsetType = UNSET
    previews: bool | UnsetType = UNSET
    quiet_hours: QuietHours | UnsetType | None = UNSET


class Settled(msgspec.Struct, frozen=True):
    """A person's preferences as the dispatcher applies them."""

    kinds: dict[str, str]
    previews: bool
    quiet: tuple[dt.time, dt.time] | None
    zone: dt.tzinfo

    def mode(self, kind: str) -> str:
        return self.kinds.get(kind, "immediate")

    def quiet_until(self, now: dt.datetime) -> dt.datetime | None:
        """When the quiet hours around ``now`` end (UTC), or None when ``now`` is outside them."""
        return quiet_until(self.quiet, self.zone, now)


def quiet_until(quiet: tuple[dt.time, dt.time] | None, zone: dt.tzinfo, now: dt.datetime) -> dt.datetime | None:
    if quiet is None or quiet[0] == quiet[1]:
        return None
    start, end = quiet
    local = now.astimezone(zone)
    clock = local.time().replace(tzinfo=None)
    if start < end:
        inside, end_day = start <= clock < end, local.date()
    else:  # over midnight: 22:00–07:00 is inside from 22:00 on, and before 07:00
        inside = clock >= start or clock < end
        end_day = local.date() + dt.timedelta(days=1 if clock >= start else 0)
    if not inside:
        return None
    # A wall-clock end that a DST change skips resolves to the instant after the gap.
    return dt.datetime.combine(end_day, end, tzinfo=zone).astimezone(dt.UTC)


_SELECT = """
SELECT u.id, coalesce(np.kinds, jsonb_build_object()) AS kinds, coalesce(np.previews, false) AS previews,
       np.quiet_start, np.quiet_end, p.time_zone, c.cell_lng
FROM users u
LEFT JOIN notification_preferences np ON np.user_id = u.id
LEFT JOIN profiles p ON p."user" = u.id
LEFT JOIN matching_candidates c ON c.id = u.id
WHERE u.id = ANY($1::uuid[])
"""


def _settled(row: asyncpg.Record) -> Settled:
    quiet = (row["quiet_start"], row["quiet_end"]) if row["quiet_start"] is not None else None
    return Settled(
        kinds=json.loads(row["kinds"]),
        previews=row["previews"],
        quiet=quiet,
        zone=zone_for(row["time_zone"], row["cell_lng"]),
    )


async def settled(connection: asyncpg.Connection, user_ids: list[uuid.UUID]) -> dict[uuid.UUID, Settled]:
    """The preferences of these people (defaults for those who never set any); erased people are left out."""
    return {row["id"]: _settled(row) for row in await connection.fetch(_SELECT, user_ids)}


def _clock(value: dt.time) -> str:
    return value.strftime("%H:%M")


async def preferences(connection: asyncpg.Connection, user_id: uuid.UUID) -> Preferences:
    row = await connection.fetchrow(_SELECT, [user_id])
    kinds = json.loads(row["kinds"])
    zone = _settled(row).zone
    return Preferences(
        kinds={kind: kinds.get(kind, "immediate") for kind in KINDS},
        previews=row["previews"],
        quiet_hours=QuietHours(start=_clock(row["quiet_start"]), end=_clock(row["quiet_end"]))
        if row["quiet_start"] is not None
        else None,
        time_zone=getattr(zone, "key", None) or str(zone),
    )


async def change(connection: asyncpg.Connection, user_id: uuid.UUID, given: PreferencesChange) -> None:
    """Apply a change in the caller's transaction. Held pushes become due again, so a person who ends their quiet
    hours early gets them now, and one who turned a kind off gets none of them (the dispatcher re-reads)."""
    quiet = given.quiet_hours
    await connection.execute(
        """
        INSERT INTO notification_preferences AS np (user_id, kinds, previews, quiet_start, quiet_end)
        VALUES ($1, coalesce($2::jsonb, jsonb_build_object()), coalesce($3, false), $5, $6)
        ON CONFLICT (user_id) DO UPDATE SET
            kinds = np.kinds || coalesce($2::jsonb, jsonb_build_object()),
            previews = coalesce($3, np.previews),
            quiet_start = CASE WHEN $4 THEN $5 ELSE np.quiet_start END,
            quiet_end = CASE WHEN $4 THEN $6 ELSE np.quiet_end END,
            updated_at = now()
        """,
        user_id,
        None if given.kinds is UNSET else json.dumps(given.kinds),
        None if given.previews is UNSET else given.previews,
        quiet is not UNSET,
        dt.time.fromisoformat(quiet.start) if isinstance(quiet, QuietHours) else None,
        dt.time.fromisoformat(quiet.end) if isinstance(quiet, QuietHours) else None,
    )
    await connection.execute(
        "UPDATE notification_deliveries SET due_at = now() WHERE user_id = $1 AND state = 'pending' AND due_at > now()"
        " AND channel = 'push' AND detail = $2",
        user_id,
        HELD,
    )
