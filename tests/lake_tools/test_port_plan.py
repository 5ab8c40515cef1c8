"""One port plan (lake/ports.py): the settings' defaults point where the stack and the platform listen."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from lake import ports
from lake.settings import LakeSettings
from lake_tools.cli import dagster_dev_options
from lake_tools.stack.components import StackLayout


def port_of(url: str) -> int | None:
    return urlsplit(url.removeprefix("jdbc:")).port


def test_the_default_settings_point_at_the_stack_and_platform_ports(tmp_path: Path) -> None:
    settings = LakeSettings(_env_file=None)  # type: ignore[call-arg]
    layout = StackLayout(tmp_path, settings.stack.port_base)
    assert settings.stack.port_base == ports.DEFAULT_PORT_BASE
    defaults = {
        "s3": settings.s3.endpoint,
        "nessie": settings.catalog.uri,
        "nessie management": settings.catalog.nessie_health_url,
        "postgres": settings.nessie.jdbc_url,
        "redis": settings.queue.url,
        "dagster webserver": settings.dagster.url,
        "airflow api server": settings.airflow.url,
    }
    listening = layout.all_ports()
    assert {name: port_of(str(url)) for name, url in defaults.items()} == {name: listening[name] for name in defaults}


def test_no_two_processes_share_a_port_and_all_stay_below_the_ephemeral_range(tmp_path: Path) -> None:
    listening = StackLayout(tmp_path, ports.DEFAULT_PORT_BASE).all_ports()
    assert len(set(listening.values())) == len(listening), listening
    assert max(listening.values()) < 32768


def test_lake_dagster_dev_serves_where_the_settings_say_dagster_is(tmp_path: Path) -> None:
    """`lake dagster dev` stands in for the platform's webserver: on its port, so that the bridge finds it."""
    settings = LakeSettings(_env_file=None)  # type: ignore[call-arg]
    listening = StackLayout(tmp_path, settings.stack.port_base).all_ports()
    assert dagster_dev_options(settings, []).port == listening["dagster webserver"]
    moved = LakeSettings(_env_file=None, dagster={"url": "http://127.0.0.1:21030"})  # type: ignore[call-arg]
    assert dagster_dev_options(moved, []).port == 21030  # as a stack on another port base writes it
    assert dagster_dev_options(settings, ["-p", "3001"]).port == 3001
