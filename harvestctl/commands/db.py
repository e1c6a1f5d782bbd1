"""``db status`` and ``db migrate``: the schema's migrations."""

from __future__ import annotations

import typer

from harvestctl.appliance import Appliance

app = typer.Typer(help="Database migrations.", no_args_is_help=True)


@app.command()
def status(ctx: typer.Context) -> None:
    """Applied and pending migrations."""
    appliance: Appliance = ctx.obj
    appliance.require_root("db status")
    report = appliance.manage("db-status")
    rows = [
        (m["app"], m["id"], m["description"], "applied" if m["applied"] else "PENDING") for m in report["migrations"]
    ]
    appliance.out.table("Migrations", ["App", "Migration", "Description", "State"], rows, report)
    appliance.out.say(f"{report['pending']} pending" if report["pending"] else "schema is up to date")


@app.command()
def migrate(ctx: typer.Context) -> None:
    """Apply pending migrations (harvestctl up does this too)."""
    appliance: Appliance = ctx.obj
    appliance.require_root("db migrate")
    result = appliance.manage("migrate")
    appliance.out.data(result)
    appliance.out.say(f"applied {result['applied']} migration(s); {result['pending']} pending")
