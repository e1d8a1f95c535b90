"""The plain next-item objective (``--objective none``): the backbone's own loss, Eq. 13."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from basrec.models.base import Backbone
from basrec.models.fast import encode_outputs, length_order
from basrec.objectives.base import Objective, ObjectiveContext, StepRandom
from basrec.objectives.class_sampler import run_sampler
from basrec.objectives.losses import Targets, next_item_loss
from basrec.registry import OBJECTIVES

if TYPE_CHECKING:
    from basrec.data.batches import TrainBatch


@dataclass(frozen=True)
class PlainOptions:
    """No options: the loss kind is the run's ``loss`` key."""


def sorted_batch(batch: TrainBatch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(inputs (B, N), targets, negatives) with rows sorted by length: the loss, a mean over
    positions, is unchanged, and length groups become contiguous slices. Targets and
    negatives cover the encoder columns the step computes (``encode_outputs``): all N, (B, N),
    or the last one alone where the batch is ``last_only``, (B, 1)."""
    order = length_order(batch.inputs)
    y, q = batch.targets[order], batch.negatives[order]
    if batch.last_only:
        y, q = y[:, -1:], q[:, -1:]
    return batch.inputs[order], y, q


@OBJECTIVES.register("none", options=PlainOptions)
class Plain(Objective):
    def __init__(self, options: PlainOptions, context: ObjectiveContext) -> None:
        self.loss_kind = context.config.loss
        self.sampler = run_sampler(context)
        self.groups = context.config.length_groups_on(context.device)

    def __call__(self, model: Backbone, batch: TrainBatch,
                 rng: StepRandom) -> dict[str, torch.Tensor]:
        x, y, q = sorted_batch(batch)
        h = encode_outputs(model, model.embed(x), x, self.groups, batch.last_only)  # (B, W, D)
        t = Targets.of(y, q)
        loss = next_item_loss(self.loss_kind, model, t.select(h), t,
                              sampler=self.sampler)
        return {"loss": loss, "rec": loss.detach()}
