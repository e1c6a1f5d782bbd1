"""``users``: staff work on one account through the API from any machine signed in with ``harvestctl login``
(find, show, measures, verification, export, erasure; the API enforces who may do what), and the two verbs only
the host's operator can take, ``create-admin`` and ``set-role``, run on the appliance itself."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import uuid
from pathlib import Path
from typing import Annotated, Any

import typer

from harvestctl import api
from harvestctl.appliance import Appliance
from harvestctl.commands.review import Rule
from harvestctl.errors import CliError, Exit
from harvestctl.queues import LONGEST_SUSPENSION, suspension_end

app = typer.Typer(
    help="Accounts: find and act on them through the API; bootstrap admins and change roles on the host.",
    no_args_is_help=True,
)

ADMIN_HINT = "exporting and erasing accounts takes an admin account"
USER_ARGUMENT = typer.Argument(help="the account's id or exact email address")


RuleOption = Annotated[Rule, typer.Option(help="the rule broken, told to the person")]
NoteOption = Annotated[str, typer.Option(help="what they did, in a sentence; told to the person")]


@app.command("create-admin")
def create_admin(ctx: typer.Context, email: Annotated[str, typer.Argument(help="the admin's email address")]) -> None:
    """Make (or promote) an admin and print a one-time link that sets the password (valid 1 hour)."""
    appliance: Appliance = ctx.obj
    appliance.require_root("users create-admin")
    result = appliance.manage("create-admin", email)
    appliance.out.data(result)
    if not appliance.out.as_json:
        verb = "created" if result["created"] else "promoted to admin"
        appliance.out.say(f"{result['email']} {verb}. Open this link within an hour to set the password:")
        print(result["link"])
        appliance.out.say("(or POST the token to /api/auth/reset-password from the app)")


@app.command("set-role")
def set_role(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="the account's email address")],
    role: Annotated[str, typer.Argument(help="user, moderator or admin")],
) -> None:
    """Change an account's role; its current logins end so the new role applies at once."""
    appliance: Appliance = ctx.obj
    appliance.require_root("users set-role")
    result = appliance.manage("set-role", email, role)
    appliance.out.data(result)
    appliance.out.say(
        f"{result['email']}: {result['previous']} → {result['role']} ({result['sessionsEnded']} login(s) ended)"
    )


def _resolve(session: api.Session, user: str) -> str:
    """The account id for an id or an exact email address (found through the search)."""
    try:
        return str(uuid.UUID(user))
    except ValueError:
        pass
    if "@" not in user:
        raise CliError(
            f"{user!r} is neither an account id nor an email address", "find it with `harvestctl users find`"
        )
    for account in session.get("/api/admin/users", q=user, limit=100):
        if account["email"].lower() == user.strip().lower():
            return str(account["id"])
    raise CliError(f"no account has the email {user}", "search with `harvestctl users find <prefix>`")


def _measures(account: dict[str, Any]) -> str:
    return ", ".join(account["measures"]) or "—"


@app.command()
def find(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="the start of an email address, or a first name")],
    limit: Annotated[int, typer.Option(min=1, max=100, help="at most this many, newest first")] = 20,
) -> None:
    """Accounts whose email starts with QUERY or whose first name is QUERY, with the measures standing."""
    appliance: Appliance = ctx.obj
    with api.Session() as session:
        accounts = session.get("/api/admin/users", q=query, limit=limit)
    rows = [[a["id"], a["email"], a["firstName"], a["role"], a["createdAt"], _measures(a)] for a in accounts]
    appliance.out.table("Accounts", ["Id", "Email", "First name", "Role", "Created", "Measures"], rows, value=accounts)


