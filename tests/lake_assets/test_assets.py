"""The Dagster code location against the embedded stack: every asset, the checks, range backfills.

Runs execute in process on an ephemeral instance, except the CLI backfill, which uses the embedded
PostgreSQL instance exactly as `lake dagster` does.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import requests

from lake.branches import NessieBranches, on_branch
from lake.catalog import open_catalog
from lake.settings import LakeSettings
from lake_assets.airflow_dags import pipeline_specs
from lake_assets.definitions import checks_for, defs
from lake_assets.defs.hello.assets import hello
from lake_assets.defs.history import HISTORY, MONTHS, months
from lake_assets.defs.history.load import history_assets
from lake_assets.defs.scraper.assets import ASSETS, RAW_LANDINGS, SCRAPER, signals
from lake_assets.defs.seed.assets import partitioned_data, partitioned_data_report, static_data
from lake_assets.landing_assets import grain_assets
from lake_assets.loaded_settings import LANDINGS, SETTINGS
from lake_assets.partitions import RANGE_END_TAG, RANGE_START_TAG
from lake_assets.resources import SparkResource, all_resources
from lake_assets.wap import table_pool
from lake_tools.stack import Stack
from market_sim import MarketSimulator
from scrapworker.endpoints import endpoints_for
from scrapworker.landings import BUILTIN_LANDINGS, load_landings
from scrapworker.protocol import JobState
from scrapworker.queue import JobQueue
from tests.lake_assets.runs import (
    QUIET,
    check_results,
    materialize,
    materialized_keys,
    metadata,
    step_failure,
    wap_branch_in,
)
from tests.support import LAKE, clean_environ, jobs_per_slot, kline_symbols

SLOT = "2026-11-01-00:00"


@pytest.fixture(scope="module")
def worker(dagster_env: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[subprocess.Popen[bytes]]:
    log = (tmp_path_factory.mktemp("worker") / "worker.log").open("wb")
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "scrapworker"), "run", "--concurrency", "4"],
        env=clean_environ(LAKE_ENV_FILE=str(dagster_env)),
        stdout=log,
        stderr=log,
    )
    yield process
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)


def test_the_asset_graph_mirrors_the_seed_pipelines() -> None:
    graph = defs.resolve_asset_graph()
    groups = {key.to_user_string(): graph.get(key).group_name for key in graph.get_all_asset_keys()}
    assert groups == {
        "hello": "hello",
        "seed/static_data": "static",
        "seed/partitioned_data": "partitioned",
        "seed/partitioned_data_report": "partitioned",
        "raw_binance_klines": "scraper",
        "raw_binance_ticker_24hr": "scraper",
        "landing/signals": "scraper",
        "market/klines": "scraper",
        "history/raw_binance_klines": "history",
        "history/landing/signals": "history",
        "history/market/klines": "history",
        "maintenance/wap_branches": "maintenance",
        "maintenance/seed/static_data": "maintenance",
        "maintenance/seed/partitioned_data": "maintenance",
        "maintenance/landing/signals": "maintenance",
        "maintenance/market/klines": "maintenance",
    }
    blocking = {
        f"{key.asset_key.to_user_string()}:{key.name}"
        for key in graph.asset_check_keys
        if graph.get_check_spec(key).blocking
    }
    assert blocking == {
        "seed/static_data:no_null_partitions",
        "seed/partitioned_data:no_null_partitions",
        "seed/partitioned_data:rows_per_slot",
        "landing/signals:no_null_partitions",
        "market/klines:no_null_partitions",
        "market/klines:typed_rows_committed",
        "history/landing/signals:no_null_partitions",
        "history/market/klines:no_null_partitions",
        "history/market/klines:typed_rows_committed",
        "landing/signals:slots_on_time",  # the SLA monitor: its own run fails when slots are missing
    }
    # The monitor runs on its own (the bridge's landing_sla_v1), never in a slot's run: an old gap would
    # fail every new slot.
    specs = {spec["dag_id"]: spec for spec in pipeline_specs()}
    carried = {name for spec in specs.values() if spec["dag_id"] != "landing_sla_v1" for task in spec["tasks"]
               for _, name in task["check_keys"]}  # fmt: skip
    assert "slots_on_time" not in carried and "signals_complete" in carried
    assert specs["landing_sla_v1"]["tasks"][0]["check_keys"] == [[["landing", "signals"], "slots_on_time"]]
    assert "slots_on_time" not in {check.check_key.name for check in checks_for(ASSETS.assets)}
    # The Spark tables are published by write-audit-publish: one writer per table at a time.
    spark_tables = {"seed/static_data": "seed.static_data", "seed/partitioned_data": "seed.partitioned_data"}
    klines = {"market/klines": "market.klines", "history/market/klines": "market.klines"}
    for key, table in (spark_tables | klines).items():
        assert graph.get(dg.AssetKey.from_user_string(key)).pools == {table_pool(table)}
    # A table's maintenance takes turns with its writers (signals included): no commit overtakes the other.
    for table in ("seed.static_data", "seed.partitioned_data", "landing.signals", "market.klines"):
        writer = graph.get(dg.AssetKey(table.split(".")))
        maintenance = graph.get(dg.AssetKey(["maintenance", *table.split(".")]))
        assert maintenance.pools == writer.pools == {table_pool(table)}
    # The history grain's one step writes both landing tables and holds one pool, the typed table's (a step has
    # one): its WAP merge is what a concurrent writer would make fail. Its signal commits are pyiceberg's,
    # retried on a conflict as every signal commit is.
    history = graph.get(dg.AssetKey(["history", "landing", "signals"]))
    assert history.pools == graph.get(dg.AssetKey(["market", "klines"])).pools == {table_pool("market.klines")}
    assert graph.get(dg.AssetKey(["market", "klines"])).parent_keys == {
        dg.AssetKey("raw_binance_klines"),
        dg.AssetKey(["landing", "signals"]),
    }


def test_history_is_a_month_grain_that_ends_where_the_slots_begin() -> None:
    keys = MONTHS.get_partition_keys()
    start, slots = SETTINGS.history.start, SETTINGS.partitions.start
    assert keys[0] == f"{start:%Y-%m}" and len(keys) < 200  # a decade of history, not millions of slot keys
    assert keys[-1] == f"{slots - timedelta(minutes=1):%Y-%m}"
    # A range reaching past the first slot stops at it: nothing is loaded twice, nothing falls between.
    windows = months(slots - timedelta(days=40), slots + timedelta(days=40))
    assert windows[-1][1] == slots and all(a < b for a, b in windows)
    assert all(b == c for (_, b), (c, _) in itertools.pairwise(windows))


def test_hello_maps_its_partition(dagster_env: Path) -> None:
    result = materialize([hello], dagster_env, partition_key="2026-11-01-23:45")
    assert result.success
    assert metadata(result, "hello")["partition_values"] == "('2026-11-01', 23, 45)"


@pytest.mark.spark
def test_static_data_with_its_check(dagster_env: Path) -> None:
    result = materialize([static_data], dagster_env)
    assert result.success
    assert metadata(result, "seed/static_data")["rows"] == 3
    assert check_results(result) == {"seed/static_data:no_null_partitions": True}


@pytest.mark.spark
def test_a_range_of_the_spark_assets_is_one_run_and_one_submit(dagster_env: Path) -> None:
    tags = {RANGE_START_TAG: "2026-11-02-00:00", RANGE_END_TAG: "2026-11-02-00:45"}
    result = materialize([partitioned_data, partitioned_data_report], dagster_env, tags=tags)
    assert result.success
    assert metadata(result, "seed/partitioned_data")["slots"] == 4  # one spark-submit wrote all four
    report = metadata(result, "seed/partitioned_data_report")
    assert report["rows_by_slot"] == {
        "2026-11-02-00:00": 10,
        "2026-11-02-00:15": 10,
        "2026-11-02-00:30": 10,
        "2026-11-02-00:45": 10,
    }
    assert check_results(result) == {
        "seed/partitioned_data:no_null_partitions": True,
        "seed/partitioned_data:rows_per_slot": True,  # reported by the Spark job through Pipes
    }


@pytest.mark.spark
def test_the_spark_job_reports_its_logs_metadata_and_check_through_pipes(dagster_env: Path) -> None:
    """What the job said reaches the run's event log: its own log line, the metadata and its check."""
    instance = dg.DagsterInstance.ephemeral()
    result = materialize([partitioned_data], dagster_env, partition_key="2026-11-05-00:00", instance=instance)
    assert result.success
    logs = instance.all_logs(result.run_id)
    messages = [record.user_message for record in logs]
    assert any("1 slot(s) from 2026-11-05-00:00 overwritten, 10 rows each" in message for message in messages)
    [materialization] = [record.asset_materialization for record in logs if record.asset_materialization is not None]
    assert materialization.metadata["rows"].value == 10 and materialization.metadata["slots"].value == 1
    assert materialization.metadata["partitions"].value == [["2026-11-05", 0, 0]]
    evaluations = [
        record.dagster_event.event_specific_data
        for record in logs
        if record.dagster_event is not None and record.dagster_event.event_type_value == "ASSET_CHECK_EVALUATION"
    ]
    assert {(e.check_name, e.passed) for e in evaluations} >= {("rows_per_slot", True)}
    assert next(e for e in evaluations if e.check_name == "rows_per_slot").metadata["expected_per_slot"].value == 10


