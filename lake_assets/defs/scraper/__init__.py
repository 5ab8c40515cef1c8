"""scraper (the seed's `scraper_pipeline_v1`): raw landings -> landing.signals -> typed tables, per slot.

`landing_sla` runs the SLA monitor alone (the `slots_on_time` check on landing.signals): the bridge's
`landing_sla_v1` DAG runs it every slot, and it can be run from the Dagster UI like any job.
"""

import dagster as dg

from lake_assets.defs.scraper.assets import ASSETS, MINUTES, MONITORS
from lake_contracts.slots import cron_for

sla_job = dg.define_asset_job("landing_sla", selection=dg.AssetSelection.checks(*MONITORS))

# Stopped by default: Airflow is the scheduler (the bridge DAG landing_sla_v1 runs the same check).
# A Dagster-only deployment turns this schedule on instead.
sla_schedule = dg.ScheduleDefinition(
    job=sla_job,
    cron_schedule=cron_for(MINUTES),
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
)

defs = dg.Definitions.merge(ASSETS.definitions(), dg.Definitions(jobs=[sla_job], schedules=[sla_schedule]))
