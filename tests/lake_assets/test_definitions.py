"""workspace.yaml names a module that Dagster can load."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import yaml

from tests.support import REPO_ROOT


def test_workspace_points_at_loadable_definitions() -> None:
    workspace = yaml.safe_load(Path(REPO_ROOT / "workspace.yaml").read_text())
    module_name = workspace["load_from"][0]["python_module"]["module_name"]
    module = __import__(module_name, fromlist=["defs"])
    assert isinstance(module.defs, dg.Definitions)
    module.defs.validate_loadable(module.defs)
