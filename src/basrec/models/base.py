"""The Backbone contract that lets BASRec plug into any sequential model (ARCHITECTURE.md).

A backbone maps left-padded item ids (B, L) to one output vector per position (B, L, D):

- ``embed(ids)``: the item lookup only, (B, L) -> (B, L, D);
- ``encode(emb, ids)``: positions, normalisation, dropout and layers, (B, L, D) -> (B, L, D);
  the padding mask comes from ``ids``. ``L`` may be shorter than ``max_seq_length``: the
  window is then the *last* L positions of the padded sequence (column j has position
  index N - L + j), which is what length-grouped training relies on;
- ``forward(ids) = encode(embed(ids), ids)``;
- ``scores(h, items)``: dot products with the (tied) item table;
- ``encode_last(emb, ids)``: the output at the last column only, (B, L, D) -> (B, D); by
  default ``encode(emb, ids)[:, -1]``. A backbone overrides it where it can skip work (a
  non-causal one still reads every column, but its last block need run only one): the
  evaluation and the ``prefix`` construction's training (loss at the last position) use it;
- ``encode_kept(emb, ids, keep)``: ``encode`` where only the outputs at ``keep`` (B, L) bool
  will be read; by default ``encode(emb, ids)``. A backbone overrides it where it can skip the
  other positions' work in its last block (the outputs there are then zero): BASRec's
  cross-sequence mixup reads the originals at their targets and at their partners' targets;
- ``padding_output()``: the output at a padding column where it is one vector for every row,
  window and mode (GRU4Rec ``skip``: the dense layer's bias), else None (the default: SASRec's
  padding columns attend over the row's whole window). Where it is known, BASRec needs no
  full-width encode for a partner's padding columns;
- ``encode_with_prefix(emb, ids)`` and ``encode_continuing(emb, ids, prefix, rows)``: for a
  backbone whose outputs at real positions depend on random work done on the padding columns
  (GRU4Rec ``feed`` in training: each PAD step's dropout), so that trimming is not exact. The
  first encodes original rows at full width and returns, beside the outputs, what the second
  needs to encode other rows with the same ids before their window (BASRec's views: the same
  padding) on that window alone, continuing the originals' computation there (the same
  random draws) instead of repeating it with draws of their own. Each output row is then
  distributed as a full-width encode of it; only the original and its views' noise at padding
  becomes shared. By default (None prefix) ``encode_continuing`` is ``encode``.

Class attributes: ``causal`` (H[:, t] depends only on ids[:, :t+1]), ``trim_exact``
(encoding the last L columns gives the same outputs at real positions as the full width, so
batches may be split into length groups and trimmed) and ``prefix_exact`` (where
``trim_exact`` is False, ``encode_continuing`` from an original's prefix gives outputs
distributed as full-width encodes, as just described).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
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

    causal: bool = True  # a backbone may set it per instance (e.g. from its options)
    trim_exact: ClassVar[bool] = False
    prefix_exact: ClassVar[bool] = False
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

    def encode_last(self, emb: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """``encode(emb, ids)[:, -1]``, (B, D); override to skip the other columns' work."""
        return self.encode(emb, ids)[:, -1]  # (B, D)

    def encode_kept(self, emb: torch.Tensor, ids: torch.Tensor,
                    keep: torch.Tensor) -> torch.Tensor:
        """``encode(emb, ids)``, (B, L, D), of which only the positions ``keep`` (B, L) will be
        read; override to skip the others' work (their outputs may then be zero)."""
        return self.encode(emb, ids)  # (B, L, D)

    def padding_output(self) -> torch.Tensor | None:
        """The output (D,) at every padding column of every row, where it does not depend on
        the row (then ``encode`` must return exactly it there); None otherwise."""
        return None

    def encode_with_prefix(self, emb: torch.Tensor,
                           ids: torch.Tensor) -> tuple[torch.Tensor, object | None]:
        """``encode(emb, ids)`` (B, L, D) and what ``encode_continuing`` needs to carry these
        rows' computation over their columns into a narrower window (None by default)."""
        return self.encode(emb, ids), None  # (B, L, D)

    def encode_continuing(self, emb: torch.Tensor, ids: torch.Tensor, prefix: object | None,
                          rows: torch.Tensor) -> torch.Tensor:
        """``encode`` of the window ``emb`` (b, w, D) of rows whose columns before it are
        those of the original rows ``rows`` (b,) encoded by ``encode_with_prefix``: the
        originals' work there (and its random draws) is carried over, not repeated. (b, w, D)"""
        return self.encode(emb, ids)  # (b, w, D)

    def scores(self, h: torch.Tensor, items: torch.Tensor | None = None) -> torch.Tensor:
        """h (..., D) · item vectors: all rows of the table (PAD included) or the given ids."""
        if items is None:
            return h @ self.item_emb.weight.T  # (..., n_items + 1)
        return (h * self.item_emb(items)).sum(-1)  # (...)


GROUP_OVERHEAD = 256  # cost of one extra encoder call, in (row × column) units


