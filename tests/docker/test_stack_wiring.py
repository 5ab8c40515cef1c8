"""The services of docker/compose.yaml are wired to each other the way the settings model says.

Every service built from this repository gets the same LAKE_* variables (x-lake-env), they load into
lake.settings without error, and every host they name is a service of the stack listening on that port.
"""

from __future__ import annotations

import itertools
import re
from typing import Any
from urllib.parse import urlsplit

from lake.access import S3_ROLES, Role, s3_access_key_id, s3_actions
from lake.settings import LakeSettings
from tests.docker.compose_files import command_args, environment, s3_identities_of, services
from tests.docker.conftest import identity

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


def test_every_project_service_gets_the_same_lake_settings_and_one_identity(
    compose: dict[str, Any], lake_env: dict[str, str]
) -> None:
    built = {name for name, service in services(compose).items() if "build" in service}
    assert built == PROJECT_SERVICES
    for name in sorted(built):
        env = environment(services(compose)[name])
        shared = {key: value for key, value in env.items() if key in lake_env}
        assert shared == lake_env, f"{name}: LAKE_* differ from x-lake-env"
    expected = {
        "bootstrap": (Role.OPERATOR, None),
        "dagster-code": (Role.PRODUCER, Role.WRITER),
        "dagster-webserver": (Role.PRODUCER, Role.WRITER),
        "dagster-daemon": (Role.PRODUCER, Role.WRITER),
        "scrapworker": (Role.CRAWLER, Role.CRAWLER),
    }
    for name, (queue_user, s3_role) in expected.items():
        found = identity(compose, name)
        assert found["LAKE_QUEUE__USERNAME"] == queue_user, name
        if s3_role is not None:
            assert found["LAKE_S3__ACCESS_KEY_ID"] == s3_access_key_id(s3_role), name
    for name in ("spark-master", "spark-worker", "airflow-apiserver"):
        assert not identity(compose, name), f"{name} holds no identity of the lake's"


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


def test_spark_code_gets_the_writer_s_s3_key(compose: dict[str, Any]) -> None:
    """S3FileIO and boto3 find the key through AWS_* where spark-defaults.conf carries none: the writer's,
    the identity of the Dagster services that submit the jobs."""
    writer = identity(compose, "dagster-code")
    for name in ("spark-master", "spark-worker", "dagster-code"):
        env = environment(services(compose)[name])
        assert env["AWS_ACCESS_KEY_ID"] == writer["LAKE_S3__ACCESS_KEY_ID"] == s3_access_key_id(Role.WRITER), name
        assert env["AWS_SECRET_ACCESS_KEY"] == writer["LAKE_S3__SECRET_ACCESS_KEY"], name
        assert env["AWS_REGION"] == "us-east-1", name


def test_each_s3_key_has_the_rights_of_its_role(compose: dict[str, Any]) -> None:
    identities = s3_identities_of(compose)
    for role in S3_ROLES:
        assert identities[s3_access_key_id(role)]["actions"] == s3_actions(role, "raw", "warehouse"), role
    assert identities[s3_access_key_id(Role.CRAWLER)]["actions"] == ["Read:raw", "List:raw", "Write:raw"]
    assert identities[s3_access_key_id(Role.READER)]["actions"] == ["Read:warehouse", "List:warehouse"]
    writer = identity(compose, "dagster-code")
    assert identities[writer["LAKE_S3__ACCESS_KEY_ID"]]["secretKey"] == writer["LAKE_S3__SECRET_ACCESS_KEY"]


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
    # The store's admin: only it creates buckets.
    assert env["AWS_ACCESS_KEY_ID"] == environment(services(compose)["rustfs"])["RUSTFS_ACCESS_KEY"]


def test_scrapredis_is_its_own_append_only_redis(compose: dict[str, Any], settings: LakeSettings) -> None:
    scrapredis = services(compose)["scrapredis"]
    assert re.fullmatch(r"redis:7(\.\d+)*(-\w+)?", scrapredis["image"])
    script = " ".join(command_args(scrapredis))
    assert "--appendonly yes" in script and "--aclfile /tmp/users.acl" in script
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
