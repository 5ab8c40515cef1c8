"""The compose stack for real: `lake compose up` as a user runs it (engine, images, credentials), the
tests against it from the host and inside its containers, and `lake compose down` plus the engine stopped
at the end, by PID. Its own phase of scripts/test.sh: it publishes the fixed ports compose.yaml names and
needs both cores, so it never runs beside the other modules.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lake_tools.compose.engine import Engine
from tests.compose.support import RunningCompose, compose_engine, compose_stack


@pytest.fixture(scope="session")
def engine() -> Iterator[Engine]:
    with compose_engine() as found:
        yield found


@pytest.fixture(scope="session")
def stack(engine: Engine) -> Iterator[RunningCompose]:
    with compose_stack(engine) as running:
        yield running