@pytest.mark.spark
def test_a_failing_spark_job_fails_the_step_with_its_own_error_in_the_event_log(dagster_env: Path) -> None:
    @dg.asset(name="into_a_missing_namespace")
    def broken(context, spark: SparkResource):  # type: ignore[no-untyped-def]  # Dagster reads `context` unannotated
        return spark.run(context, "static_data", ["--table", "nowhere.static"]).get_materialize_result()

    instance = dg.DagsterInstance.ephemeral()
    result = materialize([broken], dagster_env, instance=instance, raise_on_error=False)
    assert not result.success
    errors = [record.user_message for record in instance.all_logs(result.run_id) if record.level >= logging.ERROR]
    assert any("error: namespace 'nowhere' does not exist" in message for message in errors), errors
    [failure] = result.get_step_failure_events()
    assert failure.step_failure_data.error is not None
    assert "Spark job static_data failed: error: namespace 'nowhere'" in failure.step_failure_data.error.message


def assert_the_null_check_keeps_the_run_off_main(
    result: dg.ExecuteInProcessResult, why: str, settings: LakeSettings, main_before: str, slot: tuple[str, int, int]
) -> None:
    """The run failed its blocking check on its branch: nothing of it reached main, the branch holds it."""
    assert not result.success
    assert check_results(result) == {
        "seed/partitioned_data:no_null_partitions": False,
        "seed/partitioned_data:rows_per_slot": True,  # the job's own write was right; the table is not
    }
    [evaluation] = [e for e in result.get_asset_check_evaluations() if e.check_name == "no_null_partitions"]
    assert evaluation.severity is dg.AssetCheckSeverity.ERROR
    assert why in str(evaluation.metadata["offending"].value)
    assert materialized_keys(result) == set()  # not published, and the report downstream never ran
    branch = wap_branch_in(step_failure(result))
    assert result.run_id[:8] in branch
    assert NessieBranches.from_settings(settings).hash_of("main") == main_before
    ds, hr, minute = slot
    where = f"ds == '{ds}' and hr == {hr} and min == {minute}"
    on_main = open_catalog(settings).load_table("seed.partitioned_data").scan(row_filter=where)
    on_branch_ = open_catalog(on_branch(settings, branch)).load_table("seed.partitioned_data").scan(row_filter=where)
    assert (on_main.to_arrow().num_rows, on_branch_.to_arrow().num_rows) == (0, 10)