@app.command()
def show(ctx: typer.Context, user: Annotated[str, USER_ARGUMENT]) -> None:
    """One account: role, measures standing, strikes and the reports about it."""
    appliance: Appliance = ctx.obj
    with api.Session() as session:
        detail = session.get(f"/api/admin/users/{_resolve(session, user)}")
    if appliance.out.as_json:
        appliance.out.data(detail)
        return
    facts = [
        ["Id", detail["id"]],
        ["Email", detail["email"]],
        ["First name", detail["firstName"]],
        ["Role", detail["role"]],
        ["Created", detail["createdAt"]],
        ["Measures", _measures(detail)],
        ["Reports filed", detail["reportsFiled"]],
    ]
    appliance.out.table("Account", ["Field", "Value"], facts)
    strikes = [
        [
            s["measure"],
            s["rule"],
            s["until"] or "—",
            s["createdAt"],
            "overturned" if s["overturnedAt"] else "",
            s["note"],
        ]
        for s in detail["strikes"]
    ]
    if strikes:
        appliance.out.table("Strikes", ["Measure", "Rule", "Until", "At", "State", "Note"], strikes)
    reports = [[r["id"], r["reason"], r["state"], r["createdAt"]] for r in detail["reportsAbout"]]
    if reports:
        appliance.out.table("Reports about them", ["Id", "Reason", "State", "Filed"], reports)


def _act(appliance: Appliance, user: str, body: dict[str, Any], done: str) -> None:
    with api.Session() as session:
        user_id = _resolve(session, user)
        acted = session.call("POST", f"/api/admin/users/{user_id}/actions", json=body)
    appliance.out.data(acted)
    appliance.out.say(f"{user}: {done}")


@app.command()
def warn(ctx: typer.Context, user: Annotated[str, USER_ARGUMENT], rule: RuleOption, note: NoteOption = "") -> None:
    """A warning: a strike and a statement of reasons, nothing more."""
    _act(ctx.obj, user, {"action": "warn", "rule": rule.value, "note": note}, "warned")


@app.command()
def restrict(ctx: typer.Context, user: Annotated[str, USER_ARGUMENT], rule: RuleOption, note: NoteOption = "") -> None:
    """Keep the account out of everyone's deck."""
    _act(ctx.obj, user, {"action": "restrict", "rule": rule.value, "note": note}, "restricted (out of decks)")


@app.command()
def suspend(
    ctx: typer.Context,
    user: Annotated[str, USER_ARGUMENT],
    *,
    rule: RuleOption,
    note: NoteOption = "",
    until: Annotated[str | None, typer.Option(help="when it ends: a date (midnight UTC) or a date-time")] = None,
    days: Annotated[
        int | None, typer.Option(min=1, max=LONGEST_SUSPENSION.days, help="or: ends this many days from now")
    ] = None,
) -> None:
    """Suspend until a date (`--until` or `--days`, at most a year): signed out at once, sign-in refused."""
    ends = _suspension_end(until, days)
    body = {"action": "suspend", "rule": rule.value, "note": note, "until": ends.isoformat()}
    _act(ctx.obj, user, body, f"suspended until {ends.isoformat(timespec='minutes')}")


def _suspension_end(until: str | None, days: int | None) -> dt.datetime:
    if (until is None) == (days is None):
        raise CliError("a suspension needs exactly one of --until and --days", "e.g. --days 7", Exit.BAD_USAGE)
    now = dt.datetime.now(dt.UTC)
    return now + dt.timedelta(days=days) if days is not None else suspension_end(str(until), now)


@app.command()
def ban(ctx: typer.Context, user: Annotated[str, USER_ARGUMENT], rule: RuleOption, note: NoteOption = "") -> None:
    """Ban: signed out, matches ended; a suspension until a second moderator confirms it."""
    _act(ctx.obj, user, {"action": "ban", "rule": rule.value, "note": note}, "banned (pending a second moderator)")


@app.command()
def unban(ctx: typer.Context, user: Annotated[str, USER_ARGUMENT]) -> None:
    """Lift every measure standing against the account (restriction, suspension, ban)."""
    _act(ctx.obj, user, {"action": "lift"}, "measures lifted")


