"""The server's management entry points, run by harvestctl and Ansible as ``python -m server.manage VERB``.

Each verb prints one JSON document on stdout. A failure prints one line on stderr and exits 2 (bad
configuration), 4 (a bad argument, such as an unknown account) or 1 (anything else), so the caller can
show it as it is. The verbs are listed in ``VERBS``; each runs one function of a module beside this one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from server import settings as settings_module
from server.manage import accounts, appliance, chat, database, discovery, jobs, notifications, objectstore, stats
from server.settings import ConfigError, Settings

Result = dict[str, Any]


@dataclass(frozen=True)
class Verb:
    help: str
    #: called with the loaded settings and the parsed arguments; may return an awaitable
    run: Callable[[Settings, argparse.Namespace], Result | Awaitable[Result]]
    #: (name or flag, argparse keyword arguments)
    arguments: tuple[tuple[str, dict[str, Any]], ...] = ()
    #: the verb makes the files the settings come from, so it runs before they can be loaded
    before_settings: bool = False
    #: the verb needs the database engine's pool open
    database: bool = False


def _images_bench(settings: Settings, args: argparse.Namespace) -> Result:
    from server.bench import images_bench

    return images_bench(args.count, settings.config.photos.max_megapixels * 1_000_000, args.sample)


async def _jobs_bench(args: argparse.Namespace) -> Result:
    from server.bench import jobs_bench

    return await jobs_bench(args.pings, args.photos, args.interval_ms)


OWNER = ("--owner", {"help": "system user that owns the files"})
VERBS: dict[str, Verb] = {
    "init": Verb(
        "create missing harvest.toml and secrets.toml, then validate",
        lambda _, a: appliance.init(a.root, a.owner),
        (OWNER,),
        before_settings=True,
    ),
    "validate": Verb("validate harvest.toml and secrets.toml", lambda _, __: {"valid": True}),
    "describe": Verb("resolved configuration and paths, without secrets", lambda s, _: appliance.describe(s)),
    "ansible-vars": Verb(
        "write the playbook variables to a 0600 file",
        lambda s, a: appliance.ansible_vars(s, a.target),
        (("target", {"type": Path}),),
    ),
    "migrate": Verb("apply pending database migrations", lambda _, __: database.migrate(), database=True),
    "db-status": Verb("applied and pending migrations", lambda _, __: database.migrations_status(), database=True),
    "storage-init": Verb("create missing buckets on the object store", lambda s, _: objectstore.storage_init(s)),
    "objectstore-tls": Verb(
        "make the embedded store's gRPC certificates once",
        lambda _, a: objectstore.objectstore_tls(a.folder, a.owner),
        (("folder", {"type": Path}), OWNER),
        before_settings=True,
    ),
    "create-admin": Verb(
        "make or promote an admin; prints a one-time set-password link",
        lambda s, a: accounts.create_admin(s, a.email),
        (("email", {}),),
        database=True,
    ),
    "set-role": Verb(
        "change an account's role and end its logins",
        lambda s, a: accounts.set_role(s, a.email, a.role),
        (("email", {}), ("role", {})),
        database=True,
    ),
    "stats": Verb(
        "sign-ups, active users, matches, messages, likes, reports per day, and the moderation backlog",
        lambda _, a: stats.stats(a.days),
        (("--days", {"type": int, "default": 30, "choices": range(1, 366), "metavar": "1-365"}),),
        database=True,
    ),
    "jobs-list": Verb(
        "jobs queued, in flight and retrying per lane, and the dead letters",
        lambda s, a: jobs.overview(s, a.limit),
        (("--limit", {"type": int, "default": 100, "help": "retries and dead letters listed at most"}),),
    ),
    "jobs-show": Verb("one job whole, payload included", lambda s, a: jobs.show(s, a.id), (("id", {}),)),
    "jobs-retry": Verb(
        "replay a dead letter (or every one) with a fresh attempt count",
        lambda s, a: jobs.retry(s, a.id, a.all_dead),
        (("id", {"nargs": "?"}), ("--all-dead", {"action": "store_true"})),
        # a letter for an event that had no listener is published again, through the outbox
        database=True,
    ),
    "jobs-purge": Verb(
        "delete the dead letters, all or those older than a duration",
        lambda s, a: jobs.purge(s, a.older_than),
        (("--older-than", {"help": "such as 30m, 12h, 7d or 2w"}),),
    ),
    "bench-people": Verb(
        "make signed-in bench accounts (for harvestctl bench)",
        lambda s, a: accounts.bench_people(s, a.count),
        (("count", {"type": int}),),
        database=True,
    ),
    "bench-erase": Verb("erase every bench account", lambda s, _: accounts.bench_erase(s), database=True),
    "bench-images": Verb(
        "time the image pipeline on a phone-like photo",
        _images_bench,
        (("count", {"type": int}), ("--sample", {"help": "also write the sample photo to this path"})),
    ),
    "bench-jobs": Verb(
        "time notification-sized jobs through the running workers, idle and behind a photo burst",
        lambda _, a: _jobs_bench(a),
        (("pings", {"type": int}), ("photos", {"type": int}), ("--interval-ms", {"type": int, "default": 20})),
        database=True,
    ),
    "bench-discovery-seed": Verb(
        "seed synthetic people (seed.bench.invalid) until COUNT are there",
        lambda s, a: discovery.seed(s, a.count),
        (("count", {"type": int}),),
        database=True,
    ),
    "bench-discovery-decks": Verb(
        "table sizes and the deck query's latency for random seeded people",
        lambda s, a: discovery.decks(s, a.callers, a.explain, a.compare_geo),
        (
            ("callers", {"type": int}),
            ("--explain", {"action": "store_true", "help": "also EXPLAIN (ANALYZE, BUFFERS) one deck query"}),
            ("--compare-geo", {"action": "store_true", "help": "also time the naive cube/earthdistance query"}),
        ),
        database=True,
    ),
    "bench-discovery-logins": Verb(
        "sign COUNT seeded people in and pick seeded people for them to swipe on",
        lambda s, a: discovery.logins(s, a.count),
        (("count", {"type": int}),),
        database=True,
    ),
    "bench-discovery-purge": Verb("delete every seeded person", lambda s, _: discovery.purge(s), database=True),
    "bench-chat-seed": Verb(
        "seed PAIRS matched pairs and IDLE unmatched people (chat-…@seed.bench.invalid), each signed in once",
        lambda s, a: chat.seed(s, a.pairs, a.idle),
        (("pairs", {"type": int}), ("idle", {"type": int})),
        database=True,
    ),
    "bench-chat-figures": Verb(
        "check the chat bench clients' ledger files against what Postgres stored",
        lambda _, a: chat.figures(a.ledger),
        (("ledger", {"type": Path, "nargs": "+"}),),
        database=True,
    ),
    "bench-chat-purge": Verb(
        "delete every bench chat person, with their matches and messages", lambda s, _: chat.purge(s), database=True
    ),
    "bench-notifications": Verb(
        "publish EVENTS new-match events for seeded pairs (push-…@seed.bench.invalid) and time their pushes through"
        " the running workers to a loopback receiver; the people are removed at the end",
        lambda s, a: notifications.bench(s, a.events, a.timeout),
        (
            ("events", {"type": int}),
            ("--timeout", {"type": float, "default": 120.0, "help": "seconds to wait for the last push"}),
        ),
        database=True,
    ),
    "bench-notifications-purge": Verb(
        "delete every bench notification person", lambda s, _: notifications.purge(s), database=True
    ),
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m server.manage")
    parser.add_argument("--root", default=os.environ.get("HARVEST_ROOT", "/"))
    verbs = parser.add_subparsers(dest="verb", required=True)
    for name, verb in VERBS.items():
        sub = verbs.add_parser(name, help=verb.help)
        for flag, options in verb.arguments:
            sub.add_argument(flag, **options)
    return parser


def _run(verb: Verb, args: argparse.Namespace) -> Result:
    settings = None if verb.before_settings else settings_module.current()
    outcome = verb.run(settings, args)  # type: ignore[arg-type]
    if not isinstance(outcome, Awaitable):
        return outcome
    if verb.database:
        return asyncio.run(database.with_engine(lambda: outcome))
    return asyncio.run(outcome)  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    os.environ["HARVEST_ROOT"] = args.root
    try:
        result = _run(VERBS[args.verb], args)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except (LookupError, ValueError) as exc:
        print(str(exc), file=sys.stderr)
        return 4
    except Exception as exc:  # noqa: BLE001 - one line for the operator; the caller adds the hint
        print(f"{type(exc).__name__}: {exc}".splitlines()[0], file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0
