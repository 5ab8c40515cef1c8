"""The README's settings table names every variable the settings model reads, so a new setting cannot ship
undocumented."""

from __future__ import annotations

import re

from lake.settings import LakeSettings
from tests.support import REPO_ROOT

# Read by the model only to be refused with a reason (Nessie derives the REST prefix from the branch).
REFUSED = {("CATALOG", "PREFIX")}


def settings_table() -> dict[str, str]:
    """Each section of the README's settings table -> the text of its row."""
    text = (REPO_ROOT / "README.md").read_text()
    table = text[text.index("| section | variables (`LAKE_<SECTION>__<NAME>`) |") :].split("\n\n", 1)[0]
    rows: dict[str, str] = {}
    for line in table.splitlines()[2:]:
        sections, variables = line.strip("|").split("|", 1)
        rows.update(dict.fromkeys(re.findall(r"`([A-Z0-9_]+)`", sections), variables))
    return rows


def test_the_readme_settings_table_names_every_variable() -> None:
    rows = settings_table()
    missing = [
        f"LAKE_{section.upper()}__{name.upper()}"
        for section, field in LakeSettings.model_fields.items()
        if field.annotation is not None and hasattr(field.annotation, "model_fields")
        for name in field.annotation.model_fields
        if (section.upper(), name.upper()) not in REFUSED and f"`{name.upper()}`" not in rows.get(section.upper(), "")
    ]
    assert missing == []
