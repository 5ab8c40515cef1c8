"""Checks of the scraper domain: the blocking NULL-partition check on landing.signals (written by pyiceberg
straight to main), and the signals compared with the landings' manifests. The typed klines are a Spark table
written by write-audit-publish: their checks are the asset's own, evaluated on the run's branch before the
merge (lake_assets/wap.py)."""

# No `from __future__ import annotations`: Dagster reads the `context` annotation at definition time.
import dagster as dg

from lake.signals import LandingIncompleteError
from lake.tables import SIGNALS
from lake_assets.context import SETTINGS
from lake_assets.defs.scraper.assets import signals
from lake_assets.defs.scraper.landings import LANDINGS, manifest_key
from lake_assets.null_partition_check import null_partition_check
from lake_assets.partitions import slots_of_run
from lake_assets.resources import CatalogResource, QueueResource, S3Resource

MINUTES = SETTINGS.partitions.cadence_minutes


@dg.asset_check(
    asset=signals,
    name="signals_complete",
    description="Every slot of the run has one signal per expected landing job.",
)
def signals_complete(
    context: dg.AssetCheckExecutionContext, queue: QueueResource, catalog: CatalogResource
) -> dg.AssetCheckResult:
    slots = slots_of_run(dict(context.run.tags), MINUTES)
    endpoints = queue.endpoints()
    expected = {
        spec.job_id for slot in slots for landing in LANDINGS for spec in landing.jobs(slot.start, slot.end, endpoints)
    }
    table = catalog.catalog().load_table(SIGNALS.identifier)
    present = (
        set(table.scan(selected_fields=("job_id",)).to_arrow().column("job_id").to_pylist()) if expected else set()
    )
    missing = sorted(expected - present)
    return dg.AssetCheckResult(
        passed=not missing,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "expected": len(expected),
            "missing": len(missing),
            "missing_jobs": dg.MetadataValue.json(missing[:50]),
        },
    )


@dg.asset_check(
    asset=signals,
    name="landing_matches_signal",
    description="Each signal's record count equals its landing manifest's.",
)
def landing_matches_signal(
    context: dg.AssetCheckExecutionContext, queue: QueueResource, s3: S3Resource, catalog: CatalogResource
) -> dg.AssetCheckResult:
    from lake.signals import read_signal

    slots = slots_of_run(dict(context.run.tags), MINUTES)
    table = catalog.catalog().load_table(SIGNALS.identifier)
    rows = table.scan(selected_fields=("job_id", "record_count")).to_arrow().to_pylist()
    published = {row["job_id"]: row["record_count"] for row in rows}
    client, endpoints, mismatches = s3.client(), queue.endpoints(), []
    for slot in slots:
        for landing in LANDINGS:
            for spec in landing.jobs(slot.start, slot.end, endpoints):
                try:
                    landed = read_signal(client, s3.raw_bucket, manifest_key(spec), slot, run_id=None).record_count
                except LandingIncompleteError:
                    mismatches.append(f"{spec.job_id}: no manifest")
                    continue
                if published.get(spec.job_id) != landed:
                    mismatches.append(f"{spec.job_id}: manifest {landed}, signal {published.get(spec.job_id)}")
    return dg.AssetCheckResult(
        passed=not mismatches,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"checked_slots": len(slots), "mismatches": dg.MetadataValue.json(mismatches[:50])},
    )


CHECKS = [
    null_partition_check(signals, SIGNALS.identifier),
    signals_complete,
    landing_matches_signal,
]
