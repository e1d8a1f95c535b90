"""The plain next-item objective (``--objective none``): the backbone's own loss, Eq. 13."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from basrec.models.base import Backbone, encode_batch
from basrec.objectives.base import ObjectiveContext, StepRandom
from basrec.objectives.losses import next_item_loss
from basrec.registry import OBJECTIVES

if TYPE_CHECKING:
    from basrec.data.batches import TrainBatch


@dataclass(frozen=True)
class PlainOptions:
    """No options: the loss kind is the run's ``loss`` key."""


@OBJECTIVES.register("none", options=PlainOptions)
class Plain:
    two_stage = False

    def __init__(self, options: PlainOptions, context: ObjectiveContext) -> None:
        self.loss_kind = context.config.loss
        self.groups = context.config.length_groups

    def __call__(self, model: Backbone, batch: TrainBatch,
                 rng: StepRandom) -> dict[str, torch.Tensor]:
        h = encode_batch(model, model.embed(batch.inputs), batch.inputs, self.groups)
        loss = next_item_loss(self.loss_kind, model, h, batch.targets, batch.negatives)
        return {"loss": loss, "rec": loss.detach()}
