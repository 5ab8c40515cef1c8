"""Every Compose file under docker/ is valid against the Compose Specification JSON schema.

The schema is the copy PyPI's check-jsonschema vendors (`check-jsonschema --builtin-schema
vendor.compose-spec`), read from the installed package, so the check needs no network. Each file is
validated as written and as Compose runs it (interpolated with docker/.env.example's values).
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # no stubs in the dev environment
import pytest

from tests.docker.compose_files import COMPOSE_FILE, REPO_ROOT, compose_files, load_compose, load_yaml


@cache
def compose_spec_schema() -> dict[str, Any]:
    resource = files("check_jsonschema") / "builtin_schemas" / "vendor" / "compose-spec.json"
    schema: dict[str, Any] = json.loads(resource.read_text(encoding="utf-8"))
    return schema


def schema_errors(document: dict[str, Any]) -> list[str]:
    schema = compose_spec_schema()
    validator = jsonschema.validators.validator_for(schema)(schema)
    return sorted(
        f"{'/'.join(str(part) for part in error.absolute_path) or '(top level)'}: {error.message}"
        for error in validator.iter_errors(document)
    )


def test_the_vendored_schema_is_the_compose_specification() -> None:
    schema = compose_spec_schema()
    assert schema["$id"] == "compose_spec.json"
    assert {"services", "volumes", "networks"} <= set(schema["properties"])


def test_docker_holds_one_compose_project_and_its_overrides() -> None:
    """compose.yaml is what a user with a registry runs; the others only layer over it (`-f`)."""
    overrides = {path.name for path in compose_files()} - {COMPOSE_FILE.name}
    assert overrides == {"compose.standins.yaml", "compose.offline.yaml"}
    for path in compose_files():
        assert "name" not in load_yaml(path) or path == COMPOSE_FILE, f"{path.name} names a second project"


@pytest.mark.parametrize("path", compose_files(), ids=lambda path: str(path.relative_to(REPO_ROOT)))
@pytest.mark.parametrize("stage", ["as-written", "interpolated"])
def test_compose_file_matches_the_compose_specification(path: Path, stage: str) -> None:
    document = load_yaml(path) if stage == "as-written" else load_compose(path)
    errors = schema_errors(document)
    assert not errors, f"{path.name} ({stage}) breaks the Compose Specification:\n" + "\n".join(errors)


def test_the_schema_check_catches_a_broken_service() -> None:
    """The check is not vacuous: a misspelt service key is reported."""
    document = load_compose(COMPOSE_FILE)
    document["services"]["nessie"]["healthckeck"] = document["services"]["nessie"].pop("healthcheck")
    assert any("healthckeck" in error for error in schema_errors(document))
