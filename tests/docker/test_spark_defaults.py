"""docker/spark/spark-defaults.conf says what lake.catalog_config renders for the compose stack.

The settings are built the way a container builds them: the LAKE_* variables compose gives every project
service (x-lake-env, interpolated with docker/.env.example's values), read by lake.settings.load_settings.
`spark_conf(settings)` is then compared with the file, entry for entry.

Credentials: the file holds none, by design. The keys that carry secrets (`*.s3.access-key-id`,
`*.s3.secret-access-key`, the REST `credential`, s3a's `fs.s3a.access.key`/`fs.s3a.secret.key`) are
dropped from the rendered conf before comparing, and the file may not contain them: in the containers
S3FileIO and s3a take the RustFS key from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (the AWS SDKs' default
chains), which compose sets from docker/.env to the same values as LAKE_S3__* (tests/docker/
test_stack_wiring.py checks that). `spark.jars` is dropped too: the Spark image links its jars into
Spark's own jars/ directory. Jobs that Dagster submits get the full rendered conf from lake.spark_submit
instead and never read this file.
"""

from __future__ import annotations

import pytest

from lake.catalog_config import (
    RAW_BUCKET_CONF,
    S3_FILE_IO,
    spark_catalog_conf,
    spark_conf,
    spark_raw_storage_conf,
)
from lake.settings import LakeSettings
from tests.docker.compose_files import SPARK_DEFAULTS, read_properties

CREDENTIAL_SUFFIXES = ("access-key-id", "secret-access-key", ".credential", ".access.key", ".secret.key")
# Rendered for jobs from the jars directory; the Spark image has its jars on Spark's own classpath instead.
NOT_IN_THE_FILE = ("spark.jars",)


def without_credentials(conf: dict[str, str]) -> dict[str, str]:
    return {key: value for key, value in conf.items() if not key.endswith(CREDENTIAL_SUFFIXES)}


def rendered_for_the_file(settings: LakeSettings) -> dict[str, str]:
    conf = without_credentials(spark_conf(settings))
    return {key: value for key, value in conf.items() if key not in NOT_IN_THE_FILE}


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
    assert not [key for key in defaults if "credentials.provider" in key], "s3a keeps its default chain"
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


def test_the_file_is_the_rendered_spark_conf(defaults: dict[str, str], settings: LakeSettings) -> None:
    rendered = rendered_for_the_file(settings)
    assert not set(defaults) - set(rendered), f"entries lake does not render: {sorted(set(defaults) - set(rendered))}"
    assert not set(rendered) - set(defaults), f"rendered entries missing: {sorted(set(rendered) - set(defaults))}"
    assert defaults == rendered


def test_raw_landings_are_read_through_s3a(defaults: dict[str, str], settings: LakeSettings) -> None:
    """Manual submits in the Spark containers read raw landings like Dagster's do."""
    assert without_credentials(spark_raw_storage_conf(settings)).items() <= defaults.items()
    assert defaults[RAW_BUCKET_CONF] == settings.s3.raw_bucket
    assert defaults["spark.hadoop.fs.s3a.endpoint"] == settings.s3.endpoint
    assert defaults["spark.hadoop.fs.s3a.path.style.access"] == "true"
    assert not [key for key in defaults if key.startswith("spark.lake.s3.")], "the old raw-reader keys are gone"


def test_python_apps_run_in_client_mode_on_the_settings_master(
    defaults: dict[str, str], settings: LakeSettings
) -> None:
    assert defaults["spark.submit.deployMode"] == "client"
    assert defaults["spark.master"] == settings.spark.master
    assert defaults["spark.pyspark.python"] == defaults["spark.pyspark.driver.python"] == str(settings.spark.python)
