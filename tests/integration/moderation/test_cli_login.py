"""``harvestctl login``, ``logout`` and ``moderation audit``, run as a moderator runs them: the real CLI in a
subprocess, as an ordinary user with no appliance of its own, against a real API worker over https."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import sys
import uuid
from asyncio.subprocess import PIPE
from pathlib import Path
from typing import Any

import pytest

from server.moderation import audit
from tests.factories import PASSWORD, register
from tests.integration.moderation.staff import staff

HARVESTCTL = Path(sys.prefix) / "bin" / "harvestctl"


def harvestctl(home: Path, *args: str, password: str | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI with ``home`` as the user's home and config folder; ``password`` goes to its stdin."""
    env = {key: value for key, value in os.environ.items() if key != "HARVEST_ROOT"}
    env |= {"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"), "COLUMNS": "200"}
    return subprocess.run(
        [str(HARVESTCTL), *args],
        input=password if password is not None else "",
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def signed_in(home: Path, url: str, ca_file: Path, email: str) -> subprocess.CompletedProcess[str]:
    login = ["login", "--url", url, "--email", email, "--ca-file", str(ca_file), "--password-stdin"]
    done = harvestctl(home, *login, password=PASSWORD + "\n")
    assert done.returncode == 0, done.stderr
    return done


def session_file(home: Path) -> Path:
    return home / ".config" / "harvest" / "session.json"


async def live_logins(db: Any, user_id: str) -> list[str]:
    """The devices of the account's logins that have not ended."""
    rows = await db.pool.fetch(
        'SELECT device FROM auth_sessions WHERE "user" = $1::uuid AND revoked_at IS NULL', user_id
    )
    return sorted(row["device"] for row in rows)


async def _record(db: Any, actor: str, subject: uuid.UUID, reason: str) -> None:
    async with db.pool.acquire() as connection, connection.transaction():
        await audit.record(connection, uuid.UUID(actor), "user.warn", subject, {"reason": reason})


async def test_a_moderator_signs_in_lists_the_log_and_signs_out(client, db, https_api, tmp_path):
    url, ca_file = https_api
    moderator = await staff(client, db)
    email = moderator["user"]["email"]
    person = uuid.uuid4()
    await _record(db, moderator["user"]["id"], person, "first")
    await _record(db, moderator["user"]["id"], uuid.uuid4(), "second")

    signed_in(tmp_path, url, ca_file, email)
    login = signed_in(tmp_path, url, ca_file, email)
    # Signing in again ended the first sign-in rather than leaving it live and forgotten.
    assert (await live_logins(db, moderator["user"]["id"])).count("harvestctl") == 1
    assert "signed in" in login.stderr and "moderator" in login.stderr
    assert PASSWORD not in login.stdout + login.stderr
    saved = session_file(tmp_path)
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert stat.S_IMODE(saved.parent.stat().st_mode) == 0o700
    first_token = json.loads(saved.read_text())["refreshToken"]
    assert json.loads(saved.read_text())["url"] == url and PASSWORD not in saved.read_text()

    listing = harvestctl(tmp_path, "moderation", "audit", "--json")
    assert listing.returncode == 0, listing.stderr
    entries = json.loads(listing.stdout)
    assert [(e["seq"], e["detail"]["reason"]) for e in entries] == [(2, "second"), (1, "first")]
    # Each command refreshes, and the rotated token is kept (the old one is spent).
    rotated = json.loads(saved.read_text())["refreshToken"]
    assert rotated != first_token and stat.S_IMODE(saved.stat().st_mode) == 0o600

    table = harvestctl(tmp_path, "moderation", "audit", "--subject", str(person), "--limit", "5")
    assert table.returncode == 0, table.stderr
    assert "first" in table.stdout and "second" not in table.stdout
    assert audit.pseudonym(person).hex()[:12] in table.stdout

    logout = harvestctl(tmp_path, "logout")
    assert logout.returncode == 0, logout.stderr
    assert not saved.exists()
    again = harvestctl(tmp_path, "logout")
    assert again.returncode == 0 and "not signed in" in again.stderr
    # The login is over on the server too, not only forgotten here.
    assert "harvestctl" not in await live_logins(db, moderator["user"]["id"])

    after = harvestctl(tmp_path, "moderation", "audit")
    assert after.returncode != 0 and "not signed in" in after.stderr


async def test_verify_passes_on_a_whole_chain_and_names_the_broken_seq(client, db, https_api, tmp_path):
    url, ca_file = https_api
    moderator = await staff(client, db, "admin")
    for n in range(3):
        await _record(db, moderator["user"]["id"], uuid.uuid4(), f"number {n}")
    signed_in(tmp_path, url, ca_file, moderator["user"]["email"])

    whole = harvestctl(tmp_path, "moderation", "audit", "--verify")
    assert whole.returncode == 0, whole.stderr
    assert "intact: 3 entries" in whole.stderr

    await db.pool.execute("ALTER TABLE moderation_audit DISABLE TRIGGER moderation_audit_append_only")
    try:
        await db.pool.execute(
            "UPDATE moderation_audit SET detail = jsonb_build_object('reason', 'never') WHERE seq = 2"
        )
    finally:
        await db.pool.execute("ALTER TABLE moderation_audit ENABLE TRIGGER moderation_audit_append_only")
    broken = harvestctl(tmp_path, "moderation", "audit", "--verify", "--json")
    assert broken.returncode == 7, broken.stderr
    assert "broken at seq 2" in broken.stderr
    assert json.loads(broken.stdout) | {"head": None} == {
        "ok": False,
        "checked": 1,
        "brokenAt": 2,
        "reason": "seq 2 was edited after it was written",
        "head": None,
    }


async def test_a_wrong_password_fails_with_one_line_and_saves_nothing(client, db, https_api, tmp_path):
    url, ca_file = https_api
    moderator = await staff(client, db)
    login = ["login", "--url", url, "--email", moderator["user"]["email"], "--ca-file", str(ca_file)]
    done = harvestctl(tmp_path, *login, "--password-stdin", password="not the password\n")
    assert done.returncode == 1
    reason = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(reason) == 1 and "401" in reason[0], done.stderr
    assert "Traceback" not in done.stderr
    assert not session_file(tmp_path).exists()


async def test_a_plain_user_is_signed_in_but_refused_the_log(client, db, https_api, tmp_path):
    url, ca_file = https_api
    person = await register(client)
    login = signed_in(tmp_path, url, ca_file, person["user"]["email"])
    assert "no moderator or admin" in login.stderr
    refused = harvestctl(tmp_path, "moderation", "audit")
    assert refused.returncode == 1
    assert "403" in refused.stderr and "moderator or admin" in refused.stderr


async def test_the_certificate_is_checked_unless_the_appliances_own_is_given(client, db, https_api, tmp_path):
    url, _ = https_api
    moderator = await staff(client, db)
    login = ["login", "--url", url, "--email", moderator["user"]["email"], "--password-stdin"]
    untrusted = harvestctl(tmp_path, *login, password=PASSWORD + "\n")
    assert untrusted.returncode == 1
    assert "does not trust" in untrusted.stderr and "--ca-file" in untrusted.stderr
    assert not session_file(tmp_path).exists()


@pytest.mark.parametrize("url", ["http://harvest.example", "ftp://127.0.0.1"])
def test_a_password_never_goes_over_plain_http_to_another_machine(tmp_path, url):
    done = harvestctl(tmp_path, "login", "--url", url, "--email", "a@example.com", "--password-stdin", password="x\n")
    assert done.returncode != 0 and "error:" in done.stderr
    assert not session_file(tmp_path).exists()


async def test_commands_run_at_once_take_turns_with_the_rotating_token(client, db, https_api, tmp_path):
    """Without the lock two would present the same refresh token, and the second would end the whole login."""
    url, ca_file = https_api
    moderator = await staff(client, db)
    signed_in(tmp_path, url, ca_file, moderator["user"]["email"])
    env = {key: value for key, value in os.environ.items() if key != "HARVEST_ROOT"}
    env |= {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / ".config")}
    running = [
        await asyncio.create_subprocess_exec(
            str(HARVESTCTL), "moderation", "audit", "--json", stdout=PIPE, stderr=PIPE, env=env
        )
        for _ in range(4)
    ]
    for process in running:
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
        assert process.returncode == 0, stderr.decode()
    assert harvestctl(tmp_path, "moderation", "audit").returncode == 0
