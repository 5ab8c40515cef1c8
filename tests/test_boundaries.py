"""Dependency arrows point one way: contracts, then settings and storage, then the services, then the tools on
top. Read from the source, so a stray import fails here."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from tests.support import REPO_ROOT

# The layers, bottom up (README, "Layers"): lake_contracts (standard library only, checked below); lake
# (settings, catalog configuration, storage, tables); the services side by side (scrapworker, jobs,
# lake_assets, dagster_instance, airflow_bridge); lake_tools on top. Beside them, outside the layers,
# market_sim: the test and demo fake of the external market API, which none of the runtime packages may
# import and which imports none of the project. Each package -> the top-level modules it must not import.
SERVICES = {"scrapworker", "jobs", "lake_assets", "dagster_instance", "airflow_bridge"}
FORBIDDEN = {
    "lake": {"dagster", "airflow", "lake_tools", "market_sim", *SERVICES},
    "scrapworker": {"dagster", "airflow", "pyspark", "lake_tools", "market_sim", *SERVICES - {"scrapworker"}},
    # The Spark applications: pyspark, dagster-pipes and the contracts; nothing of the project's Python side.
    "jobs": {"dagster", "airflow", "lake", "lake_tools", "market_sim", "pyiceberg", "boto3", *SERVICES - {"jobs"}},
    # The Dagster code location may use the crawler's producer API (the queue and the endpoint file), and
    # run the Spark applications' transforms in a session it holds (jobs never imports it back).
    "lake_assets": {"airflow", "lake_tools", "market_sim", "airflow_bridge", "dagster_instance"},
    # The instance's plug-ins (run launchers, pools) run in the webserver and the daemon: Dagster and its
    # libraries only, so that a launcher never imports the code location it launches.
    "dagster_instance": {"airflow", "pyspark", "lake", "lake_tools", "market_sim", *SERVICES - {"dagster_instance"}},
    # Airflow's side never needs Dagster: the generated DAG file imports airflow_bridge only.
    "airflow_bridge": {
        "dagster",
        "dagster_graphql",
        "dagster_pipes",
        "lake_tools",
        "market_sim",
        *SERVICES - {"airflow_bridge"},
    },
    # A stand-in for Binance: it must keep working whatever the crawler believes about the API.
    "market_sim": {"dagster", "airflow", "pyspark", "lake", "lake_tools", *SERVICES},
}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def python_files(prefix: str) -> list[Path]:
    base = REPO_ROOT / prefix
    if base.is_file() or base.with_suffix(".py").is_file():
        return [base if base.is_file() else base.with_suffix(".py")]
    return sorted(base.rglob("*.py")) if base.is_dir() else []


@pytest.mark.parametrize("prefix", sorted(FORBIDDEN))
def test_package_imports_point_one_way(prefix: str) -> None:
    violations = [
        f"{path.relative_to(REPO_ROOT).as_posix()} imports {module}"
        for path in python_files(prefix)
        for module in imported_modules(path)
        if module.split(".")[0] in FORBIDDEN[prefix]
    ]
    assert violations == []


def test_every_package_has_its_place_in_the_layers() -> None:
    """A new top-level package must be given a layer here, or the arrows above say nothing about it."""
    packages = {path.parent.name for path in REPO_ROOT.glob("*/__init__.py")} - {"tests"}
    assert packages == {"lake_contracts", "lake_tools", *FORBIDDEN}


def test_contracts_import_the_standard_library_only() -> None:
    """lake_contracts travels everywhere, to Spark executors too: nothing but the standard library."""
    found = {
        f"{path.relative_to(REPO_ROOT).as_posix()} imports {module}"
        for path in python_files("lake_contracts")
        for module in imported_modules(path)
        if module.split(".")[0] not in sys.stdlib_module_names and module.split(".")[0] != "lake_contracts"
    }
    assert found == set()


def test_no_table_name_or_tag_is_spelt_outside_the_contracts() -> None:
    """Table identifiers and run tag names are written once, in lake_contracts, and imported elsewhere."""
    from lake_contracts import tables, tags

    spelt = [value for name, value in vars(tables).items() if isinstance(value, str) and not name.startswith("_")]
    spelt += [value for name, value in vars(tags).items() if isinstance(value, str) and not name.startswith("_")]
    found = [
        f"{path.relative_to(REPO_ROOT).as_posix()}: {value}"
        for package in ("lake", "lake_assets", "airflow_bridge", "jobs", "scrapworker")
        for path in python_files(package)
        for value in spelt
        if f'"{value}"' in path.read_text()
    ]
    assert found == []


def test_the_checker_sees_a_forbidden_import(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("import os\nfrom dagster import asset\nimport airflow.models\n")
    assert {"dagster", "airflow.models"} <= imported_modules(probe)
