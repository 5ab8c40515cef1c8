"""`lake query "SQL"`: a second engine, DuckDB, reads the lake through the same Nessie REST catalog.

DuckDB and its extensions come from PyPI (`duckdb` and `duckdb-extension-{httpfs,avro,iceberg}`, one
version): the extension files are loaded from those packages, and DuckDB's own downloads are switched
off, so nothing is fetched at run time. Only reads: writes go through the Spark jobs and their checks.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

from lake.catalog_config import duckdb_statements, redact
from lake.settings import LakeSettings
from lake_contracts import tables

EXTENSIONS = ("httpfs", "avro", "iceberg")  # iceberg reads manifests with avro and files over httpfs
READ_STATEMENT = re.compile(r"^\s*(select|with|from|show|describe|summarize|explain|values|table)\b", re.IGNORECASE)
MAX_SQL_CHARS = 20_000


class QueryError(RuntimeError):
    """The statement was refused or failed; the message says why in one line."""


def connect(settings: LakeSettings) -> Any:
    """A DuckDB connection with the catalog attached as `settings.catalog.name` and used by default."""
    import duckdb

    connection = duckdb.connect(config={"autoinstall_known_extensions": "false", "autoload_known_extensions": "false"})
    for name in EXTENSIONS:
        connection.execute(f"LOAD '{extension_file(name, duckdb.__version__)}'")
    try:
        for statement, params in duckdb_statements(settings):
            connection.execute(statement, params)
        # `market.klines` then resolves inside the catalog: DuckDB's USE needs one of its schemas (an
        # attached Iceberg catalog has no default schema), and any one gives the others as `ns.table`.
        first = connection.execute(
            "SELECT schema_name FROM duckdb_schemas() WHERE database_name = ? ORDER BY schema_name LIMIT 1",
            [settings.catalog.name],
        ).fetchone()
        if first is not None:
            connection.execute(f'USE {settings.catalog.name}."{first[0]}"')
    except duckdb.Error as exc:
        connection.close()
        where = redact({"uri": settings.catalog.uri})["uri"]
        hint = ""
        if "401" in str(exc):  # Nessie asked who is calling: no token, a foreign or an expired one
            hint = " (check LAKE_CATALOG__TOKEN or LAKE_CATALOG__CREDENTIAL)"
        raise QueryError(f"cannot attach the catalog at {where}: {_first_line(exc)}{hint}") from None
    return connection


def extension_file(name: str, version: str) -> Path:
    try:
        package = importlib.import_module(f"duckdb_extension_{name}")
    except ImportError:
        raise QueryError(
            f"the DuckDB {name} extension is not installed (pip package duckdb-extension-{name})"
        ) from None
    path = Path(str(package.__file__)).parent / "extensions" / f"v{version}" / f"{name}.duckdb_extension"
    if not path.is_file():
        raise QueryError(f"{path} missing: duckdb-extension-{name} must have duckdb's version {version}")
    return path


def query(settings: LakeSettings, sql: str, limit: int = 100) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run one read statement; returns the column names and at most `limit` + 1 rows."""
    import duckdb

    if len(sql) > MAX_SQL_CHARS:
        raise QueryError(f"the statement is {len(sql)} characters; at most {MAX_SQL_CHARS}")
    if not READ_STATEMENT.match(sql):
        raise QueryError("only reads (SELECT, WITH, SHOW, DESCRIBE, ...): the lake is written by its jobs")
    if limit < 1:
        raise QueryError("--limit must be at least 1")
    connection = connect(settings)
    try:
        result = connection.execute(sql)
        columns = [column[0] for column in result.description or []]
        return columns, result.fetchmany(limit + 1)
    except duckdb.Error as exc:
        raise QueryError(_first_line(exc) + not_written_yet(str(exc))) from None
    finally:
        connection.close()


def not_written_yet(message: str) -> str:
    """For DuckDB's "Table with name X does not exist": which DAG and asset write X, when it is the lake's."""
    missing = re.search(r"Table with name (\S+) does not exist", message)
    if missing is None:
        return ""
    name = missing.group(1).strip('"').lower()
    for table, dag_id in tables.WRITERS.items():
        if name in (table, table.partition(".")[2]):
            asset = table.replace(".", "/")
            return f" ({table} is written by the Airflow DAG {dag_id}, Dagster asset {asset}: it exists once that ran)"
    return ""


def print_table(columns: list[str], rows: list[tuple[Any, ...]], limit: int) -> None:
    shown = [["NULL" if value is None else str(value) for value in row] for row in rows[:limit]]
    widths = [max([len(name)] + [len(row[i]) for row in shown]) for i, name in enumerate(columns)]
    print("  ".join(name.ljust(width) for name, width in zip(columns, widths, strict=True)))
    print("  ".join("-" * width for width in widths))
    for row in shown:
        print("  ".join(value.ljust(width) for value, width in zip(row, widths, strict=True)))
    more = " (more not shown: raise --limit)" if len(rows) > limit else ""
    print(f"({len(shown)} row{'s' if len(shown) != 1 else ''}{more})")


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__