@pytest.mark.spark
def test_a_null_partition_fails_the_blocking_check_and_the_run_stays_off_main(
    dagster_env: Path, spark: Any, lake_settings: LakeSettings
) -> None:
    assert materialize([partitioned_data], dagster_env, partition_key="2026-11-03-00:00").success
    spark.conf.set("spark.sql.ansi.enabled", "false")
    try:
        # The real way: a value that does not cast becomes NULL, and so does its partition.
        spark.sql(
            "INSERT INTO seed.partitioned_data "
            "SELECT 'bad', TIMESTAMP '2026-11-03 00:00:00', 1.0, '2026-11-03', CAST('zero' AS INT), 0"
        )
        main_before = NessieBranches.from_settings(lake_settings).hash_of("main")
        result = materialize(
            [partitioned_data, partitioned_data_report],
            dagster_env,
            partition_key="2026-11-03-00:15",
            raise_on_error=False,
        )
        assert_the_null_check_keeps_the_run_off_main(
            result, "hr: null_value", lake_settings, main_before, ("2026-11-03", 0, 15)
        )
    finally:
        spark.sql("DELETE FROM seed.partitioned_data WHERE hr IS NULL")
        spark.conf.set("spark.sql.ansi.enabled", "true")
    assert materialize([partitioned_data], dagster_env, partition_key="2026-11-03-00:15").success


