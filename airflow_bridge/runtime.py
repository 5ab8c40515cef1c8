"""What the generated DAGs import: Dagster's GraphQL API driven from Airflow tasks. Never imports Dagster.

An Airflow run's data interval becomes a Dagster partition key (the slot that starts at the interval's
start); the task launches the asset's materialisation with its checks, tags the Dagster run with the
Airflow dag id, run id and try number, waits with backoff, and fails with Dagster's error and a link.
A retry of the same Airflow run attaches to the Dagster run the first try launched (unless that run
failed), so a retry never launches a second run of a good one. Killing the task terminates the run.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from lake_contracts import tags
from lake_contracts.slots import KEY_FORMAT

log = logging.getLogger(__name__)

CONNECTION_ID = "dagster_default"
REPOSITORY = "__repository__"
ASSET_JOB = "__ASSET_JOB"
TAG_DAG, TAG_RUN, TAG_TASK, TAG_TRY = tags.AIRFLOW_DAG, tags.AIRFLOW_RUN, tags.AIRFLOW_TASK, tags.AIRFLOW_TRY
PARTITION_TAG = tags.PARTITION
TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}
REUSABLE = {"QUEUED", "NOT_STARTED", "STARTING", "STARTED", "SUCCESS", "MANAGED"}


class DagsterRunError(RuntimeError):
    """The Dagster run (or backfill) failed; the message carries Dagster's error and a link."""


@dataclass(frozen=True)
class AssetTarget:
    """What one Airflow task materialises: asset keys (as path lists), their checks, and the location."""

    location: str
    asset_keys: tuple[tuple[str, ...], ...]
    check_keys: tuple[tuple[tuple[str, ...], str], ...] = ()
    partitioned: bool = True


# -- partition keys -------------------------------------------------------------------------------
def partition_key(context: dict[str, Any], cadence_minutes: int, now: datetime | None = None) -> str:
    """The slot of an Airflow run: the one starting at its data interval's start.

    Scheduled runs carry a data interval. Manual and API runs may not (or carry logical_date == the
    interval's end, or nothing): then the slot is the last complete one before the logical date, or
    before now.
    """
    start = context.get("data_interval_start")
    end = context.get("data_interval_end")
    if start is not None and end is not None and end > start:
        return _floor(start, cadence_minutes).strftime(KEY_FORMAT)
    anchor = context.get("logical_date") or now or datetime.now(UTC)
    return (_floor(anchor, cadence_minutes) - timedelta(minutes=cadence_minutes)).strftime(KEY_FORMAT)


def _floor(moment: datetime, minutes: int) -> datetime:
    moment = moment.astimezone(UTC).replace(second=0, microsecond=0)
    return moment - timedelta(minutes=(moment.hour * 60 + moment.minute) % minutes)


