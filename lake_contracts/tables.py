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
