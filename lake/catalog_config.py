"""The one place that turns settings into catalog properties: for every engine and for Nessie itself.

Every engine must see the same catalog (same name, same tables), so each rendering is derived here from
the same settings, never written by hand elsewhere: pyiceberg's properties, Spark's conf (Iceberg's
REST catalog with S3FileIO, and the s3a:// file system the jobs read raw landings with), and the Quarkus
properties Nessie's server starts with. tests/docker checks docker/spark/spark-defaults.conf and Nessie's
block of docker/compose.yaml against these renderings (Trino's hand-written catalog against the compose
settings).

Nothing here imports pyiceberg or pyspark: the Airflow side and the crawler host can render too.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import SecretStr

from lake.access import TOKEN_AUDIENCE, TOKEN_ISSUER, nessie_authorization_rules
from lake.settings import NESSIE_ICEBERG_PATH, LakeSettings, SettingsError
from lake_contracts.spark_conf import RAW_BUCKET as RAW_BUCKET_CONF

ICEBERG_EXTENSIONS = "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions"
SPARK_CATALOG_CLASS = "org.apache.iceberg.spark.SparkCatalog"
S3_FILE_IO = "org.apache.iceberg.aws.s3.S3FileIO"
# The Quarkus secret Nessie's S3 access key is read from: `<name>.name` is the key id, `<name>.secret` the key.
NESSIE_S3_SECRET = "lake.s3"  # noqa: S105 - the name of a secret, not one
NESSIE_S3_OPTIONS = "nessie.catalog.service.s3.default-options."

_SECRET_WORDS = ("password", "secret", "credential", "token")
_URL_PASSWORD = re.compile(r"(://[^:/@\s]+:)[^@\s]+@")


def rest_catalog_uri(settings: LakeSettings) -> str:
    """Nessie serves each branch at `/iceberg/<branch>`; the default branch at `/iceberg`."""
    uri = settings.catalog.uri.rstrip("/")
    return f"{uri}/{settings.catalog.branch}" if settings.catalog.branch else uri


def nessie_api_uri(settings: LakeSettings) -> str:
    """Nessie's own REST API (v2: branches, merges), beside its Iceberg endpoint on the same server."""
    return settings.catalog.uri.rstrip("/").removesuffix(NESSIE_ICEBERG_PATH) + "/api/v2"


def oauth2_server_uri(settings: LakeSettings) -> str:
    # Explicit, because pyiceberg's implicit fallback is deprecated (and drops a '/' from the URL).
    return settings.catalog.oauth2_server_uri or f"{settings.catalog.uri.rstrip('/')}/v1/oauth/tokens"


def pyiceberg_properties(settings: LakeSettings) -> dict[str, str]:
    """Keyword properties for `pyiceberg.catalog.load_catalog(settings.catalog.name, **props)`."""
    catalog = settings.catalog
    props = {"type": "rest", "uri": rest_catalog_uri(settings), "warehouse": catalog.warehouse}
    props |= _catalog_auth(settings)
    # Nessie vends its endpoint and region in the config response; the keys it does not vend are ours.
    return props | _pyiceberg_s3(settings)


def spark_catalog_conf(settings: LakeSettings) -> dict[str, str]:
    """`spark.sql.catalog.<name>.*` entries for the same catalog, plus the session defaults it needs."""
    name = settings.catalog.name
    return {"spark.sql.extensions": ICEBERG_EXTENSIONS, "spark.sql.defaultCatalog": name} | spark_catalog_entries(
        settings, name
    )


