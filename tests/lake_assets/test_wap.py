"""Write-audit-publish of the Spark tables, end to end on the embedded stack (Nessie, SeaweedFS, Spark).

A run writes on its own branch; only a run whose blocking checks pass on that branch is merged into main.
Readers of main (pyiceberg, DuckDB) never see a failing run's rows, and main stays at its commit.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow as pa
import pytest
import requests
from dagster._core.instance.config import dagster_instance_config

from lake.branches import NessieBranches, on_branch
from lake.catalog import open_catalog
from lake.settings import LakeSettings
from lake.storage import s3_client
from lake_assets.defs.scraper.assets import TYPED
from lake_assets.defs.seed.assets import partitioned_data, static_data
from lake_assets.loaded_settings import LANDINGS
from lake_assets.wap import table_pool
from lake_contracts.slots import partition_to_slot
from lake_tools.dagster_home import DAGSTER_YAML
from lake_tools.query import query
from market_sim import MarketSimulator
from scrapworker.endpoints import endpoints_for
from scrapworker.landing import LandingWriter
from tests.lake_assets.runs import check_results, materialize, metadata, step_failure, wap_branch_in

KLINES = "market.klines"
klines = TYPED["klines"]
# A 15-minute slot lands 15 klines per configured symbol.
SLOT_ROWS = 15 * sum(len(landing.param_sets) for landing in LANDINGS if landing.typed == "klines")


def land_slot(settings: LakeSettings, simulator: MarketSimulator, key: str, null_open_time: bool = False) -> list[str]:
    """Land the slot's kline jobs (the klines asset's own specs and keys) from the simulator, as a worker
    would; with `null_open_time`, the first kline of the first page arrives without its open time."""
    slot = partition_to_slot(key, settings.partitions.cadence_minutes)
    specs = [
        spec
        for landing in LANDINGS
        if landing.typed == "klines"
        for spec in landing.jobs(slot.start, slot.end, endpoints_for(settings.crawler))
    ]
    for index, spec in enumerate(specs):
        query_params = {
            "symbol": str(spec.params["symbol"]),
            "interval": str(spec.params["interval"]),
            "startTime": str(int(spec.window.start.timestamp() * 1000)),
            "endTime": str(int(spec.window.end.timestamp() * 1000) - 1),
            "limit": "1000",
        }
        response = requests.get(f"{simulator.base_url}/api/v3/klines", params=query_params, timeout=10)
        response.raise_for_status()
        page = response.json()
        if null_open_time and index == 0:
            page[0][0] = None  # upstream sent a kline without its open time: a NULL partition value when typed
        landing = LandingWriter(s3_client(settings), settings.s3.raw_bucket, spec)
        landing.write_page(json.dumps(page).encode(), query_params, len(page))
        landing.write_manifest(worker="test", attempt=1, started_at=datetime.now(UTC))
    return [spec.job_id for spec in specs]


def klines_of(settings: LakeSettings, job_ids: list[str], branch: str | None = None) -> int:
    catalog = open_catalog(on_branch(settings, branch) if branch else settings)
    table = catalog.load_table(KLINES)
    ids = ", ".join(f"'{job_id}'" for job_id in job_ids)
    return table.scan(row_filter=f"landing_job_id in ({ids})").to_arrow().num_rows


def duckdb_klines_of(settings: LakeSettings, job_ids: list[str]) -> int:
    """The second engine, reading main as every reader does."""
    ids = ", ".join(f"'{job_id}'" for job_id in job_ids)
    _, rows = query(settings, f"SELECT count(*) FROM {KLINES} WHERE landing_job_id IN ({ids})")
    return int(rows[0][0])


@pytest.mark.spark
def test_a_passing_run_is_merged_and_a_failing_run_never_reaches_main(
    dagster_env: Path, lake_settings: LakeSettings, simulator: MarketSimulator
) -> None:
    nessie = NessieBranches.from_settings(lake_settings)

    # Passing: written on its branch, checked there, merged; main shows the rows and the branch is gone.
    good = land_slot(lake_settings, simulator, "2026-11-06-00:00")
    before = nessie.hash_of("main")
    passed = materialize([klines], dagster_env, partition_key="2026-11-06-00:00")
    assert passed.success
    assert check_results(passed) == {
        "market/klines:no_null_partitions": True,
        "market/klines:typed_rows_committed": True,
    }
    published = metadata(passed, "market/klines")
    assert published["rows"] == SLOT_ROWS and published["target_hash"] == before
    assert nessie.hash_of("main") == published["merged_hash"] != before
    assert passed.run_id[:8] in published["nessie_branch"]
    assert published["nessie_branch"] not in {branch.name for branch in nessie.branches("wap-")}
    assert klines_of(lake_settings, good) == duckdb_klines_of(lake_settings, good) == SLOT_ROWS

    # Failing: one kline without its open time lands in a NULL partition on the branch; main stays put.
    bad = land_slot(lake_settings, simulator, "2026-11-06-00:15", null_open_time=True)
    before = nessie.hash_of("main")
    failed = materialize([klines], dagster_env, partition_key="2026-11-06-00:15", raise_on_error=False)
    assert not failed.success
    assert check_results(failed) == {
        "market/klines:no_null_partitions": False,
        "market/klines:typed_rows_committed": True,  # every row it merged reads back (on its branch)
    }
    [evaluation] = [e for e in failed.get_asset_check_evaluations() if e.check_name == "no_null_partitions"]
    assert evaluation.severity is dg.AssetCheckSeverity.ERROR
    assert "open_time_day: null_value" in str(evaluation.metadata["offending"].value)
    assert failed.get_asset_materialization_events() == []

    assert nessie.hash_of("main") == before  # the done-when: main at its previous commit
    assert klines_of(lake_settings, bad) == duckdb_klines_of(lake_settings, bad) == 0
    assert klines_of(lake_settings, good) == SLOT_ROWS
    branch = wap_branch_in(step_failure(failed))
    assert failed.run_id[:8] in branch and branch in {b.name for b in nessie.branches("wap-")}
    assert klines_of(lake_settings, bad, branch=branch) == SLOT_ROWS  # kept for inspection, with the run's rows


@pytest.mark.spark
def test_a_merge_conflict_leaves_main_alone_and_the_run_retries_from_the_new_main(
    dagster_env: Path, lake_settings: LakeSettings
) -> None:
    """Another writer commits the same table to main while the run writes on its branch (an ephemeral
    instance has no pool limits to prevent it): Nessie refuses the merge, and the step is retried."""
    assert materialize([partitioned_data], dagster_env, partition_key="2026-11-07-00:00").success  # the table
    nessie = NessieBranches.from_settings(lake_settings)
    known = {branch.name for branch in nessie.branches("wap-")}
    instance = dg.DagsterInstance.ephemeral()
    outcome: dict[str, Any] = {}
    run = threading.Thread(
        target=lambda: outcome.update(
            result=materialize([partitioned_data], dagster_env, instance=instance, partition_key="2026-11-07-00:15")
        )
    )
    run.start()
    try:
        first = wait_for_new_branch(nessie, known, "seed.partitioned_data", timeout=120)
        # The other writer: one row of another slot, committed to main while the job runs on `first`.
        table = open_catalog(lake_settings).load_table("seed.partitioned_data")
        other = {"event_id": "other", "slot_start": datetime(2026, 11, 7, 1), "value": 1.0, "ds": "2026-11-07"}
        table.append(pa.Table.from_pylist([other | {"hr": 1, "min": 0}], schema=table.schema().as_arrow()))
    finally:
        run.join(timeout=600)
    result: dg.ExecuteInProcessResult = outcome["result"]

    assert result.success
    assert len([e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]) == 1
    warnings = [r.user_message for r in instance.all_logs(result.run_id) if r.level == logging.WARNING]
    conflict = f"merge of Nessie branch '{first}' into 'main' conflicts on seed.partitioned_data"
    assert any(conflict in warning for warning in warnings), warnings
    # Both writers' rows are on main: nothing was lost, nothing merged twice.
    rows = open_catalog(lake_settings).load_table("seed.partitioned_data").scan(row_filter="ds == '2026-11-07'")
    counts = rows.to_arrow().group_by(["hr", "min"]).aggregate([("event_id", "count")]).to_pylist()
    assert {(row["hr"], row["min"]): row["event_id_count"] for row in counts} == {(0, 0): 10, (0, 15): 10, (1, 0): 1}
    assert first in {branch.name for branch in nessie.branches("wap-")}  # the conflicted attempt, kept


def wait_for_new_branch(nessie: NessieBranches, known: set[str], asset: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        new = [b.name for b in nessie.branches("wap-") if b.name not in known and f"-{asset}-" in b.name]
        if new:
            return new[0]
        time.sleep(0.2)
    raise AssertionError(f"no WAP branch for {asset} within {timedelta(seconds=timeout)}")


def test_the_embedded_instance_limits_each_table_pool_to_one_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each Spark table asset has its table's pool; the instance limits every pool to one step (docker/'s
    instance too: tests/docker/test_dagster_config.py)."""
    (tmp_path / "dagster.yaml").write_text(DAGSTER_YAML)
    monkeypatch.setenv("LAKE_DAGSTER__POSTGRES_URL", "postgresql://lake@127.0.0.1:5432/dagster")
    config, _ = dagster_instance_config(str(tmp_path))  # Dagster's own schema check
    assert config["concurrency"]["pools"]["default_limit"] == 1
    assert {table_pool(table) for table in ("seed.static_data", "seed.partitioned_data", KLINES)} == {
        asset.op.pool for asset in (static_data, partitioned_data, klines)
    }
