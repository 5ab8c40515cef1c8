"""scraper (the seed's `scraper_pipeline_v1`): each configured landing per slot -> signals -> typed tables.

Minute-keyed slot partitions: what the UI, the checks and Airflow use for recent data and live slots.
The landings come from the landings file (scrapworker/config/landings.yaml); the assets from
lake_assets/landing_assets.py, shared with the history grain.
"""

from lake_assets.landing_assets import Grain, grain_assets
from lake_assets.loaded_settings import LANDINGS, SETTINGS, SLOTS
from lake_assets.partitions import BATCHED_TAG
from lake_contracts.slots import slots_between

MINUTES = SETTINGS.partitions.cadence_minutes

SCRAPER = Grain(
    group="scraper",
    key_prefix=(),
    partitions=SLOTS,
    windows=lambda start, end: [(slot.start, slot.end) for slot in slots_between(start, end, MINUTES)],
    landings=LANDINGS,
    wait_seconds=900.0,
    # Airflow runs the typed tables every LAKE_PARTITIONS__TYPED_EVERY_MINUTES over the slots landed since.
    typed_tags={BATCHED_TAG: "typed_every_minutes"},
    monitored=True,
)
ASSETS = grain_assets(SCRAPER)
RAW_LANDINGS = ASSETS.raw
signals = ASSETS.signals
TYPED = ASSETS.typed
CHECKS = ASSETS.checks
MONITORS = ASSETS.monitors
