"""lab/similarity.py: the paper's Table 6 (cosine similarity of augmented samples to their
originals), from a checkpoint and from the training log."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from script_loader import load_lab

from basrec import config


def main(argv: list[str]) -> int:
    return int(load_lab("similarity").main(argv))


# -- Table 6: similarity ----------------------------------------------------------------------


def test_similarity_analysis(tiny_data: Path, tmp_path: Path,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    from basrec.data.batches import TrainLoader
    from basrec.data.io import read_sequences
    from basrec.data.split import LeaveOneOut
    from basrec.objectives.base import ObjectiveContext, StepRandom, build_objective
    from basrec.train import make_model

    lab = load_lab("similarity")
    augmentation_similarity, view_similarity = lab.augmentation_similarity, lab.view_similarity
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
    assert main([str(tmp_path / "plain"), "--batches", "1",
                 "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["batches"] == 1 and "BASRec" in result["similarity"]
    assert all(-1 <= v <= 1 for v in result["similarity"].values())
    assert main([str(tmp_path / "plain"), "--batches", "0"]) == 2
    assert main([str(tmp_path / "plain"), "--batches", "1",
                 "--positions", "all", "--train-mode", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert "padding included" in result["representation"] and "dropout on" in result[
        "representation"]
    assert main([str(tmp_path / "plain"), "--positions", "first"]) == 2


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
    assert main([str(tmp_path / "basrec"), "--over-training",
                 "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["epochs"] == 2
    for key, row in (("sim_single", "BASRec-I"), ("sim_cross", "BASRec-O"),
                     ("sim_both", "BASRec")):
        assert result["similarity"][row] == pytest.approx(np.mean([e[key] for e in epochs]))
    run(config.load([], {**tiny, "objective": "cl4srec", "epochs": 1}), tmp_path / "cl",
        quiet=True)
    assert main([str(tmp_path / "cl"), "--over-training"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("CL4SRec"))
    assert -1 <= float(row.split()[1]) <= 1  # tiny data: no paper column beside it
    # a plain run logged nothing: a one-line error, exit 2
    assert main([str(tmp_path / "basrec" / "stage1"),
                 "--over-training"]) == 2
    assert "no similarity logged" in capsys.readouterr().err


def test_a_broken_training_log_is_a_one_line_error(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from basrec.runio import read_metrics

    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("objective: basrec\n")
    (run / "metrics.jsonl").write_text('{"epoch": 0, "sim_single": 0.5}\n{"epoch": 1, \n')
    assert main([str(run), "--over-training"]) == 2
    assert "metrics.jsonl:2: not JSON" in capsys.readouterr().err
    assert read_metrics(tmp_path / "missing") == []
    assert (run / "metrics.jsonl").read_text().startswith('{"epoch": 0')  # nothing rewritten
