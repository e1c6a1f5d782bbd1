"""What members wrote, made safe for a moderator's terminal: no escape sequence survives, the words do."""

from harvestctl.queues import printable


def test_escape_sequences_and_format_characters_are_taken_out_of_every_string() -> None:
    view = {
        "details": "pay me\x1b]52;c;aGk=\x07 now\x9b31m",
        "evidence": {"messages": [{"content": "hi\u202e\x1b[2Jthere", "seq": 3}]},
        "text": "line one\nline\ttwo",
    }
    assert printable(view) == {
        "details": "pay me]52;c;aGk= now31m",
        "evidence": {"messages": [{"content": "hi[2Jthere", "seq": 3}]},
        "text": "line one\nline\ttwo",
    }
