"""scraper (the seed's `scraper_pipeline_v1`): raw landings -> landing.signals -> typed tables, per slot."""

from lake_assets.defs.scraper.assets import ASSETS

defs = ASSETS.definitions()
