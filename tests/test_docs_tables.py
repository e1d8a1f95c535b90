"""The measured tables in the docs say what the committed records say.

docs/reproduction.md and docs/results.md paste the output of ``lab/scripts/records_table.py`` over
the manifests in docs/results/, and the README's results tables copy rows of it (means of
NDCG@10 and HR@10 and the paper's numbers); both are pasted by hand, so a record added or a row
renamed without pasting the tables again fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from script_loader import load_script

from basrec.experiments.report import paper_value
from basrec.stats import mean_std

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"

#: doc page → the manifests whose full tables it holds
DOC_MANIFESTS = {
    "reproduction.md": ["table2_beauty", "table3_beauty", "table4_beauty", "table5_beauty",
                        "figure3_beauty"],
    "tuning.md": ["tune_ce_sasrec_beauty"],
    "results.md": ["variants_sasrec_beauty", "variants_gru4rec_beauty", "ce_sasrec_beauty",
                   "variants_fmlprec_beauty", "ce_terms_sasrec_beauty", "sampled_ce_sasrec_beauty",
                   "table2_yelp", "table2_sports", "table2_home"],
}


def _rows(manifest: Path) -> tuple[dict, list]:
    return load_script("records_table").load_rows(manifest)  # type: ignore[no-any-return]


def test_every_manifest_is_in_a_doc() -> None:
    listed = {name for names in DOC_MANIFESTS.values() for name in names}
    assert {p.stem for p in RESULTS.glob("*.yaml")} == listed


@pytest.mark.parametrize("page, name", [(page, name) for page, names in DOC_MANIFESTS.items()
                                        for name in names])
def test_doc_holds_the_records_tables(page: str, name: str) -> None:
    script = load_script("records_table")
    spec, rows = _rows(RESULTS / f"{name}.yaml")
    doc = (ROOT / "docs" / page).read_text(encoding="utf-8")
    command = f"python lab/scripts/records_table.py docs/results/{name}.yaml"
    assert command in doc, f"docs/{page} does not name `{command}`"
    stale = [line for line in [*script.table(spec, rows), *script.per_seed_table(spec, rows)]
             if line not in doc]
    assert not stale, f"docs/{page} lacks these lines of `{command}`: {stale[:3]}"


def _readme_tables() -> list[tuple[list[str], list[str]]]:
    """(manifests, table rows) of each README table marked ``<!-- records: A.yaml B.yaml -->``."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    tables = []
    for match in re.finditer(r"<!-- records: ([^>]+?) -->\n((?:\|.*\n)+)", readme):
        lines = match.group(2).splitlines()[2:]  # past the header and the rule
        tables.append((match.group(1).split(), lines))
    return tables


def test_readme_has_results_tables() -> None:
    tables = _readme_tables()
    assert len(tables) >= 3 and all(lines for _, lines in tables)


@pytest.mark.parametrize("manifests, lines", _readme_tables())
def test_readme_results_rows_are_the_records_means(manifests: list[str],
                                                   lines: list[str]) -> None:
    names = load_script("records_table").NAMES
    by_key = {}
    for manifest in manifests:
        spec, rows = _rows(ROOT / manifest)
        for row in rows:
            by_key.setdefault((names.get(row.model, row.model), row.label), (spec, row))
    for line in lines:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        assert len(cells) == 7, line  # backbone, row, seeds, N@10, H@10, paper N@10, paper H@10
        assert (cells[0], cells[1]) in by_key, f"no manifest row {cells[:2]} in {manifests}"
        spec, row = by_key[(cells[0], cells[1])]
        assert cells[2] == ", ".join(map(str, sorted(row.per_seed))), line
        for cell, metric in ((cells[3], "NDCG@10"), (cells[4], "HR@10")):
            mean = mean_std([m[metric] for m in row.per_seed.values()])[0]
            assert cell == f"{mean:.4f}", (line, metric)
        for cell, metric in ((cells[5], "NDCG@10"), (cells[6], "HR@10")):
            paper = paper_value(row.model, str(spec["dataset"]), row.paper, metric)
            assert cell == ("—" if paper is None else f"{paper:.4f}"), (line, metric)
