"""scraper (the seed's `scraper_pipeline_v1`): raw landings -> landing.signals -> typed tables, per slot.

`landing_sla` runs the SLA monitor alone (the `slots_on_time` check on landing.signals): the bridge's
`landing_sla_v1` DAG runs it every slot, and it can be run from the Dagster UI like any job.
"""

import dagster as dg

from lake_assets.defs.scraper.assets import ASSETS, MONITORS

SLA_JOB = "landing_sla"

defs = dg.Definitions.merge(
    ASSETS.definitions(),
    dg.Definitions(jobs=[dg.define_asset_job(SLA_JOB, selection=dg.AssetSelection.checks(*MONITORS))]),
)
