"""The one place that turns settings into catalog properties: for pyiceberg and for Spark.

Both engines must see the same catalog (same name, same tables), so both renderings are derived here
from the same `CatalogSettings`/`S3Settings`, never written by hand elsewhere. The production
spark-defaults.conf in docker/ is checked against `spark_conf()` by the tests.

Nothing here imports pyiceberg or pyspark: the Airflow side and the crawler host can render too.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote, urlsplit

from lake.settings import LakeSettings, SettingsError

ICEBERG_EXTENSIONS = "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions"
SPARK_CATALOG_CLASS = "org.apache.iceberg.spark.SparkCatalog"
S3_FILE_IO = "org.apache.iceberg.aws.s3.S3FileIO"

_SECRET_WORDS = ("password", "secret", "credential", "token")
_URL_PASSWORD = re.compile(r"(://[^:/@\s]+:)[^@\s]+@")


def rest_catalog_uri(settings: LakeSettings) -> str:
    """Nessie serves each branch at `/iceberg/<branch>`; the default branch at `/iceberg`."""
    uri = settings.catalog.uri.rstrip("/")
    return f"{uri}/{settings.catalog.branch}" if settings.catalog.branch else uri


def oauth2_server_uri(settings: LakeSettings) -> str:
    # Explicit, because pyiceberg's implicit fallback is deprecated (and drops a '/' from the URL).
    return settings.catalog.oauth2_server_uri or f"{settings.catalog.uri.rstrip('/')}/v1/oauth/tokens"


def warehouse_on_s3(settings: LakeSettings) -> bool:
    return urlsplit(settings.catalog.warehouse).scheme in ("s3", "s3a")


def data_on_s3(settings: LakeSettings) -> bool:
    """Table files live on S3: an s3:// warehouse, or any REST catalog (Nessie names its warehouse,
    `warehouse`, and keeps the s3:// location in its own config, so the name alone does not tell)."""
    return settings.catalog.kind == "rest" or warehouse_on_s3(settings)


def pyiceberg_properties(settings: LakeSettings) -> dict[str, str]:
    """Keyword properties for `pyiceberg.catalog.load_catalog(settings.catalog.name, **props)`."""
    catalog = settings.catalog
    props: dict[str, str] = {"warehouse": catalog.warehouse}
    if catalog.kind == "rest":
        props |= {"type": "rest", "uri": rest_catalog_uri(settings)}
        if catalog.credential is not None:
            props["credential"] = catalog.credential.get_secret_value()
            props["oauth2-server-uri"] = oauth2_server_uri(settings)
        # A REST server may vend its own storage settings; ours are the fallback it does not override.
        props |= _pyiceberg_s3(settings)
    else:
        props |= {"type": "sql", "uri": _sqlalchemy_url(settings), "init_catalog_tables": "true"}
        if warehouse_on_s3(settings):
            props |= _pyiceberg_s3(settings)
    return props


def spark_catalog_conf(settings: LakeSettings) -> dict[str, str]:
    """`spark.sql.catalog.<name>.*` entries for the same catalog, plus the session defaults it needs."""
    catalog = settings.catalog
    prefix = f"spark.sql.catalog.{catalog.name}"
    conf = {
        "spark.sql.extensions": ICEBERG_EXTENSIONS,
        "spark.sql.defaultCatalog": catalog.name,
        prefix: SPARK_CATALOG_CLASS,
        f"{prefix}.warehouse": catalog.warehouse,
        # SparkCatalog caches tables: without this, commits by pyiceberg stay invisible until REFRESH.
        f"{prefix}.cache-enabled": "false",
    }
    if catalog.kind == "rest":
        conf |= {f"{prefix}.type": "rest", f"{prefix}.uri": rest_catalog_uri(settings)}
        if catalog.credential is not None:
            conf[f"{prefix}.credential"] = catalog.credential.get_secret_value()
            conf[f"{prefix}.oauth2-server-uri"] = oauth2_server_uri(settings)
    else:
        user, password = _sql_login(settings)
        parts = urlsplit(catalog.uri)
        conf |= {
            f"{prefix}.type": "jdbc",
            f"{prefix}.uri": f"jdbc:postgresql://{parts.hostname}:{parts.port or 5432}{parts.path}",
            f"{prefix}.jdbc.user": user,
            f"{prefix}.jdbc.password": password,
            # pyiceberg's SqlCatalog writes the V1 schema (with iceberg_type); Spark must agree.
            f"{prefix}.jdbc.schema-version": "V1",
        }
    if data_on_s3(settings):
        s3 = settings.s3
        conf[f"{prefix}.io-impl"] = S3_FILE_IO
        conf[f"{prefix}.client.region"] = s3.region
        conf[f"{prefix}.s3.path-style-access"] = str(s3.path_style).lower()
        conf |= _s3_endpoint_and_keys(settings, f"{prefix}.s3.")
    return conf


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
    jars = spark_jars(spark.jars_dir)
    if jars:
        conf["spark.jars"] = ",".join(str(jar) for jar in jars)
    if spark.is_local:
        # The machine's hostname may not resolve to a reachable address; loopback always does.
        conf["spark.driver.bindAddress"] = "127.0.0.1"
        conf["spark.driver.host"] = "127.0.0.1"
    return conf | spark_catalog_conf(settings) | spark_raw_storage_conf(settings)


def spark_raw_storage_conf(settings: LakeSettings) -> dict[str, str]:
    """Where Spark jobs read raw landings (jobs/raw_landing.py): `spark.lake.s3.*`."""
    s3 = settings.s3
    conf = {
        "spark.lake.s3.raw-bucket": s3.raw_bucket,
        "spark.lake.s3.region": s3.region,
        "spark.lake.s3.path-style": str(s3.path_style).lower(),
    }
    return conf | _s3_endpoint_and_keys(settings, "spark.lake.s3.")


def spark_jars(jars_dir: Path) -> list[Path]:
    return sorted(jars_dir.glob("*.jar")) if jars_dir.is_dir() else []


def redact(props: dict[str, str]) -> dict[str, str]:
    """A copy safe to print or log: secret-looking keys masked, and passwords inside URLs too."""
    return {
        key: "***" if any(word in key.lower() for word in _SECRET_WORDS) else _URL_PASSWORD.sub(r"\1***@", value)
        for key, value in props.items()
    }


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


def _sql_login(settings: LakeSettings) -> tuple[str, str]:
    pair = settings.catalog.credential_pair()
    if pair is None:
        raise SettingsError("LAKE_CATALOG__CREDENTIAL: a sql catalog needs the database login as 'user:password'")
    return pair


def _sqlalchemy_url(settings: LakeSettings) -> str:
    user, password = _sql_login(settings)
    parts = urlsplit(settings.catalog.uri)
    login = f"{quote(user, safe='')}:{quote(password, safe='')}"
    return f"postgresql+psycopg2://{login}@{parts.hostname}:{parts.port or 5432}{parts.path}"
