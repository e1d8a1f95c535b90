"""Softmax losses against the item catalog: ``loss=ce`` (every item a class) and
``loss=sampled_ce`` (the positives and N negatives shared by the step), with soft labels.

A ``CatalogLoss`` is made once per training step, so every loss term of the step (the main
loss and BASRec's views and mixups) scores against the same classes. For outputs h (M, D), a
row's labels t_i1..t_iT with coefficients y_i1..y_iT (summing to 1):

    ℓ_i = logsumexp_{c ∈ classes_i}(h_i · e_c) − Σ_k y_ik · (h_i · e_{t_ik})

``ce``: the classes are all items (objectives/softmax_ce.py, in row chunks). ``sampled_ce``:
the row's own labels (each once) and the step's N negatives drawn uniformly from the catalog
(with replacement; a negative equal to one of the row's labels is left out: no accidental
hit), drawn by a ``ClassSampler`` (objectives/class_sampler.py): uniformly (no correction
needed), or by popularity, every class's logit then corrected by −log(N·q_c). With every item
as a negative and no correction, ``sampled_ce`` equals ``ce`` (tests).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from basrec.objectives.class_sampler import DEFAULT_NEGATIVES, ClassSampler
from basrec.objectives.softmax_ce import chunked_softmax_ce

SOFTMAX_LOSSES = ("ce", "sampled_ce")
__all__ = ["DEFAULT_NEGATIVES", "SOFTMAX_LOSSES", "CatalogLoss", "ClassSampler"]
_NEG_INF = float("-inf")


@dataclass
class CatalogLoss:
    """Per-row softmax losses over the catalog (module docstring) for one step."""

    table: torch.Tensor  # (n_items + 1, D): the item table, row 0 is PAD (never a class)
    negatives: torch.Tensor | None = None  # (N,) item ids: sampled_ce; None: every item
    #: (n_items + 1,) log(N·q_c) subtracted from each sampled class's logit; None: no correction
    log_q: torch.Tensor | None = None

    @staticmethod
    def create(kind: str, table: torch.Tensor, sampler: ClassSampler | int | None = None,
               generator: torch.Generator | None = None) -> CatalogLoss:
        """``kind`` ce or sampled_ce; ``sampler`` draws the negatives (an int N or None: N, or
        256, uniform ones) from ``generator`` (default: the global one, which the trainer
        seeds per epoch)."""
        if kind == "ce":
            return CatalogLoss(table)
        if not isinstance(sampler, ClassSampler):
            sampler = ClassSampler(sampler or DEFAULT_NEGATIVES)
        negatives = sampler.draw(table.shape[0], table.device, generator)  # (N,)
        return CatalogLoss(table, negatives, sampler.log_expected_counts(table.device))

    def corrected(self, logits: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """``logits`` of ``items`` (same shape) less their log(N·q); unchanged (the same
        tensor) where no correction applies."""
        return logits if self.log_q is None else logits - self.log_q[items]

    def values(self, h: torch.Tensor, labels: torch.Tensor,
               coef: torch.Tensor | None = None) -> torch.Tensor:
        """ℓ (M,) for h (M, D), labels (M,) or (M, T) item ids, coef (M, T) (default 1)."""
        if labels.dim() == 1:
            labels = labels[:, None]  # (M, 1)
        if coef is None:
            coef = torch.ones(labels.shape, device=h.device)
        if self.negatives is None:
            return chunked_softmax_ce(h, self.table[1:], labels - 1, coef)
        h = h.float()
        vectors = self.table[labels].float()  # (M, T, D)
        own = self.corrected((h[:, None, :] * vectors).sum(-1), labels)  # (M, T) logits
        picked = (own * coef.float()).sum(1)  # (M,)
        return self._lse(h, own, labels) - picked

    def lse_without_own(self, h: torch.Tensor, own: torch.Tensor) -> torch.Tensor:
        """logsumexp over the classes other than item ``own`` (M,), for h (M, D): (M,)."""
        h = h.float()
        if self.negatives is None:
            labels = own[:, None] - 1  # (M, 1)
            lse = chunked_softmax_ce(h, self.table[1:], labels,
                                     torch.zeros(labels.shape, device=h.device))  # (M,)
            own_logit = (h * self.table[own].float()).sum(-1)  # (M,)
            # log(Σ_c e^{s_c} − e^{s_own}) = lse + log(1 − p_own), p_own < 1 kept away from 1
            return lse + torch.log(-torch.expm1((own_logit - lse).clamp_max(-1e-6)))
        neg = self.corrected(h @ self.table[self.negatives].float().T,
                             self.negatives[None, :])  # (M, N)
        neg = neg.masked_fill(self.negatives[None, :] == own[:, None], _NEG_INF)
        return torch.logsumexp(neg, dim=1)

    def _lse(self, h: torch.Tensor, own: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """logsumexp over a row's distinct labels and the negatives that are not among them."""
        assert self.negatives is not None
        t = labels.shape[1]
        first = torch.ones(labels.shape, dtype=torch.bool, device=h.device)  # (M, T)
        for k in range(1, t):
            first[:, k] = (labels[:, :k] != labels[:, k : k + 1]).all(1)
        neg = self.corrected(h @ self.table[self.negatives].float().T,
                             self.negatives[None, :])  # (M, N)
        hit = (self.negatives[None, None, :] == labels[:, :, None]).any(1)  # (M, N)
        scores = torch.cat([own.masked_fill(~first, _NEG_INF),
                            neg.masked_fill(hit, _NEG_INF)], dim=1)  # (M, T + N)
        return torch.logsumexp(scores, dim=1)
