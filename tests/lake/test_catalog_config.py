"""One renderer for every engine: Spark, pyiceberg, DuckDB and Nessie's server describe the same catalog."""

from __future__ import annotations

from pathlib import Path

import pytest

from lake.catalog_config import (
    duckdb_statements,
    nessie_properties,
    pyiceberg_properties,
    redact,
    spark_catalog_conf,
    spark_conf,
    spark_raw_storage_conf,
)
from lake.settings import LakeSettings, SettingsError
from lake_tools.tokens import new_signing_key, public_key


def settings(**sections: dict[str, object]) -> LakeSettings:
    return LakeSettings(_env_file=None, **sections)


NESSIE = {
    "uri": "http://nessie:19120/iceberg",
    "warehouse": "warehouse",
    "branch": "dev",
    "credential": "client:not-a-real-secret",
    "nessie_health_url": "http://nessie:9000/q/health",
}
# A throwaway key: Nessie's properties are rendered only with authentication.
PUBLIC_KEY = public_key(new_signing_key())
S3 = {"endpoint": "http://rustfs:9000", "access_key_id": "EXAMPLEKEY", "secret_access_key": "example-secret"}


def test_spark_and_pyiceberg_see_the_same_nessie_branch() -> None:
    lake = settings(catalog=NESSIE, s3=S3)
    props = pyiceberg_properties(lake)
    conf = spark_catalog_conf(lake)
    assert props["type"] == conf["spark.sql.catalog.lake.type"] == "rest"
    assert props["uri"] == conf["spark.sql.catalog.lake.uri"] == "http://nessie:19120/iceberg/dev"
    assert props["credential"] == conf["spark.sql.catalog.lake.credential"] == "client:not-a-real-secret"
    assert props["warehouse"] == conf["spark.sql.catalog.lake.warehouse"] == "warehouse"
    token_url = "http://nessie:19120/iceberg/v1/oauth/tokens"
    assert props["oauth2-server-uri"] == conf["spark.sql.catalog.lake.oauth2-server-uri"] == token_url
    assert props["s3.endpoint"] == conf["spark.sql.catalog.lake.s3.endpoint"] == "http://rustfs:9000"
    assert props["s3.force-virtual-addressing"] == "false"
    assert conf["spark.sql.catalog.lake.s3.path-style-access"] == "true"
    assert not any("prefix" in key for key in props | conf)  # Nessie derives it; setting one breaks table paths
    assert conf["spark.sql.catalog.lake.io-impl"] == "org.apache.iceberg.aws.s3.S3FileIO"
    assert conf["spark.sql.catalog.lake.client.region"] == props["s3.region"] == "us-east-1"


def test_catalog_name_is_shared() -> None:
    lake = settings(catalog={**NESSIE, "name": "prod"})
    assert "spark.sql.catalog.prod" in spark_catalog_conf(lake)
    assert spark_catalog_conf(lake)["spark.sql.defaultCatalog"] == "prod"
    assert any(statement.startswith("ATTACH 'warehouse' AS prod ") for statement, _ in duckdb_statements(lake))


def test_raw_landings_are_read_over_s3a_with_the_same_endpoint_and_keys() -> None:
    conf = spark_raw_storage_conf(settings(s3=S3))
    assert conf["spark.lake.raw-bucket"] == "raw"
    assert conf["spark.hadoop.fs.s3a.endpoint"] == "http://rustfs:9000"
    assert conf["spark.hadoop.fs.s3a.connection.ssl.enabled"] == "false"
    assert conf["spark.hadoop.fs.s3a.path.style.access"] == "true"
    assert conf["spark.hadoop.fs.s3a.access.key"] == "EXAMPLEKEY"
    assert conf["spark.hadoop.fs.s3a.endpoint.region"] == "us-east-1"
    # Without keys in the settings, s3a falls back to the AWS environment variables (docker/).
    assert "spark.hadoop.fs.s3a.access.key" not in spark_raw_storage_conf(
        settings(s3={"endpoint": "http://rustfs:9000"})
    )


def test_nessie_listens_where_the_clients_look_and_reads_s3_keys_from_a_secret_uri() -> None:
    lake = settings(
        catalog=NESSIE,
        s3=S3,
        nessie={
            "jdbc_url": "jdbc:postgresql://nessie-db:5432/nessie",
            "jdbc_password": "not-a-real-password",
            "token_public_key": PUBLIC_KEY,
        },
    )
    props = nessie_properties(lake)
    assert (props["quarkus.http.port"], props["quarkus.management.port"]) == ("19120", "9000")
    assert props["quarkus.http.host"] == "0.0.0.0"  # noqa: S104  # a container: reachable from the other services
    assert props["nessie.catalog.default-warehouse"] == "warehouse"
    assert props["nessie.catalog.warehouses.warehouse.location"] == "s3://warehouse/"
    assert props["nessie.version.store.type"] == "JDBC2"
    assert props["quarkus.datasource.postgresql.jdbc.url"] == "jdbc:postgresql://nessie-db:5432/nessie"
    options = "nessie.catalog.service.s3.default-options."
    assert props[f"{options}access-key"] == "urn:nessie-secret:quarkus:lake.s3"
    assert (props["lake.s3.name"], props["lake.s3.secret"]) == ("EXAMPLEKEY", "example-secret")
    assert props[f"{options}endpoint"] == "http://rustfs:9000/"
    assert props[f"{options}path-style-access"] == "true"
    assert all(key == key.lower() and "_" not in key.split(".")[0] for key in props)  # dot keys only
    loopback = nessie_properties(settings(nessie={"token_public_key": PUBLIC_KEY}))
    assert loopback["quarkus.http.host"] == loopback["quarkus.management.host"] == "127.0.0.1"
    assert (loopback["quarkus.http.port"], loopback["quarkus.management.port"]) == ("19120", "19121")


