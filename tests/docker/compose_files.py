"""Reading docker/ the way Compose and Spark do, without a Docker engine: YAML with merge keys, Compose's
`${VAR}` interpolation from an env file, Java-properties files, and the shape of a compose model.

Nothing here starts a container or touches the network; the tests in this folder are static checks.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from dotenv import dotenv_values

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCKER_DIR = REPO_ROOT / "docker"
COMPOSE_FILE = DOCKER_DIR / "compose.yaml"
ENV_EXAMPLE = DOCKER_DIR / ".env.example"
SPARK_DEFAULTS = DOCKER_DIR / "spark" / "spark-defaults.conf"
# The project's own images (the Spark and Dagster targets share docker/Dockerfile) and the stand-ins of the
# upstream images for machines without an image registry (docker/compose.standins.yaml).
PROJECT_DOCKERFILES = {"project": DOCKER_DIR / "Dockerfile", "airflow": DOCKER_DIR / "airflow" / "Dockerfile"}
STANDIN_DOCKERFILES = {path.parent.name: path for path in sorted((DOCKER_DIR / "standins").glob("*/Dockerfile"))}
DOCKERFILES = PROJECT_DOCKERFILES | {f"standin-{name}": path for name, path in STANDIN_DOCKERFILES.items()}
STANDINS_FILE = DOCKER_DIR / "compose.standins.yaml"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"

# The marker of a service that runs once and exits (tests/docker/test_compose_rules.py).
ONE_SHOT_LABEL = "lake.one-shot"

_VARIABLE = re.compile(r"\$(?:(?P<escaped>\$)|\{(?P<braced>[^{}]*)\}|(?P<named>[A-Za-z_][A-Za-z0-9_]*))")
_BRACED = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>.*))?", re.DOTALL)
_NESTED = re.compile(r"\$\{[^}]*\$\{")
_DEFAULTING_OPS = (":-", "-", ":+", "+")


class MissingVariableError(KeyError):
    """A `${VAR:?message}` whose variable the env file does not set: `docker compose` refuses to start."""


@dataclass(frozen=True)
class VariableUse:
    name: str
    has_default: bool


def compose_files() -> list[Path]:
    """Every Compose file under docker/ (the project has one; any other must pass the same checks)."""
    patterns = ("compose*.yaml", "compose*.yml", "docker-compose*.yaml", "docker-compose*.yml")
    return sorted({path for pattern in patterns for path in DOCKER_DIR.rglob(pattern)})


def env_file_values(path: Path = ENV_EXAMPLE) -> dict[str, str]:
    """KEY=VALUE pairs of an env file, as Compose reads docker/.env (python-dotenv's rules)."""
    return {key: value or "" for key, value in dotenv_values(path, interpolate=False).items()}


def load_yaml(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path}: expected a mapping at the top level"
    return data


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Compose's interpolation of one string: $$, $VAR, ${VAR}, ${VAR:-d}, ${VAR-d}, ${VAR:?e}, ${VAR?e},
    ${VAR:+a}, ${VAR+a}. Nested forms are refused rather than half-substituted."""
    if _NESTED.search(text):
        raise ValueError(f"nested interpolation is not supported by these checks: {text!r}")

    def replace(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        if match["named"]:
            return env.get(match["named"], "")
        braced = _BRACED.fullmatch(match["braced"])
        if braced is None:
            raise ValueError(f"unsupported interpolation ${{{match['braced']}}}")
        name, op, arg = braced["name"], braced["op"], braced["arg"] or ""
        value = env.get(name)
        present, non_empty = value is not None, bool(value)
        if op is None:
            return value or ""
        if op in (":?", "?") and not (non_empty if op == ":?" else present):
            raise MissingVariableError(f"{name}: {arg or 'required'}")
        if op in (":?", "?"):
            return value or ""
        if op == ":-":
            return value if non_empty and value is not None else arg
        if op == "-":
            return value if value is not None else arg
        if op == ":+":
            return arg if non_empty else ""
        return arg if present else ""  # "+"

    return _VARIABLE.sub(replace, text)


def interpolate_tree(node: Any, env: Mapping[str, str]) -> Any:
    """Interpolate every string value (not keys, as Compose does) of a loaded YAML tree."""
    if isinstance(node, dict):
        return {key: interpolate_tree(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [interpolate_tree(item, env) for item in node]
    if isinstance(node, str):
        return interpolate(node, env)
    return node


def strings(node: Any) -> Iterator[str]:
    """Every string value in a YAML tree."""
    if isinstance(node, dict):
        for value in node.values():
            yield from strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings(item)
    elif isinstance(node, str):
        yield node


def variable_uses(node: Any) -> list[VariableUse]:
    """Every variable a raw (not yet interpolated) YAML tree reads from the env file."""
    uses = []
    for text in strings(node):
        for match in _VARIABLE.finditer(text):
            if match["named"]:
                uses.append(VariableUse(match["named"], has_default=False))
            elif match["braced"] is not None and (braced := _BRACED.fullmatch(match["braced"])):
                uses.append(VariableUse(braced["name"], has_default=braced["op"] in _DEFAULTING_OPS))
    return uses


def load_compose(path: Path = COMPOSE_FILE, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The compose model as `docker compose config` would see it with docker/.env = .env.example."""
    return interpolate_tree(load_yaml(path), env_file_values() if env is None else env)  # type: ignore[no-any-return]


def services(model: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    found = model.get("services") or {}
    assert isinstance(found, dict)
    return found


def environment(service: Mapping[str, Any]) -> dict[str, str]:
    """A service's environment as a mapping (list form `KEY=VALUE` converted)."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(key): "" if value is None else str(value) for key, value in env.items()}


def command_args(service: Mapping[str, Any]) -> list[str]:
    command = service.get("command") or []
    return command.split() if isinstance(command, str) else [str(arg) for arg in command]


def is_one_shot(service: Mapping[str, Any]) -> bool:
    labels = service.get("labels") or {}
    if isinstance(labels, list):
        labels = dict(label.split("=", 1) for label in labels)
    return str(labels.get(ONE_SHOT_LABEL, "")).lower() == "true"


def has_healthcheck(service: Mapping[str, Any]) -> bool:
    check = service.get("healthcheck") or {}
    return bool(check.get("test")) and not check.get("disable", False) and check.get("test") != ["NONE"]


def profiles(service: Mapping[str, Any]) -> set[str]:
    return set(service.get("profiles") or [])


def depends_on(service: Mapping[str, Any]) -> dict[str, Any]:
    deps = service.get("depends_on") or {}
    return {name: None for name in deps} if isinstance(deps, list) else dict(deps)


def image_tag(image: str) -> str | None:
    """The tag of an image reference (`registry:5000/name:tag@digest`), or None when it has none."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


def read_properties(path: Path) -> dict[str, str]:
    """A Java properties file the way spark-submit reads spark-defaults.conf (key, then =, : or spaces)."""
    props: dict[str, str] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", "!")):
            continue
        match = re.fullmatch(r"(?P<key>[^\s=:]+)\s*[=:\s]\s*(?P<value>.*)", line)
        assert match is not None, f"{path}: cannot read line {raw!r}"
        assert match["key"] not in props, f"{path}: {match['key']} is set twice"
        props[match["key"]] = match["value"].strip()
    return props


def s3_identities_of(compose: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """access key id -> {secretKey, actions}: the S3 identities the store gets (base64 JSON, S3_IDENTITIES),
    as `lake compose` renders them from docker/.env's secrets."""
    import base64
    import json

    from lake_tools.compose.project import derived_credentials, generated_credentials

    env = environment(services(compose)["rustfs"])
    encoded = env["S3_IDENTITIES"]
    if "change-me" in encoded:  # .env.example's placeholder: render it from the example's secrets
        example = env_file_values()
        base = generated_credentials() | {k: v for k, v in example.items() if "change-me-generated" not in v}
        encoded = derived_credentials(base)["S3_IDENTITIES"]
    found = {}
    for identity in json.loads(base64.b64decode(encoded))["identities"]:
        [credential] = identity["credentials"]
        found[credential["accessKey"]] = {"secretKey": credential["secretKey"], "actions": identity["actions"]}
    return found
