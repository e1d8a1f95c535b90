"""Next-item losses (algorithm.md §1.2, decisions.md), computed at the positions that have a target.

Training batches are mostly padding (mean input length 5.7 of N = 50 on Beauty), so the
objectives gather the M real target positions first and every loss works on (M, D) rows:
the result equals the masked mean over the padded (B, N) grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from basrec.models.base import Backbone
from basrec.objectives.catalog_loss import SOFTMAX_LOSSES, CatalogLoss, ClassSampler


def bce_values(h: torch.Tensor, pos_vec: torch.Tensor, neg_vec: torch.Tensor) -> torch.Tensor:
    """Per-position BCE, Eq. 13: −log σ(h·e⁺) − log(1 − σ(h·e⁻)); (M, D) → (M,).

    Written with logsigmoid (the numerically stable form of the original's log(σ + 1e−24)),
    in float32 also under mixed precision (basrec/precision.py)."""
    h, pos_vec, neg_vec = h.float(), pos_vec.float(), neg_vec.float()
    return -F.logsigmoid((h * pos_vec).sum(-1)) - F.logsigmoid(-(h * neg_vec).sum(-1))


def bpr_values(h: torch.Tensor, pos_vec: torch.Tensor, neg_vec: torch.Tensor) -> torch.Tensor:
    """Per-position BPR: −log σ(h·e⁺ − h·e⁻); (M, D) → (M,), in float32."""
    h, pos_vec, neg_vec = h.float(), pos_vec.float(), neg_vec.float()
    return -F.logsigmoid((h * pos_vec).sum(-1) - (h * neg_vec).sum(-1))


PAIRWISE = {"bce": bce_values, "bpr": bpr_values}


@dataclass
class Targets:
    """The M positions of a (B, N) batch that carry a target, in row-major order."""

    flat: torch.Tensor  # (M,) index into the flattened (B·N) grid
    rows: torch.Tensor  # (M,) batch row of each position
    pos: torch.Tensor  # (M,) positive item ids
    neg: torch.Tensor  # (M,) negative item ids

    @staticmethod
    def of(targets: torch.Tensor, negatives: torch.Tensor) -> Targets:
        n = targets.shape[1]
        flat = torch.nonzero(targets.reshape(-1) > 0).squeeze(1)  # (M,)
        return Targets(flat, flat // n, targets.reshape(-1)[flat], negatives.reshape(-1)[flat])

    def select(self, h: torch.Tensor) -> torch.Tensor:
        """Rows of H (B, N, D) at the target positions: (M, D)."""
        # index_select, not h[flat]: its backward (index_add_) is several times cheaper on
        # the CPU than advanced indexing's (index_put_ with accumulate)
        return h.reshape(-1, h.shape[-1]).index_select(0, self.flat)


def next_item_loss(kind: str, model: Backbone, h: torch.Tensor, t: Targets,
                   catalog: CatalogLoss | None = None,
                   sampler: ClassSampler | int | None = None) -> torch.Tensor:
    """The configured loss (``bce``, ``bpr``, ``ce`` or ``sampled_ce``) averaged over target
    positions. h: (M, D) outputs at the target positions. The softmax losses score against
    ``catalog`` (objectives/catalog_loss.py), made here where none is given (``sampler``
    draws its negatives for ``sampled_ce``)."""
    if t.flat.numel() == 0:
        return h.sum() * 0.0
    if kind in SOFTMAX_LOSSES:
        scorer = catalog or CatalogLoss.create(kind, model.item_emb.weight, sampler)
        return scorer.values(h, t.pos).mean()
    return PAIRWISE[kind](h, model.item_emb(t.pos), model.item_emb(t.neg)).mean()
