"""Fixtures for the static checks of docker/: the compose model read with docker/.env.example as docker/.env,
and the settings model (lake.settings) built from the LAKE_* variables compose gives the project's services
(plus, for Nessie's server, the credentials of its own database).

No fixture here starts anything: there is no Docker engine on the build machines.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lake.settings import LakeSettings, load_settings
from lake_tools.tokens import new_signing_key, public_key
from tests.docker.compose_files import COMPOSE_FILE, env_file_values, environment, load_compose, load_yaml, services

# A public key of the form Nessie takes (base64 DER), in place of .env.example's placeholder: the settings
# model validates it. Made once from a throwaway key.
EXAMPLE_PUBLIC_KEY = public_key(new_signing_key())

# Nessie's version store: the nessie-db service, on PostgreSQL's own port (it publishes none).
NESSIE_DB_SERVICE = "nessie-db"
POSTGRES_PORT = 5432


@pytest.fixture(scope="session")
def env_example() -> dict[str, str]:
    """docker/.env.example, with a real public key where Nessie's settings validate its form."""
    return env_file_values() | {"NESSIE_TOKEN_PUBLIC_KEY": EXAMPLE_PUBLIC_KEY}


@pytest.fixture(scope="session")
def raw_compose() -> dict[str, Any]:
    """docker/compose.yaml as written (merge keys resolved, `${...}` not yet substituted)."""
    return load_yaml(COMPOSE_FILE)


@pytest.fixture(scope="session")
def compose(env_example: dict[str, str]) -> dict[str, Any]:
    """docker/compose.yaml as Compose runs it when docker/.env is a copy of docker/.env.example."""
    return load_compose(COMPOSE_FILE, env_example)


@pytest.fixture(scope="session")
def lake_env(compose: dict[str, Any]) -> dict[str, str]:
    """The LAKE_* settings every project service gets (the x-lake-env block, interpolated)."""
    block = compose["x-lake-env"]
    assert isinstance(block, dict)
    return {str(key): str(value) for key, value in block.items()}


@pytest.fixture
def settings(lake_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> LakeSettings:
    """lake.settings read from exactly the compose stack's LAKE_* variables (no env file)."""
    for key, value in lake_env.items():
        monkeypatch.setenv(key, value)
    return load_settings(env_file=tmp_path / "no-such.env")


@pytest.fixture(scope="session")
def nessie_env(compose: dict[str, Any], env_example: dict[str, str]) -> dict[str, str]:
    """The LAKE_NESSIE__* settings of Nessie's server in the compose stack: its own PostgreSQL (nessie-db),
    whose login compose takes from docker/.env, and the warehouse bucket storage-init creates."""
    db = environment(services(compose)[NESSIE_DB_SERVICE])
    nessie = environment(services(compose)["nessie"])
    return {
        "LAKE_NESSIE__JDBC_URL": f"jdbc:postgresql://{NESSIE_DB_SERVICE}:{POSTGRES_PORT}/{db['POSTGRES_DB']}",
        "LAKE_NESSIE__JDBC_USER": db["POSTGRES_USER"],
        "LAKE_NESSIE__JDBC_PASSWORD": db["POSTGRES_PASSWORD"],
        "LAKE_NESSIE__WAREHOUSE_LOCATION": "s3://warehouse/",
        "LAKE_NESSIE__TOKEN_PUBLIC_KEY": env_example["NESSIE_TOKEN_PUBLIC_KEY"],
        # Nessie's own S3 identity (lake.access): the secret its `lake.s3` secret URI names.
        "LAKE_S3__ACCESS_KEY_ID": nessie["lake.s3.name"],
        "LAKE_S3__SECRET_ACCESS_KEY": nessie["lake.s3.secret"],
    }


def identity(compose: dict[str, Any], service: str) -> dict[str, str]:
    """The LAKE_* credentials a service gets beyond x-lake-env: its identity (lake.access)."""
    lake = {str(key) for key in compose["x-lake-env"]}
    env = environment(services(compose)[service])
    return {key: value for key, value in env.items() if key.startswith("LAKE_") and key not in lake}


@pytest.fixture
def production_settings(
    lake_env: dict[str, str], nessie_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> LakeSettings:
    """The settings Nessie's block of compose.yaml is rendered from: x-lake-env plus nessie_env."""
    for key, value in (lake_env | nessie_env).items():
        monkeypatch.setenv(key, value)
    return load_settings(env_file=tmp_path / "no-such.env")