# -- the GraphQL client ---------------------------------------------------------------------------
class DagsterClient:
    def __init__(self, url: str, token: str | None = None, timeout: float = 30) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    @classmethod
    def from_airflow(cls) -> DagsterClient:
        """The Airflow connection `dagster_default` (host, port, password = token), else LAKE_DAGSTER__* env."""
        try:
            from airflow.sdk import BaseHook

            connection = BaseHook.get_connection(CONNECTION_ID)
            scheme = connection.schema or "http"
            url = f"{scheme}://{connection.host}" + (f":{connection.port}" if connection.port else "")
            return cls(url, connection.password or None)
        except Exception:
            return cls(
                os.environ.get("LAKE_DAGSTER__URL", "http://127.0.0.1:3000"), os.environ.get("LAKE_DAGSTER__TOKEN")
            )

    def run_link(self, run_id: str) -> str:
        return f"{self.url}/runs/{run_id}"

    def query(self, document: str, variables: dict[str, Any]) -> dict[str, Any]:
        response = self.session.post(
            f"{self.url}/graphql", json={"query": document, "variables": variables}, timeout=self.timeout
        )
        if response.status_code != 200:
            raise DagsterRunError(
                f"Dagster GraphQL at {self.url} answered HTTP {response.status_code}: {response.text[:300]}"
            )
        body: dict[str, Any] = response.json()
        if body.get("errors"):
            raise DagsterRunError(f"Dagster GraphQL error: {body['errors'][0].get('message')}")
        data: dict[str, Any] = body["data"]
        return data

    def launch(self, target: AssetTarget, partition: str | None, tags: dict[str, str]) -> str:
        all_tags = tags | ({PARTITION_TAG: partition} if partition else {})
        data = self.query(
            LAUNCH_RUN,
            {
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
                    "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in sorted(all_tags.items())]},
                }
            },
        )
        result = data["launchRun"]
        if result["__typename"] != "LaunchRunSuccess":
            raise DagsterRunError(f"Dagster refused the launch: {result.get('message') or result['__typename']}")
        run_id: str = result["run"]["runId"]
        return run_id

    def runs_tagged(self, tags: dict[str, str]) -> list[dict[str, Any]]:
        data = self.query(RUNS, {"filter": {"tags": [{"key": k, "value": v} for k, v in sorted(tags.items())]}})
        runs: list[dict[str, Any]] = data["runsOrError"]["results"]
        return runs

    def run(self, run_id: str) -> dict[str, Any]:
        data = self.query(RUN, {"runId": run_id})
        result: dict[str, Any] = data["runOrError"]
        if result["__typename"] != "Run":
            raise DagsterRunError(f"Dagster has no run {run_id}: {result.get('message')}")
        return result

    def failure_message(self, run_id: str) -> str:
        data = self.query(FAILURE_EVENTS, {"runId": run_id})
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
            for e in events
            if e["__typename"] == "AssetCheckEvaluationEvent" and not e["evaluation"]["success"]
        ]
        found = [m.strip().splitlines()[0] for m in messages if m and m.strip()] + failed_checks
        return "; ".join(dict.fromkeys(found)) or "no error message in the run's events"

    def terminate(self, run_id: str) -> None:
        self.query(TERMINATE, {"runId": run_id})

    def wait(self, run_id: str, timeout: float, first_delay: float = 0.5, max_delay: float = 10.0) -> str:
        """Wait for a terminal status, polling with exponential backoff; returns the status."""
        deadline, delay = time.monotonic() + timeout, first_delay
        while True:
            status: str = self.run(run_id)["status"]
            if status in TERMINAL:
                return status
            if time.monotonic() > deadline:
                raise DagsterRunError(f"Dagster run still {status} after {timeout:.0f} s: {self.run_link(run_id)}")
            time.sleep(delay)
            delay = min(max_delay, delay * 2)

    def launch_backfill(self, target: AssetTarget, first: str, last: str, tags: dict[str, str]) -> str:
        data = self.query(
            LAUNCH_BACKFILL,
            {
                "backfillParams": {
                    "partitionsByAssets": [
                        {"assetKey": {"path": list(key)}, "partitions": {"range": {"start": first, "end": last}}}
                        for key in target.asset_keys
                    ],
                    "tags": [{"key": k, "value": v} for k, v in sorted(tags.items())],
                    "title": f"airflow {tags.get(TAG_DAG, '')} {first}...{last}",
                }
            },
        )
        result = data["launchPartitionBackfill"]
        if result["__typename"] != "LaunchBackfillSuccess":
            raise DagsterRunError(f"Dagster refused the backfill: {result.get('message') or result['__typename']}")
        backfill_id: str = result["backfillId"]
        return backfill_id

    def wait_backfill(self, backfill_id: str, timeout: float) -> str:
        deadline, delay = time.monotonic() + timeout, 1.0
        while True:
            status = str(self.query(BACKFILL, {"id": backfill_id})["partitionBackfillOrError"]["status"])
            if status in ("COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"):
                return status
            if time.monotonic() > deadline:
                raise DagsterRunError(f"Dagster backfill {backfill_id} still {status} after {timeout:.0f} s")
            time.sleep(delay)
            delay = min(15.0, delay * 2)


# -- the task -------------------------------------------------------------------------------------
def materialize(
    client: DagsterClient,
    target: AssetTarget,
    *,
    dag_id: str,
    run_id: str,
    task_id: str,
    try_number: int,
    partition: str | None,
    timeout: float = 3600,
    on_launched: Any = None,
) -> str:
    """Materialise `target` for `partition`, reusing this task's Dagster run on a retry.

    The task id is part of the identity: every task of one Airflow run shares its dag and run ids.
    """
    identity = {TAG_DAG: dag_id, TAG_RUN: run_id, TAG_TASK: task_id} | ({PARTITION_TAG: partition} if partition else {})
    earlier = [run for run in client.runs_tagged(identity) if run["status"] in REUSABLE]
    if earlier:
        dagster_run = str(earlier[0]["runId"])
        log.info(
            "attaching to Dagster run %s launched by an earlier try: %s", dagster_run, client.run_link(dagster_run)
        )
    else:
        dagster_run = client.launch(target, partition, identity | {TAG_TRY: str(try_number)})
        log.info("launched Dagster run %s for partition %s: %s", dagster_run, partition, client.run_link(dagster_run))
    if on_launched is not None:
        on_launched(dagster_run)
    status = client.wait(dagster_run, timeout)
    if status != "SUCCESS":
        raise DagsterRunError(
            f"Dagster run {status.lower()}: {client.failure_message(dagster_run)} ({client.run_link(dagster_run)})"
        )
    return dagster_run


# -- DAG building ---------------------------------------------------------------------------------
def build_dags(pipelines: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """DAG objects from the generated pipeline specs (see lake_assets/airflow_dags.py)."""
    from airflow_bridge.operator import build_dag

    dags = {}
    for spec in pipelines:
        dag = build_dag(spec)
        dags[dag.dag_id] = dag
    return dags


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
RUNS = """
query Runs($filter: RunsFilter) {
  runsOrError(filter: $filter) { ... on Runs { results { runId status tags { key value } } } }
}
"""
RUN = """
query Run($runId: ID!) {
  runOrError(runId: $runId) { __typename ... on Run { runId status } ... on RunNotFoundError { message } }
}
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
        ... on AssetCheckEvaluationEvent { evaluation { checkName success } }
      }
    }
  }
}
"""
TERMINATE = """
mutation Terminate($runId: String!) { terminateRun(runId: $runId) { __typename } }
"""
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
BACKFILL = """
query Backfill($id: String!) { partitionBackfillOrError(backfillId: $id) { ... on PartitionBackfill { status } } }
"""
