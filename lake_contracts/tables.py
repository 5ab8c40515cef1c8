"""Every Iceberg table the project writes, by identifier, and the namespaces `lake bootstrap` creates."""

from __future__ import annotations

STATIC_DATA = "seed.static_data"
PARTITIONED_DATA = "seed.partitioned_data"
SIGNALS = "landing.signals"
KLINES = "market.klines"

ALL_TABLES = (STATIC_DATA, PARTITIONED_DATA, SIGNALS, KLINES)
# The column that says which UTC day a row belongs to (a timestamp, or a 'YYYY-MM-DD' string): maintenance
# compacts only closed days of these tables. A table not listed is compacted whole.
DAY_COLUMN = {PARTITIONED_DATA: "ds", SIGNALS: "ds", KLINES: "open_time"}
NAMESPACES = ("seed", "landing", "market")
assert {table.partition(".")[0] for table in ALL_TABLES} <= set(NAMESPACES)


# The Airflow DAG that writes each table on schedule, through the Dagster asset keyed like the table
# (market.klines: market/klines). A table not written yet is named with its writer where a reader meets it
# (`lake query`); tests/lake_assets/test_definitions.py holds the definitions to this.
WRITERS = {
    STATIC_DATA: "spark_static_data_v2_submit",
    PARTITIONED_DATA: "spark_partitioned_data_v1",
    SIGNALS: "scraper_pipeline_v1",
    KLINES: "scraper_typed_v1",
}
assert set(WRITERS) == set(ALL_TABLES)