@pytest.mark.spark
def test_a_spec_evolved_table_fails_the_blocking_check_and_the_run_stays_off_main(
    dagster_env: Path, spark: Any, lake_settings: LakeSettings
) -> None:
    """Partition spec evolution on Nessie: files written before it lack the new field (NULL in metadata)."""
    assert materialize([partitioned_data], dagster_env, partition_key="2026-11-04-00:00").success
    spark.sql("ALTER TABLE seed.partitioned_data ADD PARTITION FIELD bucket(4, event_id) AS event_bucket")
    try:
        main_before = NessieBranches.from_settings(lake_settings).hash_of("main")
        result = materialize(
            [partitioned_data, partitioned_data_report],
            dagster_env,
            partition_key="2026-11-04-00:15",
            raise_on_error=False,
        )
        assert_the_null_check_keeps_the_run_off_main(
            result, "event_bucket: not_in_spec", lake_settings, main_before, ("2026-11-04", 0, 15)
        )
    finally:
        # The remedy: back to the declared spec, and every file rewritten under it.
        spark.sql("ALTER TABLE seed.partitioned_data DROP PARTITION FIELD event_bucket")
        spark.sql(
            "CALL lake.system.rewrite_data_files("
            "table => 'seed.partitioned_data', options => map('rewrite-all', 'true'))"
        )
    assert materialize([partitioned_data], dagster_env, partition_key="2026-11-04-00:30").success


@pytest.mark.spark
def test_the_scraper_pipeline_for_a_slot(
    dagster_env: Path, worker: subprocess.Popen[bytes], lake_settings: LakeSettings
) -> None:
    result = materialize(ASSETS.assets, dagster_env, partition_key=SLOT)
    assert result.success
    symbols = len(LANDINGS[0].param_sets)
    landing = metadata(result, "raw_binance_klines")
    assert (landing["jobs"], landing["records"], landing["pages"]) == (symbols, 15 * symbols, symbols)  # a page each
    ticker = metadata(result, "raw_binance_ticker_24hr")  # landed raw: a snapshot per symbol, no typed table
    assert (ticker["jobs"], ticker["records"]) == (len(LANDINGS[1].param_sets),) * 2
    assert metadata(result, "landing/signals")["rows"] == symbols + len(LANDINGS[1].param_sets)
    phases = metadata(result, "landing/signals")["seconds"]  # where the step's second goes
    assert set(phases) == {"start", "read", "catalog", "commit"} and all(s >= 0 for s in phases.values()), phases
    assert metadata(result, "market/klines")["rows"] == 15 * symbols
    assert all(check_results(result).values()), check_results(result)
    assert set(check_results(result)) >= {
        "landing/signals:signals_complete",
        "landing/signals:landing_matches_signal",
        "market/klines:typed_rows_committed",  # reported by the Spark job through Pipes
    }


