"""Write-audit-publish for the Spark tables on Nessie: write on the run's branch, audit there, merge if clean.

1. write: the run makes a branch from the target (main) named after itself (lake.branches.wap_branch_name)
   and its Spark job writes there; readers of main see nothing of it.
2. audit: the blocking checks read the branch: the job's own checks (reported through Pipes, run against the
   branch by the job) and no_null_partitions (pyiceberg on the branch).
3. publish: only when all pass is the branch merged into main, at the hash the checks read, and deleted.
   Otherwise the failing results are reported, the step fails, main stays at its commit, and the branch
   stays for inspection until the retention (lake.branches.prune_wap_branches) removes it.

Concurrent runs writing one table would conflict at the merge (Nessie refuses a merge when main changed a
table the branch changed). Each table therefore has a Dagster concurrency pool (`table_pool`), limited to 1
by the instance's `concurrency.pools.default_limit`, so runs writing a table take turns. Without that limit
(an ephemeral instance), a conflict leaves main untouched and the step is retried: a fresh branch from
main's new head, the job run again on it.
"""

# No `from __future__ import annotations`: Dagster reads annotations at definition time.
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import dagster as dg

from lake.branches import MergeConflictError, NessieApiError, NessieBranches, on_branch, wap_branch_name
from lake.catalog import open_catalog
from lake.settings import LakeSettings
from lake_assets.null_partition_check import NO_NULL_PARTITIONS, describe, null_partition_result
from lake_assets.resources import SparkResource

# A conflict means another run merged the same table first; a retry starts from its result.
CONFLICT_RETRIES = 3
CONFLICT_RETRY_SECONDS = 5


def table_pool(table: str) -> str:
    """The concurrency pool of every step that writes `table` (one at a time: see the module docstring)."""
    return f"iceberg/{table}"


def audited_check_specs(asset_key: Sequence[str], table: str, job_checks: dict[str, str]) -> list[dg.AssetCheckSpec]:
    """The blocking checks a WAP asset declares: no_null_partitions, plus the checks its job runs itself
    (name -> description), all evaluated on the run's branch before anything reaches main."""
    checks = {NO_NULL_PARTITIONS: describe(table), **job_checks}
    return [
        dg.AssetCheckSpec(name, asset=list(asset_key), description=description, blocking=True)
        for name, description in checks.items()
    ]


@dataclass(frozen=True)
class Written:
    """What a step wrote to one table on its branch: the check results it evaluated itself and the
    metadata of the materialization it reports once merged."""

    table: str
    checks: list[dg.AssetCheckResult]
    metadata: dict[str, Any]


