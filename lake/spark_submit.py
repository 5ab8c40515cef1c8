"""Run a jobs/ application with spark-submit, configured from the settings, and read its result line.

The whole conf (catalog, jars, storage, the executors' Python) goes in a properties file readable only
by us, not on the command line: `ps` would show credentials passed as --conf.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lake.catalog_config import spark_conf
from lake.settings import LakeSettings

JOBS_DIR = Path(__file__).resolve().parent.parent / "jobs"
CONTRACTS_DIR = Path(__file__).resolve().parent.parent / "lake_contracts"
RESULT_PREFIX = "LAKE_RESULT "  # printed by jobs.common.emit_result


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
class SparkJobResult:
    job: str
    seconds: float
    result: dict[str, Any] = field(default_factory=dict)


def submit(settings: LakeSettings, job: str | Path, args: list[str], timeout: float = 3600) -> SparkJobResult:
    """spark-submit jobs/<job>.py (or a script path) with `args`; returns its LAKE_RESULT fields."""
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
        env = os.environ | {
            "PYSPARK_PYTHON": str(settings.spark.python),
            "PYSPARK_DRIVER_PYTHON": str(settings.spark.python),
        }
        started = time.monotonic()
        completed = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout, check=False)
        seconds = time.monotonic() - started
    if completed.returncode != 0:
        raise SparkJobError(script.stem, completed.returncode, completed.stdout + completed.stderr)
    result: dict[str, Any] = {}
    for line in completed.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            result = json.loads(line.removeprefix(RESULT_PREFIX))
    return SparkJobResult(job=script.stem, seconds=seconds, result=result)


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
