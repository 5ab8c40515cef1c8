"""DagsterHook: Dagster's GraphQL API behind an Airflow connection (`dagster_default`). Never imports Dagster.

The connection gives the webserver's host and port (`http://host:3000`; conn type `dagster`, `http` or
`https`) and the bridge's identity: a login and password (HTTP Basic, as the project's Dagster webserver
asks: lake_tools/platform/dagster_web.py), or a password alone, sent as a bearer token to a proxy that
takes one. The task calls the sync methods; the trigger,
in the triggerer's event loop, calls the `a`-prefixed ones, which never block the loop.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass
from typing import Any

import httpx
from airflow.sdk import BaseHook

from airflow_bridge import graphql
from airflow_bridge.graphql import AssetTarget
from lake_contracts import tags

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Endpoint:
    url: str
    headers: dict[str, str]


class DagsterHook(BaseHook):
    conn_name_attr = "dagster_conn_id"
    default_conn_name = "dagster_default"
    conn_type = "dagster"
    hook_name = "Dagster"

    def __init__(self, dagster_conn_id: str = default_conn_name, timeout: float = 30) -> None:
        super().__init__()
        self.dagster_conn_id = dagster_conn_id
        self.timeout = timeout
        self._endpoint: Endpoint | None = None

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return {
            "hidden_fields": ["extra"],
            "relabeling": {
                "password": "Password (or a bearer token, without a login)",
                "schema": "Scheme (http or https)",
            },
            "placeholders": {"host": "dagster-webserver", "port": "3000"},
        }

    @staticmethod
    def _endpoint_of(connection: Any) -> Endpoint:
        scheme = "https" if "https" in (connection.conn_type, connection.schema) else "http"
        url = f"{scheme}://{connection.host}" + (f":{connection.port}" if connection.port else "")
        headers = {}
        if connection.login and connection.password:
            basic = base64.b64encode(f"{connection.login}:{connection.password}".encode()).decode()
            headers["Authorization"] = f"Basic {basic}"
        elif connection.password:
            headers["Authorization"] = f"Bearer {connection.password}"
        return Endpoint(url, headers)

    def endpoint(self) -> Endpoint:
        if self._endpoint is None:
            self._endpoint = self._endpoint_of(self.get_connection(self.dagster_conn_id))
        return self._endpoint

    async def aendpoint(self) -> Endpoint:
        if self._endpoint is None:
            self._endpoint = self._endpoint_of(await self.aget_connection(self.dagster_conn_id))
        return self._endpoint

    def run_link(self, run_id: str) -> str:
        return f"{self.endpoint().url}/runs/{run_id}"

    def backfill_link(self, backfill_id: str) -> str:
        return f"{self.endpoint().url}/runs/b/{backfill_id}"

    # -- transport ---------------------------------------------------------------------------------
    def query(self, document: str, variables: dict[str, Any]) -> dict[str, Any]:
        endpoint = self.endpoint()
        with httpx.Client(headers=endpoint.headers, timeout=self.timeout) as client:
            response = client.post(f"{endpoint.url}/graphql", json={"query": document, "variables": variables})
        return graphql.data_of(endpoint.url, response.status_code, _json(response), response.text)

    async def aquery(self, document: str, variables: dict[str, Any]) -> dict[str, Any]:
        endpoint = await self.aendpoint()
        async with httpx.AsyncClient(headers=endpoint.headers, timeout=self.timeout) as client:
            response = await client.post(f"{endpoint.url}/graphql", json={"query": document, "variables": variables})
        return graphql.data_of(endpoint.url, response.status_code, _json(response), response.text)

    # -- runs --------------------------------------------------------------------------------------
    def launch(self, target: AssetTarget, run_tags: dict[str, str]) -> str:
        return graphql.launched_run_id(self.query(graphql.LAUNCH_RUN, graphql.launch_variables(target, run_tags)))

    def runs_tagged(self, run_tags: dict[str, str]) -> list[dict[str, Any]]:
        runs: list[dict[str, Any]] = self.query(graphql.RUNS, graphql.runs_variables(run_tags))["runsOrError"][
            "results"
        ]
        return runs

    def launch_or_attach(self, target: AssetTarget, identity: dict[str, str], try_number: int) -> str:
        """The Dagster run for this task and slot: an earlier try's, unless it failed, else a new one.

        `identity` (dag, run, task and partition tags) names the task's work across its tries.
        """
        earlier = [run for run in self.runs_tagged(identity) if run["status"] in graphql.RUN_REUSABLE]
        if earlier:
            run_id = str(earlier[0]["runId"])
            log.info("attaching to Dagster run %s launched by an earlier try: %s", run_id, self.run_link(run_id))
            return run_id
        run_id = self.launch(target, identity | {tags.AIRFLOW_TRY: str(try_number)})
        log.info("launched Dagster run %s: %s", run_id, self.run_link(run_id))
        return run_id

    def failure_message(self, run_id: str) -> str:
        return graphql.failure_message(self.query(graphql.FAILURE_EVENTS, {"runId": run_id}))

    def run_status(self, run_id: str) -> str:
        return graphql.run_status(self.query(graphql.RUN, {"runId": run_id}), run_id)

    async def arun_status(self, run_id: str) -> str:
        return graphql.run_status(await self.aquery(graphql.RUN, {"runId": run_id}), run_id)

    async def aterminate(self, run_id: str) -> None:
        await self.aquery(graphql.TERMINATE, {"runId": run_id})

    # -- backfills ---------------------------------------------------------------------------------
    def launch_backfill(self, target: AssetTarget, first: str, last: str, run_tags: dict[str, str]) -> str:
        variables = graphql.backfill_variables(target, first, last, run_tags)
        return graphql.launched_backfill_id(self.query(graphql.LAUNCH_BACKFILL, variables))

    async def abackfill_status(self, backfill_id: str) -> tuple[str, str | None]:
        """The backfill's status and its progress ("7 of 96 partitions done, 0 failed"), when known."""
        data = await self.aquery(graphql.BACKFILL, {"id": backfill_id})
        return graphql.backfill_status(data, backfill_id), graphql.backfill_progress(data)

    async def acancel_backfill(self, backfill_id: str) -> None:
        await self.aquery(graphql.CANCEL_BACKFILL, {"backfillId": backfill_id})


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
