"""One renderer, two engines: pyiceberg properties and Spark conf must describe the same catalog."""

from __future__ import annotations

from pathlib import Path

import pytest

from lake.catalog_config import pyiceberg_properties, redact, spark_catalog_conf, spark_conf
from lake.settings import LakeSettings, SettingsError


def settings(**sections: dict[str, object]) -> LakeSettings:
    return LakeSettings(_env_file=None, **sections)


SQL = {
    "kind": "sql",
    "uri": "postgresql://db.internal:5433/lake_catalog",
    "credential": "lake:p@ss/word",
    "warehouse": "file:///data/warehouse",
}
NESSIE = {
    "kind": "rest",
    "uri": "http://nessie:19120/iceberg",
    "warehouse": "warehouse",
    "branch": "dev",
    "credential": "client:not-a-real-secret",
}
S3 = {"endpoint": "http://rustfs:9000", "access_key_id": "EXAMPLEKEY", "secret_access_key": "example-secret"}


def test_sql_catalog_is_the_same_database_for_pyiceberg_and_spark() -> None:
    lake = settings(catalog=SQL)
    props = pyiceberg_properties(lake)
    conf = spark_catalog_conf(lake)
    assert props["type"] == "sql"
    # The password is URL-quoted: '@' and '/' in it must not break the URL.
    assert props["uri"] == "postgresql+psycopg2://lake:p%40ss%2Fword@db.internal:5433/lake_catalog"
    assert conf["spark.sql.catalog.lake.type"] == "jdbc"
    assert conf["spark.sql.catalog.lake.uri"] == "jdbc:postgresql://db.internal:5433/lake_catalog"
    assert conf["spark.sql.catalog.lake.jdbc.user"] == "lake"
    assert conf["spark.sql.catalog.lake.jdbc.password"] == "p@ss/word"
    assert conf["spark.sql.catalog.lake.jdbc.schema-version"] == "V1"
    assert props["warehouse"] == conf["spark.sql.catalog.lake.warehouse"] == "file:///data/warehouse"
    assert conf["spark.sql.defaultCatalog"] == "lake"
    assert "spark.sql.catalog.lake.io-impl" not in conf  # file:// needs no S3FileIO


def test_rest_catalog_on_a_nessie_branch() -> None:
    lake = settings(catalog=NESSIE, s3=S3)
    props = pyiceberg_properties(lake)
    conf = spark_catalog_conf(lake)
    assert props["uri"] == conf["spark.sql.catalog.lake.uri"] == "http://nessie:19120/iceberg/dev"
    assert props["credential"] == conf["spark.sql.catalog.lake.credential"] == "client:not-a-real-secret"
    assert props["warehouse"] == conf["spark.sql.catalog.lake.warehouse"] == "warehouse"
    token_url = "http://nessie:19120/iceberg/v1/oauth/tokens"
    assert props["oauth2-server-uri"] == conf["spark.sql.catalog.lake.oauth2-server-uri"] == token_url
    assert props["s3.endpoint"] == "http://rustfs:9000"
    assert props["s3.force-virtual-addressing"] == "false"
    assert "prefix" not in props  # Nessie derives it; setting one breaks table paths
    # Nessie names its warehouse; the files are still on S3, so Spark needs S3FileIO for them.
    assert conf["spark.sql.catalog.lake.io-impl"] == "org.apache.iceberg.aws.s3.S3FileIO"
    assert conf["spark.sql.catalog.lake.s3.endpoint"] == "http://rustfs:9000"


def test_s3_warehouse_gives_spark_s3fileio_with_path_style() -> None:
    lake = settings(catalog={**NESSIE, "branch": None, "warehouse": "s3://warehouse/"}, s3=S3)
    conf = spark_catalog_conf(lake)
    assert conf["spark.sql.catalog.lake.io-impl"] == "org.apache.iceberg.aws.s3.S3FileIO"
    assert conf["spark.sql.catalog.lake.s3.endpoint"] == "http://rustfs:9000"
    assert conf["spark.sql.catalog.lake.s3.path-style-access"] == "true"
    assert conf["spark.sql.catalog.lake.s3.access-key-id"] == "EXAMPLEKEY"
    assert conf["spark.sql.catalog.lake.client.region"] == "us-east-1"


def test_catalog_name_is_shared() -> None:
    lake = settings(catalog={**SQL, "name": "prod"})
    assert "spark.sql.catalog.prod" in spark_catalog_conf(lake)
    assert spark_catalog_conf(lake)["spark.sql.defaultCatalog"] == "prod"


def test_sql_catalog_without_login_names_the_variable() -> None:
    lake = settings(catalog={**SQL, "credential": None})
    with pytest.raises(SettingsError, match="LAKE_CATALOG__CREDENTIAL"):
        pyiceberg_properties(lake)


def test_spark_conf_carries_jars_python_and_loopback_binding(tmp_path: Path) -> None:
    (tmp_path / "b.jar").write_bytes(b"")
    (tmp_path / "a.jar").write_bytes(b"")
    lake = settings(catalog=SQL, spark={"jars_dir": tmp_path, "python": "/opt/venv/bin/python"})
    conf = spark_conf(lake)
    assert conf["spark.jars"] == f"{tmp_path / 'a.jar'},{tmp_path / 'b.jar'}"
    assert conf["spark.pyspark.python"] == "/opt/venv/bin/python"
    assert conf["spark.driver.bindAddress"] == "127.0.0.1"
    assert conf["spark.sql.session.timeZone"] == "UTC"
    cluster = spark_conf(settings(catalog=SQL, spark={"master": "spark://spark-master:7077"}))
    assert "spark.driver.bindAddress" not in cluster  # a cluster must reach the driver on a real address


def test_redact_masks_secret_keys_and_url_passwords() -> None:
    lake = settings(catalog=SQL)
    shown = redact(pyiceberg_properties(lake) | spark_catalog_conf(lake))
    text = repr(shown)
    assert "p@ss/word" not in text and "p%40ss" not in text
    assert shown["uri"] == "postgresql+psycopg2://lake:***@db.internal:5433/lake_catalog"
    assert shown["spark.sql.catalog.lake.jdbc.password"] == "***"
    assert shown["spark.sql.catalog.lake.jdbc.user"] == "lake"
