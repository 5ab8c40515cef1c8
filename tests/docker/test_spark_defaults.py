"""docker/spark/spark-defaults.conf says what lake.catalog_config renders for the compose stack.

The settings are built the way a container builds them: the LAKE_* variables compose gives every project
service (x-lake-env, interpolated with docker/.env.example's values), read by lake.settings.load_settings.
`spark_catalog_conf(settings)` (and, for the other entries, `spark_conf(settings)`) is then compared with
the file.

Credentials: the file holds none, by design. The keys that carry secrets (`*.s3.access-key-id`,
`*.s3.secret-access-key`, the REST `credential`) are dropped from the rendered conf before comparing, and
the file may not contain them: in the containers S3FileIO and boto3 take the RustFS key from
AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (the AWS SDK default chain), which compose sets from docker/.env
to the same values as LAKE_S3__* (tests/docker/test_stack_wiring.py checks that). Jobs that Dagster
submits get the full rendered conf from lake.spark_submit instead and never read this file.
"""

from __future__ import annotations

import pytest

from lake.catalog_config import S3_FILE_IO, spark_catalog_conf, spark_conf, spark_raw_storage_conf
from lake.settings import LakeSettings
from tests.docker.compose_files import SPARK_DEFAULTS, read_properties

# Entries spark_conf does not render because they are about submitting, not the job.
SUBMIT_ONLY = {"spark.submit.deployMode": "client"}
CREDENTIAL_SUFFIXES = ("access-key-id", "secret-access-key", ".credential")


def without_credentials(conf: dict[str, str]) -> dict[str, str]:
    return {key: value for key, value in conf.items() if not key.endswith(CREDENTIAL_SUFFIXES)}


def catalog_entries(conf: dict[str, str]) -> dict[str, str]:
    return {
        key: value
        for key, value in conf.items()
        if key.startswith("spark.sql.catalog.") or key in ("spark.sql.extensions", "spark.sql.defaultCatalog")
    }


@pytest.fixture(scope="module")
def defaults() -> dict[str, str]:
    return read_properties(SPARK_DEFAULTS)


def test_the_file_holds_no_credentials(defaults: dict[str, str], env_example: dict[str, str]) -> None:
    assert not [key for key in defaults if key.endswith(CREDENTIAL_SUFFIXES)]
    secrets = {value for key, value in env_example.items() if value and ("SECRET" in key or "PASSWORD" in key)}
    assert not secrets & set(defaults.values())


def test_catalog_entries_are_the_rendered_catalog(defaults: dict[str, str], settings: LakeSettings) -> None:
    prefix = f"spark.sql.catalog.{settings.catalog.name}."
    assert catalog_entries(defaults) == without_credentials(spark_catalog_conf(settings))
    # What the stack needs from Spark: Nessie's REST endpoint, S3FileIO on RustFS, path-style.
    assert defaults[f"{prefix}type"] == "rest"
    assert defaults[f"{prefix}io-impl"] == S3_FILE_IO
    assert defaults[f"{prefix}s3.path-style-access"] == "true"
    assert not [key for key in defaults if key.endswith("prefix")], "Nessie derives the REST prefix"


def test_other_entries_are_the_rendered_spark_conf(defaults: dict[str, str], settings: LakeSettings) -> None:
    rendered = without_credentials(spark_conf(settings)) | SUBMIT_ONLY
    others = {key: value for key, value in defaults.items() if key not in catalog_entries(defaults)}
    assert set(others) <= set(rendered), f"entries lake does not render: {sorted(set(others) - set(rendered))}"
    assert others == {key: rendered[key] for key in others}
    # Manual submits in the Spark containers read raw landings like Dagster's do.
    assert without_credentials(spark_raw_storage_conf(settings)).items() <= defaults.items()


def test_python_apps_run_in_client_mode_on_the_settings_master(
    defaults: dict[str, str], settings: LakeSettings
) -> None:
    assert defaults["spark.submit.deployMode"] == "client"
    assert defaults["spark.master"] == settings.spark.master
    assert defaults["spark.pyspark.python"] == defaults["spark.pyspark.driver.python"] == str(settings.spark.python)
