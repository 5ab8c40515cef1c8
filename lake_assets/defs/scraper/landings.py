"""Which crawl jobs land a slot: the configured raw landings and their deterministic job specs.

A job id is derived from the landing, its parameters and its window, so materialising the same slot
again finds the same job (and its landing) instead of crawling twice.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from lake_contracts.manifest import manifest_key as manifest_key_under
from lake_contracts.slots import Slot
from scrapworker.endpoints import EndpointCatalog, TimeWindowPaging
from scrapworker.landing import landing_prefix
from scrapworker.protocol import JobSpec, ParamValue, TimeWindow

INTERVAL_MINUTES = {"1m": 1, "3m": 3, "5m": 5, "15m": 15, "30m": 30, "1h": 60, "2h": 120, "4h": 240, "1d": 1440}


@dataclass(frozen=True)
class LandingDefinition:
    """One raw landing asset: an endpoint crawled per slot, once per parameter set (e.g. per symbol)."""

    asset_name: str
    endpoint: str
    landing_prefix: str
    param_sets: tuple[dict[str, ParamValue], ...] = field(default_factory=tuple)

    def jobs(self, start: datetime, end: datetime, endpoints: EndpointCatalog) -> list[JobSpec]:
        """The jobs landing [start, end): one per parameter set, split only where the budget needs it."""
        specs = []
        for params in self.param_sets:
            for chunk_start, chunk_end in self._chunks(start, end, params, endpoints):
                label = "-".join(str(value) for value in params.values())
                job_id = (
                    f"{self.landing_prefix}.{self.endpoint}.{label}.{chunk_start:%Y%m%dT%H%M}-{chunk_end:%Y%m%dT%H%M}"
                )
                specs.append(
                    JobSpec(
                        job_id=re.sub(r"[^A-Za-z0-9._:=-]", "-", job_id),
                        endpoint=self.endpoint,
                        params=params,
                        window=TimeWindow(start=chunk_start, end=chunk_end),
                        landing_prefix=self.landing_prefix,
                    )
                )
        return specs

    def slot_jobs(self, slots: Sequence[Slot], endpoints: EndpointCatalog) -> list[JobSpec]:
        """The jobs of each slot: a landing is keyed by its slot, so every reader (the signal, the typed
        table) finds it whichever run, one slot or a range, landed it."""
        return [spec for slot in slots for spec in self.jobs(slot.start, slot.end, endpoints)]

    def _chunks(
        self, start: datetime, end: datetime, params: dict[str, ParamValue], endpoints: EndpointCatalog
    ) -> list[tuple[datetime, datetime]]:
        """Split a range only when one job would need more weight than its group allows per window.

        A job holds its lease while it waits for budget; keeping each job within one window's budget
        keeps it finishing in about a window, however long the backfill.
        """
        endpoint = endpoints.endpoint(self.endpoint)
        interval = INTERVAL_MINUTES.get(str(params.get("interval", "")))
        if not isinstance(endpoint.pagination, TimeWindowPaging) or interval is None:
            return [(start, end)]
        _, group = endpoints.group_of(endpoint)
        rows = (end - start) / timedelta(minutes=interval)
        weight = math.ceil(rows / endpoint.pagination.limit + 1) * endpoint.request_weight(params)
        pieces = max(1, math.ceil(weight / group.weight_per_window))
        step = (end - start) / pieces
        edges = [start + step * i for i in range(pieces)] + [end]
        # Whole minutes, so every chunk's job id and klines stay aligned.
        edges = [edge.replace(second=0, microsecond=0) for edge in edges]
        return [(a, b) for a, b in itertools.pairwise(edges) if b > a]


def manifest_key(spec: JobSpec) -> str:
    return manifest_key_under(landing_prefix(spec))


BINANCE_KLINES = LandingDefinition(
    asset_name="raw_binance_klines",
    endpoint="klines",
    landing_prefix="binance",
    param_sets=(
        {"symbol": "BTCUSDT", "interval": "1m"},
        {"symbol": "ETHUSDT", "interval": "1m"},
    ),
)
LANDINGS: tuple[LandingDefinition, ...] = (BINANCE_KLINES,)
