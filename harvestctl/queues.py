"""The four review queues as harvestctl works them through the API: what an item's subject is, how it is read,
what can be decided about it, and what a reveal fetches.

Reading an item never reveals a face: a report's evidence and a waiting photo come with blurhashes only, a
verification request is not even opened. Whatever shows a photo sharp — a reveal — is an API call the appliance
writes to the audit log (``photo.reveal``, ``verification.view``) before it answers.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from harvestctl import api, evidence
from harvestctl.errors import CliError

#: the API's longest suspension
LONGEST_SUSPENSION = dt.timedelta(days=365)
TAKEN_HINT = "another moderator holds it; try `harvestctl moderation next`"
NOT_HELD_HINT = "take it first: `harvestctl moderation next`, or `claim ITEM_ID` from `harvestctl moderation queue`"


class Kind(StrEnum):
    """A queue as the API names it (``?kind=``); an item's own ``kind`` is the singular."""

    reports = "reports"
    photos = "photos"
    verifications = "verifications"
    appeals = "appeals"


#: the rules a report's decision rests on, in the order the review loop numbers them 1–9
RULES = (
    "minor-safety",
    "threats",
    "sexual-content",
    "harassment",
    "hate",
    "scam",
    "spam",
    "fake-profile",
    "other-rules",
)
PHOTO_REASONS = ("nudity", "not-a-person", "someone-else", "minor", "violence", "other")
VERIFICATION_REASONS = (
    "wrong-pose",
    "face-not-visible",
    "not-the-same-person",
    "not-a-live-photo",
    "no-photos-to-compare",
)


@dataclass(frozen=True)
class Desk:
    """How one kind of item is decided: each decision, whether it needs a choice from ``choices`` (sent as
    ``choice_field``), and whether the person is told a note in the moderator's words."""

    #: what an item of this queue calls its kind
    item: str
    kind: Kind
    #: the subject's path; its decision is ``{path}/decision``
    path: str
    decisions: tuple[str, ...]
    choices: tuple[str, ...] = ()
    choice_field: str = ""
    #: the decisions that need a choice (the others send none)
    chosen: frozenset[str] = field(default_factory=frozenset)
    takes_note: bool = False

    def decision_path(self, subject: str) -> str:
        return f"{self.path}/{subject}/decision"


DESKS = {
    "report": Desk(
        "report",
        Kind.reports,
        "/api/admin/reports",
        ("dismiss", "warn", "restrict", "suspend", "ban"),
        RULES,
        "rule",
        frozenset({"dismiss", "warn", "restrict", "suspend", "ban"}),
        takes_note=True,
    ),
    "photo": Desk(
        "photo", Kind.photos, "/api/admin/photos", ("approve", "reject"), PHOTO_REASONS, "reason", frozenset({"reject"})
    ),
    "verification": Desk(
        "verification",
        Kind.verifications,
        "/api/admin/verifications",
        ("approve", "reject"),
        VERIFICATION_REASONS,
        "reason",
        frozenset({"reject"}),
    ),
    "appeal": Desk("appeal", Kind.appeals, "/api/admin/appeals", ("uphold", "reject"), takes_note=True),
}
BY_QUEUE = {desk.kind: desk for desk in DESKS.values()}


@contextlib.contextmanager
def hinted(hints: dict[int, str]) -> Iterator[None]:
    """Give an API failure the hint that fits this verb; ``api.problem`` words them as "… (HTTP 409)"."""
    try:
        yield
    except CliError as failure:
        for status, hint in hints.items():
            if failure.message.endswith(f"(HTTP {status})"):
                raise CliError(failure.message, hint, failure.code) from None
        raise


def take_next(session: api.Session, kind: Kind | None) -> dict[str, Any] | None:
    """Claim the most urgent free item (of any queue without ``kind``); None when nothing is free."""
    params = {"kind": kind.value} if kind else {}
    item: dict[str, Any] | None = session.call("POST", "/api/admin/queue/next", params=params)
    return item


def claim_item(session: api.Session, item_id: str) -> dict[str, Any]:
    """Claim an item, or renew the lease on one held."""
    with hinted({409: TAKEN_HINT, 404: "it was decided, or never was; `harvestctl moderation queue` lists open items"}):
        item: dict[str, Any] = session.call("POST", f"/api/admin/queue/{item_id}/claim")
    return item


def release_item(session: api.Session, item_id: str) -> None:
    with hinted({409: "its lease is not yours (it ran out, or another moderator holds it): nothing to give back"}):
        session.call("POST", f"/api/admin/queue/{item_id}/release")


