"""The one place Dagster loads this code location from (`workspace.yaml` points here).

Each domain under defs/ brings its assets and checks; the resources (all built from the one settings
model) and the executor are set here once. Asset groups mirror the seed's four pipelines: hello,
static, partitioned, scraper; history loads months of the scraper's landings before the slots; and
maintenance keeps every table's files and history in bounds.
Runs execute in process: at minute cadence a run's own start-up is the cost to avoid (measured:
12 s launch to finish with defaults, 2.3 s in process).
"""

from __future__ import annotations

import dagster as dg

from lake_assets.defs import hello, history, maintenance, scraper, seed
from lake_assets.resources import all_resources
from lake_contracts import checks

defs = dg.Definitions.merge(
    hello.defs,
    seed.defs,
    scraper.defs,
    history.defs,
    maintenance.defs,
    dg.Definitions(resources=all_resources(), executor=dg.in_process_executor),
)


def checks_for(assets: list[dg.AssetsDefinition]) -> list[dg.AssetChecksDefinition]:
    """The checks that target any of `assets`, to materialise alongside them (not the monitors, which run on
    their own schedule)."""
    keys = {key for asset in assets for key in asset.keys}
    return [
        check
        for check in defs.asset_checks or []
        if isinstance(check, dg.AssetChecksDefinition)
        and any(key.asset_key in keys and key.name not in checks.MONITORS for key in check.check_keys)
    ]
