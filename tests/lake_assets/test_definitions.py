"""workspace.yaml names a module that Dagster can load."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import yaml

from lake_contracts import tables
from tests.support import REPO_ROOT


def test_workspace_points_at_loadable_definitions() -> None:
    workspace = yaml.safe_load(Path(REPO_ROOT / "workspace.yaml").read_text())
    module_name = workspace["load_from"][0]["python_module"]["module_name"]
    module = __import__(module_name, fromlist=["defs"])
    assert isinstance(module.defs, dg.Definitions)
    module.defs.validate_loadable(module.defs)


def test_each_table_s_writer_is_the_dag_and_asset_that_write_it() -> None:
    """lake_contracts.tables.WRITERS: the DAG a reader is sent to for a table not written yet runs its asset."""
    from lake_assets.airflow_dags import pipeline_specs

    specs = {spec["dag_id"]: spec for spec in pipeline_specs()}
    for table, dag_id in tables.WRITERS.items():
        runs = [key for task in specs[dag_id]["tasks"] for key in task["asset_keys"]]
        assert table.split(".") in runs, (table, dag_id, runs)  # the asset is keyed like its table
