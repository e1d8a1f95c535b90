"""lab/plots.py: the paper's figures (training curves, Figures 3 and 4) from runs, report
CSVs and run records."""

from __future__ import annotations

from pathlib import Path

import pytest
from fake_runs import BASE, fake_experiment, fake_run
from script_loader import load_lab

from basrec.experiments.report import write_report


def main(argv: list[str]) -> int:
    return int(load_lab("plots").main(argv))


# -- plots ------------------------------------------------------------------------------------


def test_plots_are_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs = tmp_path / "runs"
    fake_run(runs / "base", "beauty", "sasrec", "none", 1, 0.1)
    fake_run(runs / "ours", "beauty", "sasrec", "basrec", 1, 0.2)
    fake_run(runs / "ours" / "stage1", "beauty", "sasrec", "none", 1, 0.1)
    for i, alpha in enumerate((0.2, 0.3, 0.4)):
        for ds in ("beauty", "sports"):
            fake_run(runs / f"a{i}{ds}", ds, "sasrec", "basrec", 1, 0.1 + alpha / 10,
                     options={"basrec.alpha": alpha})
    for a in (0.1, 0.2):
        for b in (0.6, 0.7):
            fake_run(runs / f"ab{a}{b}", "beauty", "sasrec", "basrec", 1, a + b,
                     options={"basrec.rate_min": a, "basrec.rate_max": b})
    out = tmp_path / "png"
    assert main([str(runs / "base"), str(runs / "ours"), "--out", str(out)]) == 0
    assert (out / "curves.png").stat().st_size > 1000
    alpha_dirs = [str(p) for p in sorted(runs.glob("a[0-9]*"))]
    assert main([*alpha_dirs, "--out", str(out), "--kind", "alpha"]) == 0
    assert (out / "alpha.png").stat().st_size > 1000
    ab_dirs = [str(p) for p in sorted(runs.glob("ab*"))]
    assert main([*ab_dirs, "--out", str(out), "--kind", "ab"]) == 0
    assert (out / "ab.png").stat().st_size > 1000
    assert (out / "ab.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main([str(runs / "base"), "--out", str(out), "--kind", "alpha"]) == 2
    assert main([str(tmp_path / "nope"), "--out", str(out)]) == 2


def test_alpha_plot_from_a_report_csv(tmp_path: Path) -> None:
    plot = load_lab("plots").plot

    index = fake_experiment(tmp_path / "runs", {
        "Base": ("none", BASE), "α=0.2": ("basrec", {1: 0.2}), "α=0.4": ("basrec", {1: 0.3})},
        options={"α=0.2": {"basrec.alpha": 0.2}, "α=0.4": {"basrec.alpha": 0.4}})
    write_report(index, tmp_path / "rep")
    made = plot([tmp_path / "rep" / "fake.csv"], tmp_path / "png")
    assert [p.name for p in made] == ["alpha.png"] and made[0].stat().st_size > 1000


def test_alpha_plot_from_run_records(tmp_path: Path) -> None:
    import json

    from basrec.errors import BasrecError
    lab = load_lab("plots")
    load_points, plot = lab.load_points, lab.plot

    paths = []
    for alpha, ndcg in ((0.2, 0.040), (0.4, 0.042)):
        path = tmp_path / f"rec_{alpha}.json"
        path.write_text(json.dumps({
            "config": {"dataset": "beauty", "model": "sasrec", "objective": "basrec",
                       "seed": 2024, "basrec": {"alpha": alpha}},
            "results": {"test": {"NDCG@10": ndcg, "HR@10": 0.07}}}))
        paths.append(path)
    points, _ = load_points(paths)
    assert [(p.option("basrec.alpha"), p.test["NDCG@10"]) for p in points] == [(0.2, 0.040),
                                                                              (0.4, 0.042)]
    assert [p.name for p in plot(paths, tmp_path / "png", kind="alpha")] == ["alpha.png"]
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(BasrecError, match="not a run record"):
        load_points([bad])
    bad.write_text("{\n  oops\n")
    with pytest.raises(BasrecError, match=r"bad.json:2: not a run record \(not JSON"):
        load_points([bad])


def test_curves_take_legend_names_in_order(tmp_path: Path) -> None:
    lab = load_lab("plots")
    runs = [tmp_path / "base", tmp_path / "ours"]
    fake_run(runs[0], "beauty", "sasrec", "none", 1, 0.1)
    fake_run(runs[1], "beauty", "sasrec", "basrec", 1, 0.2)
    assert lab.curve_names(runs) == ["Base (base)", "BASRec (ours)"]
    assert lab.curve_names(runs, ["plain", "with BASRec"]) == ["plain", "with BASRec"]
    out = tmp_path / "png"
    assert main([str(runs[0]), str(runs[1]), "--out", str(out), "--labels", "plain; ours"]) == 0
    assert (out / "curves.png").stat().st_size > 1000
    assert main([str(runs[0]), str(runs[1]), "--out", str(out), "--labels", "one"]) == 2
