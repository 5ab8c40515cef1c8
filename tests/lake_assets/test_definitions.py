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
    from lake_assets.airflow_dags import PIPELINES
    from lake_assets.definitions import defs
    from lake_assets.partitions import BATCHED_TAG

    graph = defs.resolve_asset_graph()
    pipelines = {pipeline.dag_id: pipeline for pipeline in PIPELINES}
    for table, dag_id in tables.WRITERS.items():
        node = graph.get(dg.AssetKey(table.split(".")))  # the asset is keyed like its table
        pipeline = pipelines[dag_id]
        assert node.group_name == pipeline.group, (table, dag_id)
        assert pipeline.batched in (None, BATCHED_TAG in node.tags), (table, dag_id)
