"""basrec.build: from a config to data, model, objective, training batches and stage 1; the
objective hooks it calls are the ones declared on ``objectives.base.Objective``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch

from basrec import build, config
from basrec.errors import ConfigError
from basrec.objectives.base import Objective
from basrec.registry import OBJECTIVES, Entry


def cfg_of(data: Path, **extra: Any) -> config.RunConfig:
    return config.load([], {"dataset": str(data), "hidden_size": 8, "max_seq_length": 10,
                            "batch_size": 16, "progress": False, **extra})


def test_stage1_of_a_two_stage_objective(tiny_data: Path) -> None:
    plain = cfg_of(tiny_data, epochs=7, patience=3)
    assert not build.two_stage(plain)
    assert build.stage1_rules(plain) == {"epochs": 7, "patience": 3, "min_epochs": 0}
    basrec = cfg_of(tiny_data, objective="basrec", epochs=7, patience=3,
                    **{"basrec.stage1_epochs": 5, "basrec.stage1_min_epochs": 2})
    assert build.two_stage(basrec)
    assert build.stage1_rules(basrec) == {"epochs": 5, "patience": 3, "min_epochs": 2}
    stage1 = build.stage1_config(basrec)
    assert (stage1.objective, stage1.epochs, stage1.min_epochs, stage1.init_from) == (
        "none", 5, 2, None)
    assert stage1.valid_every == basrec.valid_every == 1  # unset: the run's cadence
    joint = cfg_of(tiny_data, objective="basrec", **{"basrec.training": "joint"})
    assert not build.two_stage(joint)


def test_stage1_valid_every_shapes_stage1_only(tiny_data: Path) -> None:
    """A short stage 2 validated every 2 epochs shares the stage 1 of a plain run validated
    every 5: same stage-1 id, and the key stays out of the id of a run given its stage 1."""
    from basrec.experiments.plan import run_id

    plain = cfg_of(tiny_data, epochs=7, patience=3, valid_every=5)
    basrec = cfg_of(tiny_data, objective="basrec", epochs=4, patience=3, valid_every=2,
                    **{"basrec.stage1_epochs": 7, "basrec.stage1_valid_every": 5})
    stage1 = build.stage1_config(basrec)
    assert (stage1.epochs, stage1.valid_every) == (7, 5) and basrec.valid_every == 2
    assert run_id(stage1) == run_id(plain)
    given = basrec.replace(init_from="stage1")
    unset = cfg_of(tiny_data, objective="basrec", epochs=4, patience=3, valid_every=2,
                   init_from="stage1")
    assert run_id(given, "s1") == run_id(unset, "s1")


@dataclass(frozen=True)
class NoOptions:
    pass


class Bare:
    """An objective that does not derive from Objective: it gets the default hooks."""

    def __init__(self, options: NoOptions, context: Any) -> None:
        pass

    def __call__(self, model: Any, batch: Any, rng: Any) -> dict[str, torch.Tensor]:
        return {"loss": model(batch.inputs).sum()}


def test_an_objective_without_the_base_class_gets_the_default_hooks(
        tiny_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    OBJECTIVES.names()  # the built-ins first
    monkeypatch.setitem(OBJECTIVES._entries, "bare", Entry("bare", Bare, NoOptions))
    cfg = cfg_of(tiny_data, objective="bare")
    assert build.objective_hooks(cfg) is Objective
    assert not build.two_stage(cfg)
    data = build.load_data(cfg)
    device = build.resolve_device("cpu")
    model = build.make_model(cfg, data.n_items, device)
    objective = build.make_objective(cfg, data, device)
    loader = build.training_loader(cfg, data, model, objective, device)
    assert len(loader.samples) == len(data.train_samples("all"))
    assert next(iter(loader.epoch(0))).extra_negatives is None


def test_same_seed_same_initial_weights(tiny_data: Path) -> None:
    cfg = cfg_of(tiny_data, seed=5)
    a = build.make_model(cfg, 40, torch.device("cpu"))
    b = build.make_model(cfg, 40, torch.device("cpu"))
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters(), strict=True))


def test_devices() -> None:
    assert build.resolve_device("cpu").type == "cpu"
    with pytest.raises(ConfigError, match="not a valid device"):
        build.resolve_device("gpu7")
