"""harvestctl's exit codes for mistakes in the command line itself: 64, never click's 2 (bad configuration)."""

from __future__ import annotations

import subprocess
import sys

import pytest


def harvestctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from harvestctl.main import run; run()", *args], capture_output=True, text=True
    )


@pytest.mark.parametrize(
    "args",
    [
        ("no-such-verb",),
        ("db", "no-such-verb"),
        ("bench", "photos", "--count", "0"),
        ("logs",),
        ("status", "--no-such-option"),
    ],
)
def test_usage_mistakes_exit_64_with_the_reason(args):
    done = harvestctl(*args)
    assert done.returncode == 64, done.stderr
    assert "Error" in done.stderr and "Traceback" not in done.stderr


def test_help_exits_0():
    assert harvestctl("--help").returncode == 0
    assert "bench" in harvestctl("--help").stdout