def open_items(session: api.Session, kind: Kind | None, limit: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = session.get("/api/admin/queue", kind=kind.value if kind else None, limit=limit)[
        "items"
    ]
    return items


def fetch_report(session: api.Session, report_id: str) -> dict[str, Any]:
    with hinted({404: "check the id: `harvestctl moderation queue` lists reports by their subject id"}):
        view: dict[str, Any] = session.get(f"/api/admin/reports/{report_id}")
    return view


def fetch_photo(session: api.Session, photo_id: str) -> dict[str, Any]:
    """A waiting photo's facts and blurhash; no link to it, and no reveal."""
    with hinted({404: "check the id: `harvestctl moderation queue --kind photos` lists photos by their subject id"}):
        view: dict[str, Any] = session.get(f"/api/admin/photos/{photo_id}/preview")
    return view


def fetch_appeal(session: api.Session, appeal_id: str) -> dict[str, Any]:
    """An appeal and the decision it is against."""
    with hinted({404: "check the id: `harvestctl moderation appeals` lists open appeals"}):
        view: dict[str, Any] = session.get(f"/api/admin/appeals/{appeal_id}")
    return view


def printable(value: Any) -> Any:
    """``value`` with every control and format character taken out of its strings but newline and tab: what
    members wrote reaches a moderator's terminal, and an escape sequence in it must not (the API refuses them
    on the way in; this holds whatever older rows or another server hold)."""
    if isinstance(value, str):
        return "".join(ch for ch in value if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cf"))
    if isinstance(value, list):
        return [printable(each) for each in value]
    if isinstance(value, dict):
        return {key: printable(each) for key, each in value.items()}
    return value


def read(session: api.Session, kind: str, subject: str) -> dict[str, Any]:
    """What the screen shows of an item before any reveal, fit for a terminal; a verification request shows
    nothing until opened."""
    if kind == "report":
        view = fetch_report(session, subject)
    elif kind == "photo":
        view = fetch_photo(session, subject)
    elif kind == "appeal":
        view = fetch_appeal(session, subject)
        if view.get("reportId"):
            # The report behind the decision, whose evidence the appeal is judged on.
            view["report"] = fetch_report(session, view["reportId"])
    else:
        view = {"id": subject}
    cleaned: dict[str, Any] = printable(view)
    return cleaned


@dataclass
class Revealed:
    """Sharp photos of one item, in memory only: (caption, image bytes)."""

    photos: list[tuple[str, bytes]]
    #: what the reveal told besides the photos (a verification's pose)
    facts: dict[str, Any] = field(default_factory=dict)


def reveal(session: api.Session, kind: str, subject: str, view: dict[str, Any]) -> Revealed:
    """The item's photos, sharp. Every call here is written to the audit log by the appliance."""
    if kind == "photo":
        shown = session.get(f"/api/admin/photos/{subject}")
        return Revealed([("the photo", session.download(shown["largeUrl"]))])
    if kind == "verification":
        request = session.get(f"/api/admin/verifications/{subject}")
        photos = [("selfie", session.download(request["selfieUrl"]))]
        photos += [
            (f"profile photo {n}", session.download(photo["urls"]["large"]))
            for n, photo in enumerate(request["photos"], 1)
            if photo.get("urls")
        ]
        return Revealed(photos, {"pose": request["pose"]})
    report = view.get("report") if kind == "appeal" else view
    if not report:
        return Revealed([])
    photos = []
    for caption, photo_id, _ in evidence.photos_of(report):
        if photo_id is not None:
            shown = session.get(f"/api/admin/reports/{report['id']}/photos/{photo_id}")
            photos.append((caption, session.download(shown["url"])))
    return Revealed(photos)


def send_decision(session: api.Session, kind: str, subject: str, body: dict[str, Any]) -> dict[str, Any]:
    hints = {
        409: NOT_HELD_HINT,
        422: "only a suspension takes --until, within 365 days; an erased account can only be dismissed",
    }
    try:
        with hinted(hints):
            decided: dict[str, Any] = session.call("POST", DESKS[kind].decision_path(subject), json=body)
    except CliError as failure:
        # A 403 here is usually an item about the moderator's own account (or a decision of theirs appealed).
        if "(HTTP 403)" in failure.message:
            raise CliError(
                failure.message, "release it for another moderator: `harvestctl moderation release`"
            ) from None
        raise
    return decided


def outcome(kind: str, body: dict[str, Any], decided: dict[str, Any]) -> str:
    """What a sent decision did, in one line."""
    choice = body.get(DESKS[kind].choice_field) if DESKS[kind].choice_field else None
    said = f"{body['decision']}{f' · {choice}' if choice else ''} on {kind}"
    closed = len(decided.get("resolvedReports") or [])
    return f"{said}; {closed} other open report(s) about them closed with it" if closed else said


def suspension_end(text: str, now: dt.datetime) -> dt.datetime:
    """``--until``: a date (midnight UTC) or a date-time; one without a zone is read as UTC."""
    try:
        end = dt.datetime.fromisoformat(text)
    except ValueError:
        raise CliError(f"{text!r} is not a date", "give --until as 2026-12-31 or 2026-12-31T18:00+01:00") from None
    end = end if end.tzinfo else end.replace(tzinfo=dt.UTC)
    if not now < end <= now + LONGEST_SUSPENSION:
        raise CliError(f"{text} is not within the next 365 days", "a suspension ends in the future, within a year")
    return end
