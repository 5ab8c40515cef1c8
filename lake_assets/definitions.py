"""The one place Dagster loads this code location from (`workspace.yaml` points here).

Asset groups mirror the seed's four pipelines: hello, static, partitioned, scraper. Runs execute in
process: at minute cadence a run's own start-up is the cost to avoid (DESIGN.md §4: 12 s launch to
finish with defaults, 2.3 s in process).
"""

from __future__ import annotations

import dagster as dg

from lake_assets.assets.hello import hello
from lake_assets.assets.scraper import RAW_LANDINGS, klines, signals
from lake_assets.assets.spark_tables import partitioned_data, partitioned_data_report, static_data
from lake_assets.checks import CHECKS
from lake_assets.resources import all_resources

defs = dg.Definitions(
    assets=[hello, static_data, partitioned_data, partitioned_data_report, *RAW_LANDINGS, signals, klines],
    asset_checks=CHECKS,
    resources=all_resources(),
    executor=dg.in_process_executor,
)
