"""The JVM artifacts the project runs, pinned here and nowhere else, fetched from Maven Central with Maven.

`python -m lake_tools.jars` (scripts/install.sh runs it) copies each artifact with `mvn dependency:copy` into
the directory its role names: the Spark jars into `spark-jars/` (every jar there goes on `spark.jars`),
Nessie's server runner into `nessie-server/`. Maven's local repository (~/.m2) caches them, and a jar
already in place with the checksum recorded in `jars.lock.json` is not fetched again, so a second run
works offline. docker/ builds from the same versions: tests/docker checks its Dockerfiles and the Nessie
image tag against the pins below.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from lake.settings import DEFAULT_JARS_DIR, REPO_ROOT

ICEBERG_VERSION = "1.10.1"
# The newest Nessie release Maven Central serves to these machines; its server needs Java 21+.
NESSIE_VERSION = "0.99.0"
# hadoop-aws must match the Hadoop client inside pyspark 3.5.9 (3.3.4), and it was built against this
# AWS SDK v1 bundle: together they give Spark the s3a:// file system that reads the raw landings.
HADOOP_VERSION = "3.3.4"
AWS_SDK_V1_VERSION = "1.12.262"

NESSIE_SERVER_DIR = REPO_ROOT / "nessie-server"
LOCK_FILE = "jars.lock.json"


@dataclass(frozen=True)
class Artifact:
    group: str
    artifact: str
    version: str
    classifier: str = ""

    @property
    def coordinates(self) -> str:
        """G:A:V[:jar:CLASSIFIER], as `mvn dependency:copy -Dartifact=` takes it."""
        base = f"{self.group}:{self.artifact}:{self.version}"
        return f"{base}:jar:{self.classifier}" if self.classifier else base

    @property
    def file_name(self) -> str:
        suffix = f"-{self.classifier}" if self.classifier else ""
        return f"{self.artifact}-{self.version}{suffix}.jar"


SPARK_ARTIFACTS = (
    # The Iceberg runtime (SparkCatalog, the REST client, SQL extensions) and its AWS bundle (S3FileIO).
    Artifact("org.apache.iceberg", "iceberg-spark-runtime-3.5_2.12", ICEBERG_VERSION),
    Artifact("org.apache.iceberg", "iceberg-aws-bundle", ICEBERG_VERSION),
    Artifact("org.apache.hadoop", "hadoop-aws", HADOOP_VERSION),
    Artifact("com.amazonaws", "aws-java-sdk-bundle", AWS_SDK_V1_VERSION),
)
NESSIE_SERVER = Artifact("org.projectnessie.nessie", "nessie-quarkus", NESSIE_VERSION, classifier="runner")


class JarProvisioningError(RuntimeError):
    pass


def nessie_server_jar(directory: Path = NESSIE_SERVER_DIR) -> Path:
    return directory / NESSIE_SERVER.file_name


def provision(spark_dir: Path = DEFAULT_JARS_DIR, nessie_dir: Path = NESSIE_SERVER_DIR) -> list[str]:
    """Put every pinned artifact in place; returns one line per artifact saying what happened."""
    report = [_place(artifact, spark_dir) for artifact in SPARK_ARTIFACTS]
    pinned = {artifact.file_name for artifact in SPARK_ARTIFACTS}
    for stale in spark_dir.glob("*.jar"):
        if stale.name not in pinned:  # an older pin's jar would put two Iceberg versions on the classpath
            stale.unlink()
            report.append(f"{stale.name}: removed (no longer pinned)")
    report.append(_place(NESSIE_SERVER, nessie_dir))
    return report


def _place(artifact: Artifact, directory: Path) -> str:
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / artifact.file_name
    lock = _read_lock(directory)
    if target.is_file() and lock.get(target.name) == _sha256(target):
        return f"{target.name}: present"
    mvn = shutil.which("mvn")
    if mvn is None:
        raise JarProvisioningError(
            "Maven (`mvn`) not found: install the Debian package 'maven' (scripts/install.sh does)"
        )
    command = [
        mvn,
        "-q",
        "-B",
        "dependency:copy",
        f"-Dartifact={artifact.coordinates}",
        f"-DoutputDirectory={directory}",
    ]
    # Offline first: the local repository answers a re-install without the network.
    for attempt in (["-o"], []):
        result = subprocess.run([*command[:1], *attempt, *command[1:]], capture_output=True, text=True, check=False)
        if result.returncode == 0 and target.is_file():
            break
    else:
        errors = [line for line in result.stdout.splitlines() if "ERROR" in line][:3]
        raise JarProvisioningError(f"mvn could not fetch {artifact.coordinates}: " + " ".join(errors))
    lock[target.name] = _sha256(target)
    (directory / LOCK_FILE).write_text(json.dumps(lock, indent=2, sort_keys=True) + "\n")
    return f"{target.name}: fetched"


def _read_lock(directory: Path) -> dict[str, str]:
    try:
        data: dict[str, str] = json.loads((directory / LOCK_FILE).read_text())
        return data
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spark-dir", type=Path, default=DEFAULT_JARS_DIR)
    parser.add_argument("--nessie-dir", type=Path, default=NESSIE_SERVER_DIR)
    args = parser.parse_args(argv)
    try:
        for line in provision(args.spark_dir, args.nessie_dir):
            print(line)
    except JarProvisioningError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
