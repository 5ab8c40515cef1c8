"""The project's core: the settings model, catalog configuration for every engine, storage, tables, signals,
spark-submit, Nessie branches and the orphan-file sweep.

Every package above it may import it; it imports none of them (tests/test_boundaries.py). The embedded stack
and the `lake` command are in lake_tools, at the top of the graph.
"""
