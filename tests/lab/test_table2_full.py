"""lab/scripts/table2_full.py: the paper's whole Table 2 from records, "not measured" elsewhere."""

from __future__ import annotations

import json
from pathlib import Path

from script_loader import load_script

ROOT = Path(__file__).resolve().parents[2]


def write_record(folder: Path, name: str, seed: int, ndcg10: float) -> None:
    test = {"NDCG@10": ndcg10, "HR@10": 2 * ndcg10, "NDCG@20": 1.5 * ndcg10,
            "HR@20": 3 * ndcg10}
    (folder / name).write_text(json.dumps({"config": {"seed": seed},
                                           "results": {"test": test}}))


def write_manifest(folder: Path, dataset: str, rows: list[str]) -> None:
    """``table2_<dataset>.yaml`` with these rows (YAML flow mappings)."""
    (folder / f"table2_{dataset}.yaml").write_text(
        f"dataset: {dataset}\nrows:\n" + "".join(f"  - {row}\n" for row in rows))


def cells_of(lines: list[str], dataset: str, metric: str) -> list[str]:
    return next(line for line in lines if line.startswith(f"| {dataset} | {metric} |")).split(" | ")


def test_cells_are_means_beside_the_paper_and_the_rest_is_not_measured(tmp_path: Path) -> None:
    write_record(tmp_path, "a.json", 2024, 0.0200)
    write_record(tmp_path, "b.json", 2025, 0.0300)
    write_manifest(tmp_path, "sports", [
        "{model: sasrec, label: Base, records: [a.json, b.json]}",
        "{model: sasrec, label: 'Base, other recipe', paper: Base, records: [a.json]}"])
    lines = load_script("table2_full").full_table(tmp_path)
    sasrec_base = lines[0].split(" | ").index("SASRec Base")
    cells = cells_of(lines, "Sports", "NDCG@10")
    # the first row compared with the paper's Base: mean 0.025 against the paper's 0.0174
    assert cells[sasrec_base] == "0.0250 (0.0174, +43.7 %)"
    assert cells[sasrec_base + 1] == "not measured (0.0242)"  # SASRec BASRec
    assert "not measured (0.0935)" in cells_of(lines, "Beauty", "HR@20")[sasrec_base]
    assert "- Sports: SASRec Base: 2024, 2025" in lines
    assert "- Yelp: no manifest (table2_yelp.yaml)" in lines
    assert len([line for line in lines if line.startswith("| ") and "---" not in line]) == 17


def test_a_row_marked_table2_is_chosen_over_the_first_row(tmp_path: Path) -> None:
    write_record(tmp_path, "a.json", 2024, 0.0200)
    write_record(tmp_path, "b.json", 2024, 0.0300)
    write_manifest(tmp_path, "home", [
        "{model: gru4rec, label: 'Base, short rule', paper: Base, records: [a.json]}",
        "{model: gru4rec, label: Preset, paper: Base, table2: true, records: [b.json]}"])
    lines = load_script("table2_full").full_table(tmp_path)
    column = lines[0].split(" | ").index("GRU4Rec Base")
    assert cells_of(lines, "Home", "NDCG@10")[column] == "0.0300 (0.0032, +837.5 %)"


def test_docs_hold_the_current_full_table() -> None:
    lines = load_script("table2_full").full_table(ROOT / "docs" / "results")
    doc = (ROOT / "docs" / "reproduction.md").read_text(encoding="utf-8")
    assert "python lab/scripts/table2_full.py" in doc
    stale = [line for line in lines if line.strip() and line not in doc]
    assert not stale, f"docs/reproduction.md lacks: {stale[:2]}"


def test_two_marked_rows_or_a_non_boolean_mark_are_refused(tmp_path: Path) -> None:
    import pytest

    write_record(tmp_path, "a.json", 2024, 0.0200)
    write_manifest(tmp_path, "home", [
        "{model: gru4rec, label: A, paper: Base, table2: true, records: [a.json]}",
        "{model: gru4rec, label: B, paper: Base, table2: true, records: [a.json]}"])
    with pytest.raises(SystemExit, match="two rows marked table2 for gru4rec Base"):
        load_script("table2_full").full_table(tmp_path)
    write_manifest(tmp_path, "home", [
        "{model: gru4rec, label: A, paper: Base, table2: 'false', records: [a.json]}"])
    with pytest.raises(SystemExit, match="table2 must be true or false"):
        load_script("table2_full").full_table(tmp_path)
