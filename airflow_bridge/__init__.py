"""The Airflow side of the bridge, shaped like an Airflow provider package.

    hooks/dagster.py        DagsterHook: Dagster's GraphQL API behind the `dagster_default` connection
    operators/dagster.py    DagsterMaterializeOperator: launch a run for the Airflow run's slot, then defer
    triggers/dagster.py     DagsterRunTrigger: wait for the run in the triggerer, holding no worker slot
    graphql.py              the GraphQL documents and how their answers are read
    partitions.py           an Airflow run's data interval -> a Dagster partition key
    dag_factory.py          DAGs from the specs `lake bridge generate` writes into dags/

Nothing here imports Dagster: Airflow's environment needs only Airflow, httpx and lake_contracts.
"""

from __future__ import annotations

from typing import Any


def get_provider_info() -> dict[str, Any]:
    """Registers the `dagster` connection type with Airflow (entry point `apache_airflow_provider`)."""
    return {
        "package-name": "lake-ingest",
        "name": "Dagster bridge (lake-ingest)",
        "description": "Materialise Dagster assets from Airflow: a hook, a deferrable operator and a trigger.",
        "connection-types": [
            {"hook-class-name": "airflow_bridge.hooks.dagster.DagsterHook", "connection-type": "dagster"}
        ],
        "versions": ["0.1.0"],
    }
