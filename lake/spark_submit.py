"""spark-submit for a jobs/ application, configured from the settings.

`prepared()` builds the command and its environment once, for both callers: `submit()` runs it here and
waits (tests, benchmarks, tools), and the Dagster code location runs the same command through a Dagster
Pipes client, which streams the job's logs, metadata and check results into the run.

The whole conf (catalog, jars, storage, the executors' Python) goes in a properties file readable only
by us, not on the command line: `ps` would show credentials passed as --conf.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from lake.catalog_config import spark_conf
from lake.settings import LakeSettings

JOBS_DIR = Path(__file__).resolve().parent.parent / "jobs"
CONTRACTS_DIR = Path(__file__).resolve().parent.parent / "lake_contracts"


class SparkJobError(RuntimeError):
    """A Spark job exited non-zero; the message carries its own error line and the tail of its log."""

    def __init__(self, job: str, returncode: int, output: str) -> None:
        lines = output.splitlines()
        # The job's own "error: ..." line (jobs.common.run_main), else the last line of a Python traceback.
        reason = next((line for line in lines if line.startswith("error: ")), "")
        if not reason and "Traceback (most recent call last):" in output:
            reason = next((line for line in reversed(lines) if line and not line.startswith((" ", "\t"))), "")
        # Spark's INFO chatter says nothing about why a job failed.
        tail = "\n".join([line for line in lines if " INFO " not in line][-25:])
        super().__init__(f"Spark job {job} failed (exit {returncode}): {reason or 'see the log below'}\n{tail}")
        self.job, self.returncode, self.reason, self.log_tail, self.output = job, returncode, reason, tail, output


@dataclass(frozen=True)
class SparkJobRun:
    job: str
    seconds: float
    # What the job printed for a person (its own lines and Spark's warnings); never parsed for results.
    log: str


@dataclass(frozen=True)
class PreparedSubmit:
    job: str
    command: list[str]
    env: dict[str, str]


@contextmanager
def prepared(settings: LakeSettings, job: str | Path, args: list[str]) -> Iterator[PreparedSubmit]:
    """The spark-submit command for jobs/<job>.py (or a script path) with `args`, valid inside the block."""
    script = job if isinstance(job, Path) else JOBS_DIR / f"{job}.py"
    if not script.is_file():
        raise ValueError(f"no Spark job {job!r} in {JOBS_DIR}")
    with tempfile.TemporaryDirectory(prefix="lake-submit-") as tmp:
        properties = Path(tmp) / "spark.properties"
        fd = os.open(properties, os.O_WRONLY | os.O_CREAT, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.writelines(f"{key}={_escape(value)}\n" for key, value in spark_conf(settings).items())
        command = [
            str(Path(sys.executable).parent / "spark-submit"),
            "--properties-file",
            str(properties),
            # The jobs package travels with the job: on a cluster the executors import it from here.
            "--py-files",
            str(_jobs_archive(Path(tmp))),
            str(script),
            *args,
        ]
        env = {"PYSPARK_PYTHON": str(settings.spark.python), "PYSPARK_DRIVER_PYTHON": str(settings.spark.python)}
        yield PreparedSubmit(job=script.stem, command=command, env=env)


def submit(settings: LakeSettings, job: str | Path, args: list[str], timeout: float = 3600) -> SparkJobRun:
    """Run the job and wait; raises SparkJobError with the job's own reason when it fails."""
    with prepared(settings, job, args) as run:
        started = time.monotonic()
        completed = subprocess.run(
            run.command, capture_output=True, text=True, env=os.environ | run.env, timeout=timeout, check=False
        )
        seconds = time.monotonic() - started
    output = completed.stdout + completed.stderr
    if completed.returncode != 0:
        raise SparkJobError(run.job, completed.returncode, output)
    return SparkJobRun(job=run.job, seconds=seconds, log=output)


def _jobs_archive(directory: Path) -> Path:
    """jobs/ and the contracts it shares with the rest of the project, for the driver and the executors."""
    archive = directory / "jobs.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        for package in (JOBS_DIR, CONTRACTS_DIR):
            for source in sorted(package.glob("*.py")):
                bundle.write(source, f"{package.name}/{source.name}")
    return archive


def _escape(value: str) -> str:
    # Java properties treat backslashes specially; our values are paths and URLs without them, but be exact.
    return value.replace("\\", "\\\\")
