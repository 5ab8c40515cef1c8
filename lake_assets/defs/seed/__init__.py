"""The seed's Spark tables: `static` (spark_static_data_v2_submit) and `partitioned` (spark_partitioned_data_v1)."""

import dagster as dg

from lake_assets.defs.seed.assets import partitioned_data, partitioned_data_report, static_data
from lake_assets.defs.seed.checks import CHECKS

defs = dg.Definitions(assets=[static_data, partitioned_data, partitioned_data_report], asset_checks=CHECKS)