def plan_groups(lengths: np.ndarray, max_groups: int,
                overhead: int = GROUP_OVERHEAD) -> list[tuple[int, int, int]]:
    """Cut rows sorted by ascending length into at most ``max_groups`` contiguous groups
    minimising Σ rows × width + overhead × groups (exact DP over the distinct lengths).

    Returns [(first row, end row, width)]. Beauty's training inputs (median length 3, a long
    tail to 50) need about 8.5 columns per row this way instead of 50.
    """
    values, counts = np.unique(np.maximum(lengths, 1), return_counts=True)
    u = values.shape[0]
    cum = np.concatenate([[0], np.cumsum(counts)])  # rows before each distinct value
    # cost[i, j]: one group holding distinct values i .. j−1, width values[j − 1]
    rows = cum[None, :] - cum[:, None]  # (U+1, U+1)
    width = np.concatenate([[0], values])[None, :]
    cost = np.where(rows > 0, rows * width + overhead, np.inf)
    best = cost[0].copy()  # best[j]: values 0 .. j−1 in g groups
    choice = [np.zeros(u + 1, dtype=np.int64)]
    for _ in range(1, max(1, min(max_groups, u))):
        total = best[:, None] + cost  # (U+1, U+1): last group i .. j−1
        arg = np.argmin(total, axis=0)
        new = total[arg, np.arange(u + 1)]
        better = new < best
        choice.append(np.where(better, arg, -1))
        best = np.where(better, new, best)
    # walk back: find the last layer that improved each prefix
    out = []
    j = u
    layer = len(choice) - 1
    while j > 0:
        while layer > 0 and choice[layer][j] < 0:
            layer -= 1
        i = int(choice[layer][j]) if layer > 0 else 0
        out.append((int(cum[i]), int(cum[j]), int(values[j - 1])))
        j = i
        layer -= 1
    return out[::-1]


def encode_sorted(model: Backbone, emb: torch.Tensor, ids: torch.Tensor,
                  n_groups: int = 1) -> torch.Tensor:
    """``model.encode(emb, ids)`` for rows sorted by ascending length, in length groups.

    The rows are cut into at most ``n_groups`` contiguous groups (``plan_groups``); each group
    is encoded on its longest row's width (the last columns) and left-padded back to N with
    zeros. Where the backbone is not ``trim_exact`` (or n_groups is 1) the full width is
    encoded at once. Returns (B, N, D); outputs at real positions equal the full computation.
    """
    if not groups_apply(model, n_groups):
        return model.encode(emb, ids)
    n = ids.shape[1]
    groups = length_groups(ids, n_groups)
    # split, then trim each piece: the backward of a slice of the whole batch would allocate
    # a zero gradient of the whole batch for every group
    pieces = emb.split([hi - lo for lo, hi, _ in groups])
    return encode_groups(model, [piece[:, n - width :] for piece, (_, _, width)
                                 in zip(pieces, groups, strict=True)], ids, groups)


def length_groups(ids: torch.Tensor, n_groups: int) -> list[tuple[int, int, int]]:
    """``plan_groups`` for left-padded rows (B, N) sorted by ascending span."""
    return plan_groups(spans(ids).cpu().numpy(), n_groups)


def encode_groups(model: Backbone, inputs: list[torch.Tensor], ids: torch.Tensor,
                  groups: list[tuple[int, int, int]]) -> torch.Tensor:
    """Encode each length group's input (b_g, w, D) with its rows' last w ids, pad the outputs
    back to N with zeros and stack the groups' rows: (B, N, D)."""
    n = ids.shape[1]
    parts = []
    for x, (lo, hi, width) in zip(inputs, groups, strict=True):
        h = model.encode(x, ids[lo:hi, n - width :])  # (b_g, w, D)
        parts.append(torch.nn.functional.pad(h, (0, 0, n - width, 0)))  # (b_g, N, D)
    return torch.cat(parts)  # (B, N, D)


def groups_apply(model: Backbone, n_groups: int) -> bool:
    """Whether length groups change anything: more than one, on a ``trim_exact`` backbone."""
    return n_groups > 1 and model.trim_exact


def encode_last_batch(model: Backbone, emb: torch.Tensor, ids: torch.Tensor,
                      n_groups: int = 1) -> torch.Tensor:
    """The last column's outputs for rows in any order, (B, D): length-grouped
    (``encode_batch``) where that applies, else ``encode_last``."""
    if groups_apply(model, n_groups):
        return encode_batch(model, emb, ids, n_groups)[:, -1]  # (B, D)
    return model.encode_last(emb, ids)  # (B, D)


def encode_outputs(model: Backbone, emb: torch.Tensor, ids: torch.Tensor, n_groups: int,
                   last_only: bool) -> torch.Tensor:
    """The outputs a training step needs, for rows sorted by ascending length: every
    column (``encode_sorted``, (B, N, D)) or, where the batch's targets are all in the last
    column (``last_only``), that column alone (``encode_last``, (B, 1, D))."""
    if last_only:
        return model.encode_last(emb, ids)[:, None]  # (B, 1, D)
    return encode_sorted(model, emb, ids, n_groups)  # (B, N, D)


def spans(ids: torch.Tensor) -> torch.Tensor:
    """Columns from each row's first real item to the end: the number of real items of a
    left-padded row, and more where a row holds padding inside (a CoSeRec Mask view). (B,)"""
    real = ids > 0  # (B, N)
    first = real.to(torch.int8).argmax(1)  # (B,) first real column (0 for an empty row)
    return torch.where(real.any(1), ids.shape[1] - first, torch.zeros_like(first))


def length_order(ids: torch.Tensor) -> torch.Tensor:
    """Row permutation sorting a left-padded batch by ascending span (``spans``)."""
    return torch.argsort(spans(ids), stable=True)  # (B,)


def encode_batch(model: Backbone, emb: torch.Tensor, ids: torch.Tensor,
                 n_groups: int = 1) -> torch.Tensor:
    """``encode_sorted`` for rows in any order (sorted, encoded, then put back); (B, N, D)."""
    if not groups_apply(model, n_groups):
        return model.encode(emb, ids)
    order = length_order(ids)
    h = encode_sorted(model, emb[order], ids[order], n_groups)
    return h[torch.argsort(order)]


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
