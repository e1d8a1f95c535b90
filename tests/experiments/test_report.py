"""Statistics and report tables (flat and paper layouts)."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fake_runs import BASE, OURS, fake_experiment
from scipy import stats as sp

from basrec.cli import main
from basrec.experiments.report import PAPER, paper_value, write_report
from basrec.metrics import metrics_from_ranks
from basrec.stats import (
    improvement,
    mean_std,
    paired_ttest,
    per_user_metric,
    per_user_ranks,
    wilcoxon,
)

# -- statistics ------------------------------------------------------------------------------


def test_mean_std_is_the_sample_std() -> None:
    mean, std = mean_std([0.1, 0.2, 0.3, 0.5])
    assert mean == pytest.approx(0.275)
    # by hand: deviations −.175, −.075, .025, .225 → Σ² = .0875 → /3 → sqrt
    assert std == pytest.approx(math.sqrt(0.0875 / 3))
    assert std == pytest.approx(np.std([0.1, 0.2, 0.3, 0.5], ddof=1))
    m1, s1 = mean_std([0.4])
    assert m1 == 0.4 and math.isnan(s1)
    assert all(math.isnan(x) for x in mean_std([]))


def test_paired_ttest_against_scipy_and_by_hand() -> None:
    a, b = [1.0, 2.0, 3.0, 4.0], [0.0, 1.0, 1.0, 2.0]
    res = paired_ttest(a, b)
    assert res is not None
    # by hand: d = 1, 1, 2, 2; mean 1.5; sd = sqrt(1/3); t = 1.5 / (sd / 2) = 3·sqrt(3)
    assert res.statistic == pytest.approx(3 * math.sqrt(3))
    ref = sp.ttest_rel(a, b)
    assert res.pvalue == pytest.approx(ref.pvalue) and res.n == 4
    assert res.pvalue == pytest.approx(2 * sp.t.sf(3 * math.sqrt(3), 3))
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=7), rng.normal(size=7)
    assert paired_ttest(x, y).pvalue == pytest.approx(sp.ttest_rel(x, y).pvalue)  # type: ignore[union-attr]
    assert paired_ttest([1.0], [0.0]) is None  # one seed: n/a
    assert paired_ttest([1.0, 2.0], [0.0, 1.0]) is None  # constant differences: t undefined
    with pytest.raises(ValueError):
        paired_ttest([1.0, 2.0], [1.0])


def test_wilcoxon_against_scipy_and_by_hand() -> None:
    a, b = [1.0, 2.0, 0.0, 4.0, 5.0], [0.0, 0.0, 3.0, 0.0, 0.0]
    res = wilcoxon(a, b)
    assert res is not None
    # differences 1, 2, −3, 4, 5: W− = 3; exact: 5 of 32 sign patterns have W− ≤ 3 → p = 10/32
    assert res.statistic == 3.0 and res.pvalue == pytest.approx(10 / 32)
    rng = np.random.default_rng(1)
    x, y = rng.random(200), rng.random(200)
    ref = sp.wilcoxon(x, y)
    assert wilcoxon(x, y).pvalue == pytest.approx(ref.pvalue)  # type: ignore[union-attr]
    assert wilcoxon([1.0, 2.0], [1.0, 2.0]) is None
    assert wilcoxon([], []) is None


def test_improvement_and_per_user_metrics() -> None:
    assert improvement(0.0455, 0.0338) == pytest.approx(34.615, abs=1e-3)  # Table 2's 34.62 %
    assert math.isnan(improvement(1.0, 0.0))
    ranks = np.array([0, 3, 9, 10, 19, 25])
    ref = metrics_from_ranks(ranks, (10, 20))
    for m in ("HR@10", "NDCG@10", "HR@20", "NDCG@20", "MRR"):
        assert per_user_metric(ranks, m).mean() == pytest.approx(ref[m])


def test_per_user_ranks_are_sorted_by_user_and_paired(tmp_path: Path) -> None:
    np.savez(tmp_path / "a.npz", users=np.array([2, 0, 1]), ranks=np.array([20, 0, 10]))
    users, ranks = per_user_ranks(tmp_path / "a.npz")
    assert users.tolist() == [0, 1, 2] and ranks.tolist() == [0, 10, 20]
    np.savez(tmp_path / "b.npz", users=np.array([0, 1]), ranks=np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="one rank per user"):
        per_user_ranks(tmp_path / "b.npz")


def test_paper_numbers() -> None:
    assert paper_value("sasrec", "beauty", "Base", "NDCG@10") == 0.0338
    assert paper_value("sasrec", "Beauty.txt", "BASRec", "HR@20") == 0.1145
    assert paper_value("sasrec", "home", "CL4SRec", "HR@10") == 0.0212
    assert paper_value("sasrec", "yelp", "w/o ALW", "NDCG@10") == 0.0146
    assert paper_value("sasrec", "yelp", "w/o NL", "NDCG@10") is None  # empty in the paper
    assert paper_value("gru4rec", "beauty", "Ran", "NDCG@10") is None  # garbled Table 3
    assert len([k for k in PAPER if k[2] == "BASRec"]) == 16


# -- reports on synthetic run folders ----------------------------------------------------------


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))

def test_report_mean_std_improvement_and_tests(tmp_path: Path) -> None:
    index = fake_experiment(tmp_path / "runs", {"Base": ("none", BASE),
                                                "BASRec": ("basrec", OURS)})
    ((rep, md, files),) = write_report(index, tmp_path / "out")
    assert {f.name for f in files} == {"fake.md", "fake.csv", "fake-runs.csv"}
    rows = {r["label"]: r for r in read_csv(tmp_path / "out" / "fake.csv")}
    ours = rows["BASRec"]
    assert float(ours["NDCG@10_mean"]) == pytest.approx(1 / 3, rel=1e-5)
    assert float(ours["NDCG@10_std"]) == pytest.approx(np.std([0.2, 0.3, 0.5], ddof=1),
                                                       rel=1e-5)
    assert float(ours["NDCG@10_impr_pct"]) == pytest.approx((1 / 3 - 0.2) / 0.2 * 100,
                                                            rel=1e-5)
    assert float(ours["NDCG@10_p_ttest"]) == pytest.approx(
        sp.ttest_rel([0.2, 0.3, 0.5], [0.1, 0.2, 0.3]).pvalue, rel=1e-5)
    # Wilcoxon over users on per-user NDCG@10 averaged over the three seeds
    per = {lab: [per_user_metric(np.load(tmp_path / "runs" / "beauty" / "sasrec" /
                                         f"{lab}-{s}" / "per_user_test.npz")["ranks"],
                                 "NDCG@10") for s in (1, 2, 3)] for lab in ("Base", "BASRec")}
    ref = sp.wilcoxon(np.mean(per["BASRec"], 0), np.mean(per["Base"], 0))
    assert float(ours["NDCG@10_p_wilcoxon"]) == pytest.approx(ref.pvalue, rel=1e-4)
    assert rows["Base"]["NDCG@10_impr_pct"] == "" and rows["Base"]["NDCG@10_p_ttest"] == ""
    assert "0.3333 ± 0.1528 (+66.67%)" in md and "0.2000 ± 0.1000" in md
    assert "3/3" in md and "sample std (ddof=1)" in md
    runs = read_csv(tmp_path / "out" / "fake-runs.csv")
    assert len(runs) == 6 and all(r["status"] == "finished" for r in runs)


def test_unmeasured_cells_say_so_and_paper_layouts(tmp_path: Path) -> None:
    index = fake_experiment(
        tmp_path / "runs",
        {"Base": ("none", BASE), "w/o SA": ("basrec", {1: 0.15}), "BASRec": ("basrec", None)},
        table="table5")
    ((rep, md, _),) = write_report(index, paper=True)
    assert "Table 5: BASRec ablations" in md
    assert "0 of 3" not in md and "4 of 9 runs finished" in md and "5 not run yet" in md
    assert "| w/o NL |" in md  # the layout's rows are all there, unmeasured ones as —
    line = next(x for x in md.splitlines() if x.startswith("| w/o NL |"))
    assert set(c.strip() for c in line.split("|")[2:-1]) == {"— / n.r."}
    line = next(x for x in md.splitlines() if x.startswith("| BASRec |"))
    assert "— / 0.0455" in line  # not measured: the paper's value alone, nothing invented
    line = next(x for x in md.splitlines() if x.startswith("| w/o SA |"))
    assert "0.1500 / 0.0415" in line  # one seed: no ± ; paper beside
    rows = {r["label"]: r for r in csv.DictReader(io_csv(rep))}
    assert rows["BASRec"]["NDCG@10_mean"] == "" and rows["w/o SA"]["n_seeds"] == "1"
    assert rows["w/o SA"]["NDCG@10_p_ttest"] == ""  # one seed: n/a
    # Table 2 layout by override
    ((_, md2, _),) = write_report(index, layout="table2", paper=True)
    assert "Table 2" in md2 and "**Beauty**" in md2 and "**Home**" in md2
    assert "+34.62%" in md2  # the paper's own improvement, SASRec Beauty N@10


def io_csv(rep: Any) -> Any:
    import io

    from basrec.experiments.report import csv_rows, to_csv

    return io.StringIO(to_csv(csv_rows(rep, paper=True)))


def test_report_cli_writes_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fake_experiment(tmp_path / "runs", {"Base": ("none", BASE), "BASRec": ("basrec", OURS)},
                    table="table2")
    assert main(["report", str(tmp_path / "runs"), "--out", str(tmp_path / "o"),
                 "--paper"]) == 0
    assert (tmp_path / "o" / "fake.md").read_text().count("w/ BASRec") == 16  # 4 × 4
    assert main(["report", str(tmp_path / "runs")]) == 0
    assert "# fake" in capsys.readouterr().out
    assert main(["report", str(tmp_path / "runs"), "--layout", "table7"]) == 2


