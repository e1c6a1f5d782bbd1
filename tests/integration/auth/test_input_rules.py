"""What account input is refused or folded: impossible birth dates, invisible characters, look-alike emails;
and which responses no cache may keep."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from server.auth.tables import User
from tests.factories import PASSWORD, bearer, fields, person, register
from tests.factories import provider_claims as claims


def born_years_ago(years: int) -> str:
    today = dt.date.today()
    return today.replace(year=today.year - years, day=min(today.day, 28)).isoformat()


@pytest.mark.parametrize("born", ["1800-01-01", born_years_ago(121)])
async def test_registration_refuses_an_age_no_one_has_naming_the_field(client, born):
    response = await client.post("/api/auth/register", json=person(dateOfBirth=born))
    assert response.status_code == 422 and fields(response) == {"dateOfBirth"}, response.text
    assert await User.count() == 0


async def test_provider_sign_up_refuses_an_age_no_one_has_naming_the_field(client, stack):
    token = stack.identity.id_token(**claims("google", f"old.{uuid.uuid4().hex[:6]}@example.com"))
    response = await client.post(
        "/api/auth/oauth/google", json={"idToken": token, "dateOfBirth": "1800-01-01", "gender": "man"}
    )
    assert response.status_code == 422 and fields(response) == {"dateOfBirth"}, response.text


async def test_the_oldest_accepted_person_can_still_change_their_preferences(client):
    body = await register(client, dateOfBirth=born_years_ago(115))
    headers = bearer(body["accessToken"])
    defaults = (await client.get("/api/users/preferences", headers=headers)).json()
    assert defaults["minAge"] <= defaults["maxAge"] <= 100
    changed = await client.put("/api/users/preferences", json={"maxDistanceKm": 30}, headers=headers)
    assert changed.status_code == 200, changed.text


@pytest.mark.parametrize(
    "name", ["Ale\u202ex", "Al\u200bex", "\u2066Alex\u2069", "Alex\u00ad", "\ufeffAlex", "Alex\U000e0041"]
)
async def test_names_with_invisible_or_reordering_characters_are_refused_naming_the_field(client, name):
    registered = await client.post("/api/auth/register", json=person(firstName=name))
    assert registered.status_code == 422 and fields(registered) == {"firstName"}, registered.text
    body = await register(client)
    renamed = await client.put("/api/users/profile", json={"firstName": name}, headers=bearer(body["accessToken"]))
    assert renamed.status_code == 422 and fields(renamed) == {"firstName"}, renamed.text


@pytest.mark.parametrize("name", ["Zoë", "مهر\u200cنوش", "José María", "李小龙"])
async def test_names_in_any_script_are_kept_including_the_joiners_some_scripts_need(client, name):
    assert (await register(client, firstName=name))["user"]["firstName"] == name


async def test_an_email_with_a_hidden_character_is_refused(client):
    response = await client.post("/api/auth/register", json=person(email="ale\u202ex@example.com"))
    assert response.status_code == 422 and fields(response) == {"email"}


async def test_fullwidth_look_alike_emails_are_one_account(client):
    local = f"alex{uuid.uuid4().hex[:6]}"
    first = await register(client, email=f"{local}@example.com")
    fullwidth = "".join(chr(ord(c) + 0xFEE0) for c in local) + "@ｅｘａｍｐｌｅ.com"
    again = await client.post("/api/auth/register", json=person(email=fullwidth))
    assert again.status_code == 409, again.text
    signed_in = await client.post("/api/auth/login", json={"email": fullwidth, "password": PASSWORD})
    assert signed_in.status_code == 200 and signed_in.json()["user"]["id"] == first["user"]["id"]


async def test_token_and_export_responses_are_never_stored_by_a_cache(client, stack):
    account = person()
    registered = await client.post("/api/auth/register", json=account)
    login = await client.post("/api/auth/login", json={"email": account["email"], "password": PASSWORD})
    refreshed = await client.post("/api/auth/refresh", json={"refreshToken": login.json()["refreshToken"]})
    token = stack.identity.id_token(**claims("google", f"nc.{uuid.uuid4().hex[:6]}@example.com"))
    provider = await client.post(
        "/api/auth/oauth/google", json={"idToken": token, "dateOfBirth": "1990-01-01", "gender": "man"}
    )
    export = await client.get("/api/users/export", headers=bearer(refreshed.json()["accessToken"]))
    for response in (registered, login, refreshed, provider, export):
        assert response.status_code in (200, 201), response.text
        assert "no-store" in response.headers.get("cache-control", ""), response.request.url
