"""The Backbone contract that lets BASRec plug into any sequential model (ARCHITECTURE.md).

A backbone maps left-padded item ids (B, L) to one output vector per position (B, L, D):

- ``embed(ids)``: the item lookup only, (B, L) -> (B, L, D);
- ``encode(emb, ids)``: positions, normalisation, dropout and layers, (B, L, D) -> (B, L, D);
  the padding mask comes from ``ids``. ``L`` may be shorter than ``max_seq_length``: the
  window is then the *last* L positions of the padded sequence (column j has position
  index N - L + j), which is what length-grouped training relies on;
- ``forward(ids) = encode(embed(ids), ids)``;
- ``scores(h, items)``: dot products with the (tied) item table.

Class attributes: ``causal`` (H[:, t] depends only on ids[:, :t+1]) and ``trim_exact``
(encoding the last L columns gives the same outputs at real positions as the full width, so
batches may be split into length groups and trimmed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn


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

    causal: ClassVar[bool] = True
    trim_exact: ClassVar[bool] = False
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


def length_groups(ids: torch.Tensor, n_groups: int) -> list[tuple[torch.Tensor, int]]:
    """Split a batch into ``n_groups`` groups of similar length: (row indices, trimmed width).

    Rows are sorted by their number of real items and cut into equal-count groups; each group
    keeps only its longest row's width of columns. The batch itself is unchanged.
    """
    lengths = (ids > 0).sum(1)  # (B,)
    order = torch.argsort(lengths, stable=True)
    groups = []
    for rows in torch.tensor_split(order, min(n_groups, ids.shape[0])):
        if rows.numel() == 0:
            continue
        width = max(int(lengths[rows].max()), 1)
        groups.append((rows, width))
    return groups


def encode_batch(model: Backbone, emb: torch.Tensor, ids: torch.Tensor,
                 n_groups: int = 1) -> torch.Tensor:
    """``model.encode(emb, ids)`` computed in length groups where the backbone allows it.

    Returns (B, N, D). With trimming, output columns left of a group's width (all padding) are
    zero; outputs at real positions equal the full-width computation (``trim_exact``).
    """
    if n_groups <= 1 or not model.trim_exact:
        return model.encode(emb, ids)
    b, n, d = emb.shape
    out = emb.new_zeros(b, n, d)  # (B, N, D)
    for rows, width in length_groups(ids, n_groups):
        h = model.encode(emb[rows, n - width :], ids[rows, n - width :])  # (b_g, width, D)
        out[rows, n - width :] = h
    return out


def init_normal(module: nn.Module, std: float) -> None:
    """CoSeRec/SASRec initialisation (SPEC §1.4): N(0, std²) for Linear and Embedding weights,
    the padding row included; LayerNorm (1, 0); Linear biases 0."""
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
