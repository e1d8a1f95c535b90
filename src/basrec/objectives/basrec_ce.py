"""BASRec's augmentation losses in cross-entropy form (``basrec.loss_form=ce``).

The paper scores each augmented output with BCE against one sampled negative (Eq. 13-15). A
backbone trained with a softmax over the catalog (``loss=ce`` / ``sampled_ce``) gets the same
terms as softmax losses over the step's classes (``CatalogLoss``), weighted exactly as in the
BCE form:

- a single-sequence view (Eq. 7-9, 14): CE of the view's output at x's target, to x's target;
- the item-wise mixup h̃ = λ·h + (1−λ)·h_p (Eq. 10-11, 15): soft labels, λ on the row's
  target and 1 − λ on the partner's (the mixed BCE target λ·e⁺ + (1−λ)·e⁺_p as a label
  distribution); where the partner has no target at that position (padding) its share goes
  to the row's own target;
- the feature-wise mixup h̃ = Λ⊙h + (1−Λ)⊙h_p, Λ ∈ [0, 1]^D (Eq. 12, 15), in one of two forms:
  ``soft_labels``, the item-wise form with λ = mean(Λ) (a scalar summary of how much of each
  sequence the mixed output holds); ``mixed_target``, the paper's mixed target vector
  ẽ = Λ⊙e⁺ + (1−Λ)⊙e⁺_p scored as the positive class in place of the row's own target,
  against every other class: ℓ = log(e^{h̃·ẽ} + Σ_{c ≠ target} e^{h̃·e_c}) − h̃·ẽ.

With the full catalogue as classes each form is plain CE of h̃ at λ = Λ = 1 (tests); with
``basrec.ce_negatives`` (shared sampled negatives) the partner's target is added to the
class set, so the λ = 1 loss also sees that one extra class.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from basrec.objectives.catalog_loss import CatalogLoss


@dataclass
class CEForm:
    """The CE-form terms of one step; ``pos`` (M,) are the rows' target items."""

    catalog: CatalogLoss
    pos: torch.Tensor

    def view(self, h_view: torch.Tensor) -> torch.Tensor:
        """A single-sequence view's loss per target position, (M,)."""
        return self.catalog.values(h_view, self.pos)

    def mixup(self, h_mix: torch.Tensor, lam: torch.Tensor, partner_pos: torch.Tensor,
              pos_mix: torch.Tensor, kind: str, feature_form: str) -> torch.Tensor:
        """A cross-sequence mixup's loss per target position, (M,). h_mix (M, D); lam (M, 1)
        (item-wise, linear) or (M, D) (feature-wise); partner_pos (M,) the partner's target
        items (0 where it has none); pos_mix (M, D) the mixed target vector."""
        if kind != "feature":
            return self.soft_labels(h_mix, lam[:, 0], partner_pos)
        if feature_form == "soft_labels":
            return self.soft_labels(h_mix, lam.mean(-1), partner_pos)
        s = (h_mix.float() * pos_mix.float()).sum(-1)  # (M,) the mixed target's logit
        s = self.catalog.corrected(s, self.pos)  # (M,) as the row's own target's class
        return torch.logaddexp(self.catalog.lse_without_own(h_mix, self.pos), s) - s

    def soft_labels(self, h: torch.Tensor, lam: torch.Tensor,
                    partner_pos: torch.Tensor) -> torch.Tensor:
        """CE with λ (M,) on the row's target and 1 − λ on the partner's, (M,)."""
        other = torch.where(partner_pos > 0, partner_pos, self.pos)  # (M,)
        labels = torch.stack([self.pos, other], 1)  # (M, 2)
        coef = torch.stack([lam, 1.0 - lam], 1).float()  # (M, 2)
        return self.catalog.values(h, labels, coef)
