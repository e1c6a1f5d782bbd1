"""``config show`` and ``config validate``: harvest.toml as the appliance reads it."""

from __future__ import annotations

import typer

from harvestctl.appliance import Appliance

app = typer.Typer(help="Show or validate harvest.toml.", no_args_is_help=True)


@app.command()
def show(ctx: typer.Context) -> None:
    """The effective configuration: harvest.toml over the defaults (secrets are never shown)."""
    appliance: Appliance = ctx.obj
    config = appliance.config
    rows = [(f"{section}.{key}", repr(value)) for section, values in config.items() for key, value in values.items()]
    appliance.out.table(f"Effective configuration ({appliance.layout['config_file']})", ["Key", "Value"], rows, config)


@app.command()
def validate(ctx: typer.Context) -> None:
    """Check harvest.toml and secrets.toml without changing anything."""
    appliance: Appliance = ctx.obj
    appliance.manage("validate")
    appliance.out.data({"valid": True, "file": appliance.layout["config_file"]})
    appliance.out.say(f"{appliance.layout['config_file']} is valid")
