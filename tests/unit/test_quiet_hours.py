"""Quiet hours: when a push due now is held until, in the person's own zone, across midnight and DST."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from server.notifications.preferences import quiet_until

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
NIGHT = (dt.time(22, 0), dt.time(7, 0))


def at(text: str, zone: dt.tzinfo = BERLIN) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=zone)


def test_outside_quiet_hours_nothing_is_held() -> None:
    assert quiet_until(NIGHT, BERLIN, at("2026-11-23T21:59")) is None
    assert quiet_until(NIGHT, BERLIN, at("2026-11-24T07:00")) is None
    assert quiet_until(None, BERLIN, at("2026-11-23T23:00")) is None


def test_hours_over_midnight_end_the_next_morning_before_midnight_and_the_same_morning_after() -> None:
    assert quiet_until(NIGHT, BERLIN, at("2026-11-23T22:00")) == at("2026-11-24T07:00")
    assert quiet_until(NIGHT, BERLIN, at("2026-11-24T03:00")) == at("2026-11-24T07:00")


def test_hours_within_one_day() -> None:
    lunch = (dt.time(12, 0), dt.time(13, 30))
    assert quiet_until(lunch, BERLIN, at("2026-11-23T12:45")) == at("2026-11-23T13:30")
    assert quiet_until(lunch, BERLIN, at("2026-11-23T13:30")) is None


def test_the_end_is_read_in_the_persons_zone_whatever_zone_now_is_given_in() -> None:
    # 06:30 UTC is 07:30 in Berlin in winter: past the end there, inside it in UTC.
    now = at("2026-11-24T06:30", dt.UTC)
    assert quiet_until(NIGHT, BERLIN, now) is None
    assert quiet_until(NIGHT, dt.UTC, now) == at("2026-11-24T07:00", dt.UTC)


def test_a_night_across_the_spring_change_ends_at_the_local_morning() -> None:
    # Clocks go forward at 02:00 on 2026-03-29 in Berlin: the night is an hour shorter, the end still 07:00 local.
    ends = quiet_until(NIGHT, BERLIN, at("2026-03-29T01:30"))
    assert ends == at("2026-03-29T07:00")
    assert ends is not None and ends.utcoffset() == dt.timedelta(0)
