"""`lake doctor`: one line per component, a remedy for each failure, non-zero when a required one is down.

Required: what every pipeline needs (queue, object storage, catalog, Java and the Spark jars, matching
Pythons). Optional: the Dagster webserver and the Airflow API, which `lake stack up` does not start.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import requests

from lake.catalog_config import redact, spark_jars
from lake.settings import LakeSettings
from lake_tools.jars import SPARK_ARTIFACTS


@dataclass(frozen=True)
class Check:
    component: str
    ok: bool
    detail: str
    remedy: str = ""
    required: bool = True

    def line(self) -> str:
        mark = "ok  " if self.ok else ("FAIL" if self.required else "warn")
        text = f"[{mark}] {self.component:<18} {self.detail}"
        return text if self.ok else f"{text}\n       -> {self.remedy}"


class CheckFailedError(Exception):
    def __init__(self, detail: str, remedy: str) -> None:
        super().__init__(detail)
        self.detail, self.remedy = detail, remedy


# The same settings point at the embedded stack or at docker/ (the compose stack): name both ways up.
STACK_REMEDY = "start it: `lake stack up` (embedded) or `lake compose up` (docker/); or check {var}"


def check_redis(settings: LakeSettings) -> str:
    import redis

    from scrapworker.queue import redis_client

    client = redis_client(settings.queue, socket_connect_timeout=2, socket_timeout=2)
    started = time.monotonic()
    try:
        client.ping()
    except (redis.AuthenticationError, redis.exceptions.NoPermissionError) as exc:
        raise CheckFailedError(
            f"{_safe_url(settings.queue.url)} refused user {settings.queue.username or '(none)'}: {exc}",
            "check LAKE_QUEUE__USERNAME / LAKE_QUEUE__PASSWORD",
        ) from None
    except redis.RedisError as exc:
        raise CheckFailedError(
            f"{_safe_url(settings.queue.url)}: {exc}", STACK_REMEDY.format(var="LAKE_QUEUE__URL")
        ) from None
    return f"{_safe_url(settings.queue.url)} PONG in {1000 * (time.monotonic() - started):.0f} ms"


def check_s3(settings: LakeSettings) -> str:
    import botocore.exceptions

    from lake.storage import s3_client

    s3 = settings.s3
    client = s3_client(settings, connect_timeout=2, retries=1)
    where = s3.endpoint or "AWS S3"
    try:
        client.head_bucket(Bucket=s3.raw_bucket)
    except botocore.exceptions.ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "?")
        if code in ("404", "NoSuchBucket"):
            raise CheckFailedError(f"{where}: bucket {s3.raw_bucket!r} missing", "run `lake bootstrap`") from None
        raise CheckFailedError(
            f"{where}: {code} for access key {s3.access_key_id or '(none)'}",
            "check LAKE_S3__ACCESS_KEY_ID / LAKE_S3__SECRET_ACCESS_KEY",
        ) from None
    except botocore.exceptions.BotoCoreError as exc:
        raise CheckFailedError(f"{where}: {exc}", STACK_REMEDY.format(var="LAKE_S3__ENDPOINT")) from None
    return f"{where} bucket {s3.raw_bucket!r} reachable"


CATALOG_CREDENTIAL_REMEDY = "check LAKE_CATALOG__TOKEN (or LAKE_CATALOG__CREDENTIAL): missing, expired or not Nessie's"


def check_catalog(settings: LakeSettings) -> str:
    from lake.catalog import catalog_refused_credentials, open_catalog
    from lake.catalog_config import rest_catalog_uri

    where = redact({"uri": rest_catalog_uri(settings)})["uri"]
    try:
        namespaces = sorted(".".join(ns) for ns in open_catalog(settings).list_namespaces())
    except Exception as exc:
        message = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        if catalog_refused_credentials(exc):
            raise CheckFailedError(f"{where}: {message}", CATALOG_CREDENTIAL_REMEDY) from None
        raise CheckFailedError(f"{where}: {message}", STACK_REMEDY.format(var="LAKE_CATALOG__URI")) from None
    return f"{where} namespaces: {', '.join(namespaces) or '(none: run `lake bootstrap`)'}"


# What Nessie's own health checks say when it was configured the ways the seed article documents, or when
# its object store is down, and the fix for each (lake.catalog_config.nessie_properties renders the
# working form). The first marker found wins: the object-store one, which a bad S3 secret also trips,
# comes last.
NESSIE_FAULTS = (
    (
        "Invalid secret URI",
        "give Nessie the S3 key as a secret URI, not a plain string: "
        "nessie.catalog.service.s3.default-options.access-key=urn:nessie-secret:quarkus:<name> "
        "with <name>.name=<key id> and <name>.secret=<secret key>",
    ),
    (
        "is not defined",
        "configure Nessie with dot keys (system properties or config/application.properties): Quarkus cannot "
        "map an upper-snake environment name back to a key with '-' or '.' in it "
        "(NESSIE_CATALOG_WAREHOUSES_LAKE_WAREHOUSE_LOCATION is not nessie.catalog.warehouses.lake-warehouse.location)",
    ),
    (
        "Warehouses Object Stores",
        "Nessie cannot reach its warehouse's object store (nessie.catalog.service.s3.default-options.endpoint): "
        "start the S3 store; Nessie serves again once it answers, without a restart",
    ),
)


def check_nessie(settings: LakeSettings) -> str:
    """Nessie's health (management port) and a real Iceberg REST `GET /v1/config` for our warehouse."""
    from lake.branches import catalog_token
    from lake.catalog_config import rest_catalog_uri

    health_url = settings.catalog.nessie_health_url
    assert health_url is not None
    try:
        health = requests.get(health_url, timeout=5).json()
    except (requests.RequestException, ValueError) as exc:
        raise CheckFailedError(
            f"{health_url}: {type(exc).__name__}", STACK_REMEDY.format(var="LAKE_CATALOG__NESSIE_HEALTH_URL")
        ) from None
    if health.get("status") != "UP":
        problems = [_health_problem(check) for check in health.get("checks", []) if check.get("status") != "UP"]
        detail = "; ".join(problems) or f"status {health.get('status')}"
        remedy = next((fix for marker, fix in NESSIE_FAULTS if marker in detail), "read Nessie's log")
        raise CheckFailedError(f"health DOWN: {detail[:300]}", remedy)
    config_url = f"{rest_catalog_uri(settings)}/v1/config"
    token = catalog_token(settings)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        response = requests.get(
            config_url, params={"warehouse": settings.catalog.warehouse}, headers=headers, timeout=5
        )
        body = response.json() if response.status_code != 401 else {}
    except (requests.RequestException, ValueError) as exc:
        raise CheckFailedError(f"{config_url}: {type(exc).__name__}", "check LAKE_CATALOG__URI") from None
    if response.status_code == 401:
        raise CheckFailedError("GET /v1/config: HTTP 401 (not authenticated)", CATALOG_CREDENTIAL_REMEDY)
    if response.status_code != 200:
        message = str(body.get("error", {}).get("message", body))[:200]
        remedy = next((fix for marker, fix in NESSIE_FAULTS if marker in message), "check LAKE_CATALOG__WAREHOUSE")
        raise CheckFailedError(f"GET /v1/config: HTTP {response.status_code}: {message}", remedy)
    location = body.get("defaults", {}).get("warehouse", "?")
    prefix = body.get("defaults", {}).get("prefix", "?")
    return f"UP; warehouse {settings.catalog.warehouse!r} at {location}, branch prefix {prefix}"


