"""Airflow 3 bridge: a generator that writes DAGs from the Dagster definitions, and the runtime those DAGs
import (which must not import Dagster)."""
