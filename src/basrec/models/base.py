"""The Backbone contract that lets BASRec plug into any sequential model.

A backbone maps left-padded item ids (B, L) to one output vector per position (B, L, D). A
new backbone implements at most four members:

- ``embed(ids)``: the item lookup only, (B, L) -> (B, L, D) (default: ``item_emb``);
- ``encode(emb, ids)``: positions, normalisation, dropout and layers, (B, L, D) -> (B, L, D);
  the padding mask comes from ``ids``. ``L`` may be shorter than ``max_seq_length``: the
  window is then the *last* L positions of the padded sequence (column j has position
  index N - L + j);
- ``scores(h, items)``: dot products with the item table (default: the tied ``item_emb``);
- ``causal``: H[:, t] depends only on ids[:, :t+1] (default True).

``forward(ids) = encode(embed(ids), ids)``. Cheaper ways to compute ``encode``'s results (the
last column alone, length groups, padding outputs) are optional: ``basrec.models.fast``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from basrec.models.fast import GROUP_OVERHEAD as GROUP_OVERHEAD
from basrec.models.fast import encode_batch as encode_batch
from basrec.models.fast import encode_groups as encode_groups
from basrec.models.fast import encode_last_batch as encode_last_batch
from basrec.models.fast import encode_outputs as encode_outputs
from basrec.models.fast import encode_sorted as encode_sorted
from basrec.models.fast import groups_apply as groups_apply
from basrec.models.fast import length_groups as length_groups
from basrec.models.fast import length_order as length_order
from basrec.models.fast import plan_groups as plan_groups
from basrec.models.fast import spans as spans


@dataclass(frozen=True)
class ModelSpec:
    """The shared sizes every backbone is built from (component options hold the rest)."""

    n_items: int
    max_seq_length: int = 50
    hidden_size: int = 64
    num_layers: int = 2
    num_heads: int = 2
    dropout: float = 0.1
    attn_dropout: float = 0.1
    init_range: float = 0.02


class Backbone(nn.Module):
    """Base class of every sequential backbone (see the module docstring for the contract)."""

    causal: bool = True  # a backbone may set it per instance (e.g. from its options)
    item_emb: nn.Embedding

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.spec = spec

    @property
    def max_len(self) -> int:
        return self.spec.max_seq_length

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        return self.item_emb(ids)  # (B, L, D)

    def encode(self, emb: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.encode(self.embed(ids), ids)

    def scores(self, h: torch.Tensor, items: torch.Tensor | None = None) -> torch.Tensor:
        """h (..., D) · item vectors: all rows of the table (PAD included) or the given ids."""
        if items is None:
            return h @ self.item_emb.weight.T  # (..., n_items + 1)
        return (h * self.item_emb(items)).sum(-1)  # (...)


def init_normal(module: nn.Module, std: float) -> None:
    """CoSeRec/SASRec initialisation (docs/algorithm.md §1.4): N(0, std²) for Linear and
    Embedding weights, the padding row included; LayerNorm (1, 0); Linear biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, mean=0.0, std=std)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)


def build_model(name: str, spec: ModelSpec, options: object) -> Backbone:
    from basrec.registry import MODELS

    entry = MODELS.get(name)
    return entry.component(spec, options)
