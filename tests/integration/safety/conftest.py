"""An API worker process of the safety tests' own, for the live-socket checks: chat's ``workers`` fixture is seen
by chat's tests only, and its process names are taken while they run."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.chat.live import ApiWorkers
from tests.services import Stack


@pytest.fixture(scope="session")
def workers(stack: Stack) -> Iterator[ApiWorkers]:
    started = ApiWorkers(stack, count=1, name="api-safety")
    try:
        yield started
    finally:
        started.stop()
