"""Signal publishing: one row per complete landing, through Nessie; a catalog failure is retried alone."""

from __future__ import annotations

import logging
import secrets
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pyarrow as pa
import pytest

from lake.catalog import open_catalog
from lake.settings import LakeSettings
from lake.signals import LandingIncompleteError, Signal, publish, publish_batch, read_signal
from lake.storage import s3_client
from lake.tables import SIGNALS, SchemaMismatchError, TableDefinition, ensure_table
from lake_contracts.slots import partition_to_slot
from scrapworker.landing import LandingWriter
from scrapworker.protocol import JobSpec


def landed(settings: LakeSettings) -> str:
    spec = JobSpec.model_validate(
        {
            "job_id": f"sig-{secrets.token_hex(4)}",
            "endpoint": "klines",
            "params": {"symbol": "BTCUSDT", "interval": "1m"},
            "window": {"start": "2026-11-01T00:15:00Z", "end": "2026-11-01T00:30:00Z"},
            "landing_prefix": "tests/signals",
        }
    )
    landing = LandingWriter(s3_client(settings), settings.s3.raw_bucket, spec)
    landing.write_page(b"[[1],[2],[3]]", {}, 3)
    landing.write_manifest(worker="test", attempt=1, started_at=datetime.now(UTC))
    return landing.manifest_key


def signal_rows(settings: LakeSettings, job_id: str) -> list[dict[str, object]]:
    table = open_catalog(settings).load_table(SIGNALS.identifier)
    return table.scan(row_filter=f"job_id == '{job_id}'").to_arrow().to_pylist()


def test_publishing_the_same_job_twice_leaves_one_row(lake_settings: LakeSettings) -> None:
    settings = lake_settings
    s3, bucket = s3_client(settings), settings.s3.raw_bucket
    manifest_key = landed(settings)
    slot = partition_to_slot("2026-11-01-00:15", 15)
    signal = read_signal(s3, bucket, manifest_key, slot, run_id="run-1")
    publish(open_catalog(settings), signal)
    publish(open_catalog(settings), read_signal(s3, bucket, manifest_key, slot, run_id="run-2"))

    [row] = signal_rows(settings, signal.job_id)
    assert (row["ds"], row["hr"], row["min"]) == ("2026-11-01", 0, 15)
    assert row["record_count"] == 3 and row["endpoint"] == "klines" and row["run_id"] == "run-2"
    assert row["s3_path"] == f"s3://{bucket}/{manifest_key.rpartition('/')[0]}/"


def test_a_run_publishes_in_one_commit_and_repeated_or_overlapping_runs_keep_one_row_per_job(
    lake_settings: LakeSettings,
) -> None:
    catalog = open_catalog(lake_settings)
    run = secrets.token_hex(3)
    slots = [partition_to_slot(f"2026-11-03-00:0{m}", 1) for m in range(4)]

    def signals(slot_indexes: range, run_id: str) -> list[Signal]:
        return [
            Signal(
                job_id=f"batch-{run}-{symbol}-{i}",
                endpoint="klines",
                s3_path=f"s3://raw/batch/{run}/{i}/",
                manifest_key=f"batch/{run}/{i}/{symbol}/manifest.json",
                record_count=i + 1,
                slot=slots[i],
                run_id=run_id,
                published_at=datetime.now(UTC),
            )
            for i in slot_indexes
            for symbol in ("BTCUSDT", "ETHUSDT")
        ]

    table = ensure_table(catalog, SIGNALS)
    publish_batch(catalog, signals(range(0, 3), "first"))  # six signals over three slots
    table.refresh()
    assert all(table.properties[key] == value for key, value in SIGNALS.properties.items())
    # One commit: Nessie keeps the current snapshot; its summary counts the six rows added at once.
    summary = table.current_snapshot().summary  # type: ignore[union-attr]
    assert summary is not None and summary["added-records"] == "6"
    publish_batch(catalog, signals(range(0, 3), "again"))  # the same run repeated
    publish_batch(catalog, signals(range(1, 4), "overlapping"))  # a run over slots 1..3
    rows = table.refresh().scan(row_filter=f"job_id LIKE 'batch-{run}-%'").to_arrow().to_pylist()
    by_job = {}
    for row in rows:
        assert row["job_id"] not in by_job, f"two rows for {row['job_id']}"
        by_job[row["job_id"]] = row["run_id"]
    assert len(by_job) == 8  # four slots x two landings, one row each
    assert {by_job[f"batch-{run}-BTCUSDT-0"], by_job[f"batch-{run}-BTCUSDT-3"]} == {"again", "overlapping"}


