"""The repository speaks only of itself: no file cites a document or a tracker a reader of it does not have."""

from __future__ import annotations

import functools
import re
import subprocess
from pathlib import Path

from tests.support import REPO_ROOT as ROOT

# Built from pieces, so that this file does not match itself.
OUTSIDE = re.compile(
    "|".join((r"\bDESIGN" + r"\.md\b", r"\bissues?\s+#?\d+\b", r"§\s*\d")),
    re.IGNORECASE,
)


@functools.cache
def tracked_texts() -> dict[Path, str]:
    """Every tracked text file (no NUL byte near its start) and its text, read once for all the tests here."""
    names = (
        subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True).stdout.decode().split("\0")
    )
    texts = {}
    for name in filter(None, names):
        path = ROOT / name
        if path.is_file() and b"\0" not in (data := path.read_bytes())[:4096]:
            texts[path] = data.decode(errors="replace")
    return texts


def citations(text: str) -> list[str]:
    return [match.group(0) for match in OUTSIDE.finditer(text)]


def test_the_pattern_finds_what_it_is_for() -> None:
    design, issue, section = "DESIGN" + ".md", "issue", "\u00a7"  # pieces again: this file is tracked too
    cited = f"See {design} {section}3, {issue} 13's note, {issue.title()}s #14 and 15."
    assert citations(cited) == [design, f"{section}3", f"{issue} 13", f"{issue.title()}s #14"]
    # Words that only look like citations: a colon between, another word that ends the same, no extension.
    assert citations(f"one {issue}: 3 retries; designs, an md file, a t{issue} 4") == []


def test_no_tracked_file_cites_a_document_or_an_issue_outside_the_repository() -> None:
    texts = tracked_texts()
    assert len(texts) > 100  # the tree was listed, not an empty directory
    found = {
        f"{path.relative_to(ROOT)}:{number}: {hit}"
        for path, text in texts.items()
        for number, line in enumerate(text.splitlines(), start=1)
        for hit in citations(line)
    }
    assert not found, "write what the reader needs here instead:\n" + "\n".join(sorted(found))


# A path into the repository, as text cites one: a top-level directory of the checkout, then a file with an
# extension. Not one inside an image or a machine (`/opt/lake/src/jobs/x.py`): nothing before it but space or
# punctuation.
CITED_PATH = re.compile(
    r"(?<![\w./-])((?:lake|lake_contracts|lake_tools|lake_assets|dagster_instance|scrapworker|jobs|airflow_bridge"
    r"|market_sim|tests|bench|scripts|docker)/[\w./-]+\.(?:py|yaml|sh|md|toml|conf|json))\b"
)

# Not citations: an object key the tests read on purpose to find it missing.
ABSENT_ON_PURPOSE = {"tests/none/manifest.json"}


def test_every_path_the_tree_cites_exists() -> None:
    """A file renamed or removed leaves no reader following a comment or the README to nothing."""
    cited = {
        (match.group(1), path.relative_to(ROOT).as_posix())
        for path, text in tracked_texts().items()
        for match in CITED_PATH.finditer(text)
    }
    assert len(cited) > 50  # the pattern still finds citations
    missing = {(target, where) for target, where in cited if not (ROOT / target).exists()}
    assert sorted(f"{where} cites {target}" for target, where in missing if target not in ABSENT_ON_PURPOSE) == []
