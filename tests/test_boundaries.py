"""Dependency arrows point one way (DESIGN.md §2). Read from the source, so a stray import fails here."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from tests.support import REPO_ROOT

# package (or module path prefix) -> top-level modules it must not import
FORBIDDEN = {
    "scrapworker": {"dagster", "airflow", "pyspark", "lake_assets", "airflow_bridge", "jobs"},
    "jobs": {"dagster", "airflow", "lake_assets", "airflow_bridge", "scrapworker", "lake"},
    "airflow_bridge/runtime": {"dagster", "lake_assets", "dagster_graphql"},
    "airflow_bridge/operator": {"dagster", "lake_assets", "dagster_graphql"},
    "airflow_bridge/dags": {"dagster", "lake_assets", "dagster_graphql"},
    "lake_assets": {"airflow", "airflow_bridge"},
    # The core may not reach up into the packages built on it (the CLI may, lazily: it is the top).
    "lake": {"dagster", "airflow", "lake_assets", "airflow_bridge", "scrapworker", "jobs"},
}
ALLOWED_EXCEPTIONS = {"lake/cli.py", "lake/demo.py"}  # the top of the graph: reaches the others lazily
# scrapworker may read the shared settings model and build its S3 client alike, nothing else of the core.
ALLOWED_SUBMODULES = {"scrapworker": {"lake.settings", "lake.storage"}}


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
    violations = []
    for path in python_files(prefix):
        relative = path.relative_to(REPO_ROOT).as_posix()
        if relative in ALLOWED_EXCEPTIONS:
            continue
        for module in imported_modules(path):
            if module in ALLOWED_SUBMODULES.get(prefix, set()):
                continue
            if module.split(".")[0] in FORBIDDEN[prefix]:
                violations.append(f"{relative} imports {module}")
    assert violations == []


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
