"""Three engines, one catalog: Spark, pyiceberg and DuckDB list the same tables with the same row counts
through Nessie's REST catalog, and `lake query` answers from DuckDB."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest

from lake.catalog import open_catalog
from lake.settings import LakeSettings
from lake_tools.query import QueryError, connect, query
from lake_tools.stack import Stack
from tests.support import clean_environ, run_lake

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def engines_namespace(spark: Any, lake_settings: LakeSettings) -> str:
    """A namespace with one table written by Spark and one by pyiceberg."""
    catalog = open_catalog(lake_settings)
    catalog.create_namespace_if_not_exists("engines")
    spark.sql(
        "CREATE TABLE IF NOT EXISTS engines.by_spark (ds string, hr int, v bigint) "
        "USING iceberg PARTITIONED BY (ds, hr)"
    )
    spark.sql("INSERT INTO engines.by_spark VALUES ('2026-11-01', 0, 1), ('2026-11-01', 1, 2), ('2026-11-02', 0, 3)")
    table = catalog.create_table_if_not_exists("engines.by_pyiceberg", schema=pa.schema([("v", pa.int64())]))
    table.append(pa.table({"v": pa.array(range(5), pa.int64())}))
    return "engines"


def test_spark_pyiceberg_and_duckdb_list_the_same_tables_with_the_same_counts(
    spark: Any, lake_settings: LakeSettings, engines_namespace: str
) -> None:
    catalog = open_catalog(lake_settings)
    by_pyiceberg = {
        name: catalog.load_table((engines_namespace, name)).scan().to_arrow().num_rows
        for _, name in catalog.list_tables(engines_namespace)
    }
    by_spark = {
        row["tableName"]: spark.sql(f"SELECT count(*) AS n FROM {engines_namespace}.{row['tableName']}").collect()[0][
            "n"
        ]
        for row in spark.sql(f"SHOW TABLES IN {engines_namespace}").collect()
    }
    duck = connect(lake_settings)
    try:
        names = [
            row[2]
            for row in duck.execute("SHOW ALL TABLES").fetchall()
            if row[0] == "lake" and row[1] == engines_namespace
        ]
        by_duckdb = {
            name: duck.execute(f"SELECT count(*) FROM {engines_namespace}.{name}").fetchone()[0] for name in names
        }
    finally:
        duck.close()
    assert by_pyiceberg == by_spark == by_duckdb == {"by_spark": 3, "by_pyiceberg": 5}


def test_duckdb_sees_a_new_commit_at_once(lake_settings: LakeSettings, engines_namespace: str) -> None:
    _, [(before,)] = query(lake_settings, f"select count(*) from {engines_namespace}.by_pyiceberg")
    open_catalog(lake_settings).load_table(f"{engines_namespace}.by_pyiceberg").append(
        pa.table({"v": pa.array([99], pa.int64())})
    )
    _, [(after,)] = query(lake_settings, f"select count(*) from {engines_namespace}.by_pyiceberg")
    assert after == before + 1


def test_lake_query_prints_a_table(stack: Stack, lake_settings: LakeSettings, engines_namespace: str) -> None:
    env = clean_environ(LAKE_HOME=str(stack.layout.home), LAKE_ENV_FILE=str(stack.env_file))
    result = run_lake(
        "query", f"select ds, count(*) as n from {engines_namespace}.by_spark group by ds order by ds", env=env
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["ds", "n"]
    assert [line.split() for line in lines[2:4]] == [["2026-11-01", "2"], ["2026-11-02", "1"]]
    assert lines[-1] == "(2 rows)"


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("insert into engines.by_pyiceberg values (1)", "only reads"),
        ("select * from engines.no_such_table", "no_such_table"),
        ("select * from", "Parser Error"),
    ],
)
def test_lake_query_refuses_writes_and_reports_errors_in_one_line(
    stack: Stack, lake_settings: LakeSettings, engines_namespace: str, sql: str, message: str
) -> None:
    env = clean_environ(LAKE_HOME=str(stack.layout.home), LAKE_ENV_FILE=str(stack.env_file))
    result = run_lake("query", sql, env=env)
    assert result.returncode == 1
    assert result.stderr.startswith("lake query: ") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    with pytest.raises(QueryError):
        query(lake_settings, sql)