@app.command("revoke-sessions")
def revoke_sessions(ctx: typer.Context, user: Annotated[str, USER_ARGUMENT]) -> None:
    """Sign the account out on every device."""
    _act(ctx.obj, user, {"action": "revoke-sessions"}, "signed out everywhere")


@app.command()
def verify(ctx: typer.Context, user: Annotated[str, USER_ARGUMENT]) -> None:
    """Approve the account's open verification request: its profile shows the verified badge."""
    appliance: Appliance = ctx.obj
    with api.Session() as session:
        user_id = _resolve(session, user)
        try:
            request = session.get(f"/api/admin/users/{user_id}/verification")
        except CliError as failure:
            if "(HTTP 404)" in failure.message:
                raise CliError(
                    f"{user} has no open verification request", "they ask for one and send a selfie from the app"
                ) from None
            raise
        # Deciding takes the request's queue item, as it does in `moderation review`.
        session.call("POST", f"/api/admin/queue/{request['itemId']}/claim")
        try:
            decided = session.call(
                "POST", f"/api/admin/verifications/{request['requestId']}/decision", json={"decision": "approve"}
            )
        except CliError:
            session.call("POST", f"/api/admin/queue/{request['itemId']}/release")
            raise
    appliance.out.data(decided)
    appliance.out.say(f"{user}: verified")


def _admin_only(failure: CliError) -> CliError:
    """The API's 403 for a moderator, with a hint that fits these verbs."""
    if "(HTTP 403)" in failure.message and "admin role" in failure.message:
        return CliError(failure.message, ADMIN_HINT, failure.code)
    return failure


@app.command()
def export(
    ctx: typer.Context,
    user: Annotated[str, USER_ARGUMENT],
    out: Annotated[Path | None, typer.Option(help="write it to this file (0600) instead of stdout")] = None,
) -> None:
    """Everything Harvest holds about the account, as JSON (admins only; written to the audit log)."""
    appliance: Appliance = ctx.obj
    with api.Session() as session:
        user_id = _resolve(session, user)
        try:
            data = session.get(f"/api/admin/users/{user_id}/export")
        except CliError as failure:
            raise _admin_only(failure) from None
    text = json.dumps(data, indent=2, ensure_ascii=False)
    if out is None:
        print(text)
        return
    _write_private(out, text)
    appliance.out.data({"userId": user_id, "file": str(out)})
    appliance.out.say(f"{user}: export written to {out}")


def _write_private(path: Path, text: str) -> None:
    """Someone's personal data, readable by this user only, whatever the umask or an older file's mode."""
    try:
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    except OSError as failure:
        raise CliError(f"cannot write {path}: {failure.strerror}", "choose another --out") from None
    with os.fdopen(handle, "w") as file:
        os.fchmod(file.fileno(), 0o600)
        file.write(text + "\n")


@app.command()
def erase(
    ctx: typer.Context,
    user: Annotated[str, USER_ARGUMENT],
    yes: Annotated[bool, typer.Option("--yes", help="do not ask; needed when not run from a terminal")] = False,
) -> None:
    """Erase the account and all its data, irreversibly (admins only; not staff accounts, not your own)."""
    appliance: Appliance = ctx.obj
    with api.Session() as session:
        user_id = _resolve(session, user)
        if not yes:
            if not sys.stdin.isatty():
                raise CliError(
                    f"not erasing {user}: no terminal to confirm on",
                    "pass --yes to erase without asking",
                    Exit.BAD_USAGE,
                )
            typer.confirm(
                f"Erase {user} and everything Harvest holds about them? This cannot be undone.", abort=True, err=True
            )
        try:
            session.call("DELETE", f"/api/admin/users/{user_id}")
        except CliError as failure:
            raise _admin_only(failure) from None
    appliance.out.data({"userId": user_id, "erased": True})
    appliance.out.say(f"{user}: erased")
