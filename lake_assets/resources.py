"""Resources built from the one settings model: the job queue, S3, the Iceberg catalog and Spark.

Each takes an optional `env_file`; empty means the usual discovery (`$LAKE_ENV_FILE`, else
`$LAKE_HOME/lake.env`). Embedded and production deployments differ only in those settings.
"""

from __future__ import annotations

import logging
import os
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg
from pydantic import PrivateAttr
from pyiceberg.catalog import Catalog

from lake.branches import on_branch
from lake.catalog import open_catalog
from lake.catalog_config import spark_catalog_entries, spark_conf
from lake.settings import LakeSettings, load_settings
from lake.spark_submit import prepared
from lake.storage import s3_client
from scrapworker.endpoints import EndpointFile, endpoints_for
from scrapworker.queue import JobQueue

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from pyspark.sql import SparkSession


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

    def endpoints(self) -> EndpointFile:
        return endpoints_for(self.settings.crawler)


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
    """Spark for the jobs/ applications, configured from the settings, in one of two ways:

    - `run`: spark-submit of jobs/<job>.py through Dagster Pipes, a JVM of its own per step. The job's log
      lines, the metadata it reports and its own check results arrive as events of this run; Spark's own
      output is forwarded to the step's compute logs. A failing job fails the step with the job's own
      `error:` line as the reason (Pipes brought it into the event log before the exit).
    - `session`: one SparkSession held by the step for all its pieces (the history step types month after
      month in it), from dagster-pyspark's PySparkResource with the same conf; a piece costs no JVM start.
    """

    _pyspark: Any = PrivateAttr(default=None)
    _started_session: bool = PrivateAttr(default=False)

    def session(self) -> SparkSession:
        """The step's session, started on first use with the jobs' conf (lake.catalog_config.spark_conf)."""
        if self._pyspark is None:
            from dagster_pyspark import PySparkResource
            from pyspark.sql import SparkSession

            # A process that holds a session already (a test's, a notebook's) shares it: Spark allows one
            # context per JVM. Only a session started here is stopped with the step.
            self._started_session = SparkSession.getActiveSession() is None
            # The executors' Python: an in-process driver reads it from the environment only (spark-submit
            # reads the conf). It must be the driver's minor version, and have the jobs' code importable.
            os.environ["PYSPARK_PYTHON"] = str(self.settings.spark.python)
            resource = PySparkResource(spark_config=spark_conf(self.settings))
            resource.setup_for_execution(dg.build_init_resource_context())
            self._pyspark = resource
        session: SparkSession = self._pyspark.spark_session
        return session

    def branch_catalog(self, branch: str) -> str:
        """Register Nessie `branch` as a catalog of the step's session; returns its name, for
        `name.namespace.table`. The session's default catalog stays the target branch."""
        name = "wap_" + "".join(c if c.isalnum() else "_" for c in branch).lower()
        session = self.session()
        for key, value in spark_catalog_entries(on_branch(self.settings, branch), name).items():
            session.conf.set(key, value)
        return name

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._pyspark is not None and self._started_session:
            self._pyspark.spark_session.stop()
        self._pyspark = None

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
