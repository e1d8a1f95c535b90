"""The Objective base class: ``objective(model, batch, rng) -> {"loss": ..., parts...}`` and
the hooks the trainer calls, each with a default.

Objectives are registered by name with a frozen options dataclass in their own file. They own
their randomness: the trainer hands each step a ``StepRandom`` derived from (seed, epoch), so
a run is reproducible and resumable. Hot paths are vectorised on the model's device.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch

from basrec.models.base import Backbone

if TYPE_CHECKING:
    from basrec.config import RunConfig
    from basrec.data.batches import TrainBatch
    from basrec.data.split import LeaveOneOut, Samples


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


@dataclass(frozen=True)
class Stages:
    """What an objective's own stages train and build with, handed over by the trainer:
    ``fit(cfg, run_dir, *, init_weights=None, quiet=False)`` and the run factories
    ``load_data(cfg)``, ``make_model(cfg, n_items, device)``, ``resolve_device(name)``."""

    fit: Callable[..., dict[str, Any]]
    load_data: Callable[..., LeaveOneOut]
    make_model: Callable[..., Backbone]
    resolve_device: Callable[[str], torch.device]


class Objective:
    """Base class of objectives. Subclasses implement ``__call__``; the other members are the
    trainer's hooks, each with a default that does nothing special."""

    #: the batches carry a second negative per position (objectives training extra sequences)
    extra_negatives: ClassVar[bool] = False

    def __call__(self, model: Backbone, batch: TrainBatch,
                 rng: StepRandom) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def train_samples(self, data: LeaveOneOut, construction: str) -> Samples:
        """The training samples (default: the construction's samples of every user)."""
        return data.train_samples(construction)

    @staticmethod
    def transform_data(data: LeaveOneOut, cfg: RunConfig) -> LeaveOneOut:
        """The sequences training, evaluation and inference see (default: unchanged)."""
        return data

    @staticmethod
    def stage1(options: Any, cfg: RunConfig) -> dict[str, int] | None:
        """Epochs, patience and min_epochs of a stage 1 (the backbone alone, trained before
        this objective starts from its best weights); None: no stage 1 (the default)."""
        return None

    @staticmethod
    def prepare_run(cfg: RunConfig, run_dir: Path, quiet: bool,
                    stages: Stages) -> tuple[RunConfig, Path | None] | None:
        """Stages of the objective's own before training (``stages.fit`` trains one): the
        config and initial weights to train with; None (the default): train ``cfg`` as is."""
        return None


def hooks(component: Any) -> type[Objective]:
    """The class whose hooks apply to a registered objective: its own where it derives from
    ``Objective``, the defaults otherwise."""
    return component if isinstance(component, type) and issubclass(component, Objective) \
        else Objective


def build_objective(name: str, options: Any, context: ObjectiveContext) -> Objective:
    from basrec.registry import OBJECTIVES

    entry = OBJECTIVES.get(name)
    return entry.component(options, context)  # type: ignore[no-any-return,unused-ignore]
