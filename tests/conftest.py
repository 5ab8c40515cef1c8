"""Session fixtures: ONE real embedded stack (PostgreSQL, Redis, SeaweedFS, Nessie) for the whole test run.

It is started on a free port range in a private LAKE_HOME, bootstrapped, and stopped by PID at the end.
Tests that need their own stack lifecycle (tests/lake_tools/test_stack.py) start a second one.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from lake.settings import LakeSettings, load_settings
from lake_tools.bootstrap import bootstrap
from lake_tools.stack import Stack
from market_sim import MarketSimulator
from tests.support import free_port_base, make_lake_home


def pytest_configure(config: pytest.Config) -> None:
    # The developer's own LAKE_* variables must not leak into what the tests configure.
    for key in [key for key in os.environ if key.startswith("LAKE_")]:
        del os.environ[key]


# The modules that take minutes (Spark submits, Airflow, the platform), longest first as CI's --durations
# show them: the workers start on these and finish on the quick ones together (test.sh keeps this order
# with --no-loadscope-reorder; xdist would otherwise order modules by their number of tests).
SLOW_MODULES = [
    "tests/lake_assets/test_assets.py",
    "tests/jobs/test_spark_jobs.py",
    "tests/platform/test_platform.py",
    "tests/airflow_bridge/test_bridge.py",
    "tests/lake_assets/test_wap.py",
    "tests/lake_tools/test_stack.py",
    "tests/jobs/test_maintenance.py",
]


# The fixtures that start services (the shared embedded stack, a module's own, the compose stack's engine,
# the platform): a test that needs none of them, and no Spark, is of the unit tier (`pytest -m unit`,
# `scripts/test.sh --unit`).
SERVICE_FIXTURES = {"stack", "own_stack", "engine", "platform"}
SERVICE_MARKERS = ("spark", "platform", "compose")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        module = item.nodeid.partition("::")[0]
        return SLOW_MODULES.index(module) if module in SLOW_MODULES else len(SLOW_MODULES)

    items.sort(key=rank)  # stable: within a module, and among the rest, the collection order stays
    for item in items:
        uses_services = SERVICE_FIXTURES & set(getattr(item, "fixturenames", ()))
        if not uses_services and not any(item.get_closest_marker(name) for name in SERVICE_MARKERS):
            item.add_marker(pytest.mark.unit)


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    home = make_lake_home("lake-test-")
    running = Stack(home, free_port_base())
    try:
        running.up()
        yield running
    finally:
        running.down()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def lake_settings(stack: Stack) -> LakeSettings:
    """Settings pointing every component at the stack: Nessie's REST catalog, s3:// warehouse, bootstrapped."""
    settings = load_settings(env_file=stack.env_file)
    bootstrap(settings)
    return settings


@pytest.fixture(scope="session")
def spark(stack: Stack, lake_settings: LakeSettings) -> Iterator[object]:
    """An in-process SparkSession configured exactly as a step's (`SparkResource.session`: dagster-pyspark's
    PySparkResource, the resource Dagster's authors made for in-process Spark, with the jobs' conf). A step
    run in this process shares it (Spark allows one session context per JVM)."""
    from lake_assets.resources import SparkResource

    session = SparkResource(env_file=str(stack.env_file)).session()
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def simulator() -> Iterator[MarketSimulator]:
    """The market-API simulator on a free loopback port, for the whole session."""
    with MarketSimulator() as running:
        yield running


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> str:
    """A table name unique to the test, valid for Iceberg (lowercase, no leading/trailing '_')."""
    return "t_" + "".join(c if c.isalnum() else "_" for c in request.node.name.lower()).strip("_")[:48]


def pytest_report_header() -> list[str]:
    return [f"lake tests: services start on free loopback ports; state under /tmp/lake-test-* ({Path.cwd()})"]
