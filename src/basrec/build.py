"""From a run config to the things a run is made of: device, data, model, objective, training
batches and the stage 1 a two-stage objective trains first.

Training, inference, objectives with stages of their own and experiments build from here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from basrec.config import RunConfig
from basrec.data.batches import TrainLoader
from basrec.data.catalog import resolve_dataset
from basrec.data.io import read_sequences
from basrec.data.split import LeaveOneOut
from basrec.errors import ConfigError
from basrec.models.base import Backbone, ModelSpec, build_model
from basrec.objectives.base import Objective, ObjectiveContext, build_objective, hooks
from basrec.registry import OBJECTIVES


def resolve_device(name: str) -> torch.device:
    """``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps`` as a device that exists here."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"device: {name!r} is not a valid device name") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device: {name!r} requested but CUDA is not available")
    return dev


def dataset_path(cfg: RunConfig) -> Path:
    """The sequence file behind ``cfg.dataset`` (a name or a path) and ``cfg.data_dir``."""
    return resolve_dataset(cfg.dataset, cfg.data_dir)


def objective_hooks(cfg: RunConfig) -> type[Objective]:
    """The class whose hooks apply to ``cfg``'s objective."""
    return hooks(OBJECTIVES.get(cfg.objective).component)


def load_data(cfg: RunConfig, log: Any = None, path: Path | None = None) -> LeaveOneOut:
    """The run's leave-one-out data, as its objective transforms it (the same sequences for
    training, evaluation and inference)."""
    path = path if path is not None else dataset_path(cfg)
    seqs, report = read_sequences(path)
    if report.skipped_short and log is not None:
        log(f"{path}: skipped {len(report.skipped_short)} user(s) with fewer than "
            f"{report.min_length} items (too short for leave-one-out)")
    return objective_hooks(cfg).transform_data(LeaveOneOut(seqs), cfg)


def model_spec(cfg: RunConfig, n_items: int) -> ModelSpec:
    return ModelSpec(n_items=n_items, max_seq_length=cfg.max_seq_length,
                     hidden_size=cfg.hidden_size, num_layers=cfg.num_layers,
                     num_heads=cfg.num_heads, dropout=cfg.dropout,
                     attn_dropout=cfg.attn_dropout, init_range=cfg.init_range)


def make_model(cfg: RunConfig, n_items: int, device: torch.device) -> Backbone:
    """The backbone with its initial weights (seeded by ``cfg.seed``) on ``device``."""
    torch.manual_seed(cfg.seed)
    return build_model(cfg.model, model_spec(cfg, n_items), cfg.model_options).to(device)


def make_objective(cfg: RunConfig, data: LeaveOneOut, device: torch.device) -> Any:
    return build_objective(cfg.objective, cfg.objective_options,
                           ObjectiveContext(cfg, data, device))


def construction_for(cfg: RunConfig, model: Backbone) -> str:
    if cfg.construction == "auto":
        return "all" if model.causal else "prefix"
    if cfg.construction == "all" and not model.causal and not cfg.allow_leak:
        raise ConfigError(f"construction 'all' would leak targets into the inputs of the "
                          f"non-causal backbone {cfg.model!r}; use construction=prefix "
                          f"(allow_leak=true trains it anyway, as a diagnostic)")
    return cfg.construction


def leaky_protocol(cfg: RunConfig, model: Backbone) -> bool:
    """Whether a run trains a non-causal backbone at every position (``allow_leak``)."""
    return construction_for(cfg, model) == "all" and not model.causal


def training_loader(cfg: RunConfig, data: LeaveOneOut, model: Backbone, objective: Any,
                    device: torch.device | str, shard: tuple[int, int] = (0, 1)) -> TrainLoader:
    """The training batches of a run: the objective's samples, and a second negative per
    position for objectives that train on extra sequences."""
    own = objective if isinstance(objective, Objective) else Objective()
    samples = own.train_samples(data, construction_for(cfg, model))
    return TrainLoader(data, samples, cfg.max_seq_length, cfg.batch_size, cfg.seed, str(device),
                       shard=shard, extra_negatives=own.extra_negatives)


def two_stage(cfg: RunConfig) -> bool:
    """Whether ``cfg``'s objective trains a stage 1 (the backbone alone) first."""
    return objective_hooks(cfg).stage1(cfg.objective_options, cfg) is not None


def stage1_rules(cfg: RunConfig) -> dict[str, int]:
    """Epochs, patience and min_epochs (and valid_every where the objective sets it) of the
    stage 1 a two-stage run trains itself (by default: the run's epochs and patience, no
    minimum)."""
    rules = objective_hooks(cfg).stage1(cfg.objective_options, cfg)
    if rules is None:
        return {"epochs": cfg.epochs, "patience": cfg.patience, "min_epochs": 0}
    return rules


def stage1_config(cfg: RunConfig) -> RunConfig:
    """The config of the stage 1 a two-stage run trains itself: the backbone alone."""
    from basrec.objectives.plain import PlainOptions

    sampled = {} if cfg.loss == "sampled_ce" else {"ce_sampler": "uniform", "ce_logq": True}
    # ce_sampler only draws negatives for a sampled loss: a CE-form run's own sampler
    # (basrec.ce_negatives) leaves its stage 1, the plain run, as it is
    return cfg.replace(objective="none", objective_options=PlainOptions(), init_from=None,
                       **stage1_rules(cfg), **sampled)
