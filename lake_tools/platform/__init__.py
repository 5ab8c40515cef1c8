"""The whole platform on the embedded default (`lake up|status|down`): the stack, the crawler, Dagster
and Airflow as processes started, checked and stopped by PID."""

from lake_tools.platform.platform import Platform

__all__ = ["Platform"]
