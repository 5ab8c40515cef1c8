"""The compose stack as one object: which files, which credentials, which engine; build, up, down.

`lake compose up` is `docker compose -f docker/compose.yaml [-f docker/compose.standins.yaml]
[-f docker/compose.offline.yaml] --env-file docker/.env --profile all up -d --wait`, after making what is
missing: the engine (lake_tools/compose/engine.py), the images, and docker/.env with generated
credentials (0600, never printed). With `standins` (the default where no registry answers) every upstream
image is a local stand-in; with `offline` the crawler crawls the market simulator in a container of its own.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from lake.access import CATALOG_ROLES, QUEUE_ROLES, S3_ROLES, WEB_ROLES, Role, redis_acl, s3_identities
from lake.settings import REPO_ROOT, NessieSettings, QueueSettings, S3Settings
from lake_tools.compose.base_image import PYTHON_IMAGE, build_base_images, image_exists
from lake_tools.compose.engine import Engine, EngineError
from lake_tools.platform.dagster_web import users_file_body
from lake_tools.stack.secrets import write_private
from lake_tools.tokens import new_signing_key, public_key, sign, still_valid

DOCKER_DIR = REPO_ROOT / "docker"
COMPOSE_FILE = DOCKER_DIR / "compose.yaml"
STANDINS_FILE = DOCKER_DIR / "compose.standins.yaml"
OFFLINE_FILE = DOCKER_DIR / "compose.offline.yaml"
ENV_FILE = DOCKER_DIR / ".env"
PROFILES = ("all",)
# What docker/compose.yaml names (x-lake-env, storage-init's BUCKETS, Nessie's warehouse location): the
# settings' defaults (tests/docker compares the two).
QUEUE_PREFIX = QueueSettings().prefix
RAW_BUCKET = S3Settings().raw_bucket
WAREHOUSE_BUCKET = NessieSettings().warehouse_bucket

# Build order: each step's images are the bases of the next (the classic builder resolves FROM locally).
STANDIN_SERVICES = ("rustfs", "storage-init", "nessie-db", "nessie", "scrapredis", "airflow-base")
PROJECT_SERVICES = ("spark-master", "bootstrap", "airflow-init")


def _token(nbytes: int = 24) -> str:
    return secrets.token_urlsafe(nbytes)


def generated_credentials() -> dict[str, str]:
    """Every secret docker/.env.example names, with a fresh random value (URL-safe: they go into URLs)."""
    return {
        "RUSTFS_ACCESS_KEY": "lake" + secrets.token_hex(8),
        "RUSTFS_SECRET_KEY": _token(),
        "NESSIE_DB_PASSWORD": _token(),
        "DAGSTER_DB_PASSWORD": _token(),
        "AIRFLOW_DB_PASSWORD": _token(),
        "AIRFLOW_ADMIN_USERNAME": "admin",
        "AIRFLOW_ADMIN_PASSWORD": _token(12),
        "AIRFLOW_JWT_SECRET": _token(32),
        "AIRFLOW_API_SECRET_KEY": _token(32),
        "AIRFLOW_FERNET_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        **{_queue_password(role): _token() for role in QUEUE_ROLES},
        **{_s3_secret(role): _token() for role in S3_ROLES},
        **{_web_password(role): _token() for role in WEB_ROLES},
        "CATALOG_SIGNING_KEY": base64.b64encode(new_signing_key().encode()).decode(),
        "SCRAPREDIS_DEFAULT_USER_PASSWORD": _token(),  # given to no one (lake.access.redis_acl says why)
    }


# Secrets of docker/.env that only `lake compose` reads: what the services get is rendered from them.
RENDERED_FROM = ("CATALOG_SIGNING_KEY", "DAGSTER_OPERATOR_PASSWORD", "SCRAPREDIS_DEFAULT_USER_PASSWORD")


def _queue_password(role: Role) -> str:
    return f"SCRAPREDIS_{_upper(role)}_PASSWORD"


def _s3_secret(role: Role) -> str:
    return f"S3_{_upper(role)}_SECRET_KEY"


def _web_password(role: Role) -> str:
    return f"DAGSTER_{_upper(role)}_PASSWORD"


def catalog_token_variable(role: Role) -> str:
    return f"CATALOG_{_upper(role)}_TOKEN"


def _upper(role: Role) -> str:
    return str(role).upper().replace("-", "_")


def derived_credentials(base: dict[str, str]) -> dict[str, str]:
    """What the services read, rendered from the secrets above by lake.access's rules (one line each):
    Redis's ACL file and the S3 identities (base64), the Dagster webserver's users (password digests),
    Nessie's public key and one bearer token per catalog role."""
    signing_key = base64.b64decode(base["CATALOG_SIGNING_KEY"]).decode()
    passwords = {role: base[_queue_password(role)] for role in QUEUE_ROLES}
    acl = redis_acl(QUEUE_PREFIX, passwords, default_password=base["SCRAPREDIS_DEFAULT_USER_PASSWORD"])
    identities = s3_identities(RAW_BUCKET, WAREHOUSE_BUCKET, {role: base[_s3_secret(role)] for role in S3_ROLES})
    derived = {
        "SCRAPREDIS_ACL": base64.b64encode(acl.encode()).decode(),
        "S3_IDENTITIES": base64.b64encode(json.dumps(identities).encode()).decode(),
        "DAGSTER_WEB_USERS": users_file_body({str(role): base[_web_password(role)] for role in WEB_ROLES}),
        "NESSIE_TOKEN_PUBLIC_KEY": public_key(signing_key),
    }
    for role in CATALOG_ROLES:
        stored = base.get(catalog_token_variable(role), "")
        derived[catalog_token_variable(role)] = (
            stored if still_valid(stored, signing_key, role) else sign(signing_key, role)
        )
    return derived


