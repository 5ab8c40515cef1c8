"""The project's rules for docker/compose.yaml, beyond what the Compose schema says.

- every image pinned by an explicit tag, never `latest` (services built here name and tag theirs);
- every service has a healthcheck, or is a one-shot: label `lake.one-shot: "true"`, restart "no" or
  on-failure, and an explicit command that exits;
- start order only through depends_on conditions: service_healthy on a healthchecked service,
  service_completed_successfully on a one-shot, and a dependency is active in every profile of its
  dependents (so `docker compose --profile X up` is a valid model for any single X);
- stateful services (PostgreSQL, Redis, RustFS) keep their data in declared named volumes;
- every credential is interpolated from docker/.env, whose committed template docker/.env.example holds
  only obviously fake values.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from lake.access import S3_ROLES, TOKEN_AUDIENCE, TOKEN_ISSUER, s3_access_key_id
from lake_tools.compose.project import RENDERED_FROM
from tests.docker.compose_files import (
    DOCKER_DIR,
    MissingVariableError,
    command_args,
    depends_on,
    env_file_values,
    environment,
    has_healthcheck,
    image_tag,
    is_one_shot,
    load_compose,
    profiles,
    services,
    strings,
    variable_uses,
)

# The data directory of each stateful image, by image name.
STATEFUL_DATA_DIRS = {"postgres": "/var/lib/postgresql/data", "redis": "/data", "rustfs/rustfs": "/data"}
EXPECTED_PROFILES = {"storage", "catalog", "spark", "queue", "airflow", "dagster", "bootstrap", "scrapworker", "trino"}
# (service, a service it must start after): direct or through other dependencies.
START_ORDER = [
    ("storage-init", "rustfs"),
    ("nessie", "nessie-db"),
    ("nessie", "storage-init"),
    ("bootstrap", "nessie"),
    ("spark-worker", "spark-master"),
    ("dagster-code", "dagster-db"),
    ("dagster-code", "bootstrap"),
    ("dagster-code", "scrapredis"),
    ("dagster-webserver", "dagster-code"),
    ("dagster-daemon", "dagster-code"),
    ("airflow-init", "airflow-db"),
    ("airflow-apiserver", "airflow-init"),
    ("airflow-scheduler", "airflow-init"),
    ("airflow-dag-processor", "airflow-init"),
    ("airflow-triggerer", "airflow-init"),
    ("airflow-worker", "airflow-apiserver"),
    ("scrapworker", "scrapredis"),
    ("trino", "nessie"),
]
SECRET_WORDS = ("password", "secret", "token", "credential", "access_key", "access-key", "fernet", "jwt")
# Secret variables allowed to default to empty: Airflow runs (warning) without a Fernet key.
MAY_BE_EMPTY = {"AIRFLOW_FERNET_KEY"}
URL_PASSWORD = re.compile(r"://[^:/@\s]+:(?P<password>[^@\s]+)@")
# Names written in the file on purpose: an identity's S3 access key id names it (lake.access), and the
# issuer and audience Nessie requires of a token are names too. None of them lets anyone in.
PUBLIC_NAMES = {s3_access_key_id(role) for role in S3_ROLES} | {TOKEN_ISSUER, TOKEN_AUDIENCE}


def looks_secret(name: str) -> bool:
    return any(word in name.lower() for word in SECRET_WORDS)


def image_name(image: str) -> str:
    name = image.split("@", 1)[0]
    return name.rsplit(":", 1)[0] if image_tag(name) else name


def start_after(model: dict[str, Any], service: str) -> set[str]:
    """Every service `service` waits for, directly or transitively."""
    seen: set[str] = set()
    pending = list(depends_on(services(model)[service]))
    while pending:
        current = pending.pop()
        if current not in seen:
            seen.add(current)
            pending += depends_on(services(model).get(current, {}))
    return seen


def named_mounts(service: dict[str, Any]) -> dict[str, str]:
    """target -> named volume, for every named-volume mount of a service."""
    mounts = {}
    for entry in service.get("volumes") or []:
        if isinstance(entry, str):
            source, _, rest = entry.partition(":")
            target = rest.split(":", 1)[0]
        else:
            source, target = entry.get("source", ""), entry.get("target", "")
            if entry.get("type", "volume") != "volume":
                continue
        if source and not source.startswith((".", "/", "~", "$")):
            mounts[target] = source
    return mounts


def test_every_image_is_pinned_by_an_explicit_tag(compose: dict[str, Any]) -> None:
    problems = []
    for name, service in services(compose).items():
        image = service.get("image")
        if not image:
            problems.append(f"{name}: no image (a built service names and tags its image too)")
        elif image_tag(image) in (None, "", "latest"):
            problems.append(f"{name}: {image!r} is not pinned by a tag")
    assert not problems, "\n".join(problems)


def test_every_service_has_a_healthcheck_or_is_a_one_shot(compose: dict[str, Any]) -> None:
    problems = []
    for name, service in services(compose).items():
        if is_one_shot(service):
            restart = str(service.get("restart", "no"))
            if restart != "no" and not restart.startswith("on-failure"):
                problems.append(f"{name}: a one-shot must not restart once done (restart: {restart!r})")
            if not (service.get("command") or service.get("entrypoint")):
                problems.append(f"{name}: a one-shot needs an explicit command that exits")
        elif not has_healthcheck(service):
            problems.append(f"{name}: long-running service without a healthcheck (or label it lake.one-shot)")
    assert not problems, "\n".join(problems)


def test_one_shots_are_the_expected_jobs(compose: dict[str, Any]) -> None:
    one_shots = {name for name, service in services(compose).items() if is_one_shot(service)}
    assert one_shots == {"storage-init", "bootstrap", "airflow-init"}
    assert command_args(services(compose)["bootstrap"]) == ["lake", "bootstrap"]


def test_depends_on_targets_exist_and_wait_for_the_right_condition(compose: dict[str, Any]) -> None:
    everything = services(compose)
    problems = []
    for name, service in everything.items():
        for target, spec in depends_on(service).items():
            if target not in everything:
                problems.append(f"{name} depends on {target}, which is not a service")
                continue
            expected = "service_completed_successfully" if is_one_shot(everything[target]) else "service_healthy"
            condition = spec.get("condition") if isinstance(spec, dict) else None
            if condition != expected:
                problems.append(f"{name} -> {target}: condition {condition!r}, expected {expected!r}")
            if spec and spec.get("required") is False:
                problems.append(f"{name} -> {target}: an optional dependency does not order the start")
    assert not problems, "\n".join(problems)


def test_services_start_in_dependency_order(compose: dict[str, Any]) -> None:
    missing = [
        f"{service} does not wait for {before}"
        for service, before in START_ORDER
        if before not in start_after(compose, service)
    ]
    assert not missing, "\n".join(missing)


def test_dependencies_are_active_whenever_their_dependents_are(compose: dict[str, Any]) -> None:
    everything = services(compose)
    problems = []
    for name, service in everything.items():
        for target in depends_on(service):
            needed, offered = profiles(service), profiles(everything.get(target, {}))
            if offered and (not needed or not needed <= offered):
                problems.append(f"{target} lacks profiles {sorted(needed - offered) or '(always on)'} of {name}")
    assert not problems, "\n".join(problems)
    defined = set().union(*(profiles(service) for service in everything.values()))
    assert defined >= EXPECTED_PROFILES


def test_stateful_services_keep_their_data_in_declared_named_volumes(compose: dict[str, Any]) -> None:
    declared = set(compose.get("volumes") or {})
    stateful, problems, used = set(), [], set()
    for name, service in services(compose).items():
        mounts = named_mounts(service)
        used |= set(mounts.values())
        data_dir = STATEFUL_DATA_DIRS.get(image_name(str(service.get("image", ""))))
        if data_dir is None:
            continue
        stateful.add(name)
        if data_dir not in mounts:
            problems.append(f"{name}: {data_dir} is not on a named volume")
    problems += [f"volume {volume} is used but not declared" for volume in sorted(used - declared)]
    problems += [f"volume {volume} is declared but unused" for volume in sorted(declared - used)]
    assert not problems, "\n".join(problems)
    assert stateful >= {"rustfs", "nessie-db", "dagster-db", "airflow-db", "airflow-redis", "scrapredis"}


def test_credentials_are_interpolated_from_the_env_file(raw_compose: dict[str, Any]) -> None:
    problems = []
    # Merge keys are resolved, so each service carries the x-* blocks it uses.
    for name, service in services(raw_compose).items():
        for key, value in environment(service).items():
            if value in PUBLIC_NAMES:
                continue
            if looks_secret(key) and "${" not in value and not value.startswith("urn:nessie-secret:"):
                problems.append(f"{name}: {key} is written in the file, not taken from docker/.env")
    for text in strings(raw_compose):
        for match in URL_PASSWORD.finditer(text):
            if "${" not in match["password"]:
                problems.append(f"a URL carries a literal password: {text!r}")
    assert not problems, "\n".join(problems)


def test_secret_variables_have_no_default(raw_compose: dict[str, Any]) -> None:
    defaulted = {use.name for use in variable_uses(raw_compose) if use.has_default and looks_secret(use.name)}
    assert defaulted <= MAY_BE_EMPTY
    # Without docker/.env, compose refuses to start rather than run with built-in credentials.
    with pytest.raises(MissingVariableError):
        load_compose(env={})


def test_every_variable_compose_reads_is_in_the_env_example(
    raw_compose: dict[str, Any], env_example: dict[str, str]
) -> None:
    uses = variable_uses(raw_compose)
    required = {use.name for use in uses if not use.has_default}
    assert required <= set(env_example), f"missing from docker/.env.example: {sorted(required - set(env_example))}"
    unused = set(env_example) - {use.name for use in uses} - set(RENDERED_FROM)
    assert not unused, f"docker/.env.example sets variables compose never reads: {sorted(unused)}"


def test_the_env_example_holds_no_real_secret() -> None:
    env_example = env_file_values()
    real_looking = [
        key
        for key, value in env_example.items()
        if looks_secret(key) and not (value == "" and key in MAY_BE_EMPTY) and "change-me" not in value
    ]
    assert not real_looking, f"not an obvious placeholder: {real_looking}"
    ignored = (DOCKER_DIR / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert ".env" in ignored, "docker/.env (the filled-in copy) must be git-ignored"
