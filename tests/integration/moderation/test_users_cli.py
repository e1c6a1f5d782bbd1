"""``harvestctl users`` as staff run it from their own machine: the real CLI in a subprocess, signed in with
``harvestctl login``, against a real API worker over https. The API decides who may do what; the CLI says so in
one line."""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path
from typing import Any

import httpx

from tests.factories import PASSWORD, bearer, register
from tests.integration.moderation.staff import staff
from tests.integration.moderation.test_cli_login import harvestctl, signed_in
from tests.integration.moderation.test_verification import submitted


async def _signed_in_as(client: httpx.AsyncClient, db: Any, https_api: tuple[str, Path], home: Path, role: str) -> Any:
    url, ca_file = https_api
    account = await staff(client, db, role)
    signed_in(home, url, ca_file, account["user"]["email"])
    return account


def _ok(done: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert done.returncode == 0, done.stderr
    return done


def _one_error(done: subprocess.CompletedProcess[str]) -> str:
    """The single `error:` line of a failed run (which must not have dumped a traceback)."""
    assert done.returncode != 0, done.stdout
    assert "Traceback" not in done.stderr, done.stderr
    [line] = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    return line


async def _can_sign_in(client: httpx.AsyncClient, email: str) -> int:
    return (await client.post("/api/auth/login", json={"email": email, "password": PASSWORD})).status_code


async def test_find_and_show_an_account_by_email(client, db, https_api, tmp_path):
    await _signed_in_as(client, db, https_api, tmp_path, "moderator")
    person = await register(client)
    email = person["user"]["email"]

    found = json.loads(_ok(harvestctl(tmp_path, "users", "find", email[:14], "--json")).stdout)
    assert [account["id"] for account in found if account["email"] == email] == [person["user"]["id"]]
    table = _ok(harvestctl(tmp_path, "users", "find", email))
    assert email in table.stdout and person["user"]["id"] in table.stdout

    shown = json.loads(_ok(harvestctl(tmp_path, "users", "show", email, "--json")).stdout)
    assert shown["id"] == person["user"]["id"] and shown["measures"] == [] and shown["strikes"] == []
    assert email in _ok(harvestctl(tmp_path, "users", "show", person["user"]["id"])).stdout

    unknown = _one_error(harvestctl(tmp_path, "users", "show", "nobody-at-all@example.com"))
    assert "no account has the email" in unknown


async def test_a_suspension_refuses_sign_in_until_it_is_lifted(client, db, https_api, tmp_path):
    await _signed_in_as(client, db, https_api, tmp_path, "moderator")
    person = await register(client)
    email = person["user"]["email"]

    no_end = _one_error(harvestctl(tmp_path, "users", "suspend", email, "--rule", "spam"))
    assert "--until" in no_end and "--days" in no_end
    suspended = harvestctl(tmp_path, "users", "suspend", email, "--rule", "spam", "--note", "Link spam.", "--days", "3")
    assert "suspended until" in _ok(suspended).stderr
    assert await _can_sign_in(client, email) == 403
    shown = json.loads(_ok(harvestctl(tmp_path, "users", "show", email, "--json")).stdout)
    assert shown["measures"] == ["suspend"] and shown["strikes"][0]["rule"] == "spam"

    lifted = json.loads(_ok(harvestctl(tmp_path, "users", "unban", email, "--json")).stdout)
    assert lifted["action"] == "lift" and lifted["userId"] == person["user"]["id"]
    assert await _can_sign_in(client, email) == 200


async def test_revoke_sessions_signs_the_account_out(client, db, https_api, tmp_path):
    await _signed_in_as(client, db, https_api, tmp_path, "moderator")
    person = await register(client)
    assert (await client.get("/api/users/profile", headers=bearer(person["accessToken"]))).status_code == 200

    _ok(harvestctl(tmp_path, "users", "revoke-sessions", person["user"]["email"]))

    assert (await client.get("/api/users/profile", headers=bearer(person["accessToken"]))).status_code == 401


async def test_verify_approves_the_open_request_and_says_when_there_is_none(client, db, https_api, tmp_path):
    await _signed_in_as(client, db, https_api, tmp_path, "moderator")
    person = await register(client)
    email = person["user"]["email"]
    assert "no open verification request" in _one_error(harvestctl(tmp_path, "users", "verify", email))

    request_id = await submitted(client, person)
    decided = json.loads(_ok(harvestctl(tmp_path, "users", "verify", email, "--json")).stdout)

    assert decided == {"requestId": request_id, "state": "approved"}
    status = await client.get("/api/users/verification", headers=bearer(person["accessToken"]))
    assert status.json()["isVerified"] is True
    assert "no open verification request" in _one_error(harvestctl(tmp_path, "users", "verify", email))


async def test_an_admin_exports_an_account_to_a_private_file(client, db, https_api, tmp_path):
    await _signed_in_as(client, db, https_api, tmp_path, "admin")
    person = await register(client)
    out = tmp_path / "export.json"

    done = json.loads(
        _ok(harvestctl(tmp_path, "users", "export", person["user"]["email"], "--out", str(out), "--json")).stdout
    )

    assert done == {"userId": person["user"]["id"], "file": str(out)}
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    exported = json.loads(out.read_text())
    assert exported["data"]["account"]["account"]["email"] == person["user"]["email"]


async def test_erasure_needs_yes_without_a_terminal_and_then_the_account_is_gone(client, db, https_api, tmp_path):
    await _signed_in_as(client, db, https_api, tmp_path, "admin")
    person = await register(client)
    email = person["user"]["email"]

    refused = _one_error(harvestctl(tmp_path, "users", "erase", email))
    assert "no terminal" in refused
    assert await _can_sign_in(client, email) == 200

    erased = json.loads(_ok(harvestctl(tmp_path, "users", "erase", email, "--yes", "--json")).stdout)

    assert erased == {"userId": person["user"]["id"], "erased": True}
    assert await _can_sign_in(client, email) == 401
    assert "no account has the email" in _one_error(harvestctl(tmp_path, "users", "show", email))


async def test_a_moderator_is_refused_export_and_erasure_in_one_line(client, db, https_api, tmp_path):
    await _signed_in_as(client, db, https_api, tmp_path, "moderator")
    person = await register(client)
    email = person["user"]["email"]
    out = tmp_path / "export.json"

    for verb in (["export", email, "--out", str(out)], ["erase", email, "--yes"]):
        done = harvestctl(tmp_path, "users", *verb)
        line = _one_error(done)
        assert "HTTP 403" in line and "admin" in line
        assert "takes an admin account" in done.stderr
    assert not out.exists()
    assert await _can_sign_in(client, email) == 200
