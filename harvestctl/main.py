"""The root of harvestctl: global options, the verbs, and errors turned into exit codes."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from harvestctl import output
from harvestctl.appliance import Appliance
from harvestctl.commands import (
    bench,
    config,
    db,
    doctor,
    jobs,
    moderation,
    review,
    review_loop,
    session,
    stack,
    stats,
    users,
)
from harvestctl.errors import CliError, Exit

app = typer.Typer(
    name="harvestctl",
    help="Run a Harvest appliance: converge it, watch it, start and stop its services.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def main(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="print machine-readable JSON on stdout")] = False,
    root: Annotated[str, typer.Option("--root", envvar="HARVEST_ROOT", help="the appliance's root folder")] = "/",
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="more detail in logs")] = False,
) -> None:
    ctx.obj = Appliance(root=os.path.abspath(root), out=output.Output(as_json), verbose=verbose)


app.command()(stack.up)
app.command()(stack.status)
app.command()(stack.start)
app.command()(stack.stop)
app.command()(stack.restart)
app.command()(stack.logs)
app.command()(doctor.doctor)
app.command()(stats.stats)
app.command()(session.login)
app.command()(session.logout)
app.add_typer(config.app, name="config")
app.add_typer(db.app, name="db")
app.add_typer(users.app, name="users")
app.add_typer(jobs.app, name="jobs")
app.add_typer(bench.app, name="bench")
moderation.app.command()(review.queue)
moderation.app.command("next")(review.next_item)
moderation.app.command()(review.claim)
moderation.app.command()(review.release)
moderation.app.command()(review.show)
moderation.app.command()(review.decide)
moderation.app.command("review")(review_loop.review_queue)
app.add_typer(moderation.app, name="moderation")


def _json_anywhere(argv: list[str]) -> list[str]:
    """Accept --json after the verb too (`harvestctl status --json`), as scripts tend to write it."""
    head = argv[: argv.index("--")] if "--" in argv else argv
    if "--json" not in head:
        return argv
    rest = list(argv)
    rest.remove("--json")
    return ["--json", *rest]


def run() -> None:
    try:
        app(args=_json_anywhere(sys.argv[1:]), standalone_mode=False)
    except CliError as failure:
        output.error(failure.message, failure.hint)
        sys.exit(failure.code)
    except typer.Abort:
        output.error("aborted", "")
        sys.exit(Exit.FAILED)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as failure:  # click's usage errors carry their own message (typer vendors click)
        show = getattr(failure, "show", None)
        if show is None:
            raise
        show()
        code = getattr(failure, "exit_code", Exit.BAD_USAGE)
        # click exits 2 on a usage error, which harvestctl reserves for a bad configuration.
        sys.exit(Exit.BAD_USAGE if code == 2 else code)
