"""Resources built from the one settings model: the job queue, S3, the Iceberg catalog and Spark.

Each takes an optional `env_file`; empty means the usual discovery (`$LAKE_ENV_FILE`, else
`$LAKE_HOME/lake.env`). Embedded and production deployments differ only in those settings.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
from pyiceberg.catalog import Catalog

from lake.catalog import open_catalog
from lake.settings import LakeSettings, load_settings
from lake.spark_submit import SparkJobResult, submit
from lake.storage import s3_client
from scrapworker.endpoints import EndpointCatalog, catalog_for
from scrapworker.queue import JobQueue

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


@cache
def settings_from(env_file: str) -> LakeSettings:
    return load_settings(Path(env_file) if env_file else None)


class _FromSettings(dg.ConfigurableResource):  # type: ignore[type-arg]
    env_file: str = ""

    @property
    def settings(self) -> LakeSettings:
        return settings_from(self.env_file)


class QueueResource(_FromSettings):
    """The scrapworker job queue (producer side) and the endpoint file the workers use."""

    def queue(self) -> JobQueue:
        return JobQueue.from_settings(self.settings.queue)

    def endpoints(self) -> EndpointCatalog:
        return catalog_for(self.settings.crawler)


class S3Resource(_FromSettings):
    def client(self) -> S3Client:
        return s3_client(self.settings)

    @property
    def raw_bucket(self) -> str:
        return self.settings.s3.raw_bucket


class CatalogResource(_FromSettings):
    def catalog(self) -> Catalog:
        return open_catalog(self.settings)


class SparkResource(_FromSettings):
    """spark-submit of jobs/ applications, configured from the settings (client mode)."""

    def submit(self, job: str, args: list[str]) -> SparkJobResult:
        return submit(self.settings, job, args)


def all_resources(env_file: str = "") -> dict[str, dg.ConfigurableResource]:  # type: ignore[type-arg]
    return {
        "queue": QueueResource(env_file=env_file),
        "s3": S3Resource(env_file=env_file),
        "catalog": CatalogResource(env_file=env_file),
        "spark": SparkResource(env_file=env_file),
    }
