"""CL4SRec (Xie et al., ICDE 2022, "Contrastive Learning for Sequential Recommendation"),
docs/algorithm.md §5.3: L = L_rec + λ · InfoNCE(view₁, view₂), the two views of each training
input made by Crop, Mask or Reorder (``coserec_ops``).

Defaults follow the framework BASRec's code comes from (CoSeRec/ICLRec, docs/algorithm.md §5.3):
each view draws its operator independently, rates crop 0.2 / mask 0.7 / reorder 0.2 (tao,
gamma, beta), dot similarity over the flattened output, τ = 1, λ = 0.1, and the all-position
BCE as L_rec. RecBole-DA's variant is ``cl_repr: last``, ``distinct_ops: true`` and rates
0.6 / 0.3 / 0.6. Deviation: Mask writes the padding id (CoSeRec), not RecBole's extra mask
token, so no row is added to the item table; ``flatten`` zeroes padding positions
(``contrastive.py``).
The original sequence and both views go through the encoder in one call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from basrec.errors import ConfigError
from basrec.models.base import Backbone
from basrec.models.fast import encode_batch
from basrec.objectives.base import Objective, ObjectiveContext, StepRandom
from basrec.objectives.baselines.contrastive import (
    REPRESENTATIONS,
    SIMILARITIES,
    info_nce,
    view_representation,
)
from basrec.objectives.baselines.coserec_ops import cmr_operators, random_views
from basrec.objectives.class_sampler import run_sampler
from basrec.objectives.losses import Targets, next_item_loss
from basrec.objectives.sample_similarity import last_column_cosine, similarity_logs
from basrec.registry import OBJECTIVES

if TYPE_CHECKING:
    from basrec.data.batches import TrainBatch


def check_rates(section: str, **rates: float) -> None:
    for key, value in rates.items():
        if not 0.0 <= value <= 1.0:
            raise ConfigError(f"{section}.{key} must be in [0, 1], got {value}")


@dataclass(frozen=True)
class CL4SRecOptions:
    cl_weight: float = 0.1  # λ
    tau: float = 1.0
    similarity: str = "dot"  # dot | cosine
    cl_repr: str = "flatten"  # flatten (CoSeRec) | last (RecBole)
    crop: float = 0.2  # tao: the share of items a Crop keeps
    mask: float = 0.7  # gamma: the share of items a Mask hides
    reorder: float = 0.2  # beta: the share of items a Reorder shuffles
    distinct_ops: bool = False  # RecBole: the two views of a sequence use different operators

    def validate(self) -> None:
        check_rates("cl4srec", crop=self.crop, mask=self.mask, reorder=self.reorder)
        if self.tau <= 0 or self.cl_weight < 0:
            raise ConfigError("cl4srec.tau must be > 0 and cl4srec.cl_weight ≥ 0")
        if self.cl_repr not in REPRESENTATIONS:
            raise ConfigError(f"cl4srec.cl_repr: {self.cl_repr!r} is not one of "
                              f"{', '.join(REPRESENTATIONS)}")
        if self.similarity not in SIMILARITIES:
            raise ConfigError(f"cl4srec.similarity: {self.similarity!r} is not one of "
                              f"{', '.join(SIMILARITIES)}")


@OBJECTIVES.register("cl4srec", options=CL4SRecOptions)
class CL4SRec(Objective):
    def __init__(self, options: CL4SRecOptions, context: ObjectiveContext) -> None:
        self.opts = options
        self.loss_kind = context.config.loss
        self.sampler = run_sampler(context)
        self.groups = context.config.length_groups_on(context.device)
        self.operators = cmr_operators(options.crop, options.mask, options.reorder)

    def views(self, ids: torch.Tensor, rng: StepRandom) -> tuple[torch.Tensor, torch.Tensor]:
        """Two views of each row (B, N), each by one of Crop, Mask, Reorder."""
        ops = self.operators
        first, pick = random_views(ids, ops, rng.gen)
        allowed = None
        if self.opts.distinct_ops:
            allowed = torch.ones(ids.shape[0], len(ops), dtype=torch.bool, device=ids.device)
            allowed[torch.arange(ids.shape[0], device=ids.device), pick] = False
        second, _ = random_views(ids, ops, rng.gen, allowed)
        return first, second

    def __call__(self, model: Backbone, batch: TrainBatch,
                 rng: StepRandom) -> dict[str, torch.Tensor]:
        x, y, q = batch.inputs, batch.targets, batch.negatives
        b = x.shape[0]
        v1, v2 = self.views(x, rng)
        ids = torch.cat([x, v1, v2])  # (3B, N)
        h = encode_batch(model, model.embed(ids), ids, self.groups)  # (3B, N, D)
        t = Targets.of(y, q)
        rec = next_item_loss(self.loss_kind, model, t.select(h[:b]), t,
                             sampler=self.sampler)
        z1 = view_representation(h[b : 2 * b], v1, self.opts.cl_repr)  # (B, F)
        z2 = view_representation(h[2 * b :], v2, self.opts.cl_repr)  # (B, F)
        cl = info_nce(z1, z2, self.opts.tau, self.opts.similarity)
        loss = rec + self.opts.cl_weight * cl
        orig = h[:b]  # (B, N, D)
        sims = {"views": [last_column_cosine(h[b : 2 * b], orig, v1, x),
                          last_column_cosine(h[2 * b :], orig, v2, x)]}
        return {"loss": loss, "rec": rec.detach(), "cl": cl.detach(), **similarity_logs(sims)}
