"""scraper (the seed's `scraper_pipeline_v1`): raw landings -> landing.signals -> market.klines."""

import dagster as dg

from lake_assets.defs.scraper.assets import RAW_LANDINGS, klines, signals
from lake_assets.defs.scraper.checks import CHECKS

defs = dg.Definitions(assets=[*RAW_LANDINGS, signals, klines], asset_checks=CHECKS)
