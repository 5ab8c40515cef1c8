"""The top layer: the `lake` command and what a person runs by hand.

The embedded stack (`lake stack`), the platform on it (`lake up`/`down`/`status`, lake_tools/platform),
the production-shaped compose stack (`lake compose`, lake_tools/compose), `lake bootstrap`, `lake doctor`,
`lake query`, `lake demo`, the jar provisioning (`python -m lake_tools.jars`) and the Dagster instance
helper. It may import every layer
below it; nothing below imports it.
"""