def test_nessie_is_never_rendered_without_authentication() -> None:
    with pytest.raises(SettingsError, match="LAKE_NESSIE__TOKEN_PUBLIC_KEY: Nessie needs a token public key"):
        nessie_properties(settings())
    props = nessie_properties(settings(nessie={"token_public_key": PUBLIC_KEY}))
    assert props["nessie.server.authentication.enabled"] == props["nessie.server.authorization.enabled"] == "true"
    assert props["quarkus.oidc.public-key"] == PUBLIC_KEY
    rules = {key for key in props if key.startswith("nessie.server.authorization.rules.")}
    assert len(rules) == 4
    provider = nessie_properties(settings(nessie={"oidc_server_url": "http://keycloak:8080/realms/lake"}))
    assert provider["quarkus.oidc.auth-server-url"] == "http://keycloak:8080/realms/lake"
    assert "quarkus.oidc.public-key" not in provider


def test_a_catalog_token_reaches_every_engine_and_is_masked() -> None:
    lake = settings(catalog={**NESSIE, "credential": None, "token": "a-bearer-token"}, s3=S3)
    assert pyiceberg_properties(lake)["token"] == "a-bearer-token"
    conf = spark_catalog_conf(lake)
    assert conf["spark.sql.catalog.lake.token"] == "a-bearer-token"
    assert conf["spark.sql.catalog.lake.token-refresh-enabled"] == "false"  # Nessie issues no tokens
    statements = duckdb_statements(lake)
    assert statements[1] == ("CREATE OR REPLACE SECRET lake_catalog (TYPE iceberg, TOKEN ?)", ["a-bearer-token"])
    assert "SECRET lake_catalog" in statements[2][0] and "a-bearer-token" not in statements[2][0]
    assert "a-bearer-token" not in repr(redact(pyiceberg_properties(lake) | conf))


def test_duckdb_attaches_the_same_catalog_without_vended_credentials() -> None:
    lake = settings(catalog={**NESSIE, "branch": None, "credential": None}, s3=S3)
    (secret, secret_params), (attach, _) = duckdb_statements(lake)
    assert secret.startswith("CREATE OR REPLACE SECRET lake_s3 (TYPE s3")
    assert "rustfs:9000" in secret_params and "EXAMPLEKEY" in secret_params and "USE_SSL false" in secret
    assert "example-secret" not in secret  # keys travel as parameters, never inside the SQL text
    assert "ENDPOINT 'http://nessie:19120/iceberg'" in attach
    assert "ACCESS_DELEGATION_MODE 'none'" in attach and "AUTHORIZATION_TYPE 'none'" in attach


def test_spark_conf_carries_jars_python_and_loopback_binding(tmp_path: Path) -> None:
    (tmp_path / "b.jar").write_bytes(b"")
    (tmp_path / "a.jar").write_bytes(b"")
    lake = settings(spark={"jars_dir": tmp_path, "python": "/opt/venv/bin/python"})
    conf = spark_conf(lake)
    assert conf["spark.jars"] == f"{tmp_path / 'a.jar'},{tmp_path / 'b.jar'}"
    assert conf["spark.pyspark.python"] == "/opt/venv/bin/python"
    assert conf["spark.driver.bindAddress"] == conf["spark.driver.host"] == "127.0.0.1"
    assert conf["spark.sql.session.timeZone"] == "UTC"
    java_options = "-XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=240m -XX:+UseSerialGC"
    assert conf["spark.driver.extraJavaOptions"] == java_options
    assert "spark.driver.extraJavaOptions" not in spark_conf(settings(spark={"driver_java_options": ""}))
    local_cluster = spark_conf(settings(spark={"master": "spark://127.0.0.1:7077"}))
    assert local_cluster["spark.submit.deployMode"] == "client"
    assert local_cluster["spark.driver.host"] == "127.0.0.1"  # executors on loopback connect back here
    cluster = spark_conf(settings(spark={"master": "spark://spark-master:7077"}))
    assert "spark.driver.bindAddress" not in cluster  # a real cluster must reach the driver on a real address
    # Shuffles sized for the cores at hand in local mode; a cluster keeps Spark's default unless told.
    assert spark_conf(settings(spark={"master": "local[2]"}))["spark.sql.shuffle.partitions"] == "8"
    assert "spark.sql.shuffle.partitions" not in cluster
    told = settings(spark={"master": "spark://spark-master:7077", "shuffle_partitions": 64})
    assert spark_conf(told)["spark.sql.shuffle.partitions"] == "64"


def test_redact_masks_secret_keys_and_url_passwords() -> None:
    lake = settings(
        catalog=NESSIE, s3=S3, nessie={"jdbc_password": "not-a-real-password", "token_public_key": PUBLIC_KEY}
    )
    shown = redact(pyiceberg_properties(lake) | spark_conf(lake) | nessie_properties(lake))
    text = repr(shown)
    assert "not-a-real-secret" not in text and "example-secret" not in text and "not-a-real-password" not in text
    assert shown["credential"] == "***"
    assert redact({"url": "postgresql://lake:pw@db:5432/x"})["url"] == "postgresql://lake:***@db:5432/x"