def spark_catalog_entries(settings: LakeSettings, name: str) -> dict[str, str]:
    """The settings' catalog as the Spark catalog `name`. Not static conf: a running session can register
    one more (a Nessie branch, for write-audit-publish) with `spark.conf.set` and address its tables as
    `name.namespace.table`."""
    catalog, s3 = settings.catalog, settings.s3
    prefix = f"spark.sql.catalog.{name}"
    conf = {
        prefix: SPARK_CATALOG_CLASS,
        f"{prefix}.type": "rest",
        f"{prefix}.uri": rest_catalog_uri(settings),
        f"{prefix}.warehouse": catalog.warehouse,
        # SparkCatalog caches tables: without this, commits by pyiceberg stay invisible until REFRESH.
        f"{prefix}.cache-enabled": "false",
        f"{prefix}.io-impl": S3_FILE_IO,
        # Without an explicit region the AWS SDK walks its provider chain (and may stall) to find one.
        f"{prefix}.client.region": s3.region,
        f"{prefix}.s3.path-style-access": str(s3.path_style).lower(),
    }
    conf |= {f"{prefix}.{key}": value for key, value in _catalog_auth(settings).items()}
    return conf | _s3_endpoint_and_keys(settings, f"{prefix}.s3.")


def spark_conf(settings: LakeSettings) -> dict[str, str]:
    """The whole Spark conf for a job: catalog, jars, the executors' Python, and local-mode binding."""
    spark = settings.spark
    conf = {
        "spark.master": spark.master,
        "spark.driver.memory": spark.driver_memory,
        # Slots are UTC; a session in local time would shift ds/hr/min.
        "spark.sql.session.timeZone": "UTC",
        "spark.pyspark.python": str(spark.python),
        "spark.pyspark.driver.python": str(spark.python),
        "spark.ui.showConsoleProgress": "false",
    }
    if spark.driver_java_options:
        conf["spark.driver.extraJavaOptions"] = spark.driver_java_options
    shuffle = spark.shuffle_partitions or (4 * spark.local_cores() if spark.is_local else None)
    if shuffle:
        conf["spark.sql.shuffle.partitions"] = str(shuffle)
    jars = spark_jars(spark.jars_dir)
    if jars:
        conf["spark.jars"] = ",".join(str(jar) for jar in jars)
    if not spark.is_local:
        # The only deploy mode a standalone cluster offers Python: the driver runs where we submit.
        conf["spark.submit.deployMode"] = "client"
    if spark.is_local or _is_loopback(urlsplit(spark.master).hostname):
        # The machine's hostname may not resolve to a reachable address; loopback always does. Executors of
        # a loopback cluster connect back to the driver here too.
        conf["spark.driver.bindAddress"] = "127.0.0.1"
        conf["spark.driver.host"] = "127.0.0.1"
    return conf | spark_catalog_conf(settings) | spark_raw_storage_conf(settings)


def spark_raw_storage_conf(settings: LakeSettings) -> dict[str, str]:
    """The s3a:// file system (hadoop-aws) the jobs read raw landings with, and where the raw bucket is."""
    s3 = settings.s3
    conf = {
        RAW_BUCKET_CONF: s3.raw_bucket,
        "spark.hadoop.fs.s3a.endpoint.region": s3.region,
        "spark.hadoop.fs.s3a.path.style.access": str(s3.path_style).lower(),
    }
    if s3.endpoint:
        conf["spark.hadoop.fs.s3a.endpoint"] = s3.endpoint
        conf["spark.hadoop.fs.s3a.connection.ssl.enabled"] = str(s3.endpoint.startswith("https")).lower()
    if s3.access_key_id and s3.secret_access_key:
        conf["spark.hadoop.fs.s3a.access.key"] = s3.access_key_id
        conf["spark.hadoop.fs.s3a.secret.key"] = s3.secret_access_key.get_secret_value()
    # Without keys in the conf, s3a takes them from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (docker/).
    return conf


