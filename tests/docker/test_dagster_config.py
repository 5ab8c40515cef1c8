"""docker/dagster/dagster.yaml and docker/dagster/workspace.yaml, checked with Dagster's own loader.

- dagster.yaml passes Dagster's instance-config schema with the environment compose gives the Dagster
  services: PostgreSQL storage whose every connection field comes from that environment, the
  DefaultRunCoordinator (an importable class), telemetry off;
- workspace.yaml points at the compose service that runs `dagster code-server start`, on its port, and
  that server loads the module and location name of the repository's own workspace.yaml.
"""

from __future__ import annotations

import importlib
import ipaddress
import shutil
from pathlib import Path
from typing import Any

import pytest
from dagster._core.instance.config import dagster_instance_config

from tests.docker.compose_files import DOCKER_DIR, REPO_ROOT, command_args, environment, load_yaml, services

DAGSTER_SERVICES = ("dagster-code", "dagster-webserver", "dagster-daemon")
DAGSTER_HOME = "/opt/dagster/home"


@pytest.fixture
def instance_config(compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, Any]:
    for key, value in environment(services(compose)["dagster-code"]).items():
        monkeypatch.setenv(key, value)
    shutil.copy(DOCKER_DIR / "dagster" / "dagster.yaml", tmp_path / "dagster.yaml")
    config, _ = dagster_instance_config(str(tmp_path))
    return dict(config)


def test_instance_config_passes_dagsters_schema(instance_config: dict[str, Any]) -> None:
    assert instance_config["telemetry"] == {"enabled": False}
    # One step at a time per table pool (lake_assets/wap.py): runs publishing one table take turns.
    assert instance_config["concurrency"]["pools"]["default_limit"] == 1
    coordinator = instance_config["run_coordinator"]
    assert coordinator["class"] == "DefaultRunCoordinator"
    for section in ("run_coordinator", "run_launcher", "compute_logs"):
        module, name = instance_config[section]["module"], instance_config[section]["class"]
        assert hasattr(importlib.import_module(module), name), f"{section}: {module}.{name} does not exist"


def test_storage_login_comes_from_the_services_environment(
    instance_config: dict[str, Any], compose: dict[str, Any]
) -> None:
    fields = instance_config["storage"]["postgres"]["postgres_db"]
    from_env = {field: value["env"] for field, value in fields.items() if isinstance(value, dict)}
    assert {"hostname", "db_name", "username", "password"} <= set(from_env)
    for name in DAGSTER_SERVICES:
        missing = set(from_env.values()) - set(environment(services(compose)[name]))
        assert not missing, f"{name} lacks {sorted(missing)}"
    assert environment(services(compose)["dagster-code"])[from_env["hostname"]] in services(compose)


def test_workspace_points_at_the_code_location_server(compose: dict[str, Any]) -> None:
    (entry,) = load_yaml(DOCKER_DIR / "dagster" / "workspace.yaml")["load_from"]
    server = entry["grpc_server"]
    code = services(compose)[server["host"]]
    args = command_args(code)
    assert args[:3] == ["dagster", "code-server", "start"]
    assert args[args.index("-p") + 1] == str(server["port"])
    # Listening on every interface: reachable from the webserver and the daemon containers.
    assert ipaddress.ip_address(args[args.index("-h") + 1]).is_unspecified
    assert code.get("hostname") == server["host"]
    assert str(server["port"]) in " ".join(code["healthcheck"]["test"])
    (local,) = load_yaml(REPO_ROOT / "workspace.yaml")["load_from"]
    assert args[args.index("-m") + 1] == local["python_module"]["module_name"] == "lake_assets.definitions"
    assert server["location_name"] == local["python_module"]["location_name"]
    assert args[args.index("--location-name") + 1] == server["location_name"]


def test_webserver_and_daemon_load_that_workspace(compose: dict[str, Any]) -> None:
    dockerfile = (DOCKER_DIR / "Dockerfile").read_text(encoding="utf-8")
    assert f"DAGSTER_HOME={DAGSTER_HOME}" in dockerfile
    assert f"docker/dagster/dagster.yaml docker/dagster/workspace.yaml {DAGSTER_HOME}/" in dockerfile
    for name in ("dagster-webserver", "dagster-daemon"):
        args = command_args(services(compose)[name])
        assert args[args.index("-w") + 1] == f"{DAGSTER_HOME}/workspace.yaml", name


def test_each_run_gets_a_container_of_its_own_with_everything_it_needs(
    instance_config: dict[str, Any], raw_compose: dict[str, Any], compose: dict[str, Any]
) -> None:
    """DockerRunLauncher (dagster-docker): the Spark driver of a run lives in the run's container."""
    launcher = instance_config["run_launcher"]
    assert (launcher["module"], launcher["class"]) == ("dagster_instance.docker_launcher", "PoolSafeDockerRunLauncher")
    from dagster_docker import DockerRunLauncher

    from dagster_instance.docker_launcher import PoolSafeDockerRunLauncher

    assert issubclass(PoolSafeDockerRunLauncher, DockerRunLauncher)
    config = launcher["config"]
    project = raw_compose["name"]
    assert config["network"] == f"{project}_default"
    # The runs' image is the code location's own.
    code = services(compose)["dagster-code"]
    assert environment(code)["DAGSTER_CURRENT_IMAGE"] == code["image"]
    # Every variable the launcher passes on exists where launches happen, and covers what a run reads:
    # the settings, the S3 key of the AWS default chain, and the instance's storage login.
    wanted = set(config["env_vars"])
    for name in ("dagster-webserver", "dagster-daemon"):
        service = services(compose)[name]
        missing = wanted - set(environment(service))
        assert not missing, f"{name} lacks {sorted(missing)}"
        assert "/var/run/docker.sock:/var/run/docker.sock" in service["volumes"], name
    lake_env = {key for key in raw_compose["x-lake-env"] if key.startswith("LAKE_")}
    assert lake_env <= wanted, sorted(lake_env - wanted)
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "DAGSTER_POSTGRES_PASSWORD"} <= wanted
    # Compute logs land on the same named volume the webserver reads them from.
    [volume] = config["container_kwargs"]["volumes"]
    assert volume == f"{project}_dagster-storage:/opt/dagster/home/storage"
