"""``users create-admin`` and ``users set-role``: account actions only the host's operator can take."""

from __future__ import annotations

from typing import Annotated

import typer

from harvestctl.appliance import Appliance

app = typer.Typer(help="Accounts: bootstrap admins, change roles.", no_args_is_help=True)


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
