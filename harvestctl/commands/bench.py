"""``bench profiles``, ``bench photos``, ``bench jobs``, ``bench discovery``, ``bench chat`` and ``bench
notifications``: figures from this appliance over loopback.

Machines differ and are noisy, so the headline figures are ratios to ``/health`` measured in the same
run. Bench accounts (``@bench.invalid``) are made for the run and erased afterwards, by the same
erasure a person's own account deletion runs. ``bench discovery`` seeds synthetic people
(``@seed.bench.invalid``, shown only to each other) and keeps them for the next run, until ``--purge``;
``bench chat`` seeds matched pairs (``chat-…@seed.bench.invalid``) and removes them at the end, as ``bench
notifications`` does with its own (``push-…@seed.bench.invalid``).
"""

from __future__ import annotations

import math
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from harvestctl import chat_load
from harvestctl.appliance import Appliance
from harvestctl.chaos import Chaos, api_rss
from harvestctl.errors import CliError, Exit
from harvestctl.supervisor import Supervisor

app = typer.Typer(help="Benchmarks over loopback: figures as ratios to /health in the same run.", no_args_is_help=True)
PHOTOS_PER_PERSON = 6
#: wrk's threads; the swipe script spreads its requests over them
THREADS = 2
_LUA = """
local tokens = {%s}
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", "%s", {["Authorization"] = "Bearer " .. tokens[(n %% #tokens) + 1]})
end
"""


@contextmanager
def bench_people(appliance: Appliance, count: int) -> Iterator[list[dict[str, str]]]:
    """Signed-in bench accounts for the length of the run; erased afterwards even if the run fails."""
    try:
        yield appliance.manage("bench-people", str(count))["people"]
    finally:
        appliance.manage("bench-erase")


def _client(appliance: Appliance) -> httpx.Client:
    # Loopback to this host's own nginx, whose certificate may be self-signed.
    return httpx.Client(base_url=appliance.https_url(), verify=False, timeout=60)  # noqa: S501 - this host, its own certificate


def _ensure_ready(appliance: Appliance, client: httpx.Client) -> None:
    try:
        ready = client.get("/ready").status_code == 200
    except httpx.HTTPError:
        ready = False
    if not ready:
        raise CliError("the appliance is not ready", "run `harvestctl status` and `harvestctl doctor`", Exit.NOT_READY)


