"""Reading Dagster's GraphQL answers: each union's success member gives its value, every error member a
DagsterRunError that says what was asked and what Dagster said (shapes as Dagster 1.13's schema gives them)."""

from __future__ import annotations

import pytest

from airflow_bridge.graphql import (
    DagsterRunError,
    backfill_status,
    launched_backfill_id,
    launched_run_id,
    run_status,
)


def test_success_members_give_their_values() -> None:
    assert launched_run_id({"launchRun": {"__typename": "LaunchRunSuccess", "run": {"runId": "r1"}}}) == "r1"
    assert run_status({"runOrError": {"__typename": "Run", "runId": "r1", "status": "STARTED"}}, "r1") == "STARTED"
    launched = {"launchPartitionBackfill": {"__typename": "LaunchBackfillSuccess", "backfillId": "b1"}}
    assert launched_backfill_id(launched) == "b1"
    backfill = {"partitionBackfillOrError": {"__typename": "PartitionBackfill", "status": "COMPLETED_SUCCESS"}}
    assert backfill_status(backfill, "b1") == "COMPLETED_SUCCESS"


@pytest.mark.parametrize(
    ("read", "answer", "said"),
    [
        (
            launched_run_id,
            {"launchRun": {"__typename": "PythonError", "message": "boom"}},
            "Dagster refused the launch: boom",
        ),
        (  # an error member without a message is named by its type
            launched_run_id,
            {"launchRun": {"__typename": "UnauthorizedError"}},
            "Dagster refused the launch: UnauthorizedError",
        ),
        (
            lambda data: run_status(data, "r9"),
            {"runOrError": {"__typename": "RunNotFoundError", "message": "Run r9 could not be found."}},
            "Dagster has no run r9: Run r9 could not be found.",
        ),
        (
            launched_backfill_id,
            {"launchPartitionBackfill": {"__typename": "PartitionSetNotFoundError", "message": "no set"}},
            "Dagster refused the backfill: no set",
        ),
        (
            lambda data: backfill_status(data, "b9"),
            {"partitionBackfillOrError": {"__typename": "BackfillNotFoundError", "message": "Backfill b9 not found"}},
            "Dagster has no backfill b9: Backfill b9 not found",
        ),
    ],
)
def test_error_members_say_what_was_asked_and_what_dagster_said(read: object, answer: dict, said: str) -> None:
    with pytest.raises(DagsterRunError) as refused:
        read(answer)  # type: ignore[operator]
    assert str(refused.value) == said
