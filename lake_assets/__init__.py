"""The Dagster code location: time-partitioned assets, checks and resources (see definitions.py)."""