def nessie_properties(settings: LakeSettings) -> dict[str, str]:
    """The Quarkus properties Nessie's server runs with, as dot keys (the only form Quarkus reads for
    names with "-" or "." in a map key: their upper-snake environment names cannot be mapped back).

    Its HTTP and management ports are the ports of LAKE_CATALOG__URI and LAKE_CATALOG__NESSIE_HEALTH_URL,
    so the server listens exactly where every client looks. S3 credentials go in only as a secret URI.
    """
    catalog, nessie, s3 = settings.catalog, settings.nessie, settings.s3
    uri = urlsplit(catalog.uri)
    health = urlsplit(catalog.nessie_health_url or f"http://{uri.hostname}:9000/q/health")
    bind = "127.0.0.1" if _is_loopback(uri.hostname) else "0.0.0.0"  # noqa: S104 - a container's interface
    props = {
        "quarkus.http.host": bind,
        "quarkus.http.port": str(uri.port or 19120),
        "quarkus.management.host": bind,
        "quarkus.management.port": str(health.port or 9000),
        "nessie.version.store.type": "JDBC2",
        "nessie.version.store.persist.jdbc.datasource": "postgresql",
        "quarkus.datasource.postgresql.jdbc.url": nessie.jdbc_url,
        "quarkus.datasource.postgresql.username": nessie.jdbc_user,
        "quarkus.datasource.postgresql.password": _secret(nessie.jdbc_password),
        "nessie.catalog.default-warehouse": catalog.warehouse,
        f"nessie.catalog.warehouses.{catalog.warehouse}.location": nessie.warehouse_location,
        f"{NESSIE_S3_OPTIONS}path-style-access": str(s3.path_style).lower(),
        f"{NESSIE_S3_OPTIONS}region": s3.region,
        f"{NESSIE_S3_OPTIONS}auth-type": "STATIC",
        f"{NESSIE_S3_OPTIONS}access-key": f"urn:nessie-secret:quarkus:{NESSIE_S3_SECRET}",
        f"{NESSIE_S3_SECRET}.name": s3.access_key_id or "",
        f"{NESSIE_S3_SECRET}.secret": _secret(s3.secret_access_key),
    }
    if s3.endpoint:
        props[f"{NESSIE_S3_OPTIONS}endpoint"] = s3.endpoint + "/"
    return props | nessie_auth_properties(settings)


def nessie_auth_properties(settings: LakeSettings) -> dict[str, str]:
    """Bearer tokens verified by Nessie itself (Quarkus OIDC, against the stack's public key) or by an
    identity provider, and the rules of lake.access on top. There is no way to render Nessie without."""
    nessie = settings.nessie
    props = {"nessie.server.authentication.enabled": "true"}
    if nessie.token_public_key:
        props |= {
            "quarkus.oidc.public-key": nessie.token_public_key,
            "quarkus.oidc.token.issuer": TOKEN_ISSUER,
            "quarkus.oidc.token.audience": TOKEN_AUDIENCE,
        }
    elif nessie.oidc_server_url:
        props["quarkus.oidc.auth-server-url"] = nessie.oidc_server_url
    else:
        raise SettingsError(
            "invalid settings:\n  LAKE_NESSIE__TOKEN_PUBLIC_KEY: Nessie needs a token public key "
            "(or LAKE_NESSIE__OIDC_SERVER_URL): it never runs without authentication"
        )
    props["nessie.server.authorization.enabled"] = "true"
    rules = {f"nessie.server.authorization.rules.{rule}": cel for rule, cel in nessie_authorization_rules().items()}
    return props | rules