@pytest.mark.spark
def test_two_months_of_history_for_a_configured_symbol_land_and_are_typed_month_by_month_in_one_run(
    dagster_env: Path, worker: subprocess.Popen[bytes], lake_settings: LakeSettings, tmp_path: Path
) -> None:
    """The history grain: a range of months is one run and one step, the same signals table, typed table and
    checks as the slots; each month is catalogued and typed as it lands (a signal commit and an append of
    its own), and the range reaches main in one merge. The landings come from the file: a symbol is
    configuration, not code."""
    # The shipped file with its symbol list cut to one symbol it does not have (one month of it is 45 pages).
    shipped = BUILTIN_LANDINGS.read_text()
    symbols = shipped[shipped.index("      symbol:\n") : shipped.index("    typed: klines")]
    path = tmp_path / "landings.yaml"
    path.write_text(shipped.replace(symbols, "      symbol:\n        - XRPUSDT\n"))
    landings = tuple(
        landing for landing in load_landings(endpoints_for(lake_settings.crawler), path) if landing.history
    )
    history = history_assets(dataclasses.replace(HISTORY, landings=landings))
    result = dg.materialize(
        [*history.assets, *history.checks],
        tags={RANGE_START_TAG: "2026-09", RANGE_END_TAG: "2026-10"},
        resources=all_resources(env_file=str(dagster_env)),
        instance=dg.DagsterInstance.ephemeral(),
        run_config=QUIET,
    )
    assert result.success
    symbols, september, october = len(landings[0].param_sets), 30 * 1440, 31 * 1440
    assert [p["symbol"] for p in landings[0].param_sets] == ["XRPUSDT"]
    raw = metadata(result, "history/raw_binance_klines")
    # One job per symbol and month, 44 and 45 pages: no page more than the rows need.
    assert (raw["jobs"], raw["records"], raw["pages"]) == (2 * symbols, september + october, symbols * (44 + 45))
    signals_meta = metadata(result, "history/landing/signals")
    assert (signals_meta["rows"], signals_meta["commits"]) == (2 * symbols, 2)  # a commit per month as it landed
    typed = metadata(result, "history/market/klines")
    assert (typed["rows"], typed["appended"], typed["merged"], typed["pieces"]) == (
        september + october,
        september + october,
        0,
        2,
    )
    assert check_results(result) == {
        "history/landing/signals:no_null_partitions": True,
        "history/landing/signals:signals_complete": True,
        "history/landing/signals:landing_matches_signal": True,
        "history/market/klines:no_null_partitions": True,
        "history/market/klines:typed_rows_committed": True,
    }
    catalog = open_catalog(lake_settings)
    added = catalog.load_table("market.klines").scan(row_filter="symbol == 'XRPUSDT'").to_arrow()
    assert added.num_rows == september + october  # the new symbol, typed beside the others
    signals_rows = catalog.load_table("landing.signals").scan(row_filter="ds == '2026-09-01'").to_arrow().to_pylist()
    history_jobs = sorted(row["job_id"] for row in signals_rows if row["endpoint"] == "klines")
    assert history_jobs == sorted(
        f"binance.klines.{p['symbol']}-1m.20260901T0000-20261001T0000" for p in landings[0].param_sets
    )


