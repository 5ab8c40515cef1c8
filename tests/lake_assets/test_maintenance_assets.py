"""The maintenance assets in a Dagster run: a table's maintenance after its writer, with numbers to plot."""

from __future__ import annotations

from pathlib import Path

import pytest

from lake_assets.defs.maintenance.assets import TABLE_MAINTENANCE, wap_branches
from lake_assets.defs.seed.assets import static_data
from tests.lake_assets.runs import materialize, metadata

pytestmark = pytest.mark.spark


def test_a_tables_maintenance_reports_files_bytes_and_orphans_as_numbers(dagster_env: Path) -> None:
    assert materialize([static_data], dagster_env).success  # the table exists, written by WAP
    [maintain] = [asset for asset in TABLE_MAINTENANCE if asset.key.path == ["maintenance", "seed", "static_data"]]
    result = materialize([wap_branches, maintain], dagster_env)
    assert result.success
    reported = metadata(result, "maintenance/seed/static_data")
    for name in ("data_files", "data_bytes", "manifests"):
        assert isinstance(reported[f"{name}_before"], int) and isinstance(reported[f"{name}_after"], int)
    assert reported["data_files_after"] >= 1 and reported["data_bytes_after"] > 0
    assert reported["snapshots_expired"] == 0  # Nessie: gc.enabled=false, the history is its commits
    assert reported["orphan_files_removed"] == 0  # nothing is older than the 72 h window yet
    assert isinstance(metadata(result, "maintenance/wap_branches")["branches_deleted"], int)