def duckdb_statements(settings: LakeSettings) -> list[tuple[str, list[str]]]:
    """DuckDB's S3 secret and its ATTACH of the same REST catalog, as (statement, parameters) pairs.

    ACCESS_DELEGATION_MODE 'none': by default DuckDB asks Nessie for vended credentials, gets an endpoint
    but no keys, and scopes that keyless secret to the table's location, where it beats ours (HTTP 403
    on the first data file). DuckDB reads the server's default branch: its REST client cannot take the
    `/iceberg/<branch>` form.
    """
    catalog, s3 = settings.catalog, settings.s3
    endpoint = urlsplit(s3.endpoint) if s3.endpoint else None
    secret = ["TYPE s3", "REGION ?", "URL_STYLE ?"]
    params = [s3.region, "path" if s3.path_style else "vhost"]
    if endpoint is not None:
        secret += ["ENDPOINT ?", f"USE_SSL {str(endpoint.scheme == 'https').lower()}"]
        params.append(endpoint.netloc)
    if s3.access_key_id and s3.secret_access_key:
        secret += ["KEY_ID ?", "SECRET ?"]
        params += [s3.access_key_id, s3.secret_access_key.get_secret_value()]
    options = [
        "TYPE iceberg",
        f"ENDPOINT '{_sql_literal(catalog.uri)}'",
        "AUTHORIZATION_TYPE 'none'",
        "ACCESS_DELEGATION_MODE 'none'",
    ]
    statements = [(f"CREATE OR REPLACE SECRET lake_s3 ({', '.join(secret)})", params)]
    if catalog.token is not None:
        statements.append(
            ("CREATE OR REPLACE SECRET lake_catalog (TYPE iceberg, TOKEN ?)", [catalog.token.get_secret_value()])
        )
        options[2:3] = ["SECRET lake_catalog"]
    elif catalog.credential is not None:
        client_id, _, client_secret = catalog.credential.get_secret_value().partition(":")
        options[2:3] = [
            "AUTHORIZATION_TYPE 'oauth2'",
            f"CLIENT_ID '{_sql_literal(client_id)}'",
            f"CLIENT_SECRET '{_sql_literal(client_secret)}'",
            f"OAUTH2_SERVER_URI '{_sql_literal(oauth2_server_uri(settings))}'",
        ]
    return [*statements, (f"ATTACH '{_sql_literal(catalog.warehouse)}' AS {catalog.name} ({', '.join(options)})", [])]


def spark_jars(jars_dir: Path) -> list[Path]:
    return sorted(jars_dir.glob("*.jar")) if jars_dir.is_dir() else []


def redact(props: dict[str, str]) -> dict[str, str]:
    """A copy safe to print or log: secret-looking keys masked, and passwords inside URLs too."""
    return {
        key: "***" if any(word in key.lower() for word in _SECRET_WORDS) else _URL_PASSWORD.sub(r"\1***@", value)
        for key, value in props.items()
    }


def _catalog_auth(settings: LakeSettings) -> dict[str, str]:
    """How Iceberg's REST clients (pyiceberg, Spark's RESTCatalog) authenticate: named alike by both."""
    catalog = settings.catalog
    if catalog.token is not None:
        # Nessie issues no tokens (its /v1/oauth/tokens answers 501): Iceberg's Java client must not try to
        # refresh this one there (pyiceberg never does).
        return {"token": catalog.token.get_secret_value(), "token-refresh-enabled": "false"}
    if catalog.credential is not None:
        return {"credential": catalog.credential.get_secret_value(), "oauth2-server-uri": oauth2_server_uri(settings)}
    return {}


def _pyiceberg_s3(settings: LakeSettings) -> dict[str, str]:
    s3 = settings.s3
    # Without a region pyiceberg's first write stalls for seconds while it looks one up.
    props = {"s3.region": s3.region, "s3.force-virtual-addressing": str(not s3.path_style).lower()}
    return props | _s3_endpoint_and_keys(settings, "s3.")


def _s3_endpoint_and_keys(settings: LakeSettings, prefix: str) -> dict[str, str]:
    """The endpoint and static keys, named alike by Iceberg's S3FileIO, pyiceberg and our jobs' conf."""
    s3 = settings.s3
    options = {f"{prefix}endpoint": s3.endpoint} if s3.endpoint else {}
    if s3.access_key_id and s3.secret_access_key:
        options[f"{prefix}access-key-id"] = s3.access_key_id
        options[f"{prefix}secret-access-key"] = s3.secret_access_key.get_secret_value()
    return options


def _sql_literal(value: str) -> str:
    return value.replace("'", "''")


def _secret(value: SecretStr | None) -> str:
    return value.get_secret_value() if value is not None else ""


def _is_loopback(host: str | None) -> bool:
    if host in (None, "localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