@pytest.mark.spark
def test_a_daily_kline_in_utc_plus_8_lands_and_types_with_the_exchange_s_boundaries(
    dagster_env: Path, worker: subprocess.Popen[bytes], lake_settings: LakeSettings, simulator: MarketSimulator,
    tmp_path: Path,
) -> None:  # fmt: skip
    """A configured landing of 1d klines at timeZone 8: the day opens at 16:00 UTC, so the slot ending at 16:00
    lands the day that closes then, the slot after lands nothing, and the typed row is the exchange's day."""
    path = tmp_path / "landings.yaml"
    path.write_text(
        "version: 1\nlandings:\n  binance_klines_1d_utc8:\n    endpoint: klines\n    prefix: binance\n"
        "    params: {interval: 1d, timeZone: '8'}\n    for_each: {symbol: [SOLUSDT]}\n    typed: klines\n"
    )
    landings = load_landings(endpoints_for(lake_settings.crawler), path)
    assets = grain_assets(dataclasses.replace(SCRAPER, landings=landings))
    minutes = SETTINGS.partitions.cadence_minutes
    closes_at = datetime(2026, 11, 2, 16, tzinfo=UTC)  # midnight of 3 November in UTC+8

    def run(slot_start: datetime) -> dg.ExecuteInProcessResult:
        result = dg.materialize(
            [*assets.assets, *assets.checks],
            partition_key=slot_start.strftime("%Y-%m-%d-%H:%M"),
            resources=all_resources(env_file=str(dagster_env)),
            instance=dg.DagsterInstance.ephemeral(),
            run_config=QUIET,
        )
        assert result.success and all(check_results(result).values()), check_results(result)
        return result

    landed = run(closes_at - timedelta(minutes=minutes))
    assert metadata(landed, "raw_binance_klines_1d_utc8")["records"] == 1
    after = run(closes_at)
    assert metadata(after, "raw_binance_klines_1d_utc8")["records"] == 0  # the next day closes a day later
    typed = (
        open_catalog(lake_settings)
        .load_table("market.klines")
        .scan(row_filter="symbol == 'SOLUSDT' AND interval == '1d'")
        .to_arrow()
        .to_pylist()
    )
    day_ms = int((closes_at - timedelta(days=1)).timestamp() * 1000)
    [exchange] = requests.get(
        simulator.base_url + "/api/v3/klines",
        params={"symbol": "SOLUSDT", "interval": "1d", "timeZone": "8", "startTime": day_ms, "limit": 1},
        timeout=5,
    ).json()
    assert [(row["open_time"], row["close_time"]) for row in typed] == [
        (closes_at - timedelta(days=1), closes_at - timedelta(milliseconds=1))
    ]
    assert exchange[0] == day_ms
    assert (typed[0]["close"], typed[0]["trades"]) == (Decimal(exchange[4]), exchange[8])  # the exchange's day


