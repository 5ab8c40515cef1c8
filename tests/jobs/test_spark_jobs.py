"""Each Spark job through spark-submit, writing through Nessie onto S3, read back through pyiceberg."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pyarrow as pa
import pytest

from lake.catalog import open_catalog
from lake.settings import LakeSettings
from lake.spark_submit import SparkJobError, submit
from lake.storage import read_manifest, s3_client
from lake_contracts.manifest import Manifest
from lake_contracts.slots import slots_between
from scrapworker.landing import LandingWriter
from scrapworker.protocol import JobSpec
from tests.jobs.conftest import Lander
from tests.lake_tools.test_bootstrap import warehouse_objects

pytestmark = pytest.mark.spark

NOV_1 = datetime(2026, 11, 1, tzinfo=UTC)


def rows(settings: LakeSettings, table: str) -> list[dict[str, object]]:
    return open_catalog(settings).load_table(table).scan().to_arrow().to_pylist()


def test_static_data_is_rewritten_idempotently(lake_settings: LakeSettings, unique_name: str) -> None:
    table = f"seed.{unique_name}"
    submit(lake_settings, "static_data", ["--table", table])
    before = sorted(r["symbol"] for r in rows(lake_settings, table))  # type: ignore[type-var]
    submit(lake_settings, "static_data", ["--table", table])
    assert sorted(r["symbol"] for r in rows(lake_settings, table)) == before == ["BNBUSDT", "BTCUSDT", "ETHUSDT"]  # type: ignore[type-var]


def test_partitioned_range_in_one_submit_and_a_rerun_leaves_the_same_rows(
    lake_settings: LakeSettings, unique_name: str
) -> None:
    table = f"seed.{unique_name}"
    args = ["--table", table, "--cadence-minutes", "15", "--rows-per-slot", "3"]
    submit(lake_settings, "partitioned_data", [*args, "--start", "2026-11-01T23:30Z", "--end", "2026-11-02T00:30Z"])
    first = rows(lake_settings, table)
    assert len(first) == 12

    submit(lake_settings, "partitioned_data", [*args, "--partition-key", "2026-11-02-00:15"])  # one slot again
    again = rows(lake_settings, table)
    key = lambda r: r["event_id"]  # noqa: E731
    assert sorted(again, key=key) == sorted(first, key=key)  # type: ignore[arg-type]

    partitions = {(r["ds"], r["hr"], r["min"]) for r in again}
    expected = slots_between(datetime(2026, 11, 1, 23, 30, tzinfo=UTC), datetime(2026, 11, 2, 0, 30, tzinfo=UTC), 15)
    assert partitions == {slot.partition_values() for slot in expected}  # the shared mapping, crossing midnight
    table_partitions = open_catalog(lake_settings).load_table(table).inspect.partitions().to_pylist()
    assert sorted(p["record_count"] for p in table_partitions) == [3, 3, 3, 3]


def test_a_missing_namespace_fails_before_any_file_is_written(lake_settings: LakeSettings) -> None:
    before = warehouse_objects(lake_settings)
    with pytest.raises(SparkJobError, match="namespace 'nowhere' does not exist"):
        submit(
            lake_settings,
            "partitioned_data",
            ["--table", "nowhere.events", "--cadence-minutes", "15", "--partition-key", "2026-11-01-00:00"],
        )
    assert warehouse_objects(lake_settings) == before, "data files reached S3 for a namespace that does not exist"


def test_a_schema_mismatch_names_the_column(lake_settings: LakeSettings, unique_name: str) -> None:
    table = f"seed.{unique_name}"
    schema = pa.schema(
        [
            ("event_id", pa.string()),
            ("slot_start", pa.timestamp("us")),
            ("value", pa.string()),
            ("ds", pa.string()),
            ("hr", pa.int32()),
            ("min", pa.int32()),
        ]
    )
    open_catalog(lake_settings).create_table(table, schema=schema)
    with pytest.raises(SparkJobError, match=r"column 'value' of .* is string, the job writes double"):
        submit(
            lake_settings,
            "partitioned_data",
            ["--table", table, "--cadence-minutes", "15", "--partition-key", "2026-11-01-00:00"],
        )


def typing_paths(log: str) -> tuple[int, int]:
    """(appended, merged) as the klines job reported them."""
    found = re.search(r"(\d+) appended to days it held none of, (\d+) merged", log)
    assert found, log[-2000:]
    return int(found.group(1)), int(found.group(2))


def test_klines_transform_types_the_landings_and_is_idempotent(
    lake_settings: LakeSettings, land_klines: Lander, unique_name: str
) -> None:
    table = f"market.{unique_name}"
    manifests = [land_klines("BTCUSDT", NOV_1, 15), land_klines("ETHUSDT", NOV_1, 15)]
    args = ["--table", table] + [arg for key in manifests for arg in ("--manifest", key)]
    first = submit(lake_settings, "klines_transform", args)
    assert typing_paths(first.log) == (30, 0)  # days it held none of: appended, no MERGE
    assert open_catalog(lake_settings).load_table(table).scan().to_arrow().num_rows == 30
    again = submit(lake_settings, "klines_transform", args)  # the same window again: merged, not appended
    assert typing_paths(again.log) == (0, 30)
    assert open_catalog(lake_settings).load_table(table).scan().to_arrow().num_rows == 30
    # A window over a day it holds and a day it does not: the new day appended, the held one merged.
    new_day = land_klines("BTCUSDT", NOV_1 + timedelta(days=1), 15)
    mixed = submit(lake_settings, "klines_transform", [*args, "--manifest", new_day])
    assert typing_paths(mixed.log) == (15, 30)
    typed = open_catalog(lake_settings).load_table(table)
    landed = typed.scan().to_arrow()
    assert landed.num_rows == 45  # each kline once
    assert len(set(zip(landed["symbol"].to_pylist(), landed["open_time"].to_pylist(), strict=True))) == 45
    assert landed.schema.field("open").type == pa.decimal128(24, 8)
    # Every field of every typed kline is the exchange's own, in its place (a swap of high and low, or of
    # volume and quote volume, would show here): compared with the raw page the landing holds.
    nov_1 = sorted(
        (r for r in landed.to_pylist() if r["symbol"] == "BTCUSDT" and r["open_time"] < NOV_1 + timedelta(days=1)),
        key=lambda r: r["open_time"],
    )
    fields = ["open_time", "open", "high", "low", "close", "volume", "close_time", "quote_volume", "trades"]
    fields += ["taker_buy_base_volume", "taker_buy_quote_volume"]
    assert [[row[name] for name in fields] for row in nov_1] == [
        exchange_row(raw) for raw in raw_rows(lake_settings, manifests[0])
    ]
    assert {row["interval"] for row in nov_1} == {"1m"} and nov_1[0]["open_time"] == NOV_1
    assert all(isinstance(row["close"], Decimal) for row in nov_1)
    assert [field.name for field in typed.spec().fields] == ["open_time_day"]


def raw_rows(settings: LakeSettings, manifest_key: str) -> list[list[str | int]]:
    """The kline rows a landing's pages hold, as the exchange sent them."""
    s3 = s3_client(settings)
    manifest = read_manifest(s3, settings.s3.raw_bucket, manifest_key)
    assert manifest is not None
    rows: list[list[str | int]] = []
    for page in manifest.pages:
        rows += json.loads(s3.get_object(Bucket=settings.s3.raw_bucket, Key=page.key)["Body"].read())
    return rows


