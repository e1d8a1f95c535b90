"""The plain next-item objective (``--objective none``): the backbone's own loss, Eq. 13."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from basrec.models.base import Backbone, encode_outputs, length_order
from basrec.objectives.base import ObjectiveContext, StepRandom
from basrec.objectives.losses import Targets, next_item_loss
from basrec.registry import OBJECTIVES

if TYPE_CHECKING:
    from basrec.data.batches import TrainBatch


@dataclass(frozen=True)
class PlainOptions:
    """No options: the loss kind is the run's ``loss`` key."""


def sorted_batch(batch: TrainBatch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(inputs, targets, negatives) with rows sorted by length: the loss, a mean over
    positions, is unchanged, and length groups become contiguous slices."""
    order = length_order(batch.inputs)
    return batch.inputs[order], batch.targets[order], batch.negatives[order]


def output_targets(batch: TrainBatch, y: torch.Tensor, q: torch.Tensor
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """Targets and negatives for the encoder columns a step computes (``encode_outputs``):
    all N, or the last one alone where the batch is ``last_only``. (B, N) or (B, 1) each."""
    if batch.last_only:
        return y[:, -1:], q[:, -1:]
    return y, q


@OBJECTIVES.register("none", options=PlainOptions)
class Plain:
    two_stage = False

    def __init__(self, options: PlainOptions, context: ObjectiveContext) -> None:
        self.loss_kind = context.config.loss
        self.groups = context.config.length_groups

    def __call__(self, model: Backbone, batch: TrainBatch,
                 rng: StepRandom) -> dict[str, torch.Tensor]:
        x, y, q = sorted_batch(batch)
        y, q = output_targets(batch, y, q)
        h = encode_outputs(model, model.embed(x), x, self.groups, batch.last_only)  # (B, W, D)
        t = Targets.of(y, q)
        loss = next_item_loss(self.loss_kind, model, t.select(h), t)
        return {"loss": loss, "rec": loss.detach()}
