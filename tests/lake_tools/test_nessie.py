"""Nessie configured the ways the seed article documents as failing: `lake doctor` names the fault and the fix.

Each case starts a second, misconfigured Nessie beside the session's (same PostgreSQL database and S3),
from the same server jar, and points a copy of the settings at it.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from lake import ports
from lake.catalog_config import NESSIE_S3_OPTIONS, nessie_properties
from lake.settings import LakeSettings, load_settings
from lake_tools.doctor import Check, run_checks
from lake_tools.stack import Stack
from lake_tools.stack.components import StackLayout, nessie
from lake_tools.stack.process import ManagedProcess
from tests.support import free_port_base, make_lake_home


def nessie_check(settings: LakeSettings) -> Check:
    return next(check for check in run_checks(settings) if check.component == "Nessie")


def start_misconfigured(
    lake_settings: LakeSettings, home: Path, edit: dict[str, str | None], env: dict[str, str], warehouse: str
) -> tuple[ManagedProcess, LakeSettings]:
    layout = StackLayout(home=home, port_base=free_port_base())
    uri = f"http://127.0.0.1:{layout.port(ports.NESSIE)}/iceberg"
    health = f"http://127.0.0.1:{layout.port(ports.NESSIE_MANAGEMENT)}/q/health"
    # Nessie's own settings (its token public key among them) are the stack's Nessie identity's.
    server = load_settings(env_file=lake_settings.home / "identities" / "nessie.env")
    settings = lake_settings.model_copy(
        update={
            "catalog": lake_settings.catalog.model_copy(
                update={"uri": uri, "nessie_health_url": health, "warehouse": warehouse}
            ),
            "nessie": server.nessie,
        }
    )
    properties = nessie_properties(settings)
    for key, value in edit.items():
        if value is None:
            properties.pop(key)
        else:
            properties[key] = value

    def write_properties(workdir: Path) -> None:
        (workdir / "config").mkdir(parents=True, exist_ok=True)
        (workdir / "config" / "application.properties").write_text(
            "".join(f"{key}={value}\n" for key, value in properties.items())
        )

    process = nessie(layout, write_properties)
    process.env = env
    # Misconfigured, it never reports UP: healthy enough for this test once the management port answers.
    process.healthy = lambda: _answers(health)
    process.start()
    return process, settings


def _answers(url: str) -> bool:
    try:
        requests.get(url, timeout=2)
        return True
    except requests.RequestException:
        return False


@pytest.fixture
def own_home() -> Iterator[Path]:
    home = make_lake_home("lake-nessie-test-")
    yield home
    shutil.rmtree(home, ignore_errors=True)


def test_the_embedded_nessie_is_healthy_and_serves_our_warehouse(lake_settings: LakeSettings, stack: Stack) -> None:
    check = nessie_check(lake_settings)
    assert check.ok, check.line()
    assert "warehouse 'warehouse' at s3://warehouse" in check.detail
    properties = stack.layout.state_dir / "nessie" / "config" / "application.properties"
    assert properties.stat().st_mode & 0o777 == 0o600  # it holds the database password and the S3 key


def test_plain_string_s3_credentials_are_reported_with_the_secret_uri_fix(
    lake_settings: LakeSettings, own_home: Path
) -> None:
    s3 = lake_settings.s3
    assert s3.access_key_id and s3.secret_access_key
    plain = f"{s3.access_key_id}:{s3.secret_access_key.get_secret_value()}"
    process, settings = start_misconfigured(
        lake_settings, own_home, {f"{NESSIE_S3_OPTIONS}access-key": plain}, {}, "warehouse"
    )
    try:
        check = nessie_check(settings)
    finally:
        process.stop()
    assert not check.ok and check.required
    assert "Invalid secret URI" in check.detail
    assert "urn:nessie-secret:quarkus:<name>" in check.remedy
    assert s3.secret_access_key.get_secret_value() not in check.line()


def test_upper_snake_env_names_for_hyphenated_keys_are_reported_with_the_dot_key_fix(
    lake_settings: LakeSettings, own_home: Path
) -> None:
    # A warehouse named with a hyphen: its env name cannot be mapped back to the key, so Quarkus drops it.
    env = {
        "NESSIE_CATALOG_DEFAULT_WAREHOUSE": "lake-warehouse",
        "NESSIE_CATALOG_WAREHOUSES_LAKE_WAREHOUSE_LOCATION": "s3://warehouse/",
    }
    dot_keys: dict[str, str | None] = {
        "nessie.catalog.default-warehouse": None,
        "nessie.catalog.warehouses.lake-warehouse.location": None,
    }
    process, settings = start_misconfigured(lake_settings, own_home, dot_keys, env, "lake-warehouse")
    try:
        check = nessie_check(settings)
    finally:
        process.stop()
    assert not check.ok
    assert "Default warehouse 'lake-warehouse' is not defined" in check.detail
    assert "dot keys" in check.remedy and "upper-snake" in check.remedy
