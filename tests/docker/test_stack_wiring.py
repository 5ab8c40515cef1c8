"""The services of docker/compose.yaml are wired to each other the way the settings model says.

Every service built from this repository gets the same LAKE_* variables (x-lake-env), they load into
lake.settings without error, and every host they name is a service of the stack listening on that port.
"""

from __future__ import annotations

import itertools
import re
from typing import Any
from urllib.parse import urlsplit

from lake.settings import LakeSettings
from tests.docker.compose_files import command_args, environment, services

PROJECT_SERVICES = {
    "bootstrap",
    "dagster-code",
    "dagster-webserver",
    "dagster-daemon",
    "scrapworker",
    "spark-master",
    "spark-worker",
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
}
AIRFLOW_COMMANDS = {"api-server", "scheduler", "dag-processor", "triggerer", "celery worker"}


def listening_ports(service: dict[str, Any]) -> set[int]:
    """Container-side ports a service publishes or is told to listen on (-p/--port, *_ADDRESS=:port)."""
    ports = {int(str(entry).rsplit(":", 1)[-1].split("/")[0]) for entry in service.get("ports") or []}
    args = command_args(service)
    ports |= {int(value) for flag, value in itertools.pairwise(args) if flag in ("-p", "--port")}
    ports |= {int(value.rsplit(":", 1)[1]) for key, value in environment(service).items() if key.endswith("_ADDRESS")}
    return ports


def test_every_project_service_gets_the_same_lake_settings(compose: dict[str, Any], lake_env: dict[str, str]) -> None:
    built = {name for name, service in services(compose).items() if "build" in service}
    assert built == PROJECT_SERVICES
    different = {
        name: {key: value for key, value in environment(services(compose)[name]).items() if key.startswith("LAKE_")}
        for name in sorted(built)
    }
    different = {name: env for name, env in different.items() if env != lake_env}
    assert not different, f"LAKE_* differ from x-lake-env in: {sorted(different)}"


def test_the_settings_point_at_this_stack(settings: LakeSettings) -> None:
    catalog = settings.catalog
    assert (catalog.uri, catalog.warehouse) == ("http://nessie:19120/iceberg", "warehouse")
    assert catalog.branch is None and catalog.prefix is None
    assert catalog.nessie_health_url == "http://nessie:9000/q/health"
    assert (settings.s3.endpoint, settings.s3.path_style) == ("http://rustfs:9000", True)
    assert settings.queue.url == "redis://scrapredis:6379/0"
    assert settings.spark.master == "spark://spark-master:7077"
    assert settings.dagster.url == "http://dagster-webserver:3000"
    assert settings.airflow.url == "http://airflow-apiserver:8080"


def test_every_address_in_the_settings_is_a_service_listening_there(
    compose: dict[str, Any], lake_env: dict[str, str]
) -> None:
    problems = []
    for key, value in lake_env.items():
        if "://" not in value:
            continue
        parts = urlsplit(value)
        service = services(compose).get(parts.hostname or "")
        if service is None:
            problems.append(f"{key}={value}: {parts.hostname} is not a service")
        elif parts.port and parts.port not in listening_ports(service):
            problems.append(f"{key}={value}: {parts.hostname} does not listen on {parts.port}")
    assert not problems, "\n".join(problems)


def test_spark_worker_joins_the_master_the_settings_name(compose: dict[str, Any], settings: LakeSettings) -> None:
    master = command_args(services(compose)["spark-master"])
    worker = command_args(services(compose)["spark-worker"])
    assert master[0] == "org.apache.spark.deploy.master.Master"
    assert worker[0] == "org.apache.spark.deploy.worker.Worker"
    assert settings.spark.master in worker
    assert f"spark://{master[master.index('--host') + 1]}:{master[master.index('--port') + 1]}" == settings.spark.master


def test_spark_code_gets_the_s3_key_of_the_settings(compose: dict[str, Any], settings: LakeSettings) -> None:
    """S3FileIO and boto3 find the key through AWS_* where spark-defaults.conf carries none."""
    secret = settings.s3.secret_access_key
    assert secret is not None
    for name in ("spark-master", "spark-worker", "dagster-code"):
        env = environment(services(compose)[name])
        assert env["AWS_ACCESS_KEY_ID"] == settings.s3.access_key_id, name
        assert env["AWS_SECRET_ACCESS_KEY"] == secret.get_secret_value(), name
        assert env["AWS_REGION"] == settings.s3.region, name


def test_storage_init_creates_the_raw_and_warehouse_buckets(
    compose: dict[str, Any], production_settings: LakeSettings
) -> None:
    settings = production_settings
    init = services(compose)["storage-init"]
    env = environment(init)
    warehouse = urlsplit(environment(services(compose)["nessie"])["nessie.catalog.warehouses.warehouse.location"])
    assert warehouse.netloc == settings.nessie.warehouse_bucket
    assert set(env["BUCKETS"].split()) == {settings.s3.raw_bucket, settings.nessie.warehouse_bucket}
    assert "for bucket in $BUCKETS" in " ".join(command_args(init))
    assert env["AWS_ENDPOINT_URL"] == settings.s3.endpoint
    assert env["AWS_ACCESS_KEY_ID"] == settings.s3.access_key_id


def test_scrapredis_is_its_own_append_only_redis(compose: dict[str, Any], settings: LakeSettings) -> None:
    scrapredis = services(compose)["scrapredis"]
    assert re.fullmatch(r"redis:7(\.\d+)*(-\w+)?", scrapredis["image"])
    args = command_args(scrapredis)
    assert args[args.index("--appendonly") + 1] == "yes"
    assert urlsplit(settings.queue.url).hostname == "scrapredis"
    broker = urlsplit(environment(services(compose)["airflow-scheduler"])["AIRFLOW__CELERY__BROKER_URL"])
    assert broker.hostname != "scrapredis", "Airflow's Celery broker is a Redis of its own"
    assert str(services(compose)[broker.hostname or ""]["image"]).startswith("redis:")


def test_airflow_runs_its_five_components_with_its_own_databases(compose: dict[str, Any]) -> None:
    airflow = {
        name: service
        for name, service in services(compose).items()
        if str(service["image"]).startswith("lake-airflow:")
    }
    commands = {" ".join(command_args(service)) for service in airflow.values()}
    assert commands >= AIRFLOW_COMMANDS
    for name, service in airflow.items():
        env = environment(service)
        assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False", name
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert "../airflow_bridge/dags:/opt/airflow/dags:ro" in service["volumes"], name
        database = urlsplit(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]).hostname
        assert database == "airflow-db", name
        assert (
            environment(services(compose)[database])["POSTGRES_PASSWORD"] in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        )


def test_dagster_services_share_one_storage_database(compose: dict[str, Any]) -> None:
    db = environment(services(compose)["dagster-db"])
    for name in ("dagster-code", "dagster-webserver", "dagster-daemon"):
        env = environment(services(compose)[name])
        assert env["DAGSTER_POSTGRES_HOST"] == "dagster-db", name
        assert (env["DAGSTER_POSTGRES_DB"], env["DAGSTER_POSTGRES_USER"], env["DAGSTER_POSTGRES_PASSWORD"]) == (
            db["POSTGRES_DB"],
            db["POSTGRES_USER"],
            db["POSTGRES_PASSWORD"],
        ), name
