"""The settings model: defaults, env-file and environment precedence, and errors that name the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from lake.settings import SettingsError, default_env_file, load_settings


def write_env(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "lake.env"
    path.write_text(text)
    return path


def test_defaults_describe_the_embedded_stack_without_any_file(tmp_path: Path) -> None:
    settings = load_settings(env_file=tmp_path / "absent.env")
    assert settings.catalog.uri == "http://127.0.0.1:19120/iceberg"  # Nessie at the default port base
    assert settings.catalog.name == "lake"
    assert settings.s3.raw_bucket == "raw"
    assert settings.partitions.cadence_minutes == 15
    assert settings.catalog.credential is None  # secrets never have defaults


def test_env_file_is_read_and_environment_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = write_env(tmp_path, "LAKE_S3__RAW_BUCKET=from-file\nLAKE_PARTITIONS__CADENCE_MINUTES=5\n")
    monkeypatch.setenv("LAKE_PARTITIONS__CADENCE_MINUTES", "1")
    settings = load_settings(env_file=env_file)
    assert settings.s3.raw_bucket == "from-file"
    assert settings.partitions.cadence_minutes == 1


def test_env_file_location_follows_lake_env_file_then_lake_home(tmp_path: Path) -> None:
    assert default_env_file({"LAKE_ENV_FILE": "/x/custom.env", "LAKE_HOME": "/y"}) == Path("/x/custom.env")
    assert default_env_file({"LAKE_HOME": str(tmp_path)}) == tmp_path / "lake.env"


@pytest.mark.parametrize(
    ("variable", "value", "expected_form"),
    [
        ("LAKE_NESSIE__JDBC_URL", "postgresql://db/nessie", "expected jdbc:postgresql://host:port/database"),
        ("LAKE_S3__ENDPOINT", "ftp://storage:21", "expected an http(s)://host[:port] URL"),
        ("LAKE_S3__RAW_BUCKET", "Raw_Bucket", "expected an S3 bucket name"),
        ("LAKE_QUEUE__URL", "http://127.0.0.1:6379", "expected redis://host:port/db"),
        ("LAKE_SPARK__MASTER", "yarn", "expected local[*], local[N] or spark://host:port"),
        ("LAKE_SPARK__DRIVER_MEMORY", "lots", "expected a JVM memory size"),
        ("LAKE_SPARK__DRIVER_JAVA_OPTIONS", "-Xmx1g; rm -rf /", "expected JVM options such as"),
        ("LAKE_PARTITIONS__CADENCE_MINUTES", "7", "expected minutes that divide an hour"),
        ("LAKE_PARTITIONS__START", "2026-11-01T00:00:30Z", "expected a whole minute"),
        ("LAKE_STACK__PORT_BASE", "80", "greater than or equal to 1024"),
        ("LAKE_CATALOG__WAREHOUSE", "s3://warehouse/", "expected the name of a Nessie warehouse"),
        ("LAKE_NESSIE__WAREHOUSE_LOCATION", "file:///tmp/w", "expected s3://bucket/"),
    ],
)
def test_invalid_value_names_the_variable_and_the_expected_form(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected_form: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as raised:
        load_settings(env_file=tmp_path / "absent.env")
    line = next(line for line in str(raised.value).splitlines() if variable in line)
    assert expected_form in line


def test_every_bad_variable_is_reported_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKE_S3__RAW_BUCKET", "Raw_Bucket")
    monkeypatch.setenv("LAKE_SPARK__MASTER", "yarn")
    with pytest.raises(SettingsError) as raised:
        load_settings(env_file=tmp_path / "absent.env")
    assert "LAKE_S3__RAW_BUCKET" in str(raised.value)
    assert "LAKE_SPARK__MASTER" in str(raised.value)


def test_a_misspelt_variable_in_the_env_file_is_an_error(tmp_path: Path) -> None:
    env_file = write_env(tmp_path, "LAKE_CATALOG__URL=http://nessie:19120/iceberg\n")
    with pytest.raises(SettingsError, match=r"LAKE_CATALOG__URL: unknown setting"):
        load_settings(env_file=env_file)


@pytest.mark.parametrize(
    "uri",
    [
        "http://127.0.0.1:19120",  # no /iceberg: Nessie's root is no Iceberg REST endpoint
        "http://127.0.0.1:19120/api/v2",  # Nessie's own API
        "http://127.0.0.1:9000/q/health",  # the management port
        "http://127.0.0.1:19120/iceberg/main",  # a branch belongs in LAKE_CATALOG__BRANCH
    ],
)
def test_a_catalog_uri_that_is_not_nessies_iceberg_endpoint_fails_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, uri: str
) -> None:
    monkeypatch.setenv("LAKE_CATALOG__URI", uri)
    with pytest.raises(SettingsError, match=r"LAKE_CATALOG__URI: expected Nessie's Iceberg REST endpoint.*/iceberg"):
        load_settings(env_file=tmp_path / "absent.env")


def test_a_rest_prefix_fails_at_start_naming_the_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKE_CATALOG__PREFIX", "main")
    with pytest.raises(SettingsError, match=r"LAKE_CATALOG__PREFIX: Nessie derives the REST prefix"):
        load_settings(env_file=tmp_path / "absent.env")


def test_start_must_sit_on_the_cadence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKE_PARTITIONS__START", "2026-11-01T00:10:00Z")
    with pytest.raises(SettingsError, match=r"LAKE_PARTITIONS__START: 00:10 is not on the 15-minute cadence"):
        load_settings(env_file=tmp_path / "absent.env")


def test_a_bad_credential_is_reported_without_echoing_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKE_CATALOG__CREDENTIAL", "hunter2-no-colon")
    with pytest.raises(SettingsError) as raised:
        load_settings(env_file=tmp_path / "absent.env")
    assert "LAKE_CATALOG__CREDENTIAL" in str(raised.value)
    assert "hunter2" not in str(raised.value)


def test_history_starts_on_a_month_and_before_the_slots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKE_HISTORY__START", "2025-01-15T00:00:00Z")
    with pytest.raises(SettingsError, match=r"LAKE_HISTORY__START: expected the first of a month at 00:00 UTC"):
        load_settings(env_file=tmp_path / "none.env")
    monkeypatch.setenv("LAKE_HISTORY__START", "2026-12-01T00:00:00Z")
    with pytest.raises(
        SettingsError, match=r"LAKE_HISTORY__START: 2026-12-01 is not before partitions.start 2026-11-01"
    ):
        load_settings(env_file=tmp_path / "none.env")
    monkeypatch.setenv("LAKE_HISTORY__START", "2025-01-01")
    assert load_settings(env_file=tmp_path / "none.env").history.start.isoformat() == "2025-01-01T00:00:00+00:00"