def complete_env_file(path: Path) -> dict[str, str]:
    """docker/.env's values. A missing file is written with generated credentials; a secret it lacks (or
    holds a docker/.env.example placeholder for) is generated, and what is derived from the secrets (the
    ACL file, the identities, the tokens) is rendered anew when missing or stale, so a hand-written
    docker/.env needs only the secrets of docker/.env.example."""
    stored = read_env_file(path) if path.exists() else {}
    base = {
        key: stored[key] if stored.get(key) and "change-me" not in stored[key] else value
        for key, value in generated_credentials().items()
    }
    base |= {key: value for key, value in stored.items() if key not in base}
    complete = base | derived_credentials(base)
    if complete != stored:
        body = "# Written by `lake compose`: this stack's credentials. Never commit or share.\n"
        body += "".join(f"{key}={value}\n" for key, value in complete.items())
        write_private(path, body)
    return complete


def read_env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and not key.lstrip().startswith("#"):
            values[key.strip()] = value.strip()
    return values


@dataclass
class ComposeProject:
    engine: Engine
    standins: bool = True
    offline: bool = True
    env_file: Path = ENV_FILE
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def files(self) -> list[Path]:
        return [COMPOSE_FILE] + [STANDINS_FILE] * self.standins + [OFFLINE_FILE] * self.offline

    def credentials(self) -> dict[str, str]:
        return complete_env_file(self.env_file)

    def environment(self) -> dict[str, str]:
        """For every compose command: the engine, its socket for the Dagster run launcher, and the gid
        that may use that socket (the webserver and daemon start run containers through it)."""
        env = os.environ | self.engine.env() | self.extra_env
        if self.engine.host.startswith("unix://"):
            env["LAKE_DOCKER_SOCKET"] = str(self.engine.socket_path)
            env["LAKE_DOCKER_GID"] = str(self.engine.socket_path.stat().st_gid)
        return env

    def command(self, *args: str, profiles: tuple[str, ...] = PROFILES) -> list[str]:
        files = [arg for path in self.files for arg in ("-f", str(path))]
        profile_args = [arg for profile in profiles for arg in ("--profile", profile)]
        return ["docker", "compose", *files, "--env-file", str(self.env_file), *profile_args, *args]

    def run(
        self,
        *args: str,
        profiles: tuple[str, ...] = PROFILES,
        check: bool = True,
        capture: bool = True,
        timeout: float | None = None,
    ) -> subprocess.CompletedProcess[str]:
        self.credentials()
        completed = subprocess.run(
            self.command(*args, profiles=profiles),
            env=self.environment(),
            capture_output=capture,
            text=True,
            timeout=timeout,
            check=False,
            cwd=REPO_ROOT,
        )
        if check and completed.returncode != 0:
            tail = (completed.stderr or completed.stdout or "").strip().splitlines()[-12:] if capture else []
            raise EngineError(
                f"docker compose {' '.join(args[:2])} failed (exit {completed.returncode}):\n" + "\n".join(tail)
            )
        return completed

    def build(self) -> Iterator[str]:
        """Every image the stack runs, in dependency order; what is built and unchanged is reused."""
        if self.standins:
            yield from build_base_images(self.engine)
            steps: tuple[tuple[str, ...], ...] = (STANDIN_SERVICES, *((service,) for service in PROJECT_SERVICES))
        else:
            steps = tuple((service,) for service in PROJECT_SERVICES)
        for services in steps:
            started = time.monotonic()
            self.run("build", *services, profiles=(*PROFILES, "build-only"), timeout=3600)
            yield f"built {', '.join(services)} in {time.monotonic() - started:.0f} s"

    def up(self, timeout: float = 900) -> Iterator[str]:
        if self.standins and not image_exists(self.engine, PYTHON_IMAGE):
            raise EngineError("the stand-in images are not built: run `lake compose build` first")
        started = time.monotonic()
        self.run("up", "-d", "--wait", "--wait-timeout", str(int(timeout)), "--no-build", timeout=timeout + 60)
        yield f"compose stack healthy in {time.monotonic() - started:.0f} s"

    def down(self, volumes: bool = False) -> Iterator[str]:
        self.run("down", "--remove-orphans", *(["--volumes"] if volumes else []), timeout=600)
        yield "compose stack down" + (" (volumes removed)" if volumes else " (named volumes kept)")


