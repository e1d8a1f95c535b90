"""``basrec report --history_mask``: a grid's finished runs scored again under another mask."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from basrec import inference
from basrec.cli import main
from basrec.experiments.report import write_report
from basrec.experiments.rescore import rescored_dir
from basrec.experiments.runner import run_experiment
from basrec.experiments.spec import parse_spec
from basrec.inference import evaluate_run
from basrec.stats import per_user_metric, per_user_ranks, wilcoxon

TINY = {"hidden_size": 8, "num_layers": 1, "num_heads": 1, "max_seq_length": 10,
        "batch_size": 32, "eval_batch_size": 64, "epochs": 2, "basrec.stage1_epochs": 2,
        "progress": False}


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.fixture
def finished_grid(tmp_path: Path) -> tuple[Path, dict[str, Path]]:
    """A Base and a BASRec run on data where every other user's test answer repeats their first
    item, so the history mask changes their ranks: the experiment folder and each run's
    folder by label."""
    rng = np.random.default_rng(3)
    lines = []
    for u in range(1, 61):
        start, length = int(rng.integers(1, 31)), int(rng.integers(5, 12))
        seq = [(start + k - 1) % 30 + 1 for k in range(length)]
        if u % 2:
            seq.append(seq[0])  # the answer is an input item
        lines.append(" ".join(map(str, [u, *seq])))
    data = tmp_path / "repeats.txt"
    data.write_text("\n".join(lines) + "\n")
    spec = parse_spec({"name": "tiny", "root": str(tmp_path / "runs"), "base": dict(TINY),
                       "grid": {"datasets": [str(data)], "models": ["sasrec"],
                                "objectives": ["none", "basrec"], "seeds": [1]}})
    done = run_experiment(spec)
    return spec.index_dir, {r.label: r.dir for r in done.plan.runs}


def test_rescored_report_is_computed_from_the_new_ranks(
        finished_grid: tuple[Path, dict[str, Path]]) -> None:
    index_dir, runs = finished_grid
    ((rep, md, _),) = write_report(index_dir, history_mask="zero")
    assert "Scored with `history_mask=zero`" in md
    for label, run in runs.items():
        kept = rescored_dir(run, "zero")
        test = json.loads((kept / "results.json").read_text())["test"]
        # the kept metrics are those of a fresh evaluation under the mask ...
        assert test == pytest.approx(evaluate_run(run, "test", "cpu", {"history_mask": "zero"}))
        # ... which differ from the run's own (exclude) for users whose answer is an input item
        own = json.loads((run / "results.json").read_text())["test"]
        assert test["MRR"] != pytest.approx(own["MRR"], abs=1e-12)
        row = rep.row(rep.datasets[0], "sasrec", label)
        assert row is not None and row.mean["NDCG@10"] == pytest.approx(test["NDCG@10"])
    # the Wilcoxon test over users pairs the rescored ranks
    per_user = {label: per_user_metric(per_user_ranks(rescored_dir(run, "zero")
                                                      / "per_user_test.npz")[1], "NDCG@10")
                for label, run in runs.items()}
    expected = wilcoxon(per_user["BASRec"], per_user["Base"])
    got = rep.row(rep.datasets[0], "sasrec", "BASRec").p_w["NDCG@10"]  # type: ignore[union-attr]
    assert expected is not None and got is not None
    assert got.pvalue == pytest.approx(expected.pvalue)
    # and the table differs from the plain one
    ((plain, _, _),) = write_report(index_dir)
    assert [r.mean for r in rep.rows] != [r.mean for r in plain.rows]


def test_a_second_report_reads_the_kept_ranking(finished_grid: tuple[Path, dict[str, Path]],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    index_dir, runs = finished_grid
    ((first, md1, _),) = write_report(index_dir, history_mask="zero")

    def no_evaluation(*args: object, **kwargs: object) -> None:
        raise AssertionError("evaluated again")

    monkeypatch.setattr(inference, "load_run", no_evaluation)
    ((again, md2, _),) = write_report(index_dir, history_mask="zero")
    assert md2 == md1
    # a checkpoint that changed since (the run trained again) is ranked again
    monkeypatch.undo()
    base = runs["Base"]
    kept = rescored_dir(base, "zero") / "results.json"
    before = kept.read_text()
    checkpoint = base / "checkpoint_best.pt"
    checkpoint.write_bytes(checkpoint.read_bytes() + b"\0")  # same weights, another file
    write_report(index_dir, history_mask="zero")
    assert kept.read_text() != before
    assert json.loads(kept.read_text())["test"] == json.loads(before)["test"]
    # a damaged copy is ranked again
    (rescored_dir(base, "zero") / "per_user_test.npz").unlink()
    write_report(index_dir, history_mask="zero")
    assert (rescored_dir(base, "zero") / "per_user_test.npz").is_file()
    # the runs' own mask reads their own files and writes nothing
    ((own, _, _),) = write_report(index_dir, history_mask="exclude")
    ((plain, _, _),) = write_report(index_dir)
    assert [r.mean for r in own.rows] == [r.mean for r in plain.rows]
    assert not any(rescored_dir(run, "exclude").exists() for run in runs.values())


def test_cli_rescoring_and_its_bad_input(finished_grid: tuple[Path, dict[str, Path]],
                                         tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    index_dir, runs = finished_grid
    assert main(["report", str(index_dir), "--history_mask", "zero"]) == 0
    assert "Scored with `history_mask=zero`" in capsys.readouterr().out
    assert main(["report", str(index_dir), "--history_mask", "maybe"]) == 2
    err = capsys.readouterr().err
    assert "maybe" in err and "Traceback" not in err
    assert main(["report", str(index_dir), "--data-dir", str(tmp_path)]) == 2
    assert "--data-dir" in capsys.readouterr().err
    # a run whose checkpoint is gone: one line naming it, nothing half-written
    base = runs["Base"]
    shutil.rmtree(base / "rescored")
    (base / "checkpoint_best.pt").unlink()
    out = tmp_path / "report"
    assert main(["report", str(index_dir), "--history_mask", "zero", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert str(base) in err and "checkpoint_best.pt" in err and len(err.strip().splitlines()) == 1
    assert not rescored_dir(base, "zero").exists() and not any(out.glob("*"))


def test_csv_names_the_mask_and_a_single_run_keeps_its_stage1(
        finished_grid: tuple[Path, dict[str, Path]], tmp_path: Path) -> None:
    index_dir, runs = finished_grid
    write_report(index_dir, tmp_path / "out", history_mask="zero")
    with open(tmp_path / "out" / "tiny.csv", encoding="utf-8") as fh:
        assert {row["history_mask"] for row in csv.DictReader(fh)} == {"zero"}
    with open(tmp_path / "out" / "tiny-runs.csv", encoding="utf-8") as fh:
        assert {row["history_mask"] for row in csv.DictReader(fh)} == {"zero"}
    # one BASRec run folder whose stage 1 is known only from its results.json
    alone = tmp_path / "alone"
    shutil.copytree(runs["BASRec"], alone)
    results = json.loads((alone / "results.json").read_text())
    results["stage1"]["run_dir"] = "gone"
    (alone / "results.json").write_text(json.dumps(results))
    ((own, _, _),) = write_report(alone, history_mask="exclude")
    ((plain, _, _),) = write_report(alone)
    assert [r.mean for r in own.rows] == [r.mean for r in plain.rows] and len(own.rows) == 2
    ((zero, md, _),) = write_report(alone, history_mask="zero")
    failed = [rec for g in zero.records for rec in g.records if rec.status == "failed"]
    assert [rec.run.label for rec in failed] == ["Base (stage 1)"]
    assert "no stage-1 folder" in failed[0].error and "1 failed" in md

