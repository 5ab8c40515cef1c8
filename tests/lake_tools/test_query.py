"""`lake query`'s answers that need no lake: DuckDB's own errors, made to say what to do."""

from __future__ import annotations

import duckdb
import pytest

from lake_tools.query import not_written_yet


def duckdb_error(sql: str) -> str:
    with pytest.raises(duckdb.Error) as raised:
        duckdb.connect().execute(sql)
    return str(raised.value)


@pytest.mark.parametrize(
    ("sql", "table", "dag"),
    [
        ("select count(*) from klines", "market.klines", "scraper_typed_v1"),
        ("select count(*) from market.klines", "market.klines", "scraper_typed_v1"),  # no namespace yet either
        ('select * from "signals"', "landing.signals", "scraper_pipeline_v1"),
        ("select * from static_data", "seed.static_data", "spark_static_data_v2_submit"),
    ],
)
def test_a_lake_table_not_written_yet_is_named_with_its_writer(sql: str, table: str, dag: str) -> None:
    hint = not_written_yet(duckdb_error(sql))
    assert f"{table} is written by the Airflow DAG {dag}, Dagster asset {table.replace('.', '/')}" in hint


def test_other_missing_tables_and_other_errors_get_no_hint() -> None:
    assert not_written_yet(duckdb_error("select * from not_a_lake_table")) == ""
    assert not_written_yet(duckdb_error("select * from")) == ""
