"""The assets of the configured landings at one grain: raw landings -> signals -> typed tables, and checks.

Two grains share these factories and so the same writers, tables and checks:
- the slot grain (lake_assets/defs/scraper): minute-keyed partitions that the UI, the checks and Airflow
  use for recent data and live slots;
- the history grain (lake_assets/defs/history): one partition per month before the first slot, about 120
  keys a decade instead of 525,600 a year. Its load step (defs/history/load.py) uses this module's grain,
  waits, publishing and checks, but lands, signals and types a range of months in one step of its own.

At the slot grain, landing and cataloguing are separate assets with separate retries: when the catalog
fails, the signal asset is retried alone and nothing is crawled again.
"""

# No `from __future__ import annotations`: Dagster reads the `context` annotation at definition time.
import itertools
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import dagster as dg
from pyiceberg.catalog import Catalog

from jobs.reporting import Laps
from lake.settings import LakeSettings
from lake.signals import LandingIncompleteError, Signal, publish_batch, read_signal
from lake.tables import SIGNALS
from lake_assets.null_partition_check import null_partition_check
from lake_assets.partitions import PARTITION_TAG, RANGE_END_TAG, RANGE_START_TAG
from lake_assets.resources import CatalogResource, QueueResource, S3Resource, SparkResource
from lake_assets.wap import audited_check_specs, table_pool, write_audit_publish
from lake_contracts import checks, tables
from lake_contracts.slots import Slot, slot_containing
from lake_contracts.transforms import TRANSFORMS, TypedTransform
from scrapworker.endpoints import EndpointFile
from scrapworker.landing import manifest_key_of
from scrapworker.landings import Landing
from scrapworker.protocol import JobSpec, JobState, JobStatus
from scrapworker.queue import JobQueue

Window = tuple[datetime, datetime]
MAX_LISTED_SLOTS = 500  # missing slots listed in a check's metadata; the count is always whole


