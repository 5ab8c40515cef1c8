"""Resources built from the one settings model: the job queue, S3, the Iceberg catalog and Spark.

Each takes an optional `env_file`; empty means the usual discovery (`$LAKE_ENV_FILE`, else
`$LAKE_HOME/lake.env`). Embedded and production deployments differ only in those settings.
"""

from __future__ import annotations

import logging
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
from pyiceberg.catalog import Catalog

from lake.branches import on_branch
from lake.catalog import open_catalog
from lake.settings import LakeSettings, load_settings
from lake.spark_submit import prepared
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
    """spark-submit of jobs/ applications, configured from the settings, run through Dagster Pipes.

    The job's log lines, the metadata it reports and its own check results arrive as events of this run;
    Spark's own output is forwarded to the step's compute logs. A failing job fails the step with the
    job's own `error:` line as the reason (Pipes brought it into the event log before the exit).
    """

    def run(
        self,
        context: dg.AssetExecutionContext,
        job: str,
        args: list[str],
        branch: str | None = None,
        maintenance: bool = False,
    ) -> dg.PipesClientCompletedInvocation:
        """Run jobs/<job>.py; with `branch`, its catalog is that Nessie branch (write-audit-publish); with
        `maintenance`, it runs as the maintenance identity (lake.access) instead of the writer."""
        settings = self.settings.as_maintenance() if maintenance else self.settings
        settings = settings if branch is None else on_branch(settings, branch)
        with prepared(settings, job, args) as submit:
            where = f", catalog branch {branch}" if branch else ""
            context.log.info(f"spark-submit jobs/{job}.py {' '.join(args)} (master {settings.spark.master}{where})")
            try:
                return dg.PipesSubprocessClient(forward_stdio=True).run(
                    context=context, command=submit.command, env=submit.env
                )
            except Exception:
                # Pipes says only "process failed with code 2"; the job said why, in this run's event log.
                # (The Pipes error class is not public API, hence the broad catch and the re-raise.)
                reason = _job_error(context)
                if reason is None:
                    raise
                raise dg.Failure(description=f"Spark job {job} failed: {reason}") from None


def _job_error(context: dg.AssetExecutionContext) -> str | None:
    """The last `error: ...` line the job logged through Pipes in this run (jobs.common.run_main)."""
    lines = [
        record.user_message
        for record in context.instance.all_logs(context.run.run_id)
        if record.level >= logging.ERROR and record.user_message.startswith("error: ")
    ]
    return lines[-1] if lines else None


def all_resources(env_file: str = "") -> dict[str, dg.ConfigurableResource]:  # type: ignore[type-arg]
    return {
        "queue": QueueResource(env_file=env_file),
        "s3": S3Resource(env_file=env_file),
        "catalog": CatalogResource(env_file=env_file),
        "spark": SparkResource(env_file=env_file),
    }
