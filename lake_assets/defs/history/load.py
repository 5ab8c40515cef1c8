"""The history grain's one step: crawl a range of months in order and type each month as it lands.

A range of history is budget-bound: its crawl takes minutes to hours at the API's weight limit. As three
steps (raw landings, then signals, then typed tables) the typing of the whole range would start only after
its last page landed, because Dagster starts a step when the steps upstream of it have ended. So the three
assets stay apart in the lineage, the UI and the checks, but are materialized by one step (a multi-asset):

1. The months are queued in order, at most `MONTHS_IN_FLIGHT` at a time. The workers take jobs first in,
   first out, so the months land in order, each a share of the crawl apart. Two months in flight keep the
   budget spent while one month's jobs finish their last pages.
2. As a month lands, its signals are committed (one commit per `signal_batch` rows) and its landings are
   typed on the run's Nessie branch, in one Spark session held for the step (dagster-pyspark's
   PySparkResource, `SparkResource.session`), while the next months crawl. A month typed in the held
   session costs no JVM start, where a spark-submit per month would pay one each time.
3. After the last month: the blocking checks on the branch (each month's own row check, and
   no_null_partitions), then ONE merge. One merge per range, not per month: readers of main see the whole
   range or none of it, and a failing check keeps all of it out (`WapBranch.publish`).

A retry runs the step again and crawls nothing twice: the queue knows the jobs that landed, signals replace
their own rows, and the typed rows are written again on a fresh branch (the failed one was never merged).
"""

# No `from __future__ import annotations`: Dagster reads the resource annotations at definition time.
import importlib
import time
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import dagster as dg

from lake.signals import landed_manifest, signal_of
from lake.tables import SIGNALS
from lake_assets.landing_assets import (
    Grain,
    Landed,
    LandingConfig,
    Window,
    publish_in_batches,
    raw_description,
    signal_checks,
    wait_landed,
)
from lake_assets.resources import CatalogResource, QueueResource, S3Resource, SparkResource
from lake_assets.wap import WapBranch, Written, audited_check_specs, table_pool
from lake_contracts import checks
from lake_contracts.slots import Slot
from lake_contracts.transforms import TRANSFORMS, TypedTransform
from scrapworker.landing import manifest_key_of
from scrapworker.landings import Landing
from scrapworker.protocol import JobSpec

# Months queued ahead of the one being typed. One would leave the budget idle while a month's last job
# finishes alone; more land the months later and leave more to type after the crawl (bench/history.py, a
# year of 2 symbols: with 3, the crawl took as long, 191.9 s against 191.1 s, and the typing after the last
# landing 11.8 s against 8.6 s).
MONTHS_IN_FLIGHT = 2


@dataclass
class _Pieces:
    """jobs.reporting.Reporter for the transforms run in this step: logs go to the step's log; each piece's
    check and metadata are kept and summed into the one result per table."""

    context: dg.AssetExecutionContext
    checks: dict[str, list[tuple[bool, dict[str, Any]]]] = field(default_factory=dict)
    written: list[dict[str, Any]] = field(default_factory=list)

    def log(self, message: str, error: bool = False) -> None:
        (self.context.log.error if error else self.context.log.info)(message)

    def materialized(self, metadata: Mapping[str, Any]) -> None:
        self.written.append(dict(metadata))

    def check(self, name: str, passed: bool, metadata: Mapping[str, Any]) -> None:
        self.checks.setdefault(name, []).append((passed, dict(metadata)))

    def results(self, key: dg.AssetKey) -> list[dg.AssetCheckResult]:
        return [
            dg.AssetCheckResult(
                asset_key=key,
                check_name=name,
                passed=all(passed for passed, _ in pieces),
                metadata={
                    "pieces": len(pieces),
                    "failed_pieces": sum(not passed for passed, _ in pieces),
                    **_summed([metadata for _, metadata in pieces]),
                },
            )
            for name, pieces in self.checks.items()
        ]

    def metadata(self) -> dict[str, Any]:
        seconds: dict[str, float] = {}
        for piece in self.written:
            for phase, spent in piece.get("seconds", {}).items():
                seconds[phase] = round(seconds.get(phase, 0.0) + spent, 1)
        return {**_summed(self.written), "pieces": len(self.written), "seconds": dg.MetadataValue.json(seconds)}


