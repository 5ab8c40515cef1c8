"""Landing on real S3 (SeaweedFS): deterministic keys, manifest last, re-runs without duplicates."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime

from lake.settings import LakeSettings
from lake.storage import read_manifest, s3_client
from scrapworker.landing import LandingWriter, landing_prefix
from scrapworker.protocol import JobSpec


def job(job_id: str) -> JobSpec:
    return JobSpec.model_validate(
        {
            "job_id": job_id,
            "endpoint": "klines",
            "params": {"symbol": "BTCUSDT", "interval": "1m"},
            "window": {"start": "2026-11-01T00:00:00Z", "end": "2026-11-01T00:15:00Z"},
            "landing_prefix": "tests/landing",
        }
    )


def keys_under(s3: object, bucket: str, prefix: str) -> list[str]:
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix)  # type: ignore[attr-defined]
    return sorted(obj["Key"] for obj in listed.get("Contents", []))


def test_pages_then_manifest_and_a_rerun_leaves_no_stale_page(lake_settings: LakeSettings) -> None:
    s3, bucket = s3_client(lake_settings), lake_settings.s3.raw_bucket
    spec = job(f"j-{secrets.token_hex(3)}")
    prefix = landing_prefix(spec)
    assert prefix == f"tests/landing/klines/20261101T000000Z_20261101T001500Z/{spec.job_id}"

    first = LandingWriter(s3, bucket, spec)
    for body in (b"[[1]]", b"[[2],[3]]", b"[]"):
        first.write_page(body, {"startTime": "0"}, len(json.loads(body)))
    assert read_manifest(s3, bucket, first.manifest_key) is None  # pages alone are not a landing
    manifest = first.write_manifest(worker="w1", attempt=1, started_at=datetime.now(UTC))
    assert (manifest.page_count, manifest.records, manifest.bytes) == (3, 3, 5 + 9 + 2)
    assert read_manifest(s3, bucket, first.manifest_key) == manifest

    # A re-run of the same job that finds fewer pages (the data shrank) overwrites and tidies up.
    rerun = LandingWriter(s3, bucket, spec)
    rerun.write_page(b"[[1],[2]]", {"startTime": "0"}, 2)
    rerun.write_manifest(worker="w2", attempt=2, started_at=datetime.now(UTC))
    assert keys_under(s3, bucket, prefix + "/") == [f"{prefix}/manifest.json", f"{prefix}/page-00001.json"]
    stored = read_manifest(s3, bucket, rerun.manifest_key)
    assert stored is not None and stored.records == 2 and stored.worker == "w2"
    page = s3.get_object(Bucket=bucket, Key=f"{prefix}/page-00001.json")
    assert page["Body"].read() == b"[[1],[2]]"
    assert page["Metadata"]["sha256"] == stored.pages[0].sha256
