"""The chat bench's ledger arithmetic: each acknowledged message counted once as delivered live, recovered on
resync or lost, and every kind of duplicate noticed."""

from __future__ import annotations

from server.chat.bench import Ack, Receipt, StoredMessage, reconcile

MATCH = "m1"
ANNA, BEN, CARL = "anna", "ben", "carl"
PARTNERS = {MATCH: (ANNA, BEN)}


def ack(client_id: str, message_id: str, seq: int, sent_at: float = 100.0, sender: str = ANNA) -> Ack:
    return Ack(sender, client_id, MATCH, message_id, seq, sent_at, sent_at + 0.01)


def live(message_id: str, at: float, socket: int = 1, recipient: str = BEN) -> Receipt:
    return Receipt(recipient, message_id, MATCH, True, socket, at)


def resynced(message_id: str, at: float, socket: int = 2, recipient: str = BEN) -> Receipt:
    return Receipt(recipient, message_id, MATCH, False, socket, at)


def stored(*pairs: tuple[str, str], sender: str = ANNA) -> list[StoredMessage]:
    return [StoredMessage(sender, client_id, message_id) for client_id, message_id in pairs]


def test_each_acknowledged_message_is_live_recovered_or_lost_once() -> None:
    acks = [ack("c1", "x1", 1), ack("c2", "x2", 2), ack("c3", "x3", 3)]
    # x1 live; x2 missed live and recovered; x3 never reached Ben.
    receipts = [live("x1", 100.02), resynced("x2", 105.0), resynced("x1", 105.0)]
    figures = reconcile(acks, receipts, PARTNERS, stored(("c1", "x1"), ("c2", "x2"), ("c3", "x3")))
    assert figures["acknowledged"] == figures["stored"] == 3
    assert (figures["deliveredLive"], figures["recoveredOnResync"], figures["lost"]) == (1, 1, 1)
    assert figures["duplicated"] == 0


def test_a_copy_recovered_before_its_live_copy_counts_as_recovered() -> None:
    figures = reconcile(
        [ack("c1", "x1", 1)], [resynced("x1", 101.0), live("x1", 102.0, socket=2)], PARTNERS, stored(("c1", "x1"))
    )
    assert (figures["deliveredLive"], figures["recoveredOnResync"]) == (0, 1)


def test_a_message_live_twice_on_one_socket_is_a_duplicate_but_once_per_socket_is_not() -> None:
    acks = [ack("c1", "x1", 1), ack("c2", "x2", 2)]
    receipts = [live("x1", 100.1), live("x1", 100.2), live("x2", 100.1, socket=1), live("x2", 103.0, socket=2)]
    figures = reconcile(acks, receipts, PARTNERS, stored(("c1", "x1"), ("c2", "x2")))
    assert figures["duplicates"]["liveTwiceOnOneSocket"] == 1
    assert figures["duplicated"] == 1
    assert figures["deliveredLive"] == 2


def test_a_resent_client_id_acknowledged_as_the_same_message_is_one_message() -> None:
    acks = [ack("c1", "x1", 1, sent_at=100.0), ack("c1", "x1", 1, sent_at=100.0)]
    figures = reconcile(acks, [live("x1", 100.5)], PARTNERS, stored(("c1", "x1")))
    assert figures["acknowledged"] == 1
    assert figures["duplicated"] == 0
    # Latency runs from the first send of the clientId.
    assert round(figures["latency"]["p50Ms"]) == 500


def test_a_client_id_acknowledged_or_stored_as_two_messages_is_a_duplicate() -> None:
    acks = [ack("c1", "x1", 1), ack("c1", "x2", 2)]
    receipts = [live("x1", 100.1), live("x2", 100.2)]
    figures = reconcile(acks, receipts, PARTNERS, stored(("c1", "x1"), ("c1", "x2")))
    assert figures["duplicates"] == {"liveTwiceOnOneSocket": 0, "acksNamingTwoMessages": 1, "storedTwice": 1}
    assert figures["duplicated"] == 2


def test_a_copy_reaching_someone_outside_the_match_is_misdelivered_not_delivered() -> None:
    figures = reconcile([ack("c1", "x1", 1)], [live("x1", 100.1, recipient=CARL)], PARTNERS, stored(("c1", "x1")))
    assert figures["misdelivered"] == 1
    assert figures["lost"] == 1


def test_stored_and_acknowledged_sets_are_compared_both_ways() -> None:
    acks = [ack("c1", "x1", 1)]
    figures = reconcile(acks, [live("x1", 100.1)], PARTNERS, stored(("c9", "x9")))
    assert (figures["acknowledgedNotStored"], figures["storedNotAcknowledged"]) == (1, 1)


def test_latency_percentiles_and_rate_come_from_live_copies_and_the_acknowledgements() -> None:
    acks = [ack(f"c{n}", f"x{n}", n, sent_at=100.0 + n / 100) for n in range(1, 101)]
    receipts = [live(f"x{n}", 100.0 + n / 100 + n / 1000) for n in range(1, 101)]
    pairs = [(f"c{n}", f"x{n}") for n in range(1, 101)]
    figures = reconcile(acks, receipts, PARTNERS, stored(*pairs))
    assert round(figures["latency"]["p50Ms"]) == 50
    assert round(figures["latency"]["p99Ms"]) == 99
    assert round(figures["latency"]["maxMs"]) == 100
    # 100 messages from the first send (100.01) to the last acknowledgement (101.01).
    assert round(figures["messagesPerSecond"]) == 100
