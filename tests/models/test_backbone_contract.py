"""The Backbone contract a new model implements: ``embed``, ``encode``, ``scores`` and
``causal`` at most. A backbone with ``encode`` alone trains with and without BASRec, and the
fast paths (``models/fast.py``) give it their defaults, derived from ``encode``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from torch import nn

from basrec import config, train
from basrec.models.base import Backbone, ModelSpec
from basrec.models.fast import FastPaths, encode_batch, encode_last_batch, paths
from basrec.registry import MODELS, Entry


@dataclass(frozen=True)
class MeanPoolOptions:
    scale: float = 1.0


class MeanPool(Backbone):
    causal = True

    def __init__(self, spec: ModelSpec, options: MeanPoolOptions) -> None:
        super().__init__(spec)
        self.item_emb = nn.Embedding(spec.n_items + 1, spec.hidden_size, padding_idx=0)
        self.proj = nn.Linear(spec.hidden_size, spec.hidden_size)
        self.scale = options.scale

    def encode(self, emb: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        real = (ids > 0).unsqueeze(-1).float()  # (B, L, 1)
        running = (emb * real).cumsum(1) / real.cumsum(1).clamp_min(1)  # causal mean
        return self.scale * self.proj(running)  # (B, L, D)


def test_the_contract_has_four_members() -> None:
    own = {name for name in vars(Backbone) if not name.startswith("_")}
    implemented = own - {"forward", "max_len"}  # derived from the others
    assert implemented <= {"embed", "encode", "scores", "causal", "item_emb"}
    assert not own & {name for name in vars(FastPaths) if not name.startswith("_")} - {
        "encode"}


def test_fast_paths_default_to_encode() -> None:
    torch.manual_seed(0)
    model = MeanPool(ModelSpec(n_items=20, max_seq_length=6, hidden_size=8), MeanPoolOptions())
    ids = torch.tensor([[0, 0, 3, 4, 5, 6], [0, 0, 0, 0, 1, 2], [7, 8, 9, 10, 11, 12]])
    emb = model.embed(ids)
    full = model.encode(emb, ids)
    fast = paths(model)
    assert not fast.trim_exact and not fast.prefix_exact and fast.padding_output() is None
    assert torch.equal(fast.encode_last(emb, ids), full[:, -1])
    assert torch.equal(fast.encode_kept(emb, ids, ids > 0), full)
    h, prefix = fast.encode_with_prefix(emb, ids)
    assert torch.equal(h, full) and prefix is None
    assert torch.equal(fast.encode_continuing(emb, ids, prefix, torch.arange(3)), full)
    assert torch.equal(encode_batch(model, emb, ids, 3), full)  # not trimmed: not trim_exact
    assert torch.equal(encode_last_batch(model, emb, ids, 3), full[:, -1])


@pytest.mark.parametrize("objective", ["none", "basrec"])
def test_a_new_backbone_trains(objective: str, tiny_data: Path, tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    MODELS.names()  # the built-ins first
    monkeypatch.setitem(MODELS._entries, "meanpool", Entry("meanpool", MeanPool,
                                                           MeanPoolOptions))
    overrides = {"dataset": str(tiny_data), "model": "meanpool", "objective": objective,
                 "hidden_size": 8, "max_seq_length": 10, "epochs": 2, "batch_size": 32,
                 "threads": 1, "progress": False}
    if objective == "basrec":
        overrides["basrec.stage1_epochs"] = 1
    cfg = config.load([], overrides)
    results = train.run(cfg, tmp_path / "run", quiet=True)
    assert 0.0 <= results["test"]["NDCG@10"] <= 1.0
    assert ("stage1" in results) == (objective == "basrec")
