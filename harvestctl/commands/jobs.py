"""``jobs list|show|retry|purge``: the job queue's lanes, its retries and its dead letters."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from harvestctl.appliance import Appliance
from harvestctl.errors import CliError, Exit

app = typer.Typer(help="The job queue: lanes, retries, dead letters.", no_args_is_help=True)

ID_HINT = "`harvestctl jobs list` shows the ids of the retries and dead letters"


def _manage(appliance: Appliance, verb: str, *args: str) -> dict[str, Any]:
    """A verb's answer; an id the server does not know gets a hint saying where ids are found."""
    try:
        return appliance.manage(verb, *args)
    except CliError as failure:
        if failure.code == Exit.BAD_USAGE:
            raise CliError(failure.message, ID_HINT, failure.code) from failure
        raise


@app.command("list")
def list_jobs(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option("--limit", min=0, help="retries and dead letters shown at most")] = 100,
) -> None:
    """Jobs queued, in flight and retrying per lane; the retries due soonest; the oldest dead letters."""
    appliance: Appliance = ctx.obj
    appliance.require_root("jobs list")
    report = _manage(appliance, "jobs-list", "--limit", str(limit))
    if appliance.out.as_json:
        appliance.out.data(report)
        return
    lanes = [(lane["lane"], lane["queued"], lane["inFlight"], lane["retrying"]) for lane in report["lanes"]]
    appliance.out.table("Lanes", ["Lane", "Queued", "In flight", "Retrying"], lanes)
    if report["retrying"]:
        rows = [(j["id"], j["lane"], j["event"], j["listener"], j["attempt"], j["due"]) for j in report["retrying"]]
        appliance.out.table("Retrying", ["Id", "Lane", "Event", "Listener", "Next attempt", "Due"], rows)
    if report["dead"]:
        rows = [
            (j["id"], j["event"], j["listener"] or "(none)", j["attempt"], j["error"], j["at"]) for j in report["dead"]
        ]
        appliance.out.table("Dead letters", ["Id", "Event", "Listener", "Attempts", "Error", "Parked"], rows)
    shown = len(report["dead"])
    more = f" ({shown} shown)" if shown < report["deadCount"] else ""
    appliance.out.say(f"{report['deadCount']} dead letter(s){more}")


@app.command()
def show(ctx: typer.Context, job_id: Annotated[str, typer.Argument(metavar="ID", help="a job's id")]) -> None:
    """One job whole: where it is, its attempts, its error and its payload."""
    appliance: Appliance = ctx.obj
    appliance.require_root("jobs show")
    job = _manage(appliance, "jobs-show", job_id)
    if appliance.out.as_json:
        appliance.out.data(job)
        return
    rows = [(key, json.dumps(value, indent=2) if key == "payload" else value) for key, value in job.items()]
    appliance.out.table(f"Job {job['id']}", ["Field", "Value"], rows)


@app.command()
def retry(
    ctx: typer.Context,
    job_id: Annotated[str | None, typer.Argument(metavar="[ID]", help="a dead letter's id")] = None,
    all_dead: Annotated[bool, typer.Option("--all-dead", help="replay every dead letter")] = False,
) -> None:
    """Put a dead letter (or every one) back on its lane with a fresh attempt count."""
    appliance: Appliance = ctx.obj
    if (job_id is None) != all_dead:
        raise CliError("give either a dead letter's id or --all-dead", ID_HINT, Exit.BAD_USAGE)
    appliance.require_root("jobs retry")
    result = _manage(appliance, "jobs-retry", *([job_id] if job_id else ["--all-dead"]))
    appliance.out.data(result)
    appliance.out.say(f"{len(result['retried'])} job(s) put back; {result['deadCount']} dead letter(s) left")


@app.command()
def purge(
    ctx: typer.Context,
    older_than: Annotated[
        str | None, typer.Option("--older-than", help="only letters parked longer ago than this: 30m, 12h, 7d, 2w")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask first")] = False,
) -> None:
    """Delete dead letters for good: all of them, or those older than a duration."""
    appliance: Appliance = ctx.obj
    appliance.require_root("jobs purge")
    if not yes:
        which = f"dead letters older than {older_than}" if older_than else "every dead letter"
        # A confirmation with nobody to answer it (a script without --yes) aborts rather than deletes.
        typer.confirm(f"Delete {which}? They cannot be replayed afterwards.", abort=True, err=True)
    result = _manage(appliance, "jobs-purge", *(["--older-than", older_than] if older_than else []))
    appliance.out.data(result)
    appliance.out.say(f"{result['purged']} dead letter(s) deleted; {result['deadCount']} left")
