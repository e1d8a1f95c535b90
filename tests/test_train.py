"""The trainer (train.py, docs/decisions.md): determinism, exact resume after a kill, run-dir
files, finished runs reused, early stopping."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from basrec import build, config, train
from basrec.errors import ConfigError

TIMING = ("train_s", "valid_s")


def tiny_cfg(data: Path, **extra: Any) -> config.RunConfig:
    overrides = dict(dataset=str(data), model="sasrec", hidden_size=8, num_layers=1,
                     num_heads=2, max_seq_length=10, epochs=3, batch_size=16, threads=1,
                     progress=False, eval_batch_size=32, dropout=0.2, attn_dropout=0.2)
    overrides.update(extra)
    return config.load([], overrides)


def history(run: Path) -> list[dict[str, Any]]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k not in TIMING} for line in lines]


def ranks(run: Path) -> np.ndarray:
    with np.load(run / "per_user_test.npz") as z:
        return z["ranks"]


def leftovers(run: Path) -> list[str]:
    return sorted(p.name for p in run.rglob("*") if p.name.endswith(".tmp"))


def test_same_seed_same_results_other_seed_differs(tiny_data: Path, tmp_path: Path) -> None:
    a = train.fit(tiny_cfg(tiny_data, seed=7), tmp_path / "a", quiet=True)
    b = train.fit(tiny_cfg(tiny_data, seed=7), tmp_path / "b", quiet=True)
    c = train.fit(tiny_cfg(tiny_data, seed=8), tmp_path / "c", quiet=True)
    assert a["test"] == b["test"] and a["valid"] == b["valid"]
    assert json.loads((tmp_path / "a" / "results.json").read_text())["test"] == b["test"]
    np.testing.assert_array_equal(ranks(tmp_path / "a"), ranks(tmp_path / "b"))
    assert history(tmp_path / "a") == history(tmp_path / "b")  # losses epoch by epoch
    assert c["test"] != a["test"]
    assert not np.array_equal(ranks(tmp_path / "a"), ranks(tmp_path / "c"))
    assert history(tmp_path / "c")[0]["loss"] != history(tmp_path / "a")[0]["loss"]


class Killed(BaseException):
    """Stands for SIGKILL: not an Exception, nothing in the trainer may catch it."""


@pytest.mark.parametrize("where", ["after_checkpoint_1", "mid_epoch_2", "after_last_checkpoint"])
def test_resume_after_a_kill_gives_the_uninterrupted_result(
        tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    cfg = tiny_cfg(tiny_data, epochs=4, seed=3)
    full = train.fit(cfg, tmp_path / "a", quiet=True)
    run = tmp_path / "b"

    real_save = train.atomic_torch_save
    real_epoch = train.TrainLoader.epoch

    def save_then_die(obj: Any, path: Any) -> None:
        real_save(obj, path)
        if Path(path).name == "checkpoint_last.pt":
            done = json.loads(obj["state"])["epoch"]
            if (where == "after_checkpoint_1" and done == 1) or (
                    where == "after_last_checkpoint" and done == 3):
                raise Killed

    def epoch_then_die(self: Any, epoch: int) -> Any:
        for i, batch in enumerate(real_epoch(self, epoch)):
            if where == "mid_epoch_2" and epoch == 2 and i == 2:
                raise Killed  # the optimizer has stepped twice in epoch 2: none of it is saved
            yield batch

    monkeypatch.setattr(train, "atomic_torch_save", save_then_die)
    monkeypatch.setattr(train.TrainLoader, "epoch", epoch_then_die)
    with pytest.raises(Killed):
        train.fit(cfg, run, quiet=True)
    assert not (run / "results.json").exists()
    ckpt = torch.load(run / "checkpoint_last.pt", weights_only=True)
    assert json.loads(ckpt["state"])["epoch"] == {"after_checkpoint_1": 1, "mid_epoch_2": 1,
                                                   "after_last_checkpoint": 3}[where]
    monkeypatch.undo()

    resumed = train.fit(cfg, run, quiet=True)
    assert resumed["test"] == full["test"] and resumed["valid"] == full["valid"]
    assert resumed["best_epoch"] == full["best_epoch"] and resumed["epochs_run"] == 4
    np.testing.assert_array_equal(ranks(run), ranks(tmp_path / "a"))
    got = history(run)
    assert [r["epoch"] for r in got] == [0, 1, 2, 3]  # one line per epoch, none repeated
    assert got == history(tmp_path / "a")
    assert json.loads((run / "results.json").read_text())["test"] == full["test"]
    assert "resuming from epoch" in (run / "log.txt").read_text()
    assert leftovers(run) == [] and leftovers(tmp_path / "a") == []
    for name in ("checkpoint_last.pt", "checkpoint_best.pt"):
        state = torch.load(run / name, weights_only=True)
        assert "model" in state


def test_stale_temp_files_of_a_killed_write_are_removed(tiny_data: Path, tmp_path: Path) -> None:
    """SIGKILL in the middle of an atomic write leaves its temporary file behind."""
    cfg = tiny_cfg(tiny_data, epochs=1)
    run = tmp_path / "run"
    run.mkdir()
    config.save(cfg, run / "config.yaml")
    (run / ".checkpoint_last.pt.x1y2.tmp").write_bytes(b"half a checkpoint")
    train.fit(cfg, run, quiet=True)
    assert leftovers(run) == []


def test_run_dir_files(tiny_data: Path, tmp_path: Path) -> None:
    cfg = tiny_cfg(tiny_data)
    run = tmp_path / "run"
    res = train.fit(cfg, run, quiet=True)
    assert config.resolve(config.read_yaml(run / "config.yaml")) == cfg
    env = json.loads((run / "env.json").read_text())
    assert env["torch_threads"] == 1 and env["device"] == "cpu"
    assert env["torch"] == torch.__version__ and env["numpy"] == np.__version__
    lines = history(run)
    assert [r["epoch"] for r in lines] == [0, 1, 2]
    assert all(np.isfinite(r["loss"]) and "NDCG@20" in r["valid"] for r in lines)
    for split in ("valid", "test"):
        assert {"HR@5", "HR@10", "HR@20", "NDCG@5", "NDCG@10", "NDCG@20", "MRR"} <= set(res[split])
    assert res["n_users"] == 60 and res["epochs_run"] == 3
    assert res["n_train_samples"] == 60  # construction all: one sample per user (lengths ≥ 5)
    with np.load(run / "per_user_test.npz") as z:
        assert z["users"].tolist() == list(range(60))
        assert z["labels"].tolist() == [str(u) for u in range(1, 61)]
        assert z["ranks"].min() >= 0 and z["ranks"].max() < 40
        from basrec.metrics import metrics_from_ranks

        assert metrics_from_ranks(z["ranks"]) == pytest.approx(res["test"])
    best = torch.load(run / "checkpoint_best.pt", weights_only=True)
    assert best["epoch"] == res["best_epoch"]
    assert leftovers(run) == []


def test_finished_run_is_returned_without_retraining(tiny_data: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tiny_cfg(tiny_data, epochs=2)
    run = tmp_path / "run"
    first = train.fit(cfg, run, quiet=True)
    stamps = {p.name: p.stat().st_mtime_ns for p in run.iterdir()}

    def no(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("retrained or re-evaluated a finished run")

    monkeypatch.setattr(train, "evaluate", no)
    monkeypatch.setattr(build, "TrainLoader", no)
    # device placement and display settings do not make it a different run
    again = train.fit(cfg.replace(progress=True, eval_batch_size=7), run, quiet=True)
    assert again == first
    assert {p.name: p.stat().st_mtime_ns for p in run.iterdir()} == stamps
    with pytest.raises(ConfigError, match="different configuration"):
        train.fit(cfg.replace(epochs=3), run, quiet=True)
    with pytest.raises(ConfigError, match="different configuration"):
        train.fit(tiny_cfg(tiny_data, epochs=2, lr=0.01), run, quiet=True)


def test_moved_run_folders_still_match(tiny_data: Path, tmp_path: Path) -> None:
    # a BASRec run names its stage 1 by path; both folders may move (to a GPU machine and back)
    cfg = tiny_cfg(tiny_data, epochs=2, init_from=str(tmp_path / "here" / "none-s1-abc"))
    first = train.fit(cfg, tmp_path / "run", quiet=True)
    moved = cfg.replace(init_from=str(tmp_path / "elsewhere" / "none-s1-abc"))
    assert train.fit(moved, tmp_path / "run", quiet=True) == first
    with pytest.raises(ConfigError, match="different configuration"):
        train.fit(cfg.replace(init_from=str(tmp_path / "here" / "none-s2-def")), tmp_path / "run",
                  quiet=True)


def test_early_stopping_when_validation_stops_improving(tiny_data: Path, tmp_path: Path) -> None:
    # an lr far below float32 resolution leaves the weights, hence the validation score, fixed
    res = train.fit(tiny_cfg(tiny_data, epochs=6, patience=2, lr=1e-15), tmp_path / "r",
                    quiet=True)
    assert res["early_stopped"] is True
    assert res["best_epoch"] == 0 and res["epochs_run"] == 3
    assert len(history(tmp_path / "r")) == 3


def test_training_beats_chance(tiny_data: Path, tmp_path: Path) -> None:
    """The tiny data is learnable (next item is mostly item + 1): a few epochs must help."""
    res = train.fit(tiny_cfg(tiny_data, epochs=25, lr=0.01, batch_size=32, dropout=0.0,
                             attn_dropout=0.0), tmp_path / "r", quiet=True)
    assert res["test"]["HR@10"] > 0.5  # chance is about 10/40


def test_training_and_evaluation_group_lengths_by_their_device(
        tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Validation and test inside a run, and ``basrec evaluate`` afterwards, rank with the
    length groups ``RunConfig.length_groups_on`` gives for their device (unset: 1 on CUDA),
    not with ``length_groups`` itself."""
    from basrec import inference
    from basrec.evaluate import evaluate

    asked: list[Any] = []
    used: list[int] = []

    def spy(self: config.RunConfig, device: Any) -> int:
        asked.append(device)
        return 2

    def recording_evaluate(*args: Any, **kwargs: Any) -> Any:
        used.append(kwargs["length_groups"])
        return evaluate(*args, **kwargs)

    monkeypatch.setattr(config.RunConfig, "length_groups_on", spy)
    monkeypatch.setattr(train, "evaluate", recording_evaluate)
    monkeypatch.setattr(inference, "evaluate", recording_evaluate)
    train.fit(tiny_cfg(tiny_data, epochs=1, length_groups=5), tmp_path / "run", quiet=True)
    inference.evaluate_run(tmp_path / "run")
    assert used and set(used) == {2}
    assert {str(d) for d in asked} == {"cpu"}
