"""``login`` and ``logout``: sign in to an appliance's API from any machine, as a moderator or admin.

These need neither root nor a local appliance, only the API's URL and an account (see ``harvestctl.api``).
"""

from __future__ import annotations

import getpass
import os
import sys
from typing import Annotated

import typer

from harvestctl import api
from harvestctl.appliance import Appliance
from harvestctl.errors import CliError, Exit


def login(
    ctx: typer.Context,
    url: Annotated[
        str | None, typer.Option(help="the appliance's address, e.g. https://harvest.example (default: the last one)")
    ] = None,
    email: Annotated[str | None, typer.Option(help="the account's email (asked for when not given)")] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the password from stdin's first line, for scripts")
    ] = False,
    ca_file: Annotated[
        str | None, typer.Option("--ca-file", help="trust this certificate (PEM): an appliance's self-signed one")
    ] = None,
) -> None:
    """Sign in to an appliance's API; later commands use the sign-in until `harvestctl logout`."""
    appliance: Appliance = ctx.obj
    previous = _previous()
    url = url or (previous.url if previous else None)
    if url is None:
        raise CliError("which appliance?", "pass --url https://<appliance>", Exit.BAD_USAGE)
    # Kept absolute: later commands run from other folders.
    ca_file = os.path.abspath(ca_file) if ca_file else None
    ca_file = ca_file or (previous.ca_file if previous and previous.url == url.rstrip("/") else None)
    email = email or _ask("Email: ")
    answer = api.sign_in(url, email, _password(password_stdin), ca_file)
    user = answer["user"]
    appliance.out.data({"url": api.check_url(url), "email": user["email"], "role": user["role"]})
    appliance.out.say(f"signed in to {api.check_url(url)} as {user['email']} ({user['role']})")
    if user["role"] == "user":
        appliance.out.say("this account is no moderator or admin: staff commands will be refused")


def logout(ctx: typer.Context) -> None:
    """End the sign-in on the appliance and remove it from this machine; fine to run when signed out."""
    appliance: Appliance = ctx.obj
    if _previous() is None:
        appliance.out.data({"signedOut": False})
        appliance.out.say("not signed in")
        return
    try:
        with api.Session() as session:
            session.call("POST", "/api/auth/logout")
    except api.SignInEnded:
        pass  # over on the server already; what is left is the file
    api.forget()
    appliance.out.data({"signedOut": True})
    appliance.out.say("signed out")


def _previous() -> api.Saved | None:
    try:
        return api.load()
    except CliError:
        return None


def _ask(prompt: str) -> str:
    if not sys.stdin.isatty():
        raise CliError("no email given", "pass --email", Exit.BAD_USAGE)
    return input(prompt).strip()


def _password(from_stdin: bool) -> str:
    """Never an argument (it would sit in the shell's history and every process listing)."""
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        try:
            # getpass reads the terminal itself, with echo off.
            password = getpass.getpass("Password: ")
        except EOFError:
            password = ""
    if not password:
        raise CliError(
            "no password given", "type it at the prompt, or pipe it in with --password-stdin", Exit.BAD_USAGE
        )
    return password
