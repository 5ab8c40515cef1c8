"""The one settings model every component reads.

Every value comes from a `LAKE_*` environment variable (nested sections use `__`, so the catalog's URI
is `LAKE_CATALOG__URI`) or from an env file: `$LAKE_ENV_FILE`, else `$LAKE_HOME/lake.env`, which
`lake stack up` writes for the embedded stack. Real environment variables win over the file.

Defaults describe the embedded stack at its default ports; secrets have no default. Production points
the same variables at Nessie, RustFS and the Spark cluster (see docker/ and the README).
"""

from __future__ import annotations

import os
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from lake import ports

ENV_PREFIX = "LAKE_"
NESTED_DELIMITER = "__"

# Where `scripts/install.sh` provisions the Spark jars: beside the package in an editable install.
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_JARS_DIR = REPO_ROOT / "spark-jars"
# Nessie's Iceberg REST endpoint; a branch other than the default is `/iceberg/<branch>` (LAKE_CATALOG__BRANCH).
NESSIE_ICEBERG_PATH = "/iceberg"
# Nessie's version store: its database on the embedded stack's PostgreSQL.
NESSIE_DATABASE = "nessie"


def loopback_services(port_base: int) -> dict[str, str]:
    """Where the embedded deployment's services answer for a stack at `port_base` (lake/ports.py), by the
    variable that points at each. The settings' defaults are these at the default base; `lake stack up`
    writes them for its own."""

    def at(offset: int, path: str = "", scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{port_base + offset}{path}"

    return {
        "LAKE_S3__ENDPOINT": at(ports.S3),
        "LAKE_CATALOG__URI": at(ports.NESSIE, NESSIE_ICEBERG_PATH),
        "LAKE_CATALOG__NESSIE_HEALTH_URL": at(ports.NESSIE_MANAGEMENT, "/q/health"),
        "LAKE_NESSIE__JDBC_URL": at(ports.POSTGRES, f"/{NESSIE_DATABASE}", scheme="jdbc:postgresql"),
        "LAKE_QUEUE__URL": at(ports.REDIS, "/0", scheme="redis"),
        # Where `lake up` serves the two UIs (and the APIs the bridge and `lake doctor` use).
        "LAKE_DAGSTER__URL": at(ports.DAGSTER_WEBSERVER),
        "LAKE_AIRFLOW__URL": at(ports.AIRFLOW_API),
    }


_DEFAULTS = loopback_services(ports.DEFAULT_PORT_BASE)


def _matching(pattern: str, expected: str) -> AfterValidator:
    """A string field's form: the whole value must match `pattern`, else the error says what was expected."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(expected)
        return value

    return AfterValidator(check)


# The forms of the settings' names and addresses, each with the words its error uses.
BucketName = Annotated[
    str, _matching(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", "expected an S3 bucket name: 3-63 of a-z, 0-9, '.', '-'")
]
CatalogName = Annotated[str, _matching(r"[a-z][a-z0-9_]*", "expected a lowercase identifier such as 'lake'")]
WarehouseName = Annotated[
    str, _matching(r"[A-Za-z0-9_.-]+", "expected the name of a Nessie warehouse, such as 'warehouse'")
]
PostgresJdbcUrl = Annotated[
    str, _matching(r"jdbc:postgresql://[^/\s]+/[A-Za-z0-9_]+", "expected jdbc:postgresql://host:port/database")
]
SparkMaster = Annotated[
    str, _matching(r"local(\[(\*|\d+)\])?|spark://[^/\s]+:\d+", "expected local[*], local[N] or spark://host:port")
]
JvmMemory = Annotated[str, _matching(r"(?i)\d+[kmgt]", "expected a JVM memory size such as 2g or 512m")]


class SettingsError(ValueError):
    """Settings that cannot be used; the message names each variable and the form it expects."""


class _Section(BaseModel):
    # A misspelt variable (LAKE_CATALOG__URL) is an error, not silently ignored.
    model_config = ConfigDict(extra="forbid", frozen=True)


class StackSettings(_Section):
    """The embedded stack `lake stack up` runs: where its ports start."""

    port_base: int = Field(ports.DEFAULT_PORT_BASE, ge=1024, le=55400)


class S3Settings(_Section):
    """S3-compatible object storage: SeaweedFS here, RustFS in production."""

    endpoint: str | None = _DEFAULTS["LAKE_S3__ENDPOINT"]
    region: str = "us-east-1"
    access_key_id: str | None = None
    secret_access_key: SecretStr | None = None
    path_style: bool = True
    raw_bucket: BucketName = "raw"

    @field_validator("endpoint")
    @classmethod
    def _endpoint_is_http_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None  # empty means AWS's own endpoint
        _require_http_url(value)
        return value.rstrip("/")


class CatalogSettings(_Section):
    """The Iceberg catalog: Nessie's Iceberg REST endpoint, seen identically by Spark, pyiceberg and DuckDB.

    The embedded stack runs Nessie from its server jar; production runs its image (docker/compose.yaml).
    """

    # The catalog's name in Spark (`spark.sql.catalog.<name>`), pyiceberg and DuckDB (ATTACH ... AS <name>).
    name: CatalogName = "lake"
    uri: str = _DEFAULTS["LAKE_CATALOG__URI"]
    # The warehouse *name* Nessie knows (its location is server config: LAKE_NESSIE__WAREHOUSE_LOCATION).
    warehouse: WarehouseName = "warehouse"
    # OAuth2 client credentials "id:secret", when Nessie has authentication on (optional).
    credential: SecretStr | None = None
    # Where the credential is exchanged for a token (Keycloak or another identity provider).
    oauth2_server_uri: str | None = None
    # Or a bearer token Nessie verifies itself (the stacks sign one per role; lake.access says which).
    token: SecretStr | None = None
    # Nessie branch to read and write; empty means the server's default branch.
    branch: str | None = Field(None, pattern=r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")
    # Nessie's management health endpoint, e.g. http://nessie:9000/q/health; checked by `lake doctor`.
    nessie_health_url: str | None = _DEFAULTS["LAKE_CATALOG__NESSIE_HEALTH_URL"]
    # Only here to be refused with a reason: Nessie derives the REST prefix from the branch itself.
    prefix: str | None = None

    @field_validator("uri")
    @classmethod
    def _nessie_iceberg_uri(cls, value: str) -> str:
        _require_http_url(value)
        path = urlsplit(value).path.rstrip("/")
        if path != NESSIE_ICEBERG_PATH:
            # /api/v2 is Nessie's own API and /q/... its management port: neither speaks Iceberg REST, and
            # /iceberg/<branch> puts the branch where LAKE_CATALOG__BRANCH belongs.
            raise ValueError(
                f"expected Nessie's Iceberg REST endpoint, http(s)://host:port{NESSIE_ICEBERG_PATH}, not path "
                f"{path or '/'!r} (a branch goes in LAKE_CATALOG__BRANCH)"
            )
        return value.rstrip("/")

    @field_validator("prefix")
    @classmethod
    def _no_prefix(cls, value: str | None) -> None:
        if value:
            raise ValueError(
                "Nessie derives the REST prefix from the branch and warehouse; a client-side prefix "
                "makes every request miss. Unset it (use LAKE_CATALOG__BRANCH for a branch)"
            )

    @field_validator("nessie_health_url", "oauth2_server_uri")
    @classmethod
    def _health_url(cls, value: str | None) -> str | None:
        if value:
            _require_http_url(value)
        return value or None

    @model_validator(mode="after")
    def _credential_pair(self) -> CatalogSettings:
        if self.credential is not None and ":" not in self.credential.get_secret_value():
            raise ValueError("credential: expected OAuth2 client credentials 'id:secret'")
        if self.credential is not None and self.token is not None:
            raise ValueError("token: set either a token or OAuth2 client credentials (credential), not both")
        return self


class NessieSettings(_Section):
    """Nessie's own server configuration: read by `lake stack up` (embedded) and rendered for docker/."""

    # The JDBC2 version store, in its own database on the stack's PostgreSQL.
    jdbc_url: PostgresJdbcUrl = _DEFAULTS["LAKE_NESSIE__JDBC_URL"]
    jdbc_user: str = "lake"
    jdbc_password: SecretStr | None = None
    # Where the warehouse named LAKE_CATALOG__WAREHOUSE keeps its tables.
    warehouse_location: str = "s3://warehouse/"
    # Who Nessie lets in, one of: the public key the stacks sign the catalog's tokens with (base64 DER,
    # lake_tools/tokens.py), or an OpenID Connect provider (Keycloak, ...) whose tokens clients fetch with
    # LAKE_CATALOG__CREDENTIAL. Nessie never runs without authentication.
    token_public_key: str | None = Field(None, pattern=r"^[A-Za-z0-9+/=]{100,2000}$")
    oidc_server_url: str | None = None

    @field_validator("warehouse_location")
    @classmethod
    def _s3_location(cls, value: str) -> str:
        if not re.fullmatch(r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[^\s]*)?", value):
            raise ValueError("expected s3://bucket/ or s3://bucket/prefix/")
        return value if value.endswith("/") else value + "/"

    @property
    def warehouse_bucket(self) -> str:
        return urlsplit(self.warehouse_location).netloc


class QueueSettings(_Section):
    """The Redis job queue that feeds scrapworker ("scrapredis" in production)."""

    url: str = _DEFAULTS["LAKE_QUEUE__URL"]
    # The ACL user this component connects as (lake.access: crawler, producer or operator).
    username: str | None = Field(None, pattern=r"^[a-z][a-z0-9_-]{0,39}$")
    password: SecretStr | None = None
    prefix: str = Field("scrapworker", pattern=r"^[a-z][a-z0-9_-]{0,39}$")
    # A worker that stops heartbeating loses its job after this long; another worker then takes it.
    lease_seconds: float = Field(30.0, ge=1, le=3600)
    # Transient failures (timeouts, 5xx, S3 down) are retried this many times in all, then dead-lettered.
    max_attempts: int = Field(3, ge=1, le=100)
    # How long a finished job's status stays readable.
    status_ttl_hours: int = Field(168, ge=1)

    @field_validator("url")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("redis", "rediss") or not parts.hostname:
            raise ValueError("expected redis://host:port/db")
        return value


class CrawlerSettings(_Section):
    """scrapworker's crawling: which endpoint file, where the APIs are, how patient to be."""

    # None: the shipped Binance endpoints (scrapworker/config/binance.yaml).
    endpoints_file: Path | None = None
    # None: the shipped landings (scrapworker/config/landings.yaml): what each slot crawls.
    landings_file: Path | None = None
    # Point an API of the endpoint file elsewhere, as JSON: {"binance": "http://127.0.0.1:8090"}.
    base_urls: dict[str, str] = Field(default_factory=dict)
    request_timeout_seconds: float = Field(30.0, gt=0)
    # Retries of one request (timeouts, 5xx) with exponential backoff, before the attempt fails.
    retry_times: int = Field(3, ge=0, le=20)
    # On SIGTERM, how long running jobs may take to finish before their leases are released.
    shutdown_grace_seconds: float = Field(30.0, ge=0)

    @field_validator("base_urls")
    @classmethod
    def _urls(cls, value: dict[str, str]) -> dict[str, str]:
        for url in value.values():
            _require_http_url(url)
        return value


class SparkSettings(_Section):
    master: SparkMaster = "local[*]"
    jars_dir: Path = DEFAULT_JARS_DIR
    # The Python the executors run; it must match the driver's minor version (PYTHON_VERSION_MISMATCH).
    python: Path = Path(sys.executable)
    driver_memory: JvmMemory = "2g"
    # The driver JVM's options (in local mode the executors share its JVM). A minute slot's job lives
    # ~20 s, most of it start-up: C1 alone and one GC thread halve its CPU (43 s -> 23 s a submit,
    # measured on 2 cores) and leave the cores to the slots beside it. Typing a year of klines in one
    # submit was no faster with C2 (80 s against 76 s); "" gives the JVM's defaults back. C1 alone reserves
    # 48 MB for compiled code: a session held for minutes (the history step's) filled it after ~90 s, and
    # the JVM then stops compiling and interprets what is left, hence the larger cache.
    driver_java_options: str = "-XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=240m -XX:+UseSerialGC"
    # Partitions of every shuffle (spark.sql.shuffle.partitions). None: 4 per core in local mode, where
    # Spark's 200 (sized for clusters) are 200 tasks per stage on 2 cores: typing a year of klines took
    # 123 s with 200 and 81 s with 8 (bench/history.py's typed step); Spark's own default on a cluster.
    shuffle_partitions: int | None = Field(None, ge=1, le=100_000)

    @field_validator("driver_java_options")
    @classmethod
    def _java_options(cls, value: str) -> str:
        if len(value) > 1000 or any(not token.startswith("-") for token in value.split()):
            raise ValueError("expected JVM options such as -XX:+UseSerialGC, separated by spaces")
        return value

    @property
    def is_local(self) -> bool:
        return self.master.startswith("local")

    def local_cores(self) -> int:
        """The cores a local master uses: N of local[N], else every core of the machine."""
        count = re.fullmatch(r"local\[(\d+)\]", self.master)
        return int(count.group(1)) if count else os.cpu_count() or 1


class ServiceUrl(_Section):
    url: str

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        _require_http_url(value)
        return value.rstrip("/")


class ServiceLogin(ServiceUrl):
    """A web service that asks for a login: the user `lake doctor`, the tests and the benches log in as."""

    username: str | None = None
    password: SecretStr | None = None

    def login(self) -> tuple[str, str] | None:
        """(user, password), or None when no login is configured."""
        if self.username and self.password:
            return self.username, self.password.get_secret_value()
        return None


class DagsterSettings(ServiceLogin):
    url: str = _DEFAULTS["LAKE_DAGSTER__URL"]
    # Run and event storage; `lake stack up` points it at the embedded PostgreSQL's `dagster` database.
    postgres_url: SecretStr | None = None
    # The webserver answers only with HTTP Basic credentials (lake_tools/platform/dagster_web.py). Airflow's
    # bridge reaches Dagster through its own connection (`dagster_default`) and identity.


class AirflowSettings(ServiceLogin):
    url: str = _DEFAULTS["LAKE_AIRFLOW__URL"]
    # The login is Airflow's own auth manager user (the REST API's `/auth/token`).


class PartitionSettings(_Section):
    """The slot cadence: time-window partitions keyed `YYYY-MM-DD-HH:MM` (UTC, window start)."""

    cadence_minutes: int = 15
    # Dagster advises at most ~100k partitions per asset: at one-minute cadence that is 69 days.
    start: datetime = datetime(2026, 11, 1, tzinfo=UTC)
    # How often the typed tables (Spark: market.klines) take the slots landed since their last run, in
    # ONE run and one spark-submit. A multiple of the cadence: a Spark job costs tens of seconds on two
    # cores, more than a one-minute slot, while the raw landing and its signal stay per slot.
    typed_every_minutes: int = 15

    @field_validator("cadence_minutes", "typed_every_minutes")
    @classmethod
    def _cadence(cls, value: int) -> int:
        # A cron schedule can express it only when it tiles the hour or the day exactly.
        if not (1 <= value <= 60 and 60 % value == 0) and not (value % 60 == 0 and 1440 % value == 0):
            raise ValueError("expected minutes that divide an hour (1, 5, 15, 30, ...) or a day (60, 120, ...)")
        return value

    @field_validator("start")
    @classmethod
    def _start_is_utc_minute(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        if value.second or value.microsecond:
            raise ValueError("expected a whole minute, e.g. 2026-11-01T00:00:00Z")
        return value

    @model_validator(mode="after")
    def _start_on_cadence(self) -> PartitionSettings:
        minutes = self.start.hour * 60 + self.start.minute
        if minutes % self.cadence_minutes:
            raise ValueError(f"start: {self.start:%H:%M} is not on the {self.cadence_minutes}-minute cadence")
        if self.typed_every_minutes % self.cadence_minutes:
            raise ValueError(
                f"typed_every_minutes: {self.typed_every_minutes} is not a multiple of the "
                f"{self.cadence_minutes}-minute cadence"
            )
        return self


class SlaSettings(_Section):
    """The landing SLA monitor (the `slots_on_time` check on landing.signals): a slot is due once its end is
    grace_minutes past, and the monitor looks back lookback_minutes for due slots without their signals."""

    grace_minutes: int = Field(default=10, ge=0, le=1440)
    # Bounded: the check reads the signals of this span, and names at most a page of missing slots.
    lookback_minutes: int = Field(default=1440, ge=1, le=7 * 1440)


class HistorySettings(_Section):
    """History before the slot partitions (lake_assets/defs/history): one partition a month, so years of
    1-minute data are about 120 Dagster keys a decade, and a backfill of any range is one run and one step,
    typed in the one Spark session that step holds."""

    # The first month offered; Binance Spot's first whole month by default. Ends where the slots start.
    start: datetime = datetime(2017, 8, 1, tzinfo=UTC)
    # How long a history run's crawl may take in all before the step fails (its jobs keep their landings).
    wait_hours: float = Field(12.0, gt=0, le=24 * 14)
    # Signal rows per commit: bounded, so a decade of history is tens of commits, not one huge one.
    signal_batch: int = Field(1000, ge=1, le=100_000)

    @field_validator("start")
    @classmethod
    def _first_of_month(cls, value: datetime) -> datetime:
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        if (value.day, value.hour, value.minute, value.second, value.microsecond) != (1, 0, 0, 0, 0):
            raise ValueError("expected the first of a month at 00:00 UTC, e.g. 2025-01-01T00:00:00Z")
        return value


class MaintenanceSettings(_Section):
    """Table maintenance (lake_assets/defs/maintenance): when it runs and how much history it keeps."""

    # Daily, once the UTC day has closed: compaction rewrites only closed days.
    cron: str = "15 0 * * *"
    # Files no branch needs are deleted once older than this (Iceberg's default orphan window is 3 days).
    orphan_window_hours: float = Field(72.0, ge=1, le=24 * 365)
    # A failed write-audit-publish run's branch is kept this long for inspection, then deleted.
    wap_branch_retention_hours: float = Field(24.0, ge=1, le=24 * 365)
    # The maintenance identity (lake.access): only it may delete files, references and snapshots. The
    # maintenance assets run as it; every other asset runs as the writer (LAKE_CATALOG__*, LAKE_S3__*).
    catalog_token: SecretStr | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None


class DockerSettings(_Section):
    """The Docker engine `lake compose` starts where none runs (lake_tools/compose/engine.py)."""

    # Image layers: outside the checkout, so another clone or CI run on this machine reuses them.
    data_root: Path = Path.home() / ".cache" / "lake-ingest" / "docker"


class LakeSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=NESTED_DELIMITER,
        extra="forbid",
        frozen=True,
    )

    home: Path = REPO_ROOT / ".lake"
    stack: StackSettings = StackSettings()
    s3: S3Settings = S3Settings()
    catalog: CatalogSettings = CatalogSettings()
    nessie: NessieSettings = NessieSettings()
    queue: QueueSettings = QueueSettings()
    crawler: CrawlerSettings = CrawlerSettings()
    spark: SparkSettings = SparkSettings()
    dagster: DagsterSettings = DagsterSettings()
    airflow: AirflowSettings = AirflowSettings()
    partitions: PartitionSettings = PartitionSettings()
    sla: SlaSettings = SlaSettings()
    history: HistorySettings = HistorySettings()
    maintenance: MaintenanceSettings = MaintenanceSettings()
    docker: DockerSettings = DockerSettings()

    @model_validator(mode="after")
    def _history_before_slots(self) -> LakeSettings:
        if self.history.start >= self.partitions.start:
            raise ValueError(
                f"history.start: {self.history.start:%Y-%m-%d} is not before partitions.start "
                f"{self.partitions.start:%Y-%m-%d} (history ends where the slot partitions begin)"
            )
        return self

    def as_maintenance(self) -> LakeSettings:
        """These settings under the maintenance identity, where one is configured (else unchanged)."""
        m = self.maintenance
        catalog, s3 = self.catalog, self.s3
        if m.catalog_token is not None:
            catalog = catalog.model_copy(update={"token": m.catalog_token, "credential": None})
        if m.s3_access_key_id and m.s3_secret_access_key:
            s3 = s3.model_copy(
                update={"access_key_id": m.s3_access_key_id, "secret_access_key": m.s3_secret_access_key}
            )
        return self.model_copy(update={"catalog": catalog, "s3": s3})


def _require_http_url(value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("expected an http(s)://host[:port] URL")


def default_env_file(environ: dict[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    if env.get("LAKE_ENV_FILE"):
        return Path(env["LAKE_ENV_FILE"])
    home = Path(env["LAKE_HOME"]) if env.get("LAKE_HOME") else LakeSettings.model_fields["home"].default
    return Path(home) / "lake.env"


def env_var_name(loc: tuple[int | str, ...]) -> str:
    return ENV_PREFIX + NESTED_DELIMITER.join(str(part) for part in loc).upper()


def load_settings(env_file: Path | None = None, **overrides: Any) -> LakeSettings:
    """Read the settings, or raise SettingsError naming each bad variable and the form it expects."""
    path = env_file if env_file is not None else default_env_file()
    try:
        return LakeSettings(_env_file=path if path.is_file() else None, **overrides)
    except ValidationError as exc:
        raise SettingsError(describe_validation_error(exc, path)) from None


def describe_validation_error(exc: ValidationError, env_file: Path | None) -> str:
    lines = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        field, _, rest = message.partition(": ")
        # Model-level validators name the field at the start of their message ("uri: ...", or across
        # sections "history.start: ...").
        if rest and re.fullmatch(r"[a-z_]+(\.[a-z_]+)?", field):
            loc, message = (*loc, *field.split(".")), rest
        if error["type"] == "extra_forbidden":
            message = "unknown setting (misspelt?)"
        elif error["type"] == "literal_error":
            message = f"expected one of {error['ctx']['expected']}"
        shown = error.get("input")
        got = "" if isinstance(shown, dict) or _looks_secret(loc) else f" (got {shown!r})"
        lines.append(f"  {env_var_name(loc)}: {message}{got}")
    source = f" (environment and {env_file})" if env_file and env_file.is_file() else " (environment)"
    return "invalid settings" + source + ":\n" + "\n".join(lines)


def _looks_secret(loc: tuple[int | str, ...]) -> bool:
    return any(word in str(part) for part in loc for word in ("secret", "credential", "password", "token"))
