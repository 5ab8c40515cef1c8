"""DagsterRunTrigger: waits in Airflow's triggerer for a Dagster run (or backfill) to end.

A waiting bridge task defers to this trigger and gives its worker slot back; the triggerer polls
Dagster with backoff on its event loop and wakes the task with the final status. The deadline is a
wall-clock instant (not a duration), so a triggerer restart does not extend the wait.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any, Literal

import httpx
from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_bridge import graphql
from airflow_bridge.graphql import DagsterRunError
from airflow_bridge.hooks.dagster import DagsterHook

Kind = Literal["run", "backfill"]


class DagsterRunTrigger(BaseTrigger):
    """Fires once, with {"kind", "dagster_id", "status"} and, when it gives up, "message"."""

    def __init__(
        self,
        *,
        dagster_id: str,
        kind: Kind = "run",
        deadline: float,
        dagster_conn_id: str = DagsterHook.default_conn_name,
        first_delay: float = 0.5,
        max_delay: float = 5.0,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.dagster_id = dagster_id
        self.kind: Kind = kind
        self.deadline = deadline
        self.dagster_conn_id = dagster_conn_id
        self.first_delay = first_delay
        self.max_delay = max_delay
        self._progress: str | None = None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "dagster_id": self.dagster_id,
                "kind": self.kind,
                "deadline": self.deadline,
                "dagster_conn_id": self.dagster_conn_id,
                "first_delay": self.first_delay,
                "max_delay": self.max_delay,
            },
        )

    def _event(self, status: str, message: str | None = None) -> TriggerEvent:
        payload = {"kind": self.kind, "dagster_id": self.dagster_id, "status": status}
        return TriggerEvent(payload | ({"message": message} if message else {}))  # type: ignore[no-untyped-call]

    async def _status(self, hook: DagsterHook) -> str:
        if self.kind == "run":
            return await hook.arun_status(self.dagster_id)
        status, progress = await hook.abackfill_status(self.dagster_id)
        if progress and progress != self._progress:
            # Shown in the task's log while it waits: a range backfill can take hours.
            self.log.info("Dagster backfill %s: %s", self.dagster_id, progress)
            self._progress = progress
        return status

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook = DagsterHook(self.dagster_conn_id)
        terminal = graphql.RUN_TERMINAL if self.kind == "run" else graphql.BACKFILL_TERMINAL
        delay, status = self.first_delay, "unknown"
        while True:
            try:
                status = await self._status(hook)
            except httpx.TransportError as error:
                # Dagster's webserver restarting is not the run failing: keep waiting until the deadline.
                self.log.warning("Dagster unreachable while waiting for %s %s: %s", self.kind, self.dagster_id, error)
            except DagsterRunError as error:
                yield self._event("ERROR", str(error))
                return
            if status in terminal:
                yield self._event(status)
                return
            if time.time() > self.deadline:
                yield self._event("TIMEOUT", f"Dagster {self.kind} {self.dagster_id} still {status} at the deadline")
                return
            await asyncio.sleep(delay)
            delay = min(self.max_delay, delay * 2)

    async def on_kill(self) -> None:
        """The user killed the waiting task (mark failed, clear): stop the Dagster work it was waiting for."""
        hook = DagsterHook(self.dagster_conn_id)
        self.log.info("task killed: stopping Dagster %s %s", self.kind, self.dagster_id)
        if self.kind == "run":
            await hook.aterminate(self.dagster_id)
        else:
            await hook.acancel_backfill(self.dagster_id)