def _wrk(
    url: str, seconds: int, connections: int, script: Path | None = None, threads: int = THREADS
) -> dict[str, float]:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise CliError("wrk is not installed", "run `harvestctl up`, which installs it", Exit.FAILED)
    argv = [
        wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--latency",
        *(["-s", str(script)] if script else []),
        url,
    ]
    output = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    figures = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))}  # type: ignore[union-attr]
    for percentile in ("50", "99"):
        found = re.search(rf"^\s+{percentile}%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
        if found:
            scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[found.group(2)]
            figures[f"p{percentile}_ms"] = float(found.group(1)) * scale
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    figures["non_2xx"] = float(errors.group(1)) if errors else 0.0
    return figures


def _sample_photo(appliance: Appliance, folder: Path, count: int) -> tuple[bytes, dict[str, Any]]:
    """The server's phone-like sample photo, and its image pipeline timed on ``count`` of them."""
    path = folder / "sample.jpg"
    timing = appliance.manage("bench-images", str(count), "--sample", str(path))
    return path.read_bytes(), timing


def _wait_processed(client: httpx.Client, people: list[dict[str, str]], expected: int, timeout: float = 600) -> float:
    """Seconds until every bench photo has left `processing` (to within the one-second polling step,
    which keeps each bench account well under the per-user request limit)."""
    started = time.monotonic()
    waiting = {person["id"]: person for person in people}
    done = 0
    while time.monotonic() - started < timeout:
        for person_id, person in list(waiting.items()):
            answer = client.get("/api/users/profile", headers=_auth(person))
            if answer.status_code != 200:
                raise CliError(f"reading a bench profile failed: {answer.status_code}", "see `harvestctl logs api`")
            states = [photo["state"] for photo in answer.json()["photos"]]
            if "processing" not in states:
                done += len(states)
                del waiting[person_id]
        if done >= expected:
            return time.monotonic() - started
        time.sleep(1.0)
    raise CliError("the worker did not finish the bench photos in time", "see `harvestctl logs worker`")


def _auth(person: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {person['accessToken']}"}


@app.command("profiles")
def profiles(
    ctx: typer.Context,
    seconds: Annotated[int, typer.Option(min=3, max=120, help="length of each measured run")] = 10,
    connections: Annotated[int, typer.Option(min=1, max=1000, help="concurrent connections")] = 64,
    viewers: Annotated[int, typer.Option(min=10, max=5000, help="bench accounts spreading the load")] = 400,
) -> None:
    """GET /api/users/{id} with a warm cache, as a ratio of /health, through nginx in one run (uses wrk)."""
    appliance: Appliance = ctx.obj
    appliance.require_root("bench profiles")
    with (
        _client(appliance) as client,
        tempfile.TemporaryDirectory() as folder,
        appliance.out.progress("setting up") as step,
    ):
        _ensure_ready(appliance, client)
        photo, _ = _sample_photo(appliance, Path(folder), 1)
        with bench_people(appliance, viewers + 1) as people:
            target, others = people[0], people[1:]
            step("giving the target a profile, a photo and a place; the viewers places nearby")
            client.put(
                "/api/users/profile",
                json={"bio": "Benchmarks by day.", "interests": ["coffee", "hiking"]},
                headers=_auth(target),
            )
            client.post("/api/users/photos", files={"file": ("bench.jpg", photo, "image/jpeg")}, headers=_auth(target))
            for index, person in enumerate(people):
                angle = index * 2.399963  # golden angle: viewers spread all around the target
                place = {"lat": 52.52 + 0.1 * math.cos(angle) * (index % 7) / 7, "lng": 13.405 + 0.15 * math.sin(angle)}
                client.put("/api/users/location", json=place, headers=_auth(person))
            _wait_processed(client, [target], 1)
            path = f"/api/users/{target['id']}"
            script = Path(folder) / "viewers.lua"
            script.write_text(_LUA % (", ".join(f'"{p["accessToken"]}"' for p in others), path))
            url = appliance.https_url()
            step("warming the cache")
            _wrk(url + path, 2, connections, script)
            step(f"measuring /health for {seconds}s")
            health = _wrk(url + "/health", seconds, connections)
            step(f"measuring {path} for {seconds}s")
            profile = _wrk(url + path, seconds, connections, script)
    _report(appliance, "GET /api/users/{id}, warm cache", health, profile, connections)


def _report(
    appliance: Appliance, name: str, health: dict[str, float], endpoint: dict[str, float], connections: int
) -> None:
    ratio = endpoint["rps"] / health["rps"]
    rows = [
        [
            "/health",
            f"{health['rps']:.0f}",
            f"{health.get('p50_ms', 0):.2f}",
            f"{health.get('p99_ms', 0):.2f}",
            int(health["non_2xx"]),
        ],
        [
            name,
            f"{endpoint['rps']:.0f}",
            f"{endpoint.get('p50_ms', 0):.2f}",
            f"{endpoint.get('p99_ms', 0):.2f}",
            int(endpoint["non_2xx"]),
        ],
    ]
    value = {"health": health, "endpoint": endpoint, "ratio": ratio, "connections": connections}
    appliance.out.table(
        f"{name} ÷ /health = {ratio:.3f}", ["Target", "Req/s", "p50 ms", "p99 ms", "Non-2xx"], rows, value
    )
    if endpoint["non_2xx"]:
        appliance.out.say(
            "some requests were refused (see Non-2xx): raise --viewers so no bench account hits its per-minute limit"
        )


@app.command("photos")
def photos(
    ctx: typer.Context,
    count: Annotated[int, typer.Option(min=1, max=600, help="photos to upload")] = 24,
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="uploads in flight at once")] = 4,
) -> None:
    """The image pipeline's rate (one core, all cores), then uploads through nginx (p50/p95) and the
    worker's end-to-end rate, with a 12 MP phone-like JPEG."""
    appliance: Appliance = ctx.obj
    appliance.require_root("bench photos")
    with (
        _client(appliance) as client,
        tempfile.TemporaryDirectory() as folder,
        appliance.out.progress("timing the image pipeline") as step,
    ):
        _ensure_ready(appliance, client)
        photo, pipeline = _sample_photo(appliance, Path(folder), min(count, 12))
        with bench_people(appliance, math.ceil(count / PHOTOS_PER_PERSON)) as people:
            owners = [people[index // PHOTOS_PER_PERSON] for index in range(count)]

            def upload(owner: dict[str, str]) -> float:
                started = time.perf_counter()
                sent = client.post(
                    "/api/users/photos", files={"file": ("IMG.JPG", photo, "image/jpeg")}, headers=_auth(owner)
                )
                if sent.status_code != 202:
                    raise CliError(
                        f"an upload was refused: {sent.status_code} {sent.text[:200]}", "see `harvestctl logs api`"
                    )
                return time.perf_counter() - started

            step(f"uploading {count} photos, {concurrency} at a time")
            started = time.monotonic()
            with ThreadPoolExecutor(max_workers=concurrency) as pool:
                latencies = sorted(pool.map(upload, owners))
            uploaded = time.monotonic() - started
            step("waiting for the worker")
            processed = uploaded + _wait_processed(client, people, count)
    p95 = latencies[min(len(latencies) - 1, math.ceil(0.95 * len(latencies)) - 1)]
    value = pipeline | {
        "uploads": count,
        "concurrency": concurrency,
        "uploadP50Ms": statistics.median(latencies) * 1000,
        "uploadP95Ms": p95 * 1000,
        "endToEndPerSecond": count / processed,
    }
    rows = [
        ["pipeline, one core", f"{pipeline['perSecondOneCore']:.2f} photos/s"],
        [f"pipeline, all {pipeline['cores']} cores", f"{pipeline['perSecondAllCores']:.2f} photos/s"],
        ["upload through nginx, p50", f"{value['uploadP50Ms']:.0f} ms"],
        ["upload through nginx, p95", f"{value['uploadP95Ms']:.0f} ms"],
        ["upload → processed, whole batch", f"{value['endToEndPerSecond']:.2f} photos/s"],
    ]
    appliance.out.table(
        f"{count} photos of {len(photo) / 1e6:.1f} MB, {concurrency} uploads at a time",
        ["Figure", "Value"],
        rows,
        value,
    )


@app.command("jobs")
def jobs(
    ctx: typer.Context,
    pings: Annotated[int, typer.Option(min=10, max=10_000, help="notification-sized jobs per run")] = 200,
    photos: Annotated[int, typer.Option(min=1, max=600, help="photo-sized jobs in the burst")] = 60,
    interval_ms: Annotated[int, typer.Option(min=1, max=1000, help="time between two pings")] = 20,
) -> None:
    """How long a notification-sized job waits from its commit to its listener (p50/p99/max) in the running
    workers: idle, then with a burst of 12 MP photo jobs in flight."""
    appliance: Appliance = ctx.obj
    appliance.require_root("bench jobs")
    with appliance.out.progress("timing the job lanes") as step:
        step(f"{pings} pings on idle workers, then {pings} more behind {photos} photo jobs")
        value = appliance.manage("bench-jobs", str(pings), str(photos), "--interval-ms", str(interval_ms))
    rows = [
        [name, f"{value[name]['p50Ms']:.1f}", f"{value[name]['p99Ms']:.1f}", f"{value[name]['maxMs']:.1f}"]
        for name in ("idle", "burst")
    ]
    appliance.out.table(
        f"commit → listener of a notification-sized job; burst = {photos} photo jobs, "
        f"{value['photosLeftAfterPings']} still queued or running after the last ping",
        ["Workers", "p50 ms", "p99 ms", "max ms"],
        rows,
        value,
    )


#: the n-th swipe request (n counted across wrk's threads) is the server's ``bench.swipe_pair(n, …)``
_SWIPE_LUA = """
local tokens = {%s}
local targets = {%s}
local threads, like_every = %d, %d
local started = 0
function setup(thread)
  thread:set("first", started)
  started = started + 1
end
local n
request = function()
  n = n and n + threads or first
  local body = '{"userId":"' .. targets[(n %% #targets) + 1] .. '","action":"'
    .. ((n %% like_every == 0) and "like" or "pass") .. '"}'
  local headers = {["Authorization"] = "Bearer " .. tokens[(n %% #tokens) + 1], ["Content-Type"] = "application/json"}
  return wrk.format("POST", "/api/matches/swipe", headers, body)
end
"""


#: a person browsing: the first page of a fresh deck, then up to PAGES_PER_DECK - 1 more by its cursors. One
#: connection per wrk thread, so the thread's state is its connection's (wrk answers each request before the next).
_PAGING_LUA = """
local tokens = {%s}
local pages, threads = %d, %d
local started = 0
function setup(thread)
  thread:set("first", started)
  started = started + 1
end
local n, cursor, page
request = function()
  if not cursor or page >= pages then
    n = n and n + threads or first
    cursor, page = nil, 0
  end
  page = page + 1
  local path = "/api/matches/potential" .. (cursor and ("?cursor=" .. cursor) or "")
  return wrk.format("GET", path, {["Authorization"] = "Bearer " .. tokens[(n %% #tokens) + 1]})
end
response = function(status, headers, body)
  cursor = body:match('"nextCursor":"([^"]+)"')
end
"""
#: pages a person looks through per deck in the paging run (the deck keeps 100, five pages of 20)
PAGES_PER_DECK = 5


def _quoted(values: list[str]) -> str:
    return ", ".join(f'"{value}"' for value in values)


def _ms(figures: dict[str, float]) -> str:
    return " / ".join(f"{figures[key]:.1f}" for key in ("p50Ms", "p95Ms", "p99Ms"))


def _discovery_rows(value: dict[str, Any]) -> list[list[str]]:
    seeded, deck, health = value["seed"], value["decks"]["deck"], value["health"]
    rows = [
        ["seeded people", f"{value['people']:,} ({seeded['existing']:,} kept from an earlier run)"],
        ["seed time", f"{seeded['seeded']['seconds']:.0f} s for {seeded['seeded']['people']:,} people"],
        *([f"size of {name}", f"{size / 2**20:,.0f} MB"] for name, size in value["decks"]["sizes"].items()),
        [f"deck query p50 / p95 / p99, {deck['callers']} people", f"{_ms(deck)} ms (max {deck['maxMs']:.1f})"],
        ["deck query, one backend", f"{deck['decksPerSecond']:.0f} decks/s; deck size p50 {deck['deckSizeP50']}"],
        [
            f"deck query, {value['decks']['deckAtOnce']['atOnce']} at once",
            f"{value['decks']['deckAtOnce']['decksPerSecond']:.0f} decks/s",
        ],
    ]
    if "naive" in value["decks"]:
        naive = value["decks"]["naive"]
        rows += [
            ["naive earthdistance query p50 / p95 / p99", f"{_ms(naive)} ms (max {naive['maxMs']:.1f})"],
            ["naive query, one backend", f"{naive['decksPerSecond']:.0f} decks/s"],
            ["its GiST index", f"{naive['indexBytes'] / 2**20:,.0f} MB, built in {naive['indexSeconds']:.0f} s"],
        ]
    for name, key in (
        ("/health", "health"),
        ("GET /api/matches/potential, fresh decks", "potential"),
        (f"GET /api/matches/potential, {PAGES_PER_DECK} pages a deck", "paging"),
        ("POST swipes", "swipe"),
    ):
        figures = value[key]
        ratio = "" if key == "health" else f", {figures['rps'] / health['rps']:.3f} × /health"
        rows.append(
            [
                f"{name} through nginx",
                f"{figures['rps']:.0f} req/s, p50 {figures.get('p50_ms', 0):.1f} ms, p99 {figures.get('p99_ms', 0):.1f} ms"
                f"{ratio}; non-2xx {figures['non_2xx']:.0f}",
            ]
        )
    return rows


@app.command("discovery")
def discovery(
    ctx: typer.Context,
    *,
    users: Annotated[int, typer.Option(min=1000, max=5_000_000, help="seeded people to measure on")] = 100_000,
    callers: Annotated[int, typer.Option(min=10, max=10_000, help="decks timed at the query")] = 500,
    viewers: Annotated[int, typer.Option(min=10, max=10_000, help="seeded people signed in for the load")] = 2000,
    seconds: Annotated[int, typer.Option(min=3, max=120, help="length of each measured run")] = 10,
    connections: Annotated[int, typer.Option(min=1, max=1000, help="concurrent connections")] = 64,
    explain: Annotated[bool, typer.Option(help="print EXPLAIN (ANALYZE, BUFFERS) of one deck query")] = False,
    compare_geo: Annotated[
        bool, typer.Option(help="also time the naive radius query on a temporary cube/earthdistance index")
    ] = False,
    purge: Annotated[bool, typer.Option(help="remove every seeded person, and measure nothing")] = False,
) -> None:
    """The discovery deck on a seeded population: seed time, table and index sizes, the deck query's latency
    (p50/p95/p99) in the server, and decks and swipes per second through nginx as ratios to /health (uses wrk).
    Seeded people are kept for the next run (topped up to --users) until --purge."""
    appliance: Appliance = ctx.obj
    appliance.require_root("bench discovery")
    with (
        _client(appliance) as client,
        tempfile.TemporaryDirectory() as folder,
        appliance.out.progress("checking the appliance") as step,
    ):
        _ensure_ready(appliance, client)
        if purge:
            step("deleting every seeded person")
            gone = appliance.manage("bench-discovery-purge")
            appliance.out.table(
                "seeded people removed",
                ["Figure", "Value"],
                [["people", f"{gone['people']:,}"], ["time", f"{gone['seconds']:.0f} s"]],
                gone,
            )
            return
        step(f"seeding people until {users:,} are there")
        seeded = appliance.manage("bench-discovery-seed", str(users))
        step(f"timing {callers} decks at the query")
        flags = [*(["--explain"] if explain else []), *(["--compare-geo"] if compare_geo else [])]
        decks = appliance.manage("bench-discovery-decks", str(callers), *flags)
        step(f"signing {viewers} seeded people in")
        signed = appliance.manage("bench-discovery-logins", str(viewers))
        tokens = _quoted([person["accessToken"] for person in signed["people"]])
        deck_script, swipe_script = Path(folder) / "decks.lua", Path(folder) / "swipes.lua"
        deck_script.write_text(_LUA % (tokens, "/api/matches/potential"))
        swipe_script.write_text(_SWIPE_LUA % (tokens, _quoted(signed["targets"]), THREADS, signed["likeEvery"]))
        url = appliance.https_url()
        step(f"measuring /health for {seconds}s")
        health = _wrk(url + "/health", seconds, connections)
        step(f"measuring decks for {seconds}s")
        potential = _wrk(url + "/api/matches/potential", seconds, connections, deck_script)
        paging_script = Path(folder) / "paging.lua"
        paging_script.write_text(_PAGING_LUA % (tokens, PAGES_PER_DECK, connections))
        step(f"measuring decks paged through for {seconds}s")
        paging = _wrk(url + "/api/matches/potential", seconds, connections, paging_script, threads=connections)
        step(f"measuring swipes for {seconds}s")
        swipe = _wrk(url + "/api/matches/swipe", seconds, connections, swipe_script)
    value = {
        "people": seeded["existing"] + seeded["seeded"]["people"],
        "seed": seeded,
        "decks": decks,
        "health": health,
        "potential": potential,
        "paging": paging,
        "swipe": swipe,
        "ratios": {
            "potential": potential["rps"] / health["rps"],
            "paging": paging["rps"] / health["rps"],
            "swipe": swipe["rps"] / health["rps"],
        },
        "connections": connections,
    }
    appliance.out.table(
        f"discovery on {value['people']:,} seeded people", ["Figure", "Value"], _discovery_rows(value), value
    )
    if explain and not appliance.out.as_json:
        appliance.out.table(
            "EXPLAIN (ANALYZE, BUFFERS) of one deck query", ["Plan"], [[line] for line in decks["explain"].splitlines()]
        )
    for name, figures in (("deck", potential), ("paging", paging), ("swipe", swipe)):
        if figures["rps"] == 0:
            appliance.out.say(f"no {name} request was answered: the API may be stuck; see `harvestctl logs api`")
        elif figures["non_2xx"]:
            appliance.out.say(
                f"some {name} requests were refused (see non-2xx): raise --viewers if it is the per-minute limit"
            )
    appliance.out.say("seeded people stay for the next run; `harvestctl bench discovery --purge` removes them")


def _chat_rows(value: dict[str, Any]) -> list[list[str]]:
    figures, latency, memory = value["figures"], value["figures"]["latency"], value["memory"]
    duplicates = ", ".join(f"{name} {count}" for name, count in figures["duplicates"].items())
    rows = [
        [
            "pairs / client processes / API workers",
            f"{value['pairs']:,} / {value['clientProcesses']} / {value['workers']}",
        ],
        ["acknowledged / stored", f"{figures['acknowledged']:,} / {figures['stored']:,}"],
        ["delivered live", f"{figures['deliveredLive']:,}"],
        ["recovered on resync", f"{figures['recoveredOnResync']:,}"],
        ["lost (acknowledged, never reached the recipient)", f"{figures['lost']:,}"],
        ["duplicated", f"{figures['duplicated']:,} ({duplicates})"],
        [
            "acknowledged not stored / stored not acknowledged / misdelivered / conversations with gaps",
            f"{figures['acknowledgedNotStored']} / {figures['storedNotAcknowledged']} / {figures['misdelivered']}"
            f" / {figures['conversationsWithGaps']}",
        ],
        ["delivery latency p50 / p95 / p99, live", f"{_ms(latency)} ms (max {latency['maxMs']:.0f})"],
        [
            "messages/s (first send → last acknowledgement)",
            f"{figures['messagesPerSecond']:,.0f} (asked {value['rate']:,})",
        ],
        ["sockets opened / held at the end", f"{value['sockets']:,} / {value['held']:,}"],
        [
            "memory per idle socket (API workers' RSS)",
            f"{memory['perSocketKB']:.1f} KB ({memory['beforeMB']:,.0f} → {memory['afterMB']:,.0f} MB)",
        ],
        ["reconnects, resyncs, refusals", ", ".join(f"{k} {v}" for k, v in sorted(value["counts"].items())) or "-"],
    ]
    for event in value["chaos"]:
        detail = f"at {event['atAcknowledged']:,} acknowledged"
        if "backAfterSeconds" in event:
            detail += f"; running again after {event['backAfterSeconds']} s"
        if "seconds" in event:
            detail += f"; took {event['seconds']} s"
        rows.append([f"chaos: {event['what']}", detail])
    return rows


@app.command("chat")
def chat(
    ctx: typer.Context,
    *,
    pairs: Annotated[int, typer.Option(min=1, max=20_000, help="matched pairs of seeded people who talk")] = 1000,
    messages: Annotated[int, typer.Option(min=1, max=10_000_000, help="messages to have acknowledged")] = 100_000,
    sockets: Annotated[int, typer.Option(min=0, max=100_000, help="idle sockets held as well, in total")] = 0,
    rate: Annotated[int, typer.Option(min=1, max=100_000, help="messages per second sent, in total")] = 1000,
    chaos: Annotated[
        bool, typer.Option(help="kill -9 an API worker at 1/3 of the messages and restart Valkey at 2/3")
    ] = False,
    purge: Annotated[bool, typer.Option(help="only remove the people of a run that did not finish")] = False,
) -> None:
    """Chat under load: seeded pairs send messages over WebSockets (open loop, at --rate) from separate client
    processes; each keeps a ledger, checked at the end against Postgres. Prints acknowledged / stored / delivered
    live / recovered on resync / lost / duplicated, delivery latency (send → recipient), messages/s, sockets held
    and memory per idle socket; exits 1 if any acknowledged message was lost or duplicated.

    Sockets go straight to the API workers' unix sockets, spread over them, not through nginx: the figures are the
    workers' own, and nginx holds two descriptors per socket, so an nginx process would reach the 20,000 one process
    may have here at under 10,000 sockets. Client processes hold at most 9,000 sockets each. The seeded people are
    removed at the end."""
    appliance: Appliance = ctx.obj
    appliance.require_root("bench chat")
    if purge:
        gone = appliance.manage("bench-chat-purge")
        appliance.out.table("bench chat people removed", ["Figure", "Value"], [["people", f"{gone['people']:,}"]], gone)
        return
    limit = appliance.config["chat"]["sends_per_minute"]
    per_person = 60 * rate / (2 * pairs)
    if per_person > 0.8 * limit:
        raise CliError(
            f"{rate} messages/s among {2 * pairs} people is {per_person:.0f} a minute each, too near the limit of "
            f"{limit} (chat.sends_per_minute)",
            "lower --rate, raise --pairs, or raise sends_per_minute under [chat] in harvest.toml on a bench appliance",
            Exit.BAD_USAGE,
        )
    run = appliance.layout["run"]
    workers = [f"{run}/api/api-{index:02d}.sock" for index in range(appliance.description["apiWorkers"])]
    supervisor = Supervisor(appliance.layout["supervisor_socket"])
    with (
        _client(appliance) as client,
        tempfile.TemporaryDirectory() as folder,
        appliance.out.progress("checking the appliance") as step,
    ):
        _ensure_ready(appliance, client)
        try:
            step(f"seeding {pairs:,} matched pairs and {sockets:,} idle people")
            seeded = appliance.manage("bench-chat-seed", str(pairs), str(sockets))
            shares = chat_load.plan(
                seeded["pairs"], seeded["idle"], messages=messages, rate=rate, workers=workers, folder=Path(folder)
            )
            value = _chat_run(supervisor, shares=shares, messages=messages, chaos=chaos, step=step)
            step("checking the ledger against Postgres")
            value["figures"] = appliance.manage("bench-chat-figures", *(str(share.ledger) for share in shares))
        finally:
            step("removing the seeded people")
            appliance.manage("bench-chat-purge")
    value |= {"pairs": pairs, "messages": messages, "rate": rate, "workers": len(workers)}
    figures = value["figures"]
    appliance.out.table(
        f"chat: {messages:,} messages among {pairs:,} pairs{' with chaos' if chaos else ''}",
        ["Figure", "Value"],
        _chat_rows(value),
        value,
    )
    if figures["lost"] or figures["duplicated"]:
        raise CliError(
            f"{figures['lost']} acknowledged messages lost, {figures['duplicated']} duplicated",
            "see `harvestctl logs api`",
        )


def _chat_run(
    supervisor: Supervisor,
    *,
    shares: list[chat_load.Share],
    messages: int,
    chaos: bool,
    step: Any,
) -> dict[str, Any]:
    """Open the sockets (memory measured before and after), send until every message is acknowledged (with
    chaos if asked), then let every recipient resync once more."""
    before = sum(api_rss(supervisor).values())
    opened = sum(len(share.talkers) + len(share.idle) for share in shares)
    with chat_load.Clients(shares) as clients:
        step(f"opening {sum(len(s.talkers) for s in shares):,} sockets from {len(shares)} client processes")
        clients.gather("opened", timeout=300)
        clients.command("idle")
        step(f"opening {sum(len(s.idle) for s in shares):,} idle sockets")
        clients.gather("opened", timeout=300)
        time.sleep(2)  # the workers' last handshakes settle
        after = sum(api_rss(supervisor).values())
        monkey = Chaos(supervisor, messages)

        def progress(acked: int) -> None:
            step(f"sending: {acked:,} of {messages:,} acknowledged")
            if chaos:
                monkey(acked)

        clients.command("go")
        sent = clients.gather("sent", timeout=chat_load.STALL_SECONDS, progress=progress)
        monkey.settle()
        step("final resync of every conversation")
        clients.command("finish")
        done = clients.gather("done", timeout=300)
    counts: Counter[str] = Counter()
    for report in done:
        counts.update(report["counts"])
    return {
        "clientProcesses": len(shares),
        "sockets": opened,
        "held": sum(report["held"]["talkers"] + report["held"]["idle"] for report in done),
        "unacknowledged": sum(report["unacknowledged"] for report in done),
        "seconds": max(s["finished"] for s in sent) - min(s["started"] for s in sent),
        "counts": dict(counts),
        "chaos": monkey.events,
        "memory": {
            "beforeMB": before / 2**20,
            "afterMB": after / 2**20,
            "perSocketKB": (after - before) / opened / 1024,
        },
    }


def _notification_rows(value: dict[str, Any]) -> list[list[str]]:
    delay = value["delay"]
    rows = [
        ["events (both sides of each new match) / pairs", f"{value['events']:,} / {value['pairs']:,}"],
        [
            "pushes received / expected",
            f"{value['pushesReceived']:,} / {value['pushesExpected']:,} (missing {value['missing']:,})",
        ],
        ["duplicated / strays", f"{value['duplicates']:,} / {value['strays']:,}"],
        ["events/s (commit → last push at the provider)", f"{value['eventsPerSecond']:,.0f}"],
        [
            "delay commit → provider request p50 / p99 / max",
            f"{delay['p50Ms']:,.1f} / {delay['p99Ms']:,.1f} / {delay['maxMs']:,.1f} ms",
        ],
        ["seeding / publishing", f"{value['seedSeconds']:.1f} s / {value['publishSeconds']:.1f} s"],
    ]
    rows += [
        [f"deliveries {row['state']}", f"{row['count']:,}{' (' + row['detail'] + ')' if row['detail'] else ''}"]
        for row in value["deliveries"]
    ]
    return rows


@app.command("notifications")
def notifications(
    ctx: typer.Context,
    *,
    events: Annotated[
        int, typer.Option(min=2, max=20_000, help="new-match events to publish (two a seeded pair)")
    ] = 2000,
    timeout: Annotated[int, typer.Option(min=5, max=600, help="seconds to wait for the last push")] = 120,
    purge: Annotated[bool, typer.Option(help="only remove the people of a run that did not finish")] = False,
) -> None:
    """Notifications end to end: seeded matched pairs (push-…@seed.bench.invalid, each with one device of the bench
    provider) are told of their match by the running workers, through the outbox, the listener and the dispatcher,
    to a receiver on loopback in place of Expo. The events are committed at once, in one transaction. Prints
    events/s from the commit to the last push and the delay from commit to provider request (p50/p99/max); exits 1
    if a push was missing or duplicated. The seeded people are removed at the end."""
    appliance: Appliance = ctx.obj
    appliance.require_root("bench notifications")
    if purge:
        gone = appliance.manage("bench-notifications-purge")
        appliance.out.table(
            "bench notification people removed", ["Figure", "Value"], [["people", f"{gone['people']:,}"]], gone
        )
        return
    with appliance.out.progress("checking the worker") as step:
        workers = [p for p in Supervisor(appliance.layout["supervisor_socket"]).processes() if p.service == "worker"]
        if not any(process.state == "RUNNING" for process in workers):
            raise CliError("no worker process is running", "start it with `harvestctl start worker`", Exit.NOT_RUNNING)
        step(f"seeding {events // 2:,} matched pairs, publishing {events:,} events and waiting for their pushes")
        value = appliance.manage("bench-notifications", str(events), "--timeout", str(timeout))
    appliance.out.table(
        f"notifications: {value['events']:,} new-match events committed at once, through the workers to a loopback"
        " provider",
        ["Figure", "Value"],
        _notification_rows(value),
        value,
    )
    if value["missing"] or value["duplicates"]:
        hint = (
            "the workers run without the bench provider: update the release and `harvestctl restart worker`"
            if any("bench is not configured" in (row["detail"] or "") for row in value["deliveries"])
            else "see `harvestctl logs worker`"
        )
        raise CliError(f"{value['missing']} pushes missing, {value['duplicates']} duplicated", hint)
