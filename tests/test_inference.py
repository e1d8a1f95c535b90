"""Using a finished run (inference.py): re-evaluation and top-K recommendation."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import synthetic_lines
from torch import nn

from basrec import config, train
from basrec.data.io import Sequences
from basrec.data.split import LeaveOneOut
from basrec.errors import BasrecError
from basrec.inference import evaluate_run, load_run, recommend, recommend_run
from basrec.models.base import Backbone, ModelSpec


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("inference")
    data = root / "tiny.txt"
    data.write_text("\n".join(synthetic_lines()) + "\n")
    cfg = config.load([], dict(dataset=str(data), hidden_size=8, num_layers=1, num_heads=2,
                               max_seq_length=10, epochs=3, batch_size=16, threads=1,
                               progress=False, eval_batch_size=7))
    train.fit(cfg, root / "run", quiet=True)
    return root / "run"


def results(run: Path) -> dict:
    return json.loads((run / "results.json").read_text())


def test_evaluate_run_reproduces_results(finished_run: Path) -> None:
    res = results(finished_run)
    assert evaluate_run(finished_run) == res["test"]
    assert evaluate_run(finished_run, split="valid") == res["valid"]
    assert evaluate_run(finished_run, device="cpu") == res["test"]


def read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_recommend_run_csv(finished_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    recommend_run(finished_run, k=5)
    rows = read_csv(capsys.readouterr().out)
    _, data, _ = load_run(finished_run)
    by_user: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_user.setdefault(row["user"], []).append(row)
    assert list(by_user) == data.seqs.users  # every user, in file order
    for u, label in enumerate(data.seqs.users):
        recs = by_user[label]
        assert [int(r["rank"]) for r in recs] == [1, 2, 3, 4, 5]
        items = [int(r["item"]) for r in recs]
        assert len(set(items)) == 5 and all(1 <= i <= data.n_items for i in items)
        assert not set(items) & set(data.seqs.sequence(u).tolist())  # no history, test included
        scores = [float(r["score"]) for r in recs]
        assert scores == sorted(scores, reverse=True) and all(np.isfinite(scores))


def test_recommend_run_users_output_and_errors(finished_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "recs.csv"
    recommend_run(finished_run, k=3, users=["7", "2"], output=str(out))
    rows = read_csv(out.read_text())
    assert [r["user"] for r in rows] == ["7"] * 3 + ["2"] * 3
    with pytest.raises(BasrecError, match="unknown user 'nobody'"):
        recommend_run(finished_run, k=3, users=["nobody"])
    with pytest.raises(BasrecError, match="--k"):
        recommend_run(finished_run, k=0)


def test_load_run_refuses_unfinished_and_corrupt_runs(finished_run: Path, tmp_path: Path) -> None:
    with pytest.raises(BasrecError, match="not a finished run"):
        load_run(tmp_path)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.yaml").write_text((finished_run / "config.yaml").read_text())
    for content in (b"", b"half a checkpoint"):
        (broken / "checkpoint_best.pt").write_bytes(content)
        with pytest.raises(BasrecError, match="unreadable checkpoint"):
            load_run(broken)
    # a checkpoint of another model size
    torch.save({"model": {"item_emb.weight": torch.zeros(3, 3)}}, broken / "checkpoint_best.pt")
    with pytest.raises(BasrecError, match="unreadable checkpoint"):
        load_run(broken)


class FixedScores(Backbone):
    """Scores every user with the same fixed vector over 0..n_items (PAD included)."""

    def __init__(self, fixed: list[float]) -> None:
        super().__init__(ModelSpec(n_items=len(fixed) - 1, max_seq_length=4, hidden_size=2,
                                   num_layers=1, num_heads=1))
        self.item_emb = nn.Embedding(len(fixed), 2)
        self.fixed = torch.tensor(fixed)

    def encode(self, emb: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        return emb

    def scores(self, h: torch.Tensor, items: torch.Tensor | None = None) -> torch.Tensor:
        return self.fixed.expand(h.shape[0], -1).clone()


# PAD would win; history items 3 and 5 come next
FIXED = [100.0, 1.0, -0.5, 50.0, -1.0, 40.0, -2.0, -20.0, -3.0, -4.0, -5.0]


def test_recommend_excludes_pad_and_the_whole_history() -> None:
    data = LeaveOneOut(Sequences.from_lists([[3, 5, 7, 2], [9, 8, 10]], n_items=10))
    model = FixedScores(FIXED)
    items, scores = recommend(model, data, np.array([0, 1]), 3)
    assert items.tolist() == [[1, 4, 6], [3, 5, 1]]
    np.testing.assert_allclose(scores, [[1.0, -1.0, -2.0], [50.0, 40.0, 1.0]])
    items, _ = recommend(model, data, np.array([1, 0]), 3, include_history=True)
    assert items.tolist() == [[3, 5, 1], [3, 5, 1]]  # PAD still never recommended


def test_recommend_more_than_there_are_candidates() -> None:
    """k beyond the items a user lacks: never PAD or a history item, only the real candidates."""
    data = LeaveOneOut(Sequences.from_lists([[3, 5, 7, 2, 1, 4, 6]], n_items=10))
    model = FixedScores(FIXED)
    items, scores = recommend(model, data, np.array([0]), 10)
    real = items[0][items[0] > 0].tolist()
    assert real == [8, 9, 10]
    assert not (set(items[0].tolist()) - {0}) & {1, 2, 3, 4, 5, 6, 7}
    assert np.isfinite(scores[0][items[0] > 0]).all()


def test_recommend_run_writes_only_real_candidates(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "small.txt"
    data.write_text("a 1 2 3 4 5\nb 2 3 4 5 6\nc 6 5 4\n")
    cfg = config.load([], dict(dataset=str(data), hidden_size=4, num_layers=1, num_heads=1,
                               max_seq_length=4, epochs=1, threads=1, progress=False))
    train.fit(cfg, tmp_path / "run", quiet=True)
    recommend_run(tmp_path / "run", k=6)
    rows = read_csv(capsys.readouterr().out)
    got = {u: [int(r["item"]) for r in rows if r["user"] == u] for u in "abc"}
    assert sorted(got["a"]) == [6] and sorted(got["b"]) == [1]
    assert sorted(got["c"]) == [1, 2, 3]
