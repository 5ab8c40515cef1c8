"""Names of the asset checks a Spark job runs itself and reports through Dagster Pipes.

The job (jobs/) reports the result; the asset (lake_assets/) declares the check under the same name.
"""

from __future__ import annotations

# jobs/partitioned_data.py: every slot it wrote reads back with exactly --rows-per-slot rows.
ROWS_PER_SLOT = "rows_per_slot"
# jobs/klines_transform.py: every typed row it merged reads back from the table, under its landing's job.
TYPED_ROWS_COMMITTED = "typed_rows_committed"
