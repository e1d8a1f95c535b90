"""The Objective protocol: ``objective(model, batch, rng) -> {"loss": ..., parts...}``.

Objectives are registered by name with a frozen options dataclass in their own file. They own
their randomness: the trainer hands each step a ``StepRandom`` derived from (seed, epoch), so
a run is reproducible and resumable. Hot paths are vectorised on the model's device.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import numpy as np
import torch

from basrec.models.base import Backbone

if TYPE_CHECKING:
    from basrec.config import RunConfig
    from basrec.data.batches import TrainBatch
    from basrec.data.split import LeaveOneOut


@dataclass
class StepRandom:
    """Explicit generators: torch (on the model's device) and numpy (for Beta draws)."""

    gen: torch.Generator  # on the model's device: operators, permutations
    np: np.random.Generator  # Beta draws (torch's Beta sampler takes no generator)

    @staticmethod
    def create(seed: int, epoch: int, device: torch.device | str,
               stream: int = 0) -> StepRandom:
        """Generators for (seed, epoch); ``stream`` > 0 gives each distributed process its own."""
        extra = [stream] if stream else []
        dev = torch.device(device)
        g = torch.Generator(device=dev)
        g.manual_seed(int(np.random.SeedSequence([seed, epoch, 11, *extra]).generate_state(1)[0]))
        return StepRandom(g, np.random.default_rng([seed, epoch, 13, *extra]))


@dataclass(frozen=True)
class ObjectiveContext:
    """What an objective may read when it is built: the run config and the training data."""

    config: RunConfig
    data: LeaveOneOut
    device: torch.device


class Objective(Protocol):
    #: True when the objective expects a trained backbone (stage 2 of a two-stage run)
    two_stage: ClassVar[bool]

    def __call__(self, model: Backbone, batch: TrainBatch,
                 rng: StepRandom) -> dict[str, torch.Tensor]: ...


def build_objective(name: str, options: Any, context: ObjectiveContext) -> Objective:
    from basrec.registry import OBJECTIVES

    entry = OBJECTIVES.get(name)
    return entry.component(options, context)  # type: ignore[no-any-return,unused-ignore]
