"""The project's core: settings, catalog configuration, the embedded stack and the `lake` command.

Every other package may import `lake.settings` and `lake.catalog_config`; this package imports none of
them at module level (the CLI reaches lake_assets and airflow_bridge lazily, as the top of the graph).
"""