def exchange_row(raw: list[str | int]) -> list[object]:
    """Binance's kline row, typed as market.klines holds it: times from ms, prices and amounts as decimals."""

    def at(ms: str | int) -> datetime:
        return datetime.fromtimestamp(int(ms) / 1000, UTC)

    decimal = [Decimal(str(value)) for value in raw]  # every field that is not a time or the trade count
    return [at(raw[0]), *decimal[1:6], at(raw[6]), decimal[7], int(raw[8]), decimal[9], decimal[10]]


def test_klines_transform_refuses_an_incomplete_landing(lake_settings: LakeSettings, unique_name: str) -> None:
    with pytest.raises(SparkJobError, match="is not complete: no manifest"):
        submit(
            lake_settings,
            "klines_transform",
            ["--table", f"market.{unique_name}", "--manifest", "tests/none/manifest.json"],
        )


def test_klines_transform_refuses_a_page_that_is_not_what_its_manifest_hashed(
    lake_settings: LakeSettings, land_klines: Lander, unique_name: str
) -> None:
    key = land_klines("BTCUSDT", NOV_1, 15)
    s3, bucket = s3_client(lake_settings), lake_settings.s3.raw_bucket
    manifest = Manifest.from_json(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    page = manifest.pages[0].key
    s3.put_object(Bucket=bucket, Key=page, Body=s3.get_object(Bucket=bucket, Key=page)["Body"].read() + b" ")
    with pytest.raises(SparkJobError, match="does not match its manifest checksum"):
        submit(lake_settings, "klines_transform", ["--table", f"market.{unique_name}", "--manifest", key])


def test_klines_transform_types_only_the_pages_its_manifest_lists_and_refuses_a_missing_one(
    lake_settings: LakeSettings, land_klines: Lander, unique_name: str
) -> None:
    """The pages are found by listing each landing's prefix: a page there that the manifest does not list
    (left by an earlier, longer attempt) is not typed, and a listed page that is gone refuses the landing."""
    key = land_klines("BTCUSDT", NOV_1, 15)
    s3, bucket = s3_client(lake_settings), lake_settings.s3.raw_bucket
    [page] = Manifest.from_json(s3.get_object(Bucket=bucket, Key=key)["Body"].read()).pages
    body = s3.get_object(Bucket=bucket, Key=page.key)["Body"].read()
    stale = page.key.replace("page-00001", "page-00002")
    s3.put_object(Bucket=bucket, Key=stale, Body=body)  # the same klines again: typed twice would be 30 rows
    table = f"market.{unique_name}"
    run = submit(lake_settings, "klines_transform", ["--table", table, "--manifest", key])
    assert typing_paths(run.log) == (15, 0)
    s3.delete_object(Bucket=bucket, Key=page.key)
    with pytest.raises(SparkJobError, match=f"page s3a://{bucket}/{page.key} is missing"):
        submit(lake_settings, "klines_transform", ["--table", table, "--manifest", key])


def test_klines_transform_refuses_a_row_that_is_not_a_kline(
    lake_settings: LakeSettings, land_klines: Lander, unique_name: str
) -> None:
    good = land_klines("BTCUSDT", NOV_1, 15)
    spec = JobSpec.model_validate(
        {
            "job_id": f"{unique_name}-short".replace("_", "-"),
            "endpoint": "klines",
            "params": {"symbol": "ETHUSDT", "interval": "1m"},
            "window": {"start": NOV_1, "end": NOV_1 + timedelta(minutes=2)},
            "landing_prefix": "tests/jobs",
        }
    )
    landing = LandingWriter(s3_client(lake_settings), lake_settings.s3.raw_bucket, spec)
    kline = [1793491200000, "1.0", "2.0", "0.5", "1.5", "10", 1793491259999, "15", 3, "5", "7.5", "0"]
    landing.write_page(json.dumps([kline, kline[:3]]).encode(), {}, 2)
    landing.write_manifest(worker="test", attempt=1, started_at=datetime.now(UTC))
    table = f"market.{unique_name}"
    args = ["--table", table, "--manifest", good, "--manifest", landing.manifest_key]
    with pytest.raises(SparkJobError, match=r"a record of 3 fields, fewer than 11: \['1793491200000', '1.0', '2.0'\]"):
        submit(lake_settings, "klines_transform", args)
    assert not open_catalog(lake_settings).table_exists(table)  # refused before anything was written


def test_a_full_day_of_minute_slots_in_one_submit(lake_settings: LakeSettings, unique_name: str) -> None:
    """1440 partitions in one task: Iceberg's fanout writer ran this out of memory (exit 52) before."""
    table = f"seed.{unique_name}"
    submit(
        lake_settings,
        "partitioned_data",
        [
            "--table",
            table,
            "--cadence-minutes",
            "1",
            "--rows-per-slot",
            "1",
            "--start",
            "2026-11-01T00:00Z",
            "--end",
            "2026-11-02T00:00Z",
        ],
    )
    assert len(open_catalog(lake_settings).load_table(table).inspect.partitions()) == 1440
