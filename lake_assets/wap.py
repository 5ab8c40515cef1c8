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

import dagster as dg

from lake.branches import MergeConflictError, NessieApiError, NessieBranches, on_branch, wap_branch_name
from lake.catalog import open_catalog
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


def write_audit_publish(
    context: dg.AssetExecutionContext, spark: SparkResource, table: str, job: str, args: list[str]
) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:  # type: ignore[type-arg]
    settings = spark.settings
    nessie = NessieBranches.from_settings(settings)
    target = settings.catalog.branch or nessie.default_branch()
    base = nessie.hash_of(target)
    branch = wap_branch_name(context.asset_key.to_user_string(), context.run.run_id)
    nessie.create_branch(branch, target, base)
    context.log.info(f"WAP: {table} is written on Nessie branch {branch} (from {target}@{base})")

    results = spark.run(context, job, args, branch=branch).get_results()
    audited = nessie.hash_of(branch)  # what the checks read is exactly what gets merged
    checks = [result for result in results if isinstance(result, dg.AssetCheckResult)]
    checks.append(null_partition_result(open_catalog(on_branch(settings, branch)).load_table(table)))
    failed = sorted(str(check.check_name) for check in checks if not check.passed)
    # A check the asset declares but nobody reported gates the merge like a failed one.
    names = {str(check.check_name) for check in checks}
    failed += sorted(f"{spec.name} (not reported)" for spec in context.assets_def.check_specs if spec.name not in names)
    where = {"nessie_branch": branch, "nessie_branch_hash": audited, "target": target, "target_hash": base}
    if failed:
        yield from _selected(context, checks)
        raise dg.Failure(
            description=(
                f"{table}: blocking check(s) {', '.join(failed)} failed on Nessie branch {branch}; nothing was "
                f"merged, {target} stays at {base}. The branch is kept for inspection until the retention "
                "removes it."
            ),
            metadata=where,
            allow_retries=False,  # the same data would fail the same way
        )

    try:
        merged = nessie.merge(
            branch, into=target, expected_hash=base, from_hash=audited, message=f"WAP {table}: merge {branch}"
        )
    except MergeConflictError as exc:
        context.log.warning(f"WAP: {exc}; branch {branch} kept; retrying the write from {target}'s new head")
        raise dg.RetryRequested(max_retries=CONFLICT_RETRIES, seconds_to_wait=CONFLICT_RETRY_SECONDS) from exc
    try:
        nessie.delete_branch(branch, audited)  # merged: nothing on it that main lacks
    except NessieApiError as exc:  # the data is on main: a branch left over is the retention's to remove
        context.log.warning(f"WAP: merged, but branch {branch} was not deleted ({exc}); the retention will")
    context.log.info(f"WAP: {branch} merged into {target} ({base} -> {merged})")

    reported = next((r for r in results if isinstance(r, dg.MaterializeResult)), None)
    metadata = dict(reported.metadata or {}) if reported else {}
    yield dg.MaterializeResult(metadata={**metadata, **where, "merged_hash": merged})
    yield from _selected(context, checks)


def _selected(context: dg.AssetExecutionContext, checks: list[dg.AssetCheckResult]) -> list[dg.AssetCheckResult]:
    """The results of the checks this run selected (all of them gate the merge, selected or not)."""
    selected = context.selected_asset_check_keys
    return [check for check in checks if dg.AssetCheckKey(context.asset_key, str(check.check_name)) in selected]
