"""The measured tables in the docs say what the committed records say.

docs/reproduction.md pastes the output of ``scripts/records_table.py`` over the Table 2 manifest,
and the README's "Results on Beauty" table copies means from it; both are typed by hand, so a
record added or a row renamed without pasting the tables again fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from script_loader import load_script

from basrec.report import paper_value
from basrec.stats import mean_std

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "docs" / "results" / "table2_beauty.yaml"

#: README row → the manifest's (model, base row label, BASRec row label) it averages
README_ROWS = {
    "SASRec": ("sasrec", "Base", "BASRec"),
    "GRU4Rec": ("gru4rec", "Base, preset (from epoch 100, patience 50)",
                "BASRec from the preset base"),
    "NextItNet": ("nextitnet", "Base, preset (patience 50), second runs",
                  "BASRec from the second runs"),
    "FMLP-Rec": ("fmlprec", "Base", "BASRec"),
}


def _rows() -> tuple[dict, list]:
    return load_script("records_table").load_rows(MANIFEST)  # type: ignore[no-any-return]


def test_reproduction_md_holds_the_records_tables() -> None:
    script = load_script("records_table")
    spec, rows = _rows()
    doc = (ROOT / "docs" / "reproduction.md").read_text(encoding="utf-8")
    stale = [line for line in [*script.table(spec, rows), *script.per_seed_table(spec, rows)]
             if line not in doc]
    assert not stale, ("docs/reproduction.md lacks these lines of `python scripts/records_table.py "
                       f"docs/results/table2_beauty.yaml`: {stale[:3]}")


def _mean(row: object, metric: str) -> float:
    per_seed = row.per_seed  # type: ignore[attr-defined]
    return mean_std([m[metric] for m in per_seed.values()])[0]


@pytest.mark.parametrize("name", sorted(README_ROWS))
def test_readme_results_table_is_the_records_means(name: str) -> None:
    model, base_label, basrec_label = README_ROWS[name]
    _, rows = _rows()
    by_label = {(r.model, r.label): r for r in rows}
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    line = re.search(rf"^\| {re.escape(name)} \|.*$", readme, re.M)
    assert line, f"README's results table has no {name} row"
    pairs = re.findall(r"(\d\.\d{4}) / (\d\.\d{4})", line.group(0))
    assert len(pairs) == 4, line.group(0)  # ours alone, paper, ours + BASRec, paper
    for (n10, h10), label in ((pairs[0], base_label), (pairs[2], basrec_label)):
        row = by_label[(model, label)]
        assert float(n10) == round(_mean(row, "NDCG@10"), 4), (name, label)
        assert float(h10) == round(_mean(row, "HR@10"), 4), (name, label)
    for (n10, h10), paper_row in ((pairs[1], "Base"), (pairs[3], "BASRec")):
        assert float(n10) == paper_value(model, "beauty", paper_row, "NDCG@10"), (name, paper_row)
        assert float(h10) == paper_value(model, "beauty", paper_row, "HR@10"), (name, paper_row)
