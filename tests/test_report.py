"""Statistics, report tables (flat and paper layouts), plots and the similarity analysis."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from scipy import stats as sp

from basrec import config
from basrec.cli import main
from basrec.experiments.report import PAPER, paper_value, write_report
from basrec.metrics import metrics_from_ranks
from basrec.stats import (
    improvement,
    mean_std,
    paired_ttest,
    per_user_metric,
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

BASE = {1: 0.10, 2: 0.20, 3: 0.30}
OURS = {1: 0.20, 2: 0.30, 3: 0.50}


def fake_run(folder: Path, dataset: str, model: str, objective: str, seed: int,
             ndcg10: float | None, ranks: np.ndarray | None = None,
             options: dict[str, Any] | None = None, history: int = 3) -> None:
    folder.mkdir(parents=True)
    cfg = {"dataset": dataset, "model": model, "objective": objective, "seed": seed,
           "metric": "NDCG@20"}
    if objective == "basrec":
        cfg["basrec"] = {"alpha": 0.3, "rate_min": 0.2, "rate_max": 0.5,
                         **{k.split(".", 1)[1]: v for k, v in (options or {}).items()}}
    (folder / "config.yaml").write_text(json.dumps(cfg))
    rows = [{"epoch": e, "loss": 1.0 / (e + 1), "valid": {"NDCG@20": 0.1 + 0.01 * e}}
            for e in range(history)]
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    if ndcg10 is None:
        return
    test = {"NDCG@10": ndcg10, "HR@10": 2 * ndcg10, "NDCG@20": ndcg10 + 0.01,
            "HR@20": 2 * ndcg10 + 0.02}
    (folder / "results.json").write_text(json.dumps({"test": test, "valid": test}))
    if ranks is not None:
        np.savez(folder / "per_user_test.npz", users=np.arange(ranks.size), ranks=ranks,
                 labels=np.arange(ranks.size))


def fake_experiment(root: Path, labels: dict[str, tuple[str, dict[int, float] | None]],
                    table: str | None = None, dataset: str = "beauty",
                    model: str = "sasrec", options: dict[str, dict[str, Any]] | None = None
                    ) -> Path:
    """An index with runs per label: label → (objective, {seed: NDCG@10} or None = not run)."""
    rng = np.random.default_rng(0)
    runs = []
    base_ids: dict[int, str] = {}
    for label, (objective, per_seed) in labels.items():
        for seed in (1, 2, 3):
            rid = f"{label}-{seed}".replace(" ", "_").replace("/", "_")
            rel = f"{dataset}/{model}/{rid}"
            value = per_seed.get(seed) if per_seed is not None else None
            shift = 0 if objective == "none" else -3
            ranks = np.clip(rng.integers(0, 30, 50) + shift, 0, None)
            opts = (options or {}).get(label, {})
            fake_run(root / rel, dataset, model, objective, seed, value, ranks, opts)
            if objective == "none":
                base_ids[seed] = rid
            runs.append({"id": rid, "label": label, "objective": objective,
                         "dataset": dataset, "model": model, "seed": seed, "cell": seed,
                         "dir": rel, "stage1": base_ids.get(seed) if objective != "none"
                         else None, "available": True, "note": "", "options": opts})
    index = root / "experiments" / "fake"
    index.mkdir(parents=True)
    (index / "experiment.json").write_text(json.dumps({
        "name": "fake", "table": table, "datasets": [dataset], "models": [model],
        "runs": runs}))
    return index


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
    assert main(["plot", str(runs / "base"), str(runs / "ours"), "--out", str(out)]) == 0
    assert (out / "curves.png").stat().st_size > 1000
    alpha_dirs = [str(p) for p in sorted(runs.glob("a[0-9]*"))]
    assert main(["plot", *alpha_dirs, "--out", str(out), "--kind", "alpha"]) == 0
    assert (out / "alpha.png").stat().st_size > 1000
    ab_dirs = [str(p) for p in sorted(runs.glob("ab*"))]
    assert main(["plot", *ab_dirs, "--out", str(out), "--kind", "ab"]) == 0
    assert (out / "ab.png").stat().st_size > 1000
    assert (out / "ab.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["plot", str(runs / "base"), "--out", str(out), "--kind", "alpha"]) == 2
    assert main(["plot", str(tmp_path / "nope"), "--out", str(out)]) == 2


def test_alpha_plot_from_a_report_csv(tmp_path: Path) -> None:
    from basrec.plot import plot

    index = fake_experiment(tmp_path / "runs", {
        "Base": ("none", BASE), "α=0.2": ("basrec", {1: 0.2}), "α=0.4": ("basrec", {1: 0.3})},
        options={"α=0.2": {"basrec.alpha": 0.2}, "α=0.4": {"basrec.alpha": 0.4}})
    write_report(index, tmp_path / "rep")
    made = plot([tmp_path / "rep" / "fake.csv"], tmp_path / "png")
    assert [p.name for p in made] == ["alpha.png"] and made[0].stat().st_size > 1000


def test_alpha_plot_from_run_records(tmp_path: Path) -> None:
    import json

    from basrec.errors import BasrecError
    from basrec.plot import load_points, plot

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


# -- Table 6: similarity ----------------------------------------------------------------------


def test_similarity_analysis(tiny_data: Path, tmp_path: Path,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    from basrec.data.batches import TrainLoader
    from basrec.data.io import read_sequences
    from basrec.data.split import LeaveOneOut
    from basrec.objectives.base import ObjectiveContext, StepRandom, build_objective
    from basrec.similarity_analysis import augmentation_similarity, view_similarity
    from basrec.train import make_model

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    cfg = config.load([], {"dataset": str(tiny_data), "objective": "basrec", "hidden_size": 8,
                           "num_layers": 1, "num_heads": 1, "max_seq_length": 10,
                           "basrec.n_pairs": 2, "basrec.n_whole_level": 2})
    data = LeaveOneOut(read_sequences(tiny_data)[0])
    model = make_model(cfg, data.n_items, torch.device("cpu"))
    obj = build_objective("basrec", cfg.objective_options,
                          ObjectiveContext(cfg, data, torch.device("cpu")))
    batch = next(iter(TrainLoader(data, data.train_samples("all"), 10, 32, 0).epoch(0)))
    model.train()
    sims = augmentation_similarity(model, batch, obj, StepRandom.create(0, 0, "cpu"))  # type: ignore[arg-type]
    assert model.training  # the mode is restored
    assert set(sims) == {"BASRec-I", "BASRec-O", "BASRec", "views", "crop", "mask", "reorder"}
    assert all(-1.0 <= v <= 1.0 for v in sims.values())
    lo, hi = sorted((sims["BASRec-I"], sims["BASRec-O"]))
    assert lo - 1e-9 <= sims["BASRec"] <= hi + 1e-9  # the pooled mean lies between
    same = view_similarity(model, batch.inputs, lambda x: x.clone())
    assert torch.allclose(same, torch.ones_like(same), atol=1e-5)
    # every position of the window: per (row, column); an identity view is 1 everywhere in
    # eval mode, below 1 with dropout on (two different masks)
    every = view_similarity(model, batch.inputs, lambda x: x.clone(), positions="all")
    assert every.shape == batch.inputs.shape
    assert torch.allclose(every, torch.ones_like(every), atol=1e-5)
    noisy = view_similarity(model, batch.inputs, lambda x: x.clone(), positions="all",
                            train_mode=True)
    assert float(noisy.mean()) < 0.999
    sims_all = augmentation_similarity(model, batch, obj, StepRandom.create(0, 0, "cpu"),  # type: ignore[arg-type]
                                       positions="all")
    assert set(sims_all) == set(sims) and all(-1.0 <= v <= 1.0 for v in sims_all.values())
    with pytest.raises(ValueError, match="positions"):
        augmentation_similarity(model, batch, obj, StepRandom.create(0, 0, "cpu"),  # type: ignore[arg-type]
                                positions="first")
    # a BASRec without either branch yields only the generic views
    cfg2 = config.load([], {"dataset": str(tiny_data), "objective": "basrec",
                            "hidden_size": 8, "num_layers": 1, "num_heads": 1,
                            "max_seq_length": 10, "basrec.single": False,
                            "basrec.cross": False})
    obj2 = build_objective("basrec", cfg2.objective_options,
                           ObjectiveContext(cfg2, data, torch.device("cpu")))
    assert set(augmentation_similarity(model, batch.inputs, obj2,  # type: ignore[arg-type]
                                       StepRandom.create(0, 0, "cpu"))) == {"crop", "mask",
                                                                            "reorder"}


def test_analyze_similarity_cli(tiny_data: Path, tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    from basrec.train import run

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    cfg = config.load([], {"dataset": str(tiny_data), "hidden_size": 8, "num_layers": 1,
                           "num_heads": 1, "max_seq_length": 10, "epochs": 1,
                           "progress": False})
    run(cfg, tmp_path / "plain", quiet=True)
    assert main(["analyze-similarity", str(tmp_path / "plain"), "--batches", "1",
                 "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["batches"] == 1 and "BASRec" in result["similarity"]
    assert all(-1 <= v <= 1 for v in result["similarity"].values())
    assert main(["analyze-similarity", str(tmp_path / "plain"), "--batches", "0"]) == 2
    assert main(["analyze-similarity", str(tmp_path / "plain"), "--batches", "1",
                 "--positions", "all", "--train-mode", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert "padding included" in result["representation"] and "dropout on" in result[
        "representation"]
    assert main(["analyze-similarity", str(tmp_path / "plain"), "--positions", "first"]) == 2


def test_similarity_over_training_from_the_log(tiny_data: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """Objectives log sim_* every step; the trainer averages them per epoch and
    ``--over-training`` averages the epochs (the paper's Table 6 procedure)."""
    from basrec.train import run

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    tiny = {"dataset": str(tiny_data), "hidden_size": 8, "num_layers": 1, "num_heads": 1,
            "max_seq_length": 10, "epochs": 2, "progress": False}
    run(config.load([], {**tiny, "objective": "basrec", "basrec.stage1_epochs": 1}),
        tmp_path / "basrec", quiet=True)
    epochs = [json.loads(line) for line in
              (tmp_path / "basrec" / "metrics.jsonl").read_text().splitlines()]
    assert all({"sim_single", "sim_cross", "sim_both"} <= set(e) for e in epochs)
    stage1 = (tmp_path / "basrec" / "stage1" / "metrics.jsonl").read_text()
    assert "sim_" not in stage1  # the plain stage generates no samples
    assert main(["analyze-similarity", str(tmp_path / "basrec"), "--over-training",
                 "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["epochs"] == 2
    for key, row in (("sim_single", "BASRec-I"), ("sim_cross", "BASRec-O"),
                     ("sim_both", "BASRec")):
        assert result["similarity"][row] == pytest.approx(np.mean([e[key] for e in epochs]))
    run(config.load([], {**tiny, "objective": "cl4srec", "epochs": 1}), tmp_path / "cl",
        quiet=True)
    assert main(["analyze-similarity", str(tmp_path / "cl"), "--over-training"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("CL4SRec"))
    assert -1 <= float(row.split()[1]) <= 1  # tiny data: no paper column beside it
    # a plain run logged nothing: a one-line error, exit 2
    assert main(["analyze-similarity", str(tmp_path / "basrec" / "stage1"),
                 "--over-training"]) == 2
    assert "no similarity logged" in capsys.readouterr().err


def test_a_broken_training_log_is_a_one_line_error(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from basrec.runio import read_metrics

    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("objective: basrec\n")
    (run / "metrics.jsonl").write_text('{"epoch": 0, "sim_single": 0.5}\n{"epoch": 1, \n')
    assert main(["analyze-similarity", str(run), "--over-training"]) == 2
    assert "metrics.jsonl:2: not JSON" in capsys.readouterr().err
    assert read_metrics(tmp_path / "missing") == []
    assert (run / "metrics.jsonl").read_text().startswith('{"epoch": 0')  # nothing rewritten