# Where the host reaches the stack: the ports compose.yaml publishes on 127.0.0.1.
HOST_SETTINGS = {
    "LAKE_S3__ENDPOINT": "http://127.0.0.1:9000",
    "LAKE_S3__REGION": "us-east-1",
    "LAKE_S3__PATH_STYLE": "true",
    "LAKE_CATALOG__URI": "http://127.0.0.1:19120/iceberg",
    "LAKE_CATALOG__WAREHOUSE": "warehouse",
    "LAKE_CATALOG__NESSIE_HEALTH_URL": "http://127.0.0.1:19090/q/health",
    "LAKE_QUEUE__URL": "redis://127.0.0.1:6379/0",
    "LAKE_DAGSTER__URL": "http://127.0.0.1:3000",
    "LAKE_AIRFLOW__URL": "http://127.0.0.1:8080",
}


def host_environment(credentials: dict[str, str]) -> dict[str, str]:
    """LAKE_* settings for the operator on the host (`lake query`, `lake doctor`, scrapworker) against the
    stack: the store's admin key and the operator's identity on every control plane."""
    return HOST_SETTINGS | {
        "LAKE_S3__ACCESS_KEY_ID": credentials["RUSTFS_ACCESS_KEY"],
        "LAKE_S3__SECRET_ACCESS_KEY": credentials["RUSTFS_SECRET_KEY"],
        "LAKE_QUEUE__USERNAME": str(Role.OPERATOR),
        "LAKE_QUEUE__PASSWORD": credentials[_queue_password(Role.OPERATOR)],
        "LAKE_CATALOG__TOKEN": credentials[catalog_token_variable(Role.OPERATOR)],
        "LAKE_DAGSTER__USERNAME": str(Role.OPERATOR),
        "LAKE_DAGSTER__PASSWORD": credentials[_web_password(Role.OPERATOR)],
        "LAKE_AIRFLOW__USERNAME": credentials["AIRFLOW_ADMIN_USERNAME"],
        "LAKE_AIRFLOW__PASSWORD": credentials["AIRFLOW_ADMIN_PASSWORD"],
    }
