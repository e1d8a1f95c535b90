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
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch

from basrec.data.split import LeaveOneOut

if TYPE_CHECKING:
    from basrec.objectives.base import ObjectiveContext

DEFAULT_NEGATIVES = 256


def train_item_counts(data: LeaveOneOut) -> np.ndarray:
    """(n_items + 1,) int64: how often each item occurs in the training part s[:-2] of each
    sequence (index 0, PAD, stays 0)."""
    return np.bincount(data.training_part().items,
                       minlength=data.n_items + 1).astype(np.int64)


@dataclass(frozen=True)
class ClassSampler:
    """N shared negatives a step; ``probs`` (n_items + 1,) their draw probabilities (PAD 0),
    None: uniform; ``logq``: apply the logQ correction (popularity only)."""

    n: int = DEFAULT_NEGATIVES
    probs: torch.Tensor | None = None
    logq: bool = True
    # derived once from the fields above, not per step: the draw weights and log(N·q)
    _weights: torch.Tensor | None = field(init=False, repr=False, compare=False)
    _log_q: torch.Tensor | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        weights = None if self.probs is None else self.probs.float()  # (n_items + 1,)
        log_q = None if self.probs is None or not self.logq else \
            (torch.log(self.probs.double()) + math.log(self.n)).float()  # (n_items + 1,)
        object.__setattr__(self, "_weights", weights)
        object.__setattr__(self, "_log_q", log_q)

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
        if self._weights is None:
            return torch.randint(1, n_classes, (self.n,), generator=generator,
                                 device=device)  # (N,)
        if self._weights.shape[0] != n_classes:
            raise ValueError(f"the sampler knows {self._weights.shape[0] - 1} items, the item "
                             f"table {n_classes - 1}")
        drawn = torch.multinomial(self._weights, self.n, replacement=True,
                                  generator=generator)  # (N,) on the CPU
        return drawn.to(device)

    def log_expected_counts(self, device: torch.device) -> torch.Tensor | None:
        """(n_items + 1,) log(N·q_c), the logQ correction of each class; None where none
        applies (uniform, or ``logq`` off)."""
        return None if self._log_q is None else self._log_q.to(device)


def run_sampler(context: ObjectiveContext) -> ClassSampler:
    """The run's sampler: ``ce_sampler``, ``ce_logq``, ``ce_negatives``."""
    cfg = context.config
    return ClassSampler.of(cfg.ce_sampler, context.data, cfg.ce_negatives, cfg.ce_logq)