@dataclass(frozen=True)
class WapBranch:
    """The run's Nessie branch of the target: written to, audited and merged once by `publish`."""

    nessie: NessieBranches
    name: str
    target: str
    base: str

    @classmethod
    def create(cls, context: dg.AssetExecutionContext, settings: LakeSettings, owner: str) -> "WapBranch":
        nessie = NessieBranches.from_settings(settings)
        target = settings.catalog.branch or nessie.default_branch()
        base = nessie.hash_of(target)
        name = wap_branch_name(owner, context.run.run_id)
        nessie.create_branch(name, target, base)
        context.log.info(f"WAP: written on Nessie branch {name} (from {target}@{base})")
        return cls(nessie, name, target, base)

    def publish(
        self, context: dg.AssetExecutionContext, settings: LakeSettings, written: dict[dg.AssetKey, Written]
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:  # type: ignore[type-arg]
        """Audit the branch (each table's no_null_partitions beside the checks the step ran) and merge it
        into the target only when every declared check passed; else fail, the target untouched."""
        audited = self.nessie.hash_of(self.name)  # what the checks read is exactly what gets merged
        catalog = open_catalog(on_branch(settings, self.name))
        checks: list[dg.AssetCheckResult] = []
        for key, write in written.items():
            checks += [_for_asset(check, key) for check in write.checks]
            checks.append(null_partition_result(catalog.load_table(write.table), key))
        keys = [_check_key(check) for check in checks]
        failed = sorted(_named(key) for key, check in zip(keys, checks, strict=True) if not check.passed)
        # A check the step declares but nobody reported gates the merge like a failed one.
        failed += sorted(
            f"{_named(spec.key)} (not reported)" for spec in context.assets_def.check_specs if spec.key not in keys
        )
        where = {"nessie_branch": self.name, "nessie_branch_hash": audited}
        where |= {"target": self.target, "target_hash": self.base}
        tables = ", ".join(sorted({write.table for write in written.values()}))
        if failed:
            yield from _selected(context, checks)
            raise dg.Failure(
                description=(
                    f"{tables}: blocking check(s) {', '.join(failed)} failed on Nessie branch {self.name}; nothing "
                    f"was merged, {self.target} stays at {self.base}. The branch is kept for inspection until the "
                    "retention removes it."
                ),
                metadata=where,
                allow_retries=False,  # the same data would fail the same way
            )
        try:
            merged = self.nessie.merge(
                self.name, into=self.target, expected_hash=self.base, from_hash=audited,
                message=f"WAP {tables}: merge {self.name}",
            )  # fmt: skip
        except MergeConflictError as exc:
            context.log.warning(f"WAP: {exc}; branch {self.name} kept; retrying the write from {self.target}'s head")
            raise dg.RetryRequested(max_retries=CONFLICT_RETRIES, seconds_to_wait=CONFLICT_RETRY_SECONDS) from exc
        try:
            self.nessie.delete_branch(self.name, audited)  # merged: nothing on it that main lacks
        except NessieApiError as exc:  # the data is on main: a branch left over is the retention's to remove
            context.log.warning(f"WAP: merged, but branch {self.name} was not deleted ({exc}); the retention will")
        context.log.info(f"WAP: {self.name} merged into {self.target} ({self.base} -> {merged})")
        for key, write in written.items():
            yield dg.MaterializeResult(asset_key=key, metadata={**write.metadata, **where, "merged_hash": merged})
        yield from _selected(context, checks)


def write_audit_publish(
    context: dg.AssetExecutionContext, spark: SparkResource, table: str, job: str, args: list[str]
) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:  # type: ignore[type-arg]
    """One Spark submit of `job` on the run's branch, then `WapBranch.publish`."""
    branch = WapBranch.create(context, spark.settings, context.asset_key.to_user_string())
    results = spark.run(context, job, args, branch=branch.name).get_results()
    reported = next((r for r in results if isinstance(r, dg.MaterializeResult)), None)
    checks = [result for result in results if isinstance(result, dg.AssetCheckResult)]
    written = Written(table, checks, dict(reported.metadata or {}) if reported else {})
    yield from branch.publish(context, spark.settings, {context.asset_key: written})


def _for_asset(check: dg.AssetCheckResult, key: dg.AssetKey) -> dg.AssetCheckResult:
    """The result as `key`'s (Pipes reports a single asset's checks without naming the asset)."""
    if check.asset_key is not None:
        return check
    return dg.AssetCheckResult(
        asset_key=key,
        check_name=check.check_name,
        passed=check.passed,
        severity=check.severity,
        metadata=check.metadata,
        description=check.description,
    )


def _check_key(check: dg.AssetCheckResult) -> dg.AssetCheckKey:
    assert check.asset_key is not None  # every result here went through _for_asset
    return dg.AssetCheckKey(check.asset_key, str(check.check_name))


def _named(key: dg.AssetCheckKey) -> str:
    """`asset:check`, as the UI names it."""
    return f"{key.asset_key.to_user_string()}:{key.name}"


def _selected(context: dg.AssetExecutionContext, checks: list[dg.AssetCheckResult]) -> list[dg.AssetCheckResult]:
    """The results of the checks this run selected (all of them gate the merge, selected or not)."""
    selected = context.selected_asset_check_keys
    return [check for check in checks if _check_key(check) in selected]
