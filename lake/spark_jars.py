"""Provision a working Iceberg runtime for Spark 3.5 into the jars directory (`python -m lake.spark_jars`).

Two routes, tried in order, and the one taken is recorded in `ROUTE.json` beside the jars:

1. maven-central: the official `iceberg-spark-runtime-3.5_2.12` and `iceberg-aws-bundle` jars.
2. pypi-relocated: where Maven Central does not answer (these build machines), the same Apache Iceberg
   runtime from the PyPI wheel `snowpark-connect-deps-iceberg`. That jar references relocated Jackson
   classes it does not contain, so pyspark's own Jackson 2.15.2 jars are relocated into
   `org.apache.iceberg.shaded.com.fasterxml.jackson` with jarjar (Debian `libjarjar-java`). This route
   has no AWS SDK: Spark gets the jdbc and hadoop catalogs over file://, not S3FileIO.

Either way the PostgreSQL JDBC driver (Debian `libpostgresql-jdbc-java`) is added for the jdbc catalog.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from pathlib import Path

from lake.settings import DEFAULT_JARS_DIR

ICEBERG_VERSION = "1.10.0"
MAVEN_CENTRAL = "https://repo1.maven.org/maven2/org/apache/iceberg"
OFFICIAL_JARS = (
    f"iceberg-spark-runtime-3.5_2.12/{ICEBERG_VERSION}/iceberg-spark-runtime-3.5_2.12-{ICEBERG_VERSION}.jar",
    f"iceberg-aws-bundle/{ICEBERG_VERSION}/iceberg-aws-bundle-{ICEBERG_VERSION}.jar",
)
JACKSON_JARS = ("jackson-core", "jackson-databind", "jackson-annotations", "jackson-datatype-jsr310")
JACKSON_VERSION = "2.15.2"
RELOCATION_RULE = "rule com.fasterxml.jackson.** org.apache.iceberg.shaded.com.fasterxml.jackson.@1\n"
JARJAR = Path("/usr/share/java/jarjar.jar")
POSTGRES_JDBC = Path("/usr/share/java/postgresql.jar")
ROUTE_FILE = "ROUTE.json"


class JarProvisioningError(RuntimeError):
    pass


def provision(dest: Path, try_maven: bool = True) -> dict[str, object]:
    dest.mkdir(parents=True, exist_ok=True)
    for stale in dest.glob("*.jar"):
        stale.unlink()
    route = "maven-central" if try_maven and _download_official(dest) else "pypi-relocated"
    if route == "pypi-relocated":
        _copy_pypi_runtime(dest)
        _relocate_jackson(dest / f"iceberg-shaded-jackson-{JACKSON_VERSION}.jar")
    if not POSTGRES_JDBC.exists():
        raise JarProvisioningError(f"{POSTGRES_JDBC} missing: install the Debian package libpostgresql-jdbc-java")
    shutil.copy2(POSTGRES_JDBC.resolve(), dest / "postgresql.jar")
    record: dict[str, object] = {
        "route": route,
        "jars": {jar.name: _sha256(jar) for jar in sorted(dest.glob("*.jar"))},
        "s3_file_io": route == "maven-central",
    }
    (dest / ROUTE_FILE).write_text(json.dumps(record, indent=2) + "\n")
    return record


def read_route(jars_dir: Path) -> dict[str, object] | None:
    try:
        data: dict[str, object] = json.loads((jars_dir / ROUTE_FILE).read_text())
        return data
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _download_official(dest: Path) -> bool:
    fetched = []
    try:
        for path in OFFICIAL_JARS:
            target = dest / Path(path).name
            with urllib.request.urlopen(f"{MAVEN_CENTRAL}/{path}", timeout=10) as response:  # noqa: S310
                target.write_bytes(response.read())
            fetched.append(target)
        return True
    except OSError as exc:
        print(f"Maven Central not reachable ({exc}); using the PyPI route", file=sys.stderr)
        for target in fetched:
            target.unlink(missing_ok=True)
        return False


def _copy_pypi_runtime(dest: Path) -> None:
    try:
        import snowpark_connect_deps_iceberg
    except ImportError:
        raise JarProvisioningError("the 'spark' extra is not installed (snowpark-connect-deps-iceberg)") from None
    source = Path(snowpark_connect_deps_iceberg.__file__).parent / "jars"
    runtime = next(source.glob("iceberg-spark-runtime-3.5_2.12-*.jar"), None)
    if runtime is None:
        raise JarProvisioningError(f"no iceberg-spark-runtime-3.5_2.12 jar in {source}")
    shutil.copy2(runtime, dest / runtime.name)


def _relocate_jackson(target: Path) -> None:
    import pyspark

    spark_jars = Path(pyspark.__file__).parent / "jars"
    if not JARJAR.exists():
        raise JarProvisioningError(f"{JARJAR} missing: install the Debian package libjarjar-java")
    with tempfile.TemporaryDirectory() as tmp:
        merged = Path(tmp) / "jackson-merged.jar"
        seen: set[str] = set()
        with zipfile.ZipFile(merged, "w", zipfile.ZIP_DEFLATED) as out:
            for name in JACKSON_JARS:
                with zipfile.ZipFile(spark_jars / f"{name}-{JACKSON_VERSION}.jar") as jar:
                    for entry in jar.infolist():
                        # Multi-release classes and module descriptors break the relocation.
                        if entry.filename.startswith("META-INF/versions/") or entry.filename.endswith(
                            "module-info.class"
                        ):
                            continue
                        if entry.filename in seen or entry.is_dir():
                            continue
                        seen.add(entry.filename)
                        out.writestr(entry, jar.read(entry))
        rules = Path(tmp) / "rules.txt"
        rules.write_text(RELOCATION_RULE)
        result = subprocess.run(
            ["java", "-jar", str(JARJAR), "process", str(rules), str(merged), str(target)],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise JarProvisioningError(f"jarjar failed: {result.stderr.strip()}")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dest", type=Path, default=DEFAULT_JARS_DIR)
    parser.add_argument("--offline", action="store_true", help="skip Maven Central; take the PyPI route")
    args = parser.parse_args(argv)
    try:
        record = provision(args.dest, try_maven=not args.offline)
    except JarProvisioningError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"Spark jars in {args.dest} (route: {record['route']}): {', '.join(record['jars'])}")  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    sys.exit(main())
