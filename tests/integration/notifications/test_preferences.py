"""Notification preferences: defaults, partial changes kept, validation in the one problem shape."""

from __future__ import annotations

from typing import Any

import httpx

from tests.factories import bearer, register
from tests.integration.chat.stored import assert_problem

PREFERENCES = "/api/notifications/preferences"


async def change(client: httpx.AsyncClient, person: dict[str, Any], body: dict[str, Any]) -> httpx.Response:
    return await client.put(PREFERENCES, json=body, headers=bearer(person["accessToken"]))


def assert_invalid(response: httpx.Response, field: str) -> None:
    """A 422 naming the field (or, for a map's key or value, the map)."""
    body = assert_problem(response, 422)
    assert any(error["field"].startswith(field) for error in body["errors"]), body


async def test_a_new_account_gets_everything_at_once_without_previews(client: httpx.AsyncClient) -> None:
    person = await register(client)
    answer = await client.get(PREFERENCES, headers=bearer(person["accessToken"]))
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "kinds": {"match": "immediate", "message": "immediate", "like": "immediate"},
        "previews": False,
        "quietHours": None,
        "timeZone": "UTC",
    }


async def test_what_a_change_leaves_out_stays_as_it_was(client: httpx.AsyncClient) -> None:
    person = await register(client)
    first = await change(client, person, {"kinds": {"like": "off"}, "quietHours": {"start": "22:30", "end": "07:00"}})
    assert first.status_code == 200, first.text
    second = await change(client, person, {"previews": True, "kinds": {"message": "digest"}})
    assert second.json() == {
        "kinds": {"match": "immediate", "message": "digest", "like": "off"},
        "previews": True,
        "quietHours": {"start": "22:30", "end": "07:00"},
        "timeZone": "UTC",
    }
    off = await change(client, person, {"quietHours": None})
    assert off.json()["quietHours"] is None
    assert off.json()["previews"] is True


async def test_quiet_hours_are_read_in_the_profiles_time_zone(client: httpx.AsyncClient) -> None:
    person = await register(client)
    moved = await client.put(
        "/api/users/profile", json={"timeZone": "Europe/Berlin"}, headers=bearer(person["accessToken"])
    )
    assert moved.status_code == 200, moved.text
    answer = await client.get(PREFERENCES, headers=bearer(person["accessToken"]))
    assert answer.json()["timeZone"] == "Europe/Berlin"


async def test_bad_preferences_are_refused_and_change_nothing(client: httpx.AsyncClient) -> None:
    person = await register(client)
    assert_invalid(await change(client, person, {"kinds": {"match": "sometimes"}}), "kinds")
    assert_invalid(await change(client, person, {"kinds": {"gossip": "off"}}), "kinds")
    assert_invalid(await change(client, person, {"quietHours": {"start": "25:00", "end": "07:00"}}), "quietHours")
    assert_invalid(await change(client, person, {"quietHours": {"start": "07:00", "end": "07:00"}}), "quietHours")
    assert_invalid(await change(client, person, {"previews": "yes"}), "previews")
    assert_invalid(await change(client, person, {"sound": "loud"}), "sound")
    answer = await client.get(PREFERENCES, headers=bearer(person["accessToken"]))
    assert answer.json()["kinds"]["match"] == "immediate"
    assert answer.json()["quietHours"] is None


async def test_preferences_need_a_login(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get(PREFERENCES), 401)
    assert_problem(await client.put(PREFERENCES, json={"previews": True}), 401)
