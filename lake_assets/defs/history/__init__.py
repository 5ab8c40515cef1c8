"""history: months of configured landings before the slot partitions, into the same tables and checks.

A year of 1-minute klines is 525,600 slot keys; Dagster advises at most ~100k per asset, and enumerating
them alone took ~18 s here. History is a grain of its own instead: one partition per month (a decade is
about 120 keys), the same writers (scrapworker jobs, pyiceberg signals, the Spark transform by WAP) into the
same tables (landing.signals, market.klines), with the same checks. A backfill of any range of months is
ONE run and one step (load.py): the months are crawled in order by all workers on the shared budget, and
each month's signals are committed and its rows typed while the next months crawl, in one Spark session;
the range is published by one merge. Only landings marked `history: true` (time-window endpoints) have a
history asset.
"""

from datetime import datetime, timedelta

import dagster as dg

from lake_assets.defs.history.load import history_assets
from lake_assets.landing_assets import Grain
from lake_assets.loaded_settings import LANDINGS, SETTINGS


def next_month(moment: datetime) -> datetime:
    return (moment.replace(day=1) + timedelta(days=32)).replace(day=1)


SLOTS_START = SETTINGS.partitions.start
# The month the slots start in is offered too (clipped at the first slot), so nothing falls between.
MONTHS = dg.MonthlyPartitionsDefinition(
    start_date=SETTINGS.history.start,
    end_date=SLOTS_START if SLOTS_START.replace(day=1, hour=0, minute=0) == SLOTS_START else next_month(SLOTS_START),
    fmt="%Y-%m",
    timezone="UTC",
)


def months(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """Calendar months of [start, end), the last clipped where the slot partitions begin."""
    windows, month = [], start
    while month < min(end, SLOTS_START):
        windows.append((month, min(next_month(month), end, SLOTS_START)))
        month = next_month(month)
    return windows


HISTORY = Grain(
    group="history",
    key_prefix=("history",),
    partitions=MONTHS,
    windows=months,
    landings=tuple(landing for landing in LANDINGS if landing.history),
    wait_seconds=SETTINGS.history.wait_hours * 3600,
    signal_batch=SETTINGS.history.signal_batch,
    description=", one partition per month of history",
)
ASSETS = history_assets(HISTORY)
defs = ASSETS.definitions()
