"""lab/scripts/records_table.py: tables over seeds from committed run records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from scipy import stats
from script_loader import load_script


def write_record(folder: Path, name: str, seed: int, n10: float, h10: float,
                 stage1: tuple[float, float] | None = None) -> None:
    results: dict = {"test": {"NDCG@10": n10, "HR@10": h10}}
    if stage1 is not None:
        results["stage1"] = {"test": {"NDCG@10": stage1[0], "HR@10": stage1[1]}}
    (folder / name).write_text(json.dumps({"config": {"seed": seed}, "results": results}))


def test_means_gains_and_paired_test_from_records(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    write_record(tmp_path, "b1.json", 1, 0.040, 0.080, stage1=(0.030, 0.060))
    write_record(tmp_path, "base2.json", 2, 0.034, 0.064)
    write_record(tmp_path, "b2.json", 2, 0.046, 0.082)
    write_record(tmp_path, "base3.json", 3, 0.032, 0.070)
    (tmp_path / "t.yaml").write_text(yaml.safe_dump({
        "dataset": "beauty", "metrics": ["NDCG@10", "HR@10"],
        "rows": [{"model": "sasrec", "label": "Base",
                  "records": ["b1.json:stage1", "base2.json", "base3.json"]},
                 {"model": "sasrec", "label": "BASRec", "base": "Base",
                  "records": ["b1.json", "b2.json"]},
                 {"model": "sasrec", "label": "Base, longer", "paper": "Base",
                  "records": ["base2.json"]}]}))
    assert load_script("records_table").main([str(tmp_path / "t.yaml")]) == 0
    lines = capsys.readouterr().out.splitlines()
    base = next(line for line in lines if "| Base | 1, 2, 3 |" in line)
    # mean of 0.030, 0.034, 0.032 = 0.032, sample std 0.002; paper SASRec/Beauty N@10 0.0338
    assert "0.0320 ± 0.0020" in base and "0.0338 (-5.3 %)" in base
    variant = next(line for line in lines if "| BASRec | 1, 2 |" in line)
    assert "0.0430 ± 0.0042" in variant  # 0.040, 0.046
    # the gain and the paired test use only the seeds both rows have (1 and 2)
    p = stats.ttest_rel([0.040, 0.046], [0.030, 0.034]).pvalue
    assert f"+34.4 % (2 seeds, p = {p:.3g})" in variant
    longer = next(line for line in lines if "| Base, longer | 2 |" in line)
    assert "0.0338 (+0.6 %)" in longer  # compared with the paper row it names: 0.034 vs 0.0338
    per_seed = next(line for line in lines if line.startswith("| SASRec | BASRec | 0.0400"))
    assert per_seed.endswith("| — | — |")  # no seed-3 record


def test_two_records_of_one_seed_are_refused(tmp_path: Path) -> None:
    write_record(tmp_path, "a.json", 1, 0.04, 0.08)
    write_record(tmp_path, "b.json", 1, 0.05, 0.09)
    (tmp_path / "t.yaml").write_text(yaml.safe_dump({
        "dataset": "beauty",
        "rows": [{"model": "sasrec", "label": "Base", "records": ["a.json", "b.json"]}]}))
    with pytest.raises(SystemExit, match="two records for seed 1"):
        load_script("records_table").main([str(tmp_path / "t.yaml")])


def test_committed_table2_manifest_reads() -> None:
    manifest = Path(__file__).resolve().parents[2] / "docs" / "results" / "table2_beauty.yaml"
    _, rows = load_script("records_table").load_rows(manifest)
    assert {(r.model, r.label) for r in rows} >= {("sasrec", "Base"), ("sasrec", "BASRec")}
    assert all(0 < v["NDCG@10"] < v["HR@10"] < 1 for r in rows for v in r.per_seed.values())


def test_a_file_that_is_not_a_record_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text(json.dumps({"results": {"test": {}}}))
    (tmp_path / "t.yaml").write_text(yaml.safe_dump({
        "dataset": "beauty", "rows": [{"model": "sasrec", "label": "Base",
                                       "records": ["x.json"]}]}))
    with pytest.raises(SystemExit, match=r"x.json: not a run record \(KeyError"):
        load_script("records_table").main([str(tmp_path / "t.yaml")])


@pytest.mark.parametrize("text, message", [
    ("rows: [\n", "unreadable manifest"),
    ("rows: []\n", "needs 'dataset' and 'rows'"),
    ("dataset: beauty\nrows:\n  - {label: Base, records: []}\n", "row 1 needs 'model'"),
])
def test_a_bad_manifest_is_a_one_line_error(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "t.yaml").write_text(text)
    with pytest.raises(SystemExit, match=message):
        load_script("records_table").main([str(tmp_path / "t.yaml")])


def test_update_replaces_the_two_tables_under_the_command(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    write_record(tmp_path, "a.json", 2024, 0.030, 0.060)
    manifest = tmp_path / "m.yaml"
    manifest.write_text(yaml.safe_dump({"dataset": "sports", "metrics": ["NDCG@10", "HR@10"],
                                        "rows": [
        {"model": "sasrec", "label": "Base", "records": ["a.json"]}]}))
    command = f"python lab/scripts/records_table.py {manifest.as_posix()}"
    doc = tmp_path / "doc.md"
    stale = ["| backbone | row | seeds | old |", "|---|", "| SASRec | Base | 1 | 0.1 |"]
    per_seed = ["| backbone | row | 1 NDCG@10 |", "|---|", "| SASRec | Base | 0.1 |"]
    doc.write_text("\n".join(["# t", "```bash", command, "```", "", *stale, "", *per_seed,
                              "", "text after", ""]))
    script = load_script("records_table")
    assert script.main([str(manifest), "--update", str(doc)]) == 0
    capsys.readouterr()
    script.main([str(manifest)])
    printed = capsys.readouterr().out.rstrip("\n").split("\n")
    lines = doc.read_text().split("\n")
    assert lines[5:5 + len(printed)] == printed  # both tables, the blank line between kept
    assert lines[-2:] == ["text after", ""] and "0.1 |" not in doc.read_text()
    assert script.main([str(manifest), "--update", str(tmp_path / "missing.md")]) == 2
    assert "missing.md: no such file" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="no line names"):
        script.update_doc(doc, "python lab/scripts/records_table.py other.yaml", [printed])