def _health_problem(check: dict[str, object]) -> str:
    data = check.get("data")
    if isinstance(data, dict):
        errors = [str(value) for key, value in data.items() if "error" in key and "error-id" not in key]
        errors += [str(data["exceptionMessage"])] if "exceptionMessage" in data else []
        if errors:
            return f"{check.get('name')}: {'; '.join(errors)}"
    return f"{check.get('name')}: DOWN"


def check_java(_: LakeSettings) -> str:
    try:
        result = subprocess.run(["java", "-version"], capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CheckFailedError(f"java: {exc}", "install a JDK 17 (Debian openjdk-17-jre-headless)") from None
    match = re.search(r'version "(\d+)', result.stderr)
    if not match or int(match.group(1)) < 17:
        raise CheckFailedError(
            f"java: {result.stderr.splitlines()[0] if result.stderr else 'no version'}",
            "Spark 3.5 here needs Java 17",
        )
    return result.stderr.splitlines()[0]


def check_spark_jars(settings: LakeSettings) -> str:
    jars_dir = settings.spark.jars_dir
    names = {jar.name for jar in spark_jars(jars_dir)}
    missing = [artifact.file_name for artifact in SPARK_ARTIFACTS if artifact.file_name not in names]
    if missing:
        raise CheckFailedError(
            f"missing in {jars_dir}: {', '.join(missing)}",
            "fetch them from Maven Central: `python -m lake_tools.jars` (scripts/install.sh does)",
        )
    return f"{jars_dir} ({len(names)} jars: Iceberg runtime, AWS bundle, hadoop-aws)"


def check_python_versions(settings: LakeSettings) -> str:
    driver = f"{sys.version_info.major}.{sys.version_info.minor}"
    worker_python = settings.spark.python
    try:
        result = subprocess.run(
            [str(worker_python), "-c", "import sys; print(f'{sys.version_info[0]}.{sys.version_info[1]}')"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
        worker = result.stdout.strip()
    except OSError as exc:
        raise CheckFailedError(
            f"worker Python {worker_python}: {exc}", "set LAKE_SPARK__PYTHON to a Python 3.12"
        ) from None
    if worker != driver:
        raise CheckFailedError(
            f"driver {driver} vs worker {worker or '?'} ({worker_python})",
            "set LAKE_SPARK__PYTHON to a Python with the driver's minor version (else PYTHON_VERSION_MISMATCH)",
        )
    return f"driver {driver} = worker {worker} ({worker_python})"


def check_dagster(settings: LakeSettings) -> str:
    dagster = settings.dagster
    url = f"{dagster.url}/server_info"
    try:
        response = requests.get(url, auth=dagster.login(), timeout=3)
        if response.status_code == 401:
            raise CheckFailedError(
                f"{dagster.url}: HTTP 401 for user {dagster.username or '(none)'}",
                "check LAKE_DAGSTER__USERNAME / LAKE_DAGSTER__PASSWORD",
            )
        version = response.json().get("dagster_version", "?")
    except (requests.RequestException, ValueError) as exc:
        raise CheckFailedError(f"{dagster.url}: {type(exc).__name__}", "start the platform: `lake up`") from None
    return f"{dagster.url} dagster {version}"


def check_airflow(settings: LakeSettings) -> str:
    airflow = settings.airflow
    url = f"{airflow.url}/api/v2/monitor/health"
    try:
        body = requests.get(url, timeout=3).json()
        login = airflow.login()
        if login is not None:
            user, password = login
            token = requests.post(
                f"{airflow.url}/auth/token", json={"username": user, "password": password}, timeout=10
            )
            if token.status_code == 401:
                raise CheckFailedError(
                    f"{airflow.url}: /auth/token refused user {airflow.username}",
                    "check LAKE_AIRFLOW__USERNAME / LAKE_AIRFLOW__PASSWORD",
                )
    except (requests.RequestException, ValueError) as exc:
        raise CheckFailedError(f"{airflow.url}: {type(exc).__name__}", "start the platform: `lake up`") from None
    return f"{airflow.url} scheduler {body.get('scheduler', {}).get('status', '?')}"


def run_checks(settings: LakeSettings) -> list[Check]:
    plan: list[tuple[str, Callable[[LakeSettings], str], bool]] = [
        ("Redis (job queue)", check_redis, True),
        ("S3 (raw bucket)", check_s3, True),
        ("Iceberg catalog", check_catalog, True),
    ]
    if settings.catalog.nessie_health_url:
        plan.append(("Nessie", check_nessie, True))
    plan += [
        ("Java", check_java, True),
        ("Spark jars", check_spark_jars, True),
        ("PySpark Python", check_python_versions, True),
        ("Dagster webserver", check_dagster, False),
        ("Airflow API", check_airflow, False),
    ]
    checks = []
    for name, check, required in plan:
        try:
            checks.append(Check(name, True, check(settings), required=required))
        except CheckFailedError as failure:
            checks.append(Check(name, False, failure.detail, failure.remedy, required))
    return checks


def _safe_url(url: str) -> str:
    return redact({"url": url})["url"]