def _summed(pieces: list[dict[str, Any]]) -> dict[str, Any]:
    """Each integer entry of the pieces, added up (rows, appended, merged, landings, ...)."""
    totals: dict[str, Any] = {}
    for piece in pieces:
        for name, value in piece.items():
            if isinstance(value, int) and not isinstance(value, bool):
                totals[name] = totals.get(name, 0) + value
            elif isinstance(value, str):
                totals.setdefault(name, value)  # the same for every piece (the table)
    return totals


@dataclass
class _Month:
    window: Window
    jobs: dict[str, list[tuple[Slot, JobSpec]]]  # by landing name

    @property
    def all_jobs(self) -> list[tuple[Slot, JobSpec]]:
        return [job for jobs in self.jobs.values() for job in jobs]


def history_load_asset(grain: Grain) -> dg.AssetsDefinition:
    typed: dict[str, tuple[TypedTransform, tuple[Landing, ...]]] = {
        name: (TRANSFORMS[name], tuple(landing for landing in grain.landings if landing.typed == name))
        for name in sorted({landing.typed for landing in grain.landings if landing.typed})
    }
    raw_keys = {landing.name: grain.key(landing.asset_name) for landing in grain.landings}
    signals_key = grain.key("landing", "signals")
    typed_keys = {name: grain.key(*transform.table.split(".")) for name, (transform, _) in typed.items()}
    specs = [
        *(
            dg.AssetSpec(raw_keys[landing.name], description=raw_description(grain, landing), kinds={"s3", "scrapy"})
            for landing in grain.landings
        ),
        dg.AssetSpec(
            signals_key,
            deps=list(raw_keys.values()),
            description=f"One row per complete landing in landing.signals (pyiceberg){grain.description}, "
            "committed month by month as the months land.",
            kinds={"iceberg", "python"},
        ),
        *(
            dg.AssetSpec(
                typed_keys[name],
                deps=[*(raw_keys[landing.name] for landing in landings), signals_key],
                description=f"Typed {name} in {transform.table}{grain.description}: each month typed as it lands, "
                "in one Spark session held for the run, published by one WAP merge.",
                kinds={"iceberg", "spark"},
            )
            for name, (transform, landings) in typed.items()
        ),
    ]
    check_specs = [
        spec
        for name, (transform, _) in typed.items()
        for spec in audited_check_specs(
            typed_keys[name].path,
            transform.table,
            {checks.TYPED_ROWS_COMMITTED: "Every typed row of every month reads back under its landing."},
        )
    ]
    # One pool per step: the typed table's, whose WAP merge would conflict with another writer's.
    # landing.signals is committed by pyiceberg, which retries a conflicting commit itself.
    pool = table_pool(next(iter(typed.values()))[0].table) if typed else table_pool(SIGNALS.identifier)

    @dg.multi_asset(
        name=f"{grain.group}_load",
        specs=specs,
        check_specs=check_specs,
        group_name=grain.group,
        partitions_def=grain.partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=pool,
    )
    def _load(
        context: dg.AssetExecutionContext,
        config: LandingConfig,
        queue: QueueResource,
        s3: S3Resource,
        catalog: CatalogResource,
        spark: SparkResource,
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:  # type: ignore[type-arg]
        started, began = time.monotonic(), datetime.now(UTC)  # wall clock: the workers stamp their landings
        endpoints = queue.endpoints()
        months = deque(
            _Month(window, {landing.name: grain.jobs([window], endpoints, (landing,)) for landing in grain.landings})
            for window in grain.run_windows(context)
        )
        for month in months:
            for _, spec in month.all_jobs:
                endpoints.check_job(spec)  # the same checks as a worker's: refuse here, before anything is queued
        job_queue, in_flight = queue.queue(), deque[_Month]()

        def queue_ahead() -> None:
            while months and len(in_flight) < MONTHS_IN_FLIGHT:
                month = months.popleft()
                for _, spec in month.all_jobs:
                    state = job_queue.enqueue(spec, rerun=config.rerun).state
                    context.log.debug(f"job {spec.job_id}: {state.value}")
                in_flight.append(month)

        queue_ahead()
        branch = WapBranch.create(context, spark.settings, context.op_def.name) if typed else None
        # The typed tables on the branch, in the step's session (started here, while the first months crawl).
        on_branch = spark.branch_catalog(branch.name) if branch else ""
        tables = {name: f"{on_branch}.{transform.table}" for name, (transform, _) in typed.items()}
        pieces = {name: _Pieces(context) for name in typed}
        client, lake_catalog = s3.client(), catalog.catalog()
        deadline = started + (config.wait_seconds or grain.wait_seconds)
        failures: list[str] = []
        landed = {name: Landed() for name in raw_keys}
        manifest_keys: list[str] = []
        signal_rows = signal_commits = 0
        signal_seconds = 0.0
        last_landed = began  # when the last job landed (the worker's stamp), not when this step saw it
        while in_flight:
            month = in_flight.popleft()
            month_failures = []
            for name, jobs in month.jobs.items():
                for _, spec in jobs:
                    status = wait_landed(job_queue, spec, deadline)
                    if isinstance(status, str):
                        month_failures.append(status)
                        continue
                    last_landed = max(last_landed, status.finished_at or last_landed)
                    landed[name].add(status)
                    manifest_keys.append(manifest_key_of(spec))
            queue_ahead()  # the next month crawls while this one is catalogued and typed
            if month_failures:
                failures += month_failures
                continue  # the months after it still crawl, so that a retry has less left to do
            if failures:
                continue  # the range will not be published: type nothing more
            signal_started = time.monotonic()
            # Read once: each manifest makes its signal, and the typing is handed the same manifests.
            month_keys = [(slot, manifest_key_of(spec)) for slot, spec in month.all_jobs]
            manifests = {key: landed_manifest(client, s3.raw_bucket, key) for _, key in month_keys}
            signals = (
                signal_of(manifests[key], s3.raw_bucket, key, slot, run_id=context.run.run_id)
                for slot, key in month_keys
            )
            rows, commits = publish_in_batches(lake_catalog, signals, grain.signal_batch)
            signal_rows, signal_commits = signal_rows + rows, signal_commits + commits
            signal_seconds += time.monotonic() - signal_started
            for name, (transform, landings) in typed.items():
                keys = [manifest_key_of(spec) for landing in landings for _, spec in month.jobs[landing.name]]
                if keys:
                    session = spark.session()
                    _transform(transform)(session, keys, tables[name], pieces[name], manifests)
                    session.catalog.clearCache()  # the next month's pieces need the memory

        if failures:
            raise dg.Failure(
                description=f"{len(failures)} crawl job(s) did not land; nothing of the range was published",
                metadata={"failures": dg.MetadataValue.md("\n".join(f"- {f}" for f in failures[:100]))},
                allow_retries=False,  # the workers retried each job already
            )
        for name, key in raw_keys.items():
            yield dg.MaterializeResult(
                asset_key=key,
                metadata={
                    **landed[name].metadata(),
                    "duration_s": round((last_landed - began).total_seconds(), 2),  # the crawl, to its last landing
                    "manifest_keys": dg.MetadataValue.json(manifest_keys[:1000]),
                },
            )
        yield dg.MaterializeResult(
            asset_key=signals_key,
            metadata={
                "rows": signal_rows,
                "commits": signal_commits,
                "table": SIGNALS.identifier,
                "duration_s": round(signal_seconds, 2),
            },
        )
        if branch is None:
            return
        tail = round((datetime.now(UTC) - last_landed).total_seconds(), 2)
        written = {
            typed_keys[name]: Written(
                transform.table,
                pieces[name].results(typed_keys[name]),
                # The typing left when the last month landed (the checks and the merge follow).
                {**pieces[name].metadata(), "table": transform.table, "typed_after_last_landing_s": tail},
            )
            for name, (transform, _) in typed.items()
        }
        yield from branch.publish(context, spark.settings, written)

    return _load


def _transform(transform: TypedTransform) -> Any:
    """The in-session entry of jobs/<spark_job>.py: `transform(spark, manifest_keys, table, report, manifests)`.
    Imported when a step types, so that the code location loads without pyspark."""
    return importlib.import_module(f"jobs.{transform.spark_job}").transform


@dataclass(frozen=True)
class HistoryAssets:
    """The history grain's step (raw landings, signals and typed tables) and the signals' checks."""

    load: dg.AssetsDefinition
    checks: list[dg.AssetChecksDefinition]

    @property
    def assets(self) -> list[dg.AssetsDefinition]:
        return [self.load]

    def definitions(self) -> dg.Definitions:
        return dg.Definitions(assets=self.assets, asset_checks=self.checks)


def history_assets(grain: Grain) -> HistoryAssets:
    load = history_load_asset(grain)
    return HistoryAssets(load=load, checks=signal_checks(grain, grain.key("landing", "signals")))
