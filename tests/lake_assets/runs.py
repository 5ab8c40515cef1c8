"""In-process Dagster runs of the code location's assets (with the checks that target them), and what they
reported: shared by the Dagster tests."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import dagster as dg

from lake_assets.definitions import checks_for
from lake_assets.resources import all_resources

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def materialize(
    assets: list[Any], env_file: Path, instance: dg.DagsterInstance | None = None, **kwargs: Any
) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [*assets, *checks_for(assets)],
        resources=all_resources(env_file=str(env_file)),
        instance=instance or dg.DagsterInstance.ephemeral(),
        run_config=QUIET,
        **kwargs,
    )


def materialized_keys(result: dg.ExecuteInProcessResult) -> set[dg.AssetKey]:
    return {e.materialization.asset_key for e in result.get_asset_materialization_events() if e.materialization}


def metadata(result: dg.ExecuteInProcessResult, key: str) -> dict[str, Any]:
    for event in result.get_asset_materialization_events():
        assert event.materialization is not None
        if event.materialization.asset_key.to_user_string() == key:
            return {k: v.value for k, v in event.materialization.metadata.items()}
    raise AssertionError(f"{key} was not materialised")


def check_results(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    return {f"{e.asset_key.to_user_string()}:{e.check_name}": e.passed for e in result.get_asset_check_evaluations()}


def step_failure(result: dg.ExecuteInProcessResult) -> str:
    """The message of the run's one step failure."""
    [failure] = result.get_step_failure_events()
    assert failure.step_failure_data.error is not None
    return failure.step_failure_data.error.message


def wap_branch_in(message: str) -> str:
    """The Nessie branch a failed write-audit-publish step kept (named in its failure)."""
    found = re.search(r"on Nessie branch (wap-[A-Za-z0-9_.-]+);", message)
    assert found, message
    return found.group(1)
