"""The package, the lab's code (lab/*.py, lab/scripts) and the tests cite nothing outside the
repository (the algorithm and the decisions are docs/algorithm.md and docs/decisions.md) and
tell no development history."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CODE = sorted([*(ROOT / "src").rglob("*.py"), *(ROOT / "lab").glob("*.py"),
               *(ROOT / "lab" / "scripts").glob("*.py"), *(ROOT / "tests").rglob("*.py")])
#: tests that name these patterns in order to look for them
SKIP = {"test_code_hygiene.py", "test_docs_hygiene.py"}

OUTSIDE = re.compile(r"\bSPEC\b|ANCHORS\.md|DECISIONS(?:\.md|\s+§)|ARCHITECTURE\.md"
                     r"|shared/(?:reference|paper|hooks)\b|\.\./\.\./shared")
HISTORY = re.compile(r"\b20\d\d-[01]\d-[0-3]\d\b|\bcommits?\s+`?[0-9a-f]{7,40}\b"
                     r"|\b(?:work\s+)?periods?\s+\d+\b")


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("path", [p for p in CODE if p.name not in SKIP], ids=_rel)
def test_no_outside_citation_or_history(path: Path) -> None:
    # test data may hold dates: the history patterns apply to the package and the lab's code
    patterns = [OUTSIDE] if "tests" in path.relative_to(ROOT).parts[:1] else [OUTSIDE, HISTORY]
    hits = [f"line {number}: {match.group(0)!r}"
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
            for pattern in patterns if (match := pattern.search(line))]
    assert not hits, f"{_rel(path)}: {hits[:5]}"
