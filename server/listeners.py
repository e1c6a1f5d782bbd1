"""Who reacts to what: every listener of every domain event, in one list the worker is started with.

A new reaction is one line here: a unique, stable name, the event, the function and its lane (``FAST``
for anything a person waits on, ``HEAVY`` for CPU-bound work). Names must not clash: the worker refuses
to start when two listeners share one.
"""

from __future__ import annotations

from server import bench
from server.auth.jobs import send_account_email
from server.auth.service import EMAIL_JOB
from server.chat.jobs import delete_photo_objects, end_conversation
from server.chat.photos import PURGE_PHOTOS
from server.chat.service import MESSAGE_WAITING
from server.matching import candidates
from server.matching.deck import EXPOSURES_DUE
from server.matching.jobs import announce_match, record_exposures, refresh_candidate
from server.matching.service import MATCH_CREATED, MATCH_ENDED, SUPERLIKED
from server.moderation.verification import PURGE_SELFIES, purge_selfies
from server.notifications.jobs import note_like, note_match, note_message
from server.photos.jobs import process_photo, purge_photos
from server.photos.service import PROCESS_JOB, PURGE_JOB
from server.platform.events import Lane, Listener

LISTENERS = (
    Listener("auth.send_account_email", on=EMAIL_JOB, run=send_account_email),
    Listener("photos.make_variants", on=PROCESS_JOB, run=process_photo, lane=Lane.HEAVY),
    Listener("photos.delete_objects", on=PURGE_JOB, run=purge_photos),
    Listener("matching.refresh_candidate", on=candidates.REFRESH, run=refresh_candidate),
    Listener("matching.record_exposures", on=EXPOSURES_DUE, run=record_exposures),
    Listener("matching.announce_match", on=MATCH_CREATED, run=announce_match),
    Listener("chat.end_conversation", on=MATCH_ENDED, run=end_conversation),
    Listener("chat.delete_photo_objects", on=PURGE_PHOTOS, run=delete_photo_objects),
    Listener("moderation.delete_selfies", on=PURGE_SELFIES, run=purge_selfies),
    Listener("notifications.note_message", on=MESSAGE_WAITING, run=note_message),
    Listener("notifications.note_match", on=MATCH_CREATED, run=note_match),
    Listener("notifications.note_like", on=SUPERLIKED, run=note_like),
    # `harvestctl bench jobs` times the running workers' lanes with these.
    Listener("bench.note_ping", on=bench.PING, run=bench.note_ping),
    Listener("bench.make_variants", on=bench.PHOTO, run=bench.make_bench_variants, lane=Lane.HEAVY),
)
