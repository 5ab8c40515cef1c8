"""Names of asset checks that more than one side knows: those a Spark job runs itself and reports through
Dagster Pipes (the job, jobs/, reports the result; the asset, lake_assets/, declares the check under the same
name), and the monitors that run on their own schedule rather than with the runs of their asset."""

from __future__ import annotations

# jobs/partitioned_data.py: every slot it wrote reads back with exactly --rows-per-slot rows.
ROWS_PER_SLOT = "rows_per_slot"
# jobs/klines_transform.py: every typed row it merged reads back from the table, under its landing's job.
TYPED_ROWS_COMMITTED = "typed_rows_committed"
# lake_assets/landing_assets.py: every slot due (ended more than LAKE_SLA__GRACE_MINUTES ago) has its signals.
# A monitor: the bridge runs it on its own DAG, never inside a slot's run (an older gap would fail every slot).
SLOTS_ON_TIME = "slots_on_time"
MONITORS = frozenset({SLOTS_ON_TIME})
