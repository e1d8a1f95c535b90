"""Next-item losses on encoder outputs (SPEC §1.2, DECISIONS.md §2).

Every loss takes H (B, N, D), the model (for its item table), positive and negative ids (B, N)
and returns a masked mean over positions with a target (id > 0). BCE and BPR may instead be
given target *embeddings* (needed by cross-sequence mixup, which mixes target vectors).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from basrec.models.base import Backbone


def position_losses_bce(h: torch.Tensor, pos_vec: torch.Tensor,
                        neg_vec: torch.Tensor) -> torch.Tensor:
    """Per-position BCE, Eq. 13: −log σ(h·e⁺) − log(1 − σ(h·e⁻)); (B, N, D) → (B, N).

    Written with logsigmoid (numerically stable form of the original's log(σ + 1e−24))."""
    pos = (h * pos_vec).sum(-1)  # (B, N)
    neg = (h * neg_vec).sum(-1)  # (B, N)
    return -F.logsigmoid(pos) - F.logsigmoid(-neg)


def position_losses_bpr(h: torch.Tensor, pos_vec: torch.Tensor,
                        neg_vec: torch.Tensor) -> torch.Tensor:
    """Per-position BPR: −log σ(h·e⁺ − h·e⁻); (B, N, D) → (B, N)."""
    return -F.logsigmoid((h * pos_vec).sum(-1) - (h * neg_vec).sum(-1))


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Σ m·v / Σ m over every position of the batch (0 when the batch has no target)."""
    m = mask.to(values.dtype)
    return (values * m).sum() / m.sum().clamp_min(1.0)


def per_sequence_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Each sequence's own masked mean, (B, N) → (B,)."""
    m = mask.to(values.dtype)
    return (values * m).sum(1) / m.sum(1).clamp_min(1.0)


def next_item_loss(kind: str, model: Backbone, h: torch.Tensor, targets: torch.Tensor,
                   negatives: torch.Tensor) -> torch.Tensor:
    """The configured loss (``bce``, ``ce`` or ``bpr``), a masked mean over target positions."""
    mask = targets > 0  # (B, N)
    if kind == "ce":
        hm = h[mask]  # (M, D): real positions only
        logits = model.scores(hm)  # (M, n_items + 1)
        logits[:, 0] = float("-inf")  # PAD is never a class
        return F.cross_entropy(logits, targets[mask])
    pos_vec = model.item_emb(targets)  # (B, N, D)
    neg_vec = model.item_emb(negatives)  # (B, N, D)
    fn = position_losses_bce if kind == "bce" else position_losses_bpr
    return masked_mean(fn(h, pos_vec, neg_vec), mask)
