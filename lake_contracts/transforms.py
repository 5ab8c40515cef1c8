"""The typed transforms a landing may feed: which endpoint's landings each one reads, the parameters it
needs in every landing's manifest, the Spark job that writes it and its table.

The landings file names a transform (`typed: klines`); this is the list it is checked against, shared by
the file's validation (scrapworker), the typed assets (Dagster) and the Spark job that reads the params.
"""

from __future__ import annotations

from dataclasses import dataclass

from lake_contracts import tables


@dataclass(frozen=True)
class TypedTransform:
    name: str
    endpoint: str
    required_params: tuple[str, ...]
    spark_job: str  # jobs/<spark_job>.py
    table: str


TRANSFORMS = {
    "klines": TypedTransform(
        name="klines",
        endpoint="klines",
        required_params=("symbol", "interval"),
        spark_job="klines_transform",
        table=tables.KLINES,
    ),
}
