"""What processes agree on, in one small dependency-free package (the standard library only).

slots (partition keys <-> ds/hr/min), the landing manifest, table identifiers, run tag names and the
Spark conf keys the jobs read. The crawler, the Spark applications (shipped to executors with them), the
Dagster code location, the Airflow runtime and the tools all import it; it imports nothing of theirs.
"""
