"""The Iceberg namespaces the project writes into. `lake bootstrap` creates exactly these.

Neither Nessie nor SeaweedFS creates a namespace on first write, so every table's namespace must be
listed here.
"""

from __future__ import annotations

# seed: the seed project's static and ds/hr/min demo tables.
# landing: one signal row per complete raw landing.
# market: typed market-data tables (klines, ...).
NAMESPACES: tuple[str, ...] = ("seed", "landing", "market")
