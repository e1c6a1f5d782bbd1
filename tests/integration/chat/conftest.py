"""API worker processes for the WebSocket tests: uvicorn run with the appliance's own command line, each on its
own unix socket, against the session's real Postgres and Valkey."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.chat.live import ApiWorkers
from tests.services import Stack


@pytest.fixture(scope="session")
def workers(stack: Stack) -> Iterator[ApiWorkers]:
    started = ApiWorkers(stack, count=2)
    try:
        yield started
    finally:
        started.stop()
