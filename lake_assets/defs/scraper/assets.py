"""scraper (the seed's `scraper_pipeline_v1`): raw landing -> signal -> typed klines.

Landing and cataloguing are separate assets with separate retries: when the catalog fails, the signal
asset is retried alone and nothing is crawled again.
"""

# No `from __future__ import annotations`: Dagster reads the `context` annotation at definition time.
import time
from collections.abc import Iterator

import dagster as dg

from lake.signals import publish_batch, read_signal
from lake.tables import SIGNALS
from lake_assets.context import SETTINGS, SLOTS
from lake_assets.defs.scraper.landings import BINANCE_KLINES, LANDINGS, LandingDefinition, manifest_key
from lake_assets.partitions import BATCHED_TAG, slots_of
from lake_assets.resources import CatalogResource, QueueResource, S3Resource, SparkResource
from lake_assets.wap import audited_check_specs, table_pool, write_audit_publish
from lake_contracts import checks, tables
from scrapworker.protocol import JobState

MINUTES = SETTINGS.partitions.cadence_minutes


class LandingConfig(dg.Config):
    # Re-crawl slots that already landed (same keys are overwritten; never duplicated).
    rerun: bool = False
    wait_seconds: float = 900.0


def raw_landing_asset(landing: LandingDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        name=landing.asset_name,
        group_name="scraper",
        partitions_def=SLOTS,
        backfill_policy=dg.BackfillPolicy.single_run(),
        description=f"Raw `{landing.endpoint}` JSON landed on S3 by scrapworker, one job per parameter set.",
        kinds={"s3", "scrapy"},
    )
    def _landing(
        context: dg.AssetExecutionContext, config: LandingConfig, queue: QueueResource
    ) -> dg.MaterializeResult:  # type: ignore[type-arg]
        started = time.monotonic()
        endpoints = queue.endpoints()
        jobs = landing.slot_jobs(slots_of(context, MINUTES), endpoints)
        for spec in jobs:
            endpoints.check_job(spec)  # the same checks as a worker's: refuse here, before anything is queued
        job_queue = queue.queue()
        for spec in jobs:
            state = job_queue.enqueue(spec, rerun=config.rerun).state
            context.log.info(f"job {spec.job_id}: {state.value}")
        failures, pages, records, size = [], 0, 0, 0
        for spec in jobs:
            status = job_queue.wait(spec.job_id, config.wait_seconds)
            if status.state is not JobState.SUCCEEDED:
                failures.append(f"{spec.job_id}: {status.state.value}: {status.error}")
                continue
            pages += int(status.outputs["pages"])
            records += int(status.outputs["records"])
            size += int(status.outputs["bytes"])
        if failures:
            raise dg.Failure(
                description=f"{len(failures)} of {len(jobs)} crawl job(s) did not land",
                metadata={"failures": dg.MetadataValue.md("\n".join(f"- {f}" for f in failures))},
            )
        return dg.MaterializeResult(
            metadata={
                "jobs": len(jobs),
                "pages": pages,
                "records": records,
                "bytes": size,
                "duration_s": round(time.monotonic() - started, 2),
                "manifest_keys": dg.MetadataValue.json([manifest_key(spec) for spec in jobs]),
            }
        )

    return _landing


RAW_LANDINGS = [raw_landing_asset(landing) for landing in LANDINGS]


@dg.asset(
    name="signals",
    key_prefix=["landing"],
    group_name="scraper",
    partitions_def=SLOTS,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[landing.asset_name for landing in LANDINGS],
    retry_policy=dg.RetryPolicy(max_retries=3, delay=2, backoff=dg.Backoff.EXPONENTIAL),
    pool=table_pool(tables.SIGNALS),  # takes turns with the table's maintenance
    description="One row per complete landing in landing.signals (pyiceberg). Retried alone when the catalog fails.",
    kinds={"iceberg", "python"},
)
def signals(
    context: dg.AssetExecutionContext, queue: QueueResource, s3: S3Resource, catalog: CatalogResource
) -> dg.MaterializeResult:  # type: ignore[type-arg]
    started = time.monotonic()
    client, lake_catalog, endpoints = s3.client(), catalog.catalog(), queue.endpoints()
    batch = [
        read_signal(client, s3.raw_bucket, manifest_key(spec), slot, run_id=context.run.run_id)
        for slot in slots_of(context, MINUTES)
        for landing in LANDINGS
        for spec in landing.slot_jobs([slot], endpoints)
    ]
    publish_batch(lake_catalog, batch)  # one commit for the whole run, however many slots and landings
    return dg.MaterializeResult(
        metadata={"rows": len(batch), "table": SIGNALS.identifier, "duration_s": round(time.monotonic() - started, 2)}
    )


@dg.asset(
    name="klines",
    key_prefix=["market"],
    group_name="scraper",
    partitions_def=SLOTS,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[BINANCE_KLINES.asset_name, signals],
    description="Typed klines in market.klines from complete landings; one Spark submit per run, published by WAP.",
    kinds={"iceberg", "spark"},
    tags={BATCHED_TAG: "typed_every_minutes"},  # one Spark submit per LAKE_PARTITIONS__TYPED_EVERY_MINUTES
    pool=table_pool(tables.KLINES),
    check_specs=audited_check_specs(
        ["market", "klines"],
        tables.KLINES,
        # Run and reported by the Spark job itself, through Pipes, against the run's branch.
        {checks.TYPED_ROWS_COMMITTED: "Every typed row merged reads back under its landing (checked inside the job)."},
    ),
)
def klines(
    context: dg.AssetExecutionContext, queue: QueueResource, spark: SparkResource
) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:  # type: ignore[type-arg]
    specs = BINANCE_KLINES.slot_jobs(slots_of(context, MINUTES), queue.endpoints())
    args = [arg for spec in specs for arg in ("--manifest", manifest_key(spec))]
    yield from write_audit_publish(context, spark, tables.KLINES, "klines_transform", args)
