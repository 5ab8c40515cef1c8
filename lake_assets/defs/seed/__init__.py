"""The seed's Spark tables: `static` (spark_static_data_v2_submit) and `partitioned` (spark_partitioned_data_v1).

Both are written by write-audit-publish, so their checks (no_null_partitions, the job's row counts per slot)
are the assets' own check_specs, evaluated on the run's branch before the merge (lake_assets/wap.py)."""

import dagster as dg

from lake_assets.defs.seed.assets import partitioned_data, partitioned_data_report, static_data

defs = dg.Definitions(assets=[static_data, partitioned_data, partitioned_data_report])