def test_the_sla_monitor_names_exactly_the_slots_a_stopped_crawler_missed_and_clears_after_a_backfill(
    stack: Stack, simulator: MarketSimulator, lake_settings: LakeSettings, tmp_path: Path
) -> None:
    """Slots S0..S2 are due, the slot after them is not yet (its end is within the grace). S0 lands; the crawler
    stops, so S1 and S2 do not: the monitor fails naming exactly those two. A backfill with the crawler back
    lands them, and the monitor passes."""
    now = datetime.now(UTC)
    minutes = SETTINGS.partitions.cadence_minutes
    boundary = now.replace(second=0, microsecond=0) - timedelta(minutes=now.minute % minutes)
    # A grace that puts `due by` mid-slot for a while: the slot ending at `boundary` stays not yet due.
    grace = int((now - boundary).total_seconds() // 60) + minutes // 2
    first = boundary - 4 * timedelta(minutes=minutes)
    slots = [first + i * timedelta(minutes=minutes) for i in range(3)]
    keys = [slot.strftime("%Y-%m-%d-%H:%M") for slot in slots]
    prefix = f"scrapworker-sla-{secrets.token_hex(3)}"
    env_file = tmp_path / "sla.env"
    env_file.write_text(
        stack.env_file.read_text()
        + f"LAKE_QUEUE__PREFIX={prefix}\nLAKE_CRAWLER__BASE_URLS={json.dumps({'binance': simulator.base_url})}\n"
        + f"LAKE_PARTITIONS__START={first.isoformat()}\nLAKE_SLA__GRACE_MINUTES={grace}\n"
    )
    landings_file = tmp_path / "landings.yaml"  # a landing of its own: its job ids are no other test's
    landings_file.write_text(
        f"version: 1\nlandings:\n  sla_klines:\n    endpoint: klines\n    prefix: sla-{secrets.token_hex(3)}\n"
        "    params: {interval: 1m}\n    for_each: {symbol: [BTCUSDT]}\n"
    )
    assets = grain_assets(
        dataclasses.replace(SCRAPER, landings=load_landings(endpoints_for(lake_settings.crawler), landings_file))
    )
    monitor = dg.Definitions(
        assets=assets.assets,
        asset_checks=assets.monitors,
        jobs=[dg.define_asset_job("sla", selection=dg.AssetSelection.checks(*assets.monitors))],
        resources=all_resources(env_file=str(env_file)),
    ).resolve_job_def("sla")

    def land(**kwargs: Any) -> dg.ExecuteInProcessResult:
        return dg.materialize(
            [*assets.assets, *assets.checks],
            resources=all_resources(env_file=str(env_file)),
            instance=dg.DagsterInstance.ephemeral(),
            run_config={**QUIET, "ops": {"scraper_raw_landings": {"config": {"wait_seconds": 5}}}},
            raise_on_error=False,
            **kwargs,
        )

    def sla() -> dg.AssetCheckEvaluation:
        [evaluation] = monitor.execute_in_process(
            instance=dg.DagsterInstance.ephemeral(), raise_on_error=False
        ).get_asset_check_evaluations()
        return evaluation

    def crawler() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [str(Path(sys.executable).parent / "scrapworker"), "run"],
            env=clean_environ(LAKE_ENV_FILE=str(env_file)),
            stdout=subprocess.DEVNULL,
            stderr=(tmp_path / "worker.log").open("ab"),
        )

    def stop(process: subprocess.Popen[bytes]) -> None:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)

    worker = crawler()
    try:
        assert land(partition_key=keys[0]).success
    finally:
        stop(worker)
    assert not any(land(partition_key=key).success for key in keys[1:])  # the crawler is down: nothing lands

    missed = sla()
    assert not missed.passed and missed.severity is dg.AssetCheckSeverity.ERROR
    assert missed.metadata["missing_slots"].value == keys[1:]
    assert missed.metadata["due_slots"].value == 3
    assert missed.description == f"2 of 3 due slot(s) have no signal: {keys[1]} (1/1 jobs), {keys[2]} (1/1 jobs)"

    worker = crawler()
    try:
        assert land(tags={RANGE_START_TAG: keys[1], RANGE_END_TAG: keys[2]}).success  # the backfill, one run
    finally:
        stop(worker)
    cleared = sla()
    assert cleared.passed and cleared.metadata["missing_slots"].value == []


