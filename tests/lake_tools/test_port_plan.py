"""One port plan (lake/ports.py): the settings' defaults point where the stack and the platform listen."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from lake import ports
from lake.settings import LakeSettings
from lake_tools.cli import dagster_dev_options
from lake_tools.stack.components import StackLayout

DEFAULTS = LakeSettings(_env_file=None)  # type: ignore[call-arg]
# Where a stack at the default base listens (the layout's home plays no part in its ports).
LISTENING = StackLayout(Path("/"), ports.DEFAULT_PORT_BASE).all_ports()


def port_of(url: str) -> int | None:
    return urlsplit(url.removeprefix("jdbc:")).port


def test_the_default_settings_point_at_the_stack_and_platform_ports() -> None:
    assert DEFAULTS.stack.port_base == ports.DEFAULT_PORT_BASE
    defaults = {
        "s3": DEFAULTS.s3.endpoint,
        "nessie": DEFAULTS.catalog.uri,
        "nessie management": DEFAULTS.catalog.nessie_health_url,
        "postgres": DEFAULTS.nessie.jdbc_url,
        "redis": DEFAULTS.queue.url,
        "dagster webserver": DEFAULTS.dagster.url,
        "airflow api server": DEFAULTS.airflow.url,
    }
    assert {name: port_of(str(url)) for name, url in defaults.items()} == {name: LISTENING[name] for name in defaults}


def test_no_two_processes_share_a_port_and_all_stay_below_the_ephemeral_range() -> None:
    assert len(set(LISTENING.values())) == len(LISTENING), LISTENING
    assert max(LISTENING.values()) < 32768


def test_lake_dagster_dev_serves_where_the_settings_say_dagster_is() -> None:
    """`lake dagster dev` stands in for the platform's webserver: on its port, so that the bridge finds it."""
    assert dagster_dev_options(DEFAULTS, []).port == LISTENING["dagster webserver"]
    moved = LakeSettings(_env_file=None, dagster={"url": "http://127.0.0.1:21030"})  # type: ignore[call-arg]
    assert dagster_dev_options(moved, []).port == 21030  # as a stack on another port base writes it
    assert dagster_dev_options(DEFAULTS, ["-p", "3001"]).port == 3001
