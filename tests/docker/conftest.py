"""Fixtures for the static checks of docker/: the compose model read with docker/.env.example as docker/.env,
and the settings model (lake.settings) built from the LAKE_* variables compose gives the project's services.

No fixture here starts anything: there is no Docker engine on the build machines.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lake.settings import LakeSettings, load_settings
from tests.docker.compose_files import COMPOSE_FILE, env_file_values, load_compose, load_yaml


@pytest.fixture(scope="session")
def env_example() -> dict[str, str]:
    return env_file_values()


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