@dataclass(frozen=True)
class Grain:
    """How one family of assets maps its partitions to crawl windows, and what it is called."""

    group: str
    key_prefix: tuple[str, ...]
    partitions: dg.TimeWindowPartitionsDefinition
    # A run's [start, end) cut into the windows its jobs and signals are keyed by (slots, or months).
    windows: Callable[[datetime, datetime], list[Window]]
    landings: tuple[Landing, ...]
    # How long a raw landing step waits for its jobs, in all.
    wait_seconds: float
    # Signal rows per commit: one commit per run at slot grain; bounded batches for years of history.
    signal_batch: int = 10_000
    typed_tags: dict[str, str] = field(default_factory=dict)
    description: str = ""
    # Live slots fall due as time passes: the grain carries the SLA monitor (slots_on_time) on its signals.
    monitored: bool = False

    def key(self, *parts: str) -> dg.AssetKey:
        return dg.AssetKey([*self.key_prefix, *parts])

    def run_windows(self, context: dg.AssetExecutionContext) -> list[Window]:
        window = context.partition_time_window
        return self.windows(window.start, window.end)

    def tagged_windows(self, run_tags: dict[str, str]) -> list[Window]:
        """The windows a run covers, from its tags (asset checks see the run, not a partition)."""
        keys = [run_tags[PARTITION_TAG]] * 2 if PARTITION_TAG in run_tags else None
        if RANGE_START_TAG in run_tags and RANGE_END_TAG in run_tags:
            keys = [run_tags[RANGE_START_TAG], run_tags[RANGE_END_TAG]]
        if keys is None:
            return []
        first, last = (self.partitions.time_window_for_partition_key(key) for key in keys)
        return self.windows(first.start, last.end)

    def jobs(
        self, windows: list[Window], endpoints: EndpointFile, landings: tuple[Landing, ...] | None = None
    ) -> list[tuple[Slot, JobSpec]]:
        """Each job of the windows with the slot its signal is filed under (the window it lands)."""
        return [
            (Slot(start, int((end - start).total_seconds()) // 60), spec)
            for start, end in windows
            for landing in (self.landings if landings is None else landings)
            for spec in landing.jobs(start, end, endpoints)
        ]


class LandingConfig(dg.Config):
    # Re-crawl windows that already landed (same keys are overwritten; never duplicated).
    rerun: bool = False
    # None: the grain's own patience (a slot: 15 minutes; a range of history: hours).
    wait_seconds: float | None = None


def raw_landings_asset(grain: Grain) -> dg.AssetsDefinition:
    """One step lands every selected landing of the run: all their jobs are queued at once, so the workers
    crawl them side by side, and the signals step starts as soon as the last of them lands. (A step per
    landing ran one after the other under the in-process executor: the second landing's crawl was added
    to every slot's latency.) Each landing stays its own asset, and any of them can be run alone."""
    landings = {grain.key(landing.asset_name): landing for landing in grain.landings}

    @dg.multi_asset(
        name=f"{grain.group}_raw_landings",
        specs=[
            dg.AssetSpec(key, description=raw_description(grain, landing), kinds={"s3", "scrapy"})
            for key, landing in landings.items()
        ],
        can_subset=True,
        group_name=grain.group,
        partitions_def=grain.partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    def _landings(
        context: dg.AssetExecutionContext, config: LandingConfig, queue: QueueResource
    ) -> Iterator[dg.MaterializeResult]:  # type: ignore[type-arg]
        started = time.monotonic()
        endpoints = queue.endpoints()
        windows = grain.run_windows(context)
        jobs = {
            key: [spec for _, spec in grain.jobs(windows, endpoints, (landing,))]
            for key, landing in landings.items()
            if key in context.selected_asset_keys
        }
        for spec in itertools.chain.from_iterable(jobs.values()):
            endpoints.check_job(spec)  # the same checks as a worker's: refuse here, before anything is queued
        job_queue = queue.queue()
        for spec in itertools.chain.from_iterable(jobs.values()):
            state = job_queue.enqueue(spec, rerun=config.rerun).state
            context.log.info(f"job {spec.job_id}: {state.value}")
        deadline = time.monotonic() + (config.wait_seconds or grain.wait_seconds)
        failures: list[str] = []
        for key, specs in jobs.items():
            failed, landed = len(failures), Landed()
            for spec in specs:
                status = wait_landed(job_queue, spec, deadline)
                if isinstance(status, str):
                    failures.append(status)
                    continue
                landed.add(status)
            if len(failures) > failed:
                continue  # this landing is incomplete: not materialized; the others still are
            yield dg.MaterializeResult(
                asset_key=key,
                metadata={
                    **landed.metadata(),
                    "duration_s": round(time.monotonic() - started, 2),
                    "manifest_keys": dg.MetadataValue.json([manifest_key_of(spec) for spec in specs[:1000]]),
                },
            )
        if failures:
            raise dg.Failure(
                description=f"{len(failures)} of {sum(map(len, jobs.values()))} crawl job(s) did not land",
                metadata={"failures": dg.MetadataValue.md("\n".join(f"- {f}" for f in failures[:100]))},
            )

    return _landings


def signals_asset(grain: Grain) -> dg.AssetsDefinition:
    @dg.asset(
        key=grain.key("landing", "signals"),
        group_name=grain.group,
        partitions_def=grain.partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        deps=[grain.key(landing.asset_name) for landing in grain.landings],
        retry_policy=dg.RetryPolicy(max_retries=3, delay=2, backoff=dg.Backoff.EXPONENTIAL),
        pool=table_pool(tables.SIGNALS),  # takes turns with the table's maintenance and the other grain
        description=f"One row per complete landing in landing.signals (pyiceberg){grain.description}. "
        "Retried alone when the catalog fails.",
        kinds={"iceberg", "python"},
    )
    def _signals(
        context: dg.AssetExecutionContext, queue: QueueResource, s3: S3Resource, catalog: CatalogResource
    ) -> dg.MaterializeResult:  # type: ignore[type-arg]
        started, laps = time.monotonic(), Laps(digits=3)  # where a slot's signal latency goes
        jobs = grain.jobs(grain.run_windows(context), queue.endpoints())
        client = s3.client()
        laps("start")

        def signals() -> Iterator[Signal]:  # read lazily: a long range's signals are committed in batches
            for slot, spec in jobs:
                began = time.monotonic()
                signal = read_signal(client, s3.raw_bucket, manifest_key_of(spec), slot, run_id=context.run.run_id)
                laps.add("read", time.monotonic() - began)
                yield signal

        lake_catalog = catalog.catalog()
        laps("catalog")
        publishing = time.monotonic()
        rows, commits = publish_in_batches(lake_catalog, signals(), grain.signal_batch)
        # The manifests are read lazily, inside the publish: the rest of its time is the commits'.
        laps.add("commit", time.monotonic() - publishing - laps.seconds.get("read", 0.0))
        return dg.MaterializeResult(
            metadata={
                "rows": rows,
                "commits": commits,
                "table": SIGNALS.identifier,
                "duration_s": round(time.monotonic() - started, 2),
                "seconds": dg.MetadataValue.json(laps.seconds),
            }
        )

    return _signals


def typed_asset(grain: Grain, transform: TypedTransform) -> dg.AssetsDefinition:
    landings = tuple(landing for landing in grain.landings if landing.typed == transform.name)
    key = grain.key(*transform.table.split("."))

    @dg.asset(
        key=key,
        group_name=grain.group,
        partitions_def=grain.partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        deps=[*(grain.key(landing.asset_name) for landing in landings), grain.key("landing", "signals")],
        description=f"Typed {transform.name} in {transform.table} from complete landings{grain.description}; "
        "one Spark submit per run, published by WAP.",
        kinds={"iceberg", "spark"},
        tags=grain.typed_tags,
        pool=table_pool(transform.table),
        check_specs=audited_check_specs(
            key.path,
            transform.table,
            # Run and reported by the Spark job itself, through Pipes, against the run's branch.
            {checks.TYPED_ROWS_COMMITTED: "Every typed row merged reads back under its landing (checked in the job)."},
        ),
    )
    def _typed(
        context: dg.AssetExecutionContext, queue: QueueResource, spark: SparkResource
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:  # type: ignore[type-arg]
        specs = grain.jobs(grain.run_windows(context), queue.endpoints(), landings)
        args = [arg for _, spec in specs for arg in ("--manifest", manifest_key_of(spec))]
        yield from write_audit_publish(context, spark, transform.table, transform.spark_job, args)

    return _typed


def wait_landed(job_queue: JobQueue, spec: JobSpec, deadline: float) -> JobStatus | str:
    """The job's status once it has landed, or why it did not by the deadline (a line naming the job)."""
    try:
        status = job_queue.wait(spec.job_id, max(0.0, deadline - time.monotonic()))
    except TimeoutError as exc:
        return f"{spec.job_id}: {exc}"
    if status.state is not JobState.SUCCEEDED:
        return f"{spec.job_id}: {status.state.value}: {status.error}"
    return status


@dataclass
class Landed:
    """What a landing's jobs put on S3, summed from their statuses (the raw assets' metadata)."""

    jobs: int = 0
    pages: int = 0
    records: int = 0
    bytes: int = 0

    def add(self, status: JobStatus) -> None:
        self.jobs += 1
        self.pages += int(status.outputs["pages"])
        self.records += int(status.outputs["records"])
        self.bytes += int(status.outputs["bytes"])

    def metadata(self) -> dict[str, int]:
        return {"jobs": self.jobs, "pages": self.pages, "records": self.records, "bytes": self.bytes}


def publish_in_batches(catalog: Catalog, signals: Iterable[Signal], size: int) -> tuple[int, int]:
    """Commit the signals `size` rows a commit (one commit per run at slot grain; bounded batches for years
    of history), read lazily; returns (rows, commits)."""
    rows = commits = 0
    for batch in itertools.batched(signals, size):
        publish_batch(catalog, list(batch))
        rows, commits = rows + len(batch), commits + 1
    return rows, commits


def raw_description(grain: Grain, landing: Landing) -> str:
    return f"Raw `{landing.endpoint}` JSON landed on S3 by scrapworker, one job per parameter set{grain.description}."


def signal_checks(grain: Grain, signals: dg.AssetsDefinition | dg.AssetKey) -> list[dg.AssetChecksDefinition]:
    """The blocking NULL-partition check on landing.signals (written by pyiceberg straight to main), and
    the signals compared with the landings' manifests."""

    @dg.asset_check(
        asset=signals,
        name="signals_complete",
        description="Every window of the run has one signal per expected landing job.",
    )
    def signals_complete(
        context: dg.AssetCheckExecutionContext, queue: QueueResource, catalog: CatalogResource
    ) -> dg.AssetCheckResult:
        expected = {
            spec.job_id for _, spec in grain.jobs(grain.tagged_windows(dict(context.run.tags)), queue.endpoints())
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
        windows = grain.tagged_windows(dict(context.run.tags))
        table = catalog.catalog().load_table(SIGNALS.identifier)
        rows = table.scan(selected_fields=("job_id", "record_count")).to_arrow().to_pylist()
        published = {row["job_id"]: row["record_count"] for row in rows}
        client, mismatches = s3.client(), []
        for slot, spec in grain.jobs(windows, queue.endpoints()):
            try:
                landed = read_signal(client, s3.raw_bucket, manifest_key_of(spec), slot, run_id=None).record_count
            except LandingIncompleteError:
                mismatches.append(f"{spec.job_id}: no manifest")
                continue
            if published.get(spec.job_id) != landed:
                mismatches.append(f"{spec.job_id}: manifest {landed}, signal {published.get(spec.job_id)}")
        return dg.AssetCheckResult(
            passed=not mismatches,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={"checked_windows": len(windows), "mismatches": dg.MetadataValue.json(mismatches[:50])},
        )

    return [null_partition_check(signals, SIGNALS.identifier), signals_complete, landing_matches_signal]


def due_windows(grain: Grain, settings: LakeSettings, now: datetime) -> list[Window]:
    """The grain's windows that are due at `now`: ended more than the grace ago, within the lookback, and
    not before the first slot."""
    due_by = now - timedelta(minutes=settings.sla.grace_minutes)
    first = max(settings.partitions.start, due_by - timedelta(minutes=settings.sla.lookback_minutes))
    slot = slot_containing(first, settings.partitions.cadence_minutes)
    first = slot.start if slot.start >= first else slot.end  # the first whole slot of the lookback
    return [window for window in grain.windows(first, due_by) if window[1] <= due_by]


def slots_on_time_check(grain: Grain, signals: dg.AssetsDefinition) -> dg.AssetChecksDefinition:
    """The SLA monitor: every due slot has a signal for each of its landing jobs. Blocking with severity ERROR,
    so the run that evaluates it fails, and the bridge DAG that runs it fails in Airflow naming the slots."""

    @dg.asset_check(
        asset=signals,
        name=checks.SLOTS_ON_TIME,
        blocking=True,
        description="Every slot that ended more than LAKE_SLA__GRACE_MINUTES ago (looking back "
        "LAKE_SLA__LOOKBACK_MINUTES) has a signal for each landing job; fails naming the slots that do not.",
    )
    def slots_on_time(queue: QueueResource, catalog: CatalogResource) -> dg.AssetCheckResult:
        now = datetime.now(UTC)
        due = due_windows(grain, catalog.settings, now)
        expected = grain.jobs(due, queue.endpoints())
        present: set[str] = set()
        lake_catalog = catalog.catalog()
        if expected and lake_catalog.table_exists(SIGNALS.identifier):  # no table yet: nothing has landed
            table = lake_catalog.load_table(SIGNALS.identifier)
            scan = table.scan(row_filter=f"ds >= '{expected[0][0].ds}'", selected_fields=("job_id",))
            present = set(scan.to_arrow().column("job_id").to_pylist())
        missing: dict[str, int] = {}
        for slot, spec in expected:
            if spec.job_id not in present:
                missing[slot.key] = missing.get(slot.key, 0) + 1
        jobs_per_slot = len(expected) // len(due) if due else 0
        shown = ", ".join(f"{key} ({count}/{jobs_per_slot} jobs)" for key, count in list(missing.items())[:20])
        more = f" and {len(missing) - 20} more" if len(missing) > 20 else ""
        return dg.AssetCheckResult(
            passed=not missing,
            severity=dg.AssetCheckSeverity.ERROR,
            description=f"{len(missing)} of {len(due)} due slot(s) have no signal: {shown}{more}"
            if missing
            else f"all {len(due)} due slot(s) landed",
            metadata={
                "due_slots": len(due),
                "due_by": (now - timedelta(minutes=catalog.settings.sla.grace_minutes)).isoformat(timespec="seconds"),
                "missing_slots": dg.MetadataValue.json(list(missing)[:MAX_LISTED_SLOTS]),
                "missing_jobs": sum(missing.values()),
            },
        )

    return slots_on_time


@dataclass(frozen=True)
class GrainAssets:
    """Everything one grain defines: a raw asset per landing, the signals, a typed asset per transform, the
    checks that run with them, and the monitors that run on their own schedule (lake_contracts.checks)."""

    raw: dg.AssetsDefinition  # one step, an asset per landing
    signals: dg.AssetsDefinition
    typed: dict[str, dg.AssetsDefinition]  # by transform name
    checks: list[dg.AssetChecksDefinition]
    monitors: list[dg.AssetChecksDefinition] = field(default_factory=list)

    @property
    def assets(self) -> list[dg.AssetsDefinition]:
        return [self.raw, self.signals, *self.typed.values()]

    def definitions(self) -> dg.Definitions:
        return dg.Definitions(assets=self.assets, asset_checks=[*self.checks, *self.monitors])


def grain_assets(grain: Grain) -> GrainAssets:
    signals = signals_asset(grain)
    typed_names = sorted({landing.typed for landing in grain.landings if landing.typed})
    return GrainAssets(
        raw=raw_landings_asset(grain),
        signals=signals,
        typed={name: typed_asset(grain, TRANSFORMS[name]) for name in typed_names},
        checks=signal_checks(grain, signals),
        monitors=[slots_on_time_check(grain, signals)] if grain.monitored else [],
    )
