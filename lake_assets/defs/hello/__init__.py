"""hello (the seed's `spark_static_data_v1_skeleton`): the slot mapping end to end, without Spark."""

import dagster as dg

from lake_assets.defs.hello.assets import hello

defs = dg.Definitions(assets=[hello])
