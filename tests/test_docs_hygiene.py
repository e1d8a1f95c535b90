"""README.md and docs/ are reference for users, true of the code as it is.

No development history (commit hashes as provenance, work sessions, numbered work periods, rows
labelled by when code changed), no link or citation to a file outside the repository, a README
of at most 160 lines, and every relative link pointing at a file that exists. The history of
what was tried lives in lab/LOG.md, which these checks leave alone.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
README_MAX_LINES = 160

#: (what it is, pattern) of development history
HISTORY = [
    ("a commit hash as provenance", re.compile(
        r"\bcommits?\s+(?:of\s+)?`?[0-9a-f]{7,40}\b|\bworktree of `?[0-9a-f]{7,40}\b"
        r"|@\s?[0-9a-f]{7,40}\b", re.I)),
    ("a work session", re.compile(r"\bsessions?\b(?!_)", re.I)),
    ("a numbered work period", re.compile(
        r"\b(?:periods?|phases?|rounds?)\s+\d+\b|\bs(?:1\d|2\d)\b(?![-_.\d])|\bruns/s\d+/", re.I)),
    ("a row labelled by when code changed", re.compile(
        r"\b(?:before|after|since|until)\s+(?:session|period|commit|s\d|…\d|\.\.\.\d)", re.I)),
    ("an ellipsis standing for a history suffix", re.compile(r"…\d+\)")),
]

#: (what it is, pattern) of citations to files that are not in the repository
OUTSIDE = [
    ("the reference spec", re.compile(r"\bSPEC\b")),
    ("the reference anchors", re.compile(r"ANCHORS\.md")),
    ("the reference decisions", re.compile(r"DECISIONS(?:\.md|\s+§)")),
    ("the reference architecture", re.compile(r"ARCHITECTURE\.md")),
    ("the shared reference folders", re.compile(r"shared/(?:reference|paper|hooks)\b")),
    ("a path two levels above the repository", re.compile(r"\.\./\.\./shared")),
]

LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)|!\[[^\]]*\]\(([^)\s]+)\)")


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _hits(patterns: list[tuple[str, re.Pattern[str]]], text: str) -> list[str]:
    hits = []
    for number, line in enumerate(text.splitlines(), 1):
        for what, pattern in patterns:
            match = pattern.search(line)
            if match:
                hits.append(f"line {number}: {what}: {match.group(0)!r}")
    return hits


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_no_development_history(page: Path) -> None:
    hits = _hits(HISTORY, page.read_text(encoding="utf-8"))
    assert not hits, f"{_rel(page)} tells development history (move it to lab/LOG.md): {hits[:5]}"


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_no_citation_outside_the_repository(page: Path) -> None:
    hits = _hits(OUTSIDE, page.read_text(encoding="utf-8"))
    assert not hits, (f"{_rel(page)} cites files outside the repository (link docs/algorithm.md "
                      f"or docs/decisions.md instead): {hits[:5]}")


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_relative_links_resolve_inside_the_repository(page: Path) -> None:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    bad = []
    for match in LINK.finditer(text):
        target = (match.group(1) or match.group(2)).split("#")[0]
        if not target or re.match(r"[a-z]+:", target):  # an anchor on the page, or a URL
            continue
        resolved = (page.parent / target).resolve()
        if not resolved.is_relative_to(ROOT):
            bad.append(f"{target} (outside the repository)")
        elif not resolved.exists():
            bad.append(f"{target} (no such file)")
    assert not bad, f"{_rel(page)} has broken links: {bad}"


def test_readme_is_short() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines (at most {README_MAX_LINES})"


CONFIGS = sorted((ROOT / "configs").rglob("*.yaml"))


@pytest.mark.parametrize("config", CONFIGS, ids=_rel)
def test_config_comments_cite_nothing_outside_the_repository(config: Path) -> None:
    hits = _hits(OUTSIDE, config.read_text(encoding="utf-8"))
    assert not hits, f"{_rel(config)} cites files outside the repository: {hits[:5]}"


def test_record_notes_tell_no_work_sessions() -> None:
    """A record's note says how and where it ran (date, machine, threads), not in which work
    session."""
    session = dict(HISTORY)["a work session"]
    records = [*(ROOT / "docs" / "results").glob("*.json"),
               *(ROOT / "lab" / "partial").glob("*.json")]
    bad = [p.name for p in sorted(records)
           if session.search(str(json.loads(p.read_text(encoding="utf-8")).get("note", "")))]
    assert not bad, f"records whose note names a work session: {bad[:5]}"