def test_concurrent_runs_republishing_the_same_jobs_keep_one_row_per_job(
    lake_settings: LakeSettings, caplog: pytest.LogCaptureFixture
) -> None:
    """Two runs publish the same jobs at once, again and again: their commits conflict, and each retry
    plans its delete on the winner's rows, so no job is ever left with two rows."""
    run = secrets.token_hex(3)
    slot = partition_to_slot("2026-11-04-00:00", 1)

    def batch(run_id: str) -> list[Signal]:
        return [
            Signal(
                job_id=f"race-{run}-{i}",
                endpoint="klines",
                s3_path=f"s3://raw/race/{run}/{i}/",
                manifest_key=f"race/{run}/{i}/manifest.json",
                record_count=1,
                slot=slot,
                run_id=run_id,
                published_at=datetime.now(UTC),
            )
            for i in range(3)
        ]

    def publisher(name: str) -> None:
        catalog = open_catalog(lake_settings)  # each run has its own catalog client, as separate processes do
        for round_ in range(6):
            publish_batch(catalog, batch(f"{name}-{round_}"))

    with caplog.at_level(logging.INFO, logger="lake.tables"), ThreadPoolExecutor(max_workers=2) as pool:
        for done in [pool.submit(publisher, "a"), pool.submit(publisher, "b")]:
            done.result()
    assert "another commit got in first" in caplog.text, "the runs never collided: the test proved nothing"
    table = ensure_table(open_catalog(lake_settings), SIGNALS)
    rows = table.scan(row_filter=f"job_id LIKE 'race-{run}-%'").to_arrow().to_pylist()
    assert sorted(row["job_id"] for row in rows) == [f"race-{run}-{i}" for i in range(3)]


def test_a_catalog_failure_leaves_the_landing_and_the_publish_is_retried_alone(lake_settings: LakeSettings) -> None:
    s3, bucket = s3_client(lake_settings), lake_settings.s3.raw_bucket
    manifest_key = landed(lake_settings)
    before = s3.list_objects_v2(Bucket=bucket, Prefix=manifest_key.rpartition("/")[0])["Contents"]
    signal = read_signal(s3, bucket, manifest_key, partition_to_slot("2026-11-01-00:15", 15), run_id="r")
    broken = lake_settings.model_copy(
        update={"catalog": lake_settings.catalog.model_copy(update={"uri": "http://127.0.0.1:9/iceberg"})}
    )
    with pytest.raises(Exception, match=r"Connection refused|Max retries"):
        publish(open_catalog(broken), signal)
    after = s3.list_objects_v2(Bucket=bucket, Prefix=manifest_key.rpartition("/")[0])["Contents"]
    assert [(o["Key"], o["ETag"]) for o in after] == [(o["Key"], o["ETag"]) for o in before]

    publish(open_catalog(lake_settings), signal)  # the retry: no re-crawl, no re-landing
    assert len(signal_rows(lake_settings, signal.job_id)) == 1


def test_no_signal_for_an_incomplete_landing(lake_settings: LakeSettings) -> None:
    with pytest.raises(LandingIncompleteError, match="the landing is not complete"):
        read_signal(
            s3_client(lake_settings),
            lake_settings.s3.raw_bucket,
            "tests/none/manifest.json",
            partition_to_slot("2026-11-01-00:15", 15),
            run_id=None,
        )


def test_an_existing_table_with_other_columns_is_refused_by_name(lake_settings: LakeSettings, unique_name: str) -> None:
    catalog = open_catalog(lake_settings)
    identifier = f"landing.{unique_name}"
    catalog.create_table(identifier, schema=pa.schema([("job_id", pa.string()), ("record_count", pa.string())]))
    definition = TableDefinition(identifier, SIGNALS.schema, SIGNALS.spec)
    with pytest.raises(SchemaMismatchError) as raised:
        ensure_table(catalog, definition)
    message = str(raised.value)
    assert f"column 'endpoint' is missing from {identifier}" in message
    assert "column 'record_count'" in message and "declared long" in message
