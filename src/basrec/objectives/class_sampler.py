"""How ``loss=sampled_ce`` (and BASRec's ``basrec.ce_negatives``) draws a step's shared
negative classes: uniformly over the catalog, or by training popularity with the logQ
correction.

``ce_sampler=uniform`` (default): N items drawn uniformly with replacement. Every class then
has the same sampling probability, so the logQ correction would subtract the same constant
from every logit and is not applied.

``ce_sampler=popularity``: N items drawn with replacement with probability q_c ∝ 1 + n_c,
n_c the item's count in the training part of every sequence (s[:-2]: no validation or test
item counts; the 1 keeps every item drawable). Popular items are then the negatives a model
most needs to rank below the target, but a softmax over such a sample is biased towards
rare items; with ``ce_logq=true`` (default) every class's logit s_c becomes
s_c − log(N·q_c), N·q_c its expected count in the sample (Bengio & Senécal 2008; Yi et al.,
RecSys 2019, "sampling-bias-corrected" softmax), the positives' included.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from basrec.data.split import LeaveOneOut

if TYPE_CHECKING:
    from basrec.objectives.base import ObjectiveContext

DEFAULT_NEGATIVES = 256
SAMPLERS = ("uniform", "popularity")


def train_item_counts(data: LeaveOneOut) -> np.ndarray:
    """(n_items + 1,) int64: how often each item occurs in the training part s[:-2] of each
    sequence (index 0, PAD, stays 0)."""
    seqs = data.seqs
    train_len = np.maximum(seqs.lengths - 2, 0)  # (n_users,)
    starts = seqs.offsets[:-1]
    # a position belongs to the training part when it lies before its user's last two
    user = np.repeat(np.arange(seqs.n_users), seqs.lengths)  # (n_interactions,)
    keep = np.arange(seqs.items.shape[0]) - starts[user] < train_len[user]
    return np.bincount(seqs.items[keep], minlength=seqs.n_items + 1).astype(np.int64)


@dataclass(frozen=True)
class ClassSampler:
    """N shared negatives a step; ``probs`` (n_items + 1,) their draw probabilities (PAD 0),
    None: uniform; ``logq``: apply the logQ correction (popularity only)."""

    n: int = DEFAULT_NEGATIVES
    probs: torch.Tensor | None = None
    logq: bool = True

    @staticmethod
    def of(kind: str, data: LeaveOneOut, n: int | None = None,
           logq: bool = True) -> ClassSampler:
        """A ``kind`` (uniform or popularity) sampler of ``n`` negatives (None: 256)."""
        n = n or DEFAULT_NEGATIVES
        if kind == "uniform":
            return ClassSampler(n)
        if kind != "popularity":
            raise ValueError(f"unknown sampler {kind!r}")
        weight = train_item_counts(data).astype(np.float64) + 1.0  # (n_items + 1,)
        weight[0] = 0.0
        return ClassSampler(n, torch.from_numpy(weight / weight.sum()), logq)

    def draw(self, n_classes: int, device: torch.device,
             generator: torch.Generator | None = None) -> torch.Tensor:
        """(N,) item ids in 1..n_classes − 1, with replacement."""
        if self.probs is None:
            return torch.randint(1, n_classes, (self.n,), generator=generator,
                                 device=device)  # (N,)
        if self.probs.shape[0] != n_classes:
            raise ValueError(f"the sampler knows {self.probs.shape[0] - 1} items, the item "
                             f"table {n_classes - 1}")
        drawn = torch.multinomial(self.probs.float(), self.n, replacement=True,
                                  generator=generator)  # (N,) on the CPU
        return drawn.to(device)

    def log_expected_counts(self, device: torch.device) -> torch.Tensor | None:
        """(n_items + 1,) log(N·q_c), the logQ correction of each class; None where none
        applies (uniform, or ``logq`` off)."""
        if self.probs is None or not self.logq:
            return None
        log_q = torch.log(self.probs.double()) + math.log(self.n)  # (n_items + 1,)
        return log_q.float().to(device)


def run_sampler(context: ObjectiveContext, n: int | None = None) -> ClassSampler:
    """The run's sampler (``ce_sampler``, ``ce_logq``) of ``n`` negatives (None: the run's
    ``ce_negatives``)."""
    cfg = context.config
    return ClassSampler.of(cfg.ce_sampler, context.data, n or cfg.ce_negatives, cfg.ce_logq)