@pytest.mark.spark
def test_a_catalog_failure_retries_the_signal_alone(
    dagster_env: Path, worker: subprocess.Popen[bytes], lake_settings: LakeSettings, tmp_path: Path
) -> None:
    """A slot's run carries its landing and its signal, as the bridge DAG's task launches it. The catalog
    failing retries the signal step alone, and the run Airflow's task retry launches, landing step included,
    finds the slot landed instead of crawling it again."""
    slot = "2026-11-01-01:00"
    broken = tmp_path / "broken.env"
    broken.write_text(dagster_env.read_text() + "LAKE_CATALOG__URI=http://127.0.0.1:9/iceberg\n")
    failed = materialize([RAW_LANDINGS, signals], broken, partition_key=slot, raise_on_error=False)
    assert not failed.success
    landing_step, signal_step = RAW_LANDINGS.node_def.name, signals.node_def.name
    started = [e.step_key for e in failed.all_events if e.event_type_value == "STEP_START"]
    retried = [e.step_key for e in failed.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert retried == [signal_step] * 3  # the signal step retried on its own ...
    assert started.count(landing_step) == 1  # ... and the landing step ran once
    queue = JobQueue.from_settings(lake_settings.queue, prefix=_prefix(dagster_env))
    landed = {job_id: queue.status(job_id) for job_id in _job_ids(queue, "20261101T0100")}
    assert landed and all(s is not None and s.state is JobState.SUCCEEDED for s in landed.values())

    assert materialize([RAW_LANDINGS, signals], dagster_env, partition_key=slot).success  # the task's retry
    for job_id, before in landed.items():  # nothing was crawled again: each job's one attempt is the first run's
        after = queue.status(job_id)
        assert after is not None and before is not None and after.attempts == before.attempts == 1
        assert after.finished_at == before.finished_at
    rows = open_catalog(lake_settings).load_table("landing.signals").scan(row_filter="ds == '2026-11-01' and hr == 1")
    assert rows.to_arrow().num_rows == len(landed) == sum(len(landing.param_sets) for landing in LANDINGS)


@pytest.mark.spark
def test_a_range_backfill_from_the_dagster_cli_is_one_run(stack: Stack, lake_settings: LakeSettings) -> None:
    env = clean_environ(LAKE_HOME=str(stack.layout.home), LAKE_ENV_FILE=str(stack.env_file))
    completed = subprocess.run(
        [
            LAKE,
            "dagster",
            "asset",
            "materialize",
            "--select",
            "seed/partitioned_data",
            "--partition-range",
            "2026-11-04-00:00...2026-11-04-00:45",
            "-m",
            "lake_assets.definitions",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    output = completed.stdout + completed.stderr
    assert output.count("RUN_SUCCESS") == 1
    assert len({line.split(" - ")[3] for line in output.splitlines() if "RUN_START" in line}) == 1
    table = open_catalog(lake_settings).load_table("seed.partitioned_data")
    assert table.scan(row_filter="ds == '2026-11-04'").to_arrow().num_rows == 40


@pytest.mark.spark
def test_lake_demo_offline(stack: Stack) -> None:
    env = clean_environ(LAKE_HOME=str(stack.layout.home), LAKE_STACK__PORT_BASE=str(stack.layout.port_base))
    completed = subprocess.run(
        [LAKE, "demo", "--offline", "--slots", "1"], env=env, capture_output=True, text=True, timeout=600
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    records = 15 * kline_symbols() + jobs_per_slot() - kline_symbols()  # 15 klines per symbol, 1 ticker each
    assert f"landed {records} records" in completed.stdout
    assert "checks 5/5 passed" in completed.stdout  # 4 Dagster checks and the klines job's own
    assert "stack left running" in completed.stdout  # it was running before the demo: left alone


def _prefix(env_file: Path) -> str:
    return next(
        line.split("=", 1)[1] for line in env_file.read_text().splitlines() if line.startswith("LAKE_QUEUE__PREFIX=")
    )


@pytest.mark.spark
def test_one_landing_of_the_slot_step_runs_alone(
    dagster_env: Path, worker: subprocess.Popen[bytes], lake_settings: LakeSettings
) -> None:
    """The slot's landings are one step; selecting one of them crawls that landing's jobs and no other's."""
    ticker = dg.AssetKey("raw_binance_ticker_24hr")
    result = materialize([RAW_LANDINGS], dagster_env, partition_key="2026-11-01-03:00", selection=[ticker])
    assert result.success and materialized_keys(result) == {ticker}
    queue = JobQueue.from_settings(lake_settings.queue, prefix=_prefix(dagster_env))
    jobs = _job_ids(queue, "20261101T0300")
    assert sorted(job.split(".")[1] for job in jobs) == ["ticker_24hr"] * len(LANDINGS[1].param_sets), jobs


def _job_ids(queue: JobQueue, window_start: str) -> list[str]:
    keys = list(queue.redis.scan_iter(queue.key("job", f"*{window_start}*")))  # KEYS is no one's to run
    return [str(key).rsplit(":job:", 1)[1] for key in keys]
