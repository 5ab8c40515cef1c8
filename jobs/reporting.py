"""How a Spark job reports back: through Dagster Pipes when Dagster launched it, else as log lines.

Under Dagster (lake_assets runs spark-submit through a Pipes client), the job's log lines, the metadata
of what it materialized and the results of the checks it runs itself arrive in the Dagster run as events:
nothing is scraped from stdout. Run by hand or by a benchmark, the same calls print to stderr for a person
to read (tests and benchmarks read some of them; nothing in the product does).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Protocol


class Laps:
    """Seconds per phase of a job, reported with what it materialized: where a run's time went."""

    def __init__(self, digits: int = 1) -> None:
        self._last = time.monotonic()
        self._digits = digits  # 1 for a Spark job's tens of seconds; 3 for a step of a second
        self.seconds: dict[str, float] = {}

    def __call__(self, phase: str) -> None:
        """Ends `phase` now (it began where the last one ended)."""
        now = time.monotonic()
        self.add(phase, now - self._last)
        self._last = now

    def add(self, phase: str, seconds: float) -> None:
        """Counts `seconds` to `phase` (spent in pieces, between the other phases)."""
        self.seconds[phase] = round(self.seconds.get(phase, 0.0) + seconds, self._digits)


class Reporter(Protocol):
    def log(self, message: str, error: bool = False) -> None: ...

    def materialized(self, metadata: Mapping[str, Any]) -> None: ...

    def check(self, name: str, passed: bool, metadata: Mapping[str, Any]) -> None: ...


class _PipesReporter:
    def __init__(self, pipes: Any) -> None:
        self._pipes = pipes

    def log(self, message: str, error: bool = False) -> None:
        (self._pipes.log.error if error else self._pipes.log.info)(message)

    def materialized(self, metadata: Mapping[str, Any]) -> None:
        self._pipes.report_asset_materialization(metadata=_pipes_metadata(metadata))

    def check(self, name: str, passed: bool, metadata: Mapping[str, Any]) -> None:
        self._pipes.report_asset_check(name, passed=passed, metadata=_pipes_metadata(metadata))


def _pipes_metadata(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """Pipes reads a dict value as `{raw_value, type}`: structured values travel typed as JSON."""
    return {
        key: {"raw_value": value, "type": "json"} if isinstance(value, dict | list | tuple) else value
        for key, value in metadata.items()
    }


class _StderrReporter:
    def log(self, message: str, error: bool = False) -> None:
        print(message, file=sys.stderr, flush=True)

    def materialized(self, metadata: Mapping[str, Any]) -> None:
        self.log(f"materialized: {json.dumps(dict(metadata), default=str)}")

    def check(self, name: str, passed: bool, metadata: Mapping[str, Any]) -> None:
        self.log(f"check {name}: {'passed' if passed else 'FAILED'} {json.dumps(dict(metadata), default=str)}")


@contextmanager
def reporter() -> Iterator[Reporter]:
    # dagster-pipes is needed only in the driver, and only under Dagster: executors never import it.
    from dagster_pipes import PipesEnvVarParamsLoader, open_dagster_pipes

    if not PipesEnvVarParamsLoader().is_dagster_pipes_process():  # type: ignore[no-untyped-call]
        yield _StderrReporter()
        return
    with open_dagster_pipes() as pipes:
        yield _PipesReporter(pipes)
