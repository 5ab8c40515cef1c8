"""Dagster's GraphQL API as the bridge uses it: the documents, the variables it sends, and how it reads answers.

Pure functions over dicts, so the hook's sync calls (in the task) and async calls (in the trigger) read
Dagster's answers the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lake_contracts import tags

REPOSITORY = "__repository__"
ASSET_JOB = "__ASSET_JOB"
RUN_TERMINAL = frozenset({"SUCCESS", "FAILURE", "CANCELED"})
# A run in one of these states is (or will be) good: a retry attaches to it instead of launching another.
RUN_REUSABLE = frozenset({"QUEUED", "NOT_STARTED", "STARTING", "STARTED", "SUCCESS", "MANAGED"})
BACKFILL_TERMINAL = frozenset({"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"})
BACKFILL_SUCCESS = frozenset({"COMPLETED", "COMPLETED_SUCCESS"})


class DagsterRunError(RuntimeError):
    """Dagster refused a request, or a run (or backfill) failed; the message says why, with a link."""


@dataclass(frozen=True)
class AssetTarget:
    """What one Airflow task materialises: asset keys (as path lists), their checks, and the location."""

    location: str
    asset_keys: tuple[tuple[str, ...], ...]
    check_keys: tuple[tuple[tuple[str, ...], str], ...] = ()
    partitioned: bool = True


def _tag_list(values: dict[str, str]) -> list[dict[str, str]]:
    return [{"key": key, "value": value} for key, value in sorted(values.items())]


def data_of(url: str, status_code: int, body: Any, text: str) -> dict[str, Any]:
    """The `data` of an answer, or DagsterRunError naming the HTTP status or the first GraphQL error."""
    if status_code == 401:
        raise DagsterRunError(
            f"Dagster at {url} refused the credentials (HTTP 401): set the login and password of the "
            "Airflow connection dagster_default to an identity of Dagster's webserver"
        )
    if status_code != 200:
        raise DagsterRunError(f"Dagster GraphQL at {url} answered HTTP {status_code}: {text[:300]}")
    if not isinstance(body, dict):
        raise DagsterRunError(f"Dagster GraphQL at {url} answered something that is not a JSON object")
    if body.get("errors"):
        raise DagsterRunError(f"Dagster GraphQL error: {body['errors'][0].get('message')}")
    data: dict[str, Any] = body["data"]
    return data


# -- runs -----------------------------------------------------------------------------------------
LAUNCH_RUN = """
mutation Launch($executionParams: ExecutionParams!) {
  launchRun(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on InvalidSubsetError { message }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on PipelineNotFoundError { message }
    ... on InvalidStepError { invalidStepKey }
    ... on UnauthorizedError { message }
  }
}
"""


def launch_variables(target: AssetTarget, run_tags: dict[str, str]) -> dict[str, Any]:
    return {
        "executionParams": {
            "selector": {
                "repositoryLocationName": target.location,
                "repositoryName": REPOSITORY,
                "jobName": ASSET_JOB,
                "assetSelection": [{"path": list(key)} for key in target.asset_keys],
                "assetCheckSelection": [
                    {"assetKey": {"path": list(asset)}, "name": name} for asset, name in target.check_keys
                ],
            },
            "executionMetadata": {"tags": _tag_list(run_tags)},
        }
    }


def _answer(data: dict[str, Any], field: str, typename: str, refusal: str) -> dict[str, Any]:
    """The field's object when Dagster answered with `typename`; any other member of the union (an error
    type) is DagsterRunError: `refusal`, then Dagster's message, or the error type's name when it has none."""
    result: dict[str, Any] = data[field]
    if result["__typename"] != typename:
        raise DagsterRunError(f"{refusal}: {result.get('message') or result['__typename']}")
    return result


def launched_run_id(data: dict[str, Any]) -> str:
    run_id: str = _answer(data, "launchRun", "LaunchRunSuccess", "Dagster refused the launch")["run"]["runId"]
    return run_id


RUNS = """
query Runs($filter: RunsFilter) {
  runsOrError(filter: $filter) { ... on Runs { results { runId status tags { key value } } } }
}
"""


def runs_variables(run_tags: dict[str, str]) -> dict[str, Any]:
    return {"filter": {"tags": _tag_list(run_tags)}}


RUN = """
query Run($runId: ID!) {
  runOrError(runId: $runId) { __typename ... on Run { runId status } ... on RunNotFoundError { message } }
}
"""


def run_status(data: dict[str, Any], run_id: str) -> str:
    status: str = _answer(data, "runOrError", "Run", f"Dagster has no run {run_id}")["status"]
    return status


TERMINATE = """
mutation Terminate($runId: String!) { terminateRun(runId: $runId) { __typename } }
"""

FAILURE_EVENTS = """
query Failure($runId: ID!) {
  logsForRun(runId: $runId) {
    ... on EventConnection {
      events {
        __typename
        ... on MessageEvent { message }
        ... on ExecutionStepFailureEvent { error { message causes { message } } }
        ... on RunFailureEvent { message }
        ... on AssetCheckEvaluationEvent { evaluation { checkName success description } }
      }
    }
  }
}
"""


def failure_message(data: dict[str, Any]) -> str:
    """One line per distinct reason a run failed: the root cause of each failed step, and failed checks."""
    events = data["logsForRun"].get("events", [])
    messages = []
    for event in events:
        if event["__typename"] == "ExecutionStepFailureEvent":
            error = event.get("error") or {}
            # The root cause says why (e.g. the Spark job's own error); the top says only which op.
            causes = [cause["message"] for cause in error.get("causes") or [] if cause.get("message")]
            messages.append(causes[-1] if causes else error.get("message", ""))
        elif event["__typename"] == "RunFailureEvent" and not messages:
            messages.append(event.get("message", ""))
    failed_checks = [
        f"check {e['evaluation']['checkName']} failed"
        + (f": {e['evaluation']['description']}" if e["evaluation"].get("description") else "")
        for e in events
        if e["__typename"] == "AssetCheckEvaluationEvent" and not e["evaluation"]["success"]
    ]
    found = [m.strip().splitlines()[0] for m in messages if m and m.strip()] + failed_checks
    return "; ".join(dict.fromkeys(found)) or "no error message in the run's events"


# -- backfills ------------------------------------------------------------------------------------
LAUNCH_BACKFILL = """
mutation Backfill($backfillParams: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $backfillParams) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on PartitionSetNotFoundError { message }
    ... on UnauthorizedError { message }
  }
}
"""


def backfill_variables(target: AssetTarget, first: str, last: str, run_tags: dict[str, str]) -> dict[str, Any]:
    return {
        "backfillParams": {
            "partitionsByAssets": [
                {"assetKey": {"path": list(key)}, "partitions": {"range": {"start": first, "end": last}}}
                for key in target.asset_keys
            ],
            "tags": _tag_list(run_tags),
            "title": f"airflow {run_tags.get(tags.AIRFLOW_DAG, '')} {first}...{last}",
        }
    }


def launched_backfill_id(data: dict[str, Any]) -> str:
    answer = _answer(data, "launchPartitionBackfill", "LaunchBackfillSuccess", "Dagster refused the backfill")
    backfill_id: str = answer["backfillId"]
    return backfill_id


BACKFILL = """
query Backfill($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename ... on BackfillNotFoundError { message }
    ... on PartitionBackfill { status assetBackfillData { assetBackfillStatuses {
      ... on AssetPartitionsStatusCounts { numPartitionsTargeted numPartitionsMaterialized numPartitionsFailed }
    } } }
  }
}
"""


CANCEL_BACKFILL = """
mutation Cancel($backfillId: String!) { cancelPartitionBackfill(backfillId: $backfillId) { __typename } }
"""


def backfill_progress(data: dict[str, Any]) -> str | None:
    """Progress for a waiting task's log, e.g. `7 of 96 partitions done, 0 failed` (the asset furthest behind)."""
    counts = (data["partitionBackfillOrError"].get("assetBackfillData") or {}).get("assetBackfillStatuses") or []
    counts = [c for c in counts if "numPartitionsTargeted" in c]
    if not counts:
        return None
    behind = min(counts, key=lambda c: c["numPartitionsMaterialized"] / max(1, c["numPartitionsTargeted"]))
    failed = sum(c["numPartitionsFailed"] for c in counts)
    done, total = behind["numPartitionsMaterialized"], behind["numPartitionsTargeted"]
    return f"{done} of {total} partitions done, {failed} failed"


def backfill_status(data: dict[str, Any], backfill_id: str) -> str:
    answer = _answer(data, "partitionBackfillOrError", "PartitionBackfill", f"Dagster has no backfill {backfill_id}")
    status: str = answer["status"]
    return status
