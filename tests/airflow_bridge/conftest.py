"""Importing Airflow creates $AIRFLOW_HOME (default ~/airflow): point it at a throwaway folder first."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator

import pytest

THROWAWAY = None if "AIRFLOW_HOME" in os.environ else tempfile.mkdtemp(prefix="lake-tests-airflow-")
if THROWAWAY:
    os.environ["AIRFLOW_HOME"] = THROWAWAY


@pytest.fixture(scope="session", autouse=True)
def _remove_throwaway_airflow_home() -> Iterator[None]:
    yield
    if THROWAWAY:
        shutil.rmtree(THROWAWAY, ignore_errors=True)
