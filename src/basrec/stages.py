"""A run in stages: an objective's own stages (ASReP, DiffuASR), or a stage 1 (the backbone
alone) before a two-stage objective (BASRec), then the objective; each stage is ``train.fit``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from basrec import config as config_mod
from basrec.build import (
    load_data,
    make_model,
    objective_hooks,
    resolve_device,
    stage1_config,
    two_stage,
)
from basrec.config import RunConfig
from basrec.distributed import from_environment
from basrec.errors import ConfigError
from basrec.objectives.base import Stages
from basrec.runio import Logger, read_json, write_json


def stage_comparison(results: dict[str, Any], metric: str) -> list[str]:
    """Stage 2 against stage 1 on validation, on the selection metric, for a two-stage run's
    results: a line, and a warning line where stage 2 did not improve on stage 1."""
    stage1 = results.get("stage1", {}).get("valid", {})
    stage2 = results.get("valid", {})
    if metric not in stage1 or metric not in stage2:
        return []
    before, after = float(stage1[metric]), float(stage2[metric])
    change = after - before
    relative = f", {change / before:+.1%}" if before > 0 else ""
    lines = [f"validation {metric}: stage 1 {before:.4f}, stage 2 {after:.4f} "
             f"({change:+.4f}{relative})"]
    if change <= 0:
        lines.append(f"warning: stage 2 did not improve on stage 1 on validation {metric}; "
                     f"its best checkpoint is no better than the backbone alone (more stage-2 "
                     f"epochs, a patience or other options may help)")
    return lines


def stages() -> Stages:
    """The trainer and the run factories, for objectives with stages of their own."""
    from basrec import train

    return Stages(train.fit, load_data, make_model, resolve_device)


def run(cfg: RunConfig, run_dir: str | Path, quiet: bool = False,
        on_epoch: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Train a run; objectives that need a trained backbone get a stage 1 first (algorithm.md §3.5).

    Stage 1 (the backbone alone, ``objective=none``) lives in ``RUN_DIR/stage1`` unless
    ``init_from`` names a finished run to reuse. Stage 2 starts from its best weights with a
    fresh optimizer. ``results.json`` reports stage 1 (the "Base" row) under ``stage1``.
    """
    from basrec import train

    created = not Path(run_dir).exists()
    try:
        return _run_stages(cfg, Path(run_dir), quiet, on_epoch)
    except BaseException:
        if created and Path(run_dir).is_dir():
            train._discard_if_unused(Path(run_dir))
        raise


def _run_stages(cfg: RunConfig, run_dir: Path, quiet: bool,
                on_epoch: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    from basrec.train import fit

    prepared = objective_hooks(cfg).prepare_run(cfg, run_dir, quiet, stages())
    if prepared is not None:  # an objective with stages of its own (ASReP, DiffuASR)
        cfg, init_weights = prepared
        return fit(cfg, run_dir, init_weights=init_weights, quiet=quiet, on_epoch=on_epoch)
    if not two_stage(cfg):
        if cfg.init_from:
            raise ConfigError(f"init_from: objective {cfg.objective!r} trains in one stage, "
                              f"from scratch; only a two-stage objective (basrec) starts from "
                              f"a finished run")
        return fit(cfg, run_dir, quiet=quiet, on_epoch=on_epoch)
    if cfg.init_from:
        stage1_dir = Path(cfg.init_from)
        if not (stage1_dir / "results.json").exists():
            raise ConfigError(f"init_from: {stage1_dir} holds no finished run (results.json)")
        base = config_mod.resolve(config_mod.read_yaml(stage1_dir / "config.yaml"))
        for key in ("dataset", "model", "max_seq_length", "hidden_size", "num_layers",
                    "num_heads"):
            if getattr(base, key) != getattr(cfg, key):
                raise ConfigError(f"init_from: {stage1_dir} was trained with {key}="
                                  f"{getattr(base, key)!r}, this run has {getattr(cfg, key)!r}")
        stage1 = dict(read_json(stage1_dir / "results.json"))
    else:
        stage1_dir = Path(run_dir) / "stage1"
        stage1 = fit(stage1_config(cfg), stage1_dir, quiet=quiet)
    # on_epoch sees stage 2 only: a tuner's trials share a finished stage 1 (init_from)
    results = fit(cfg, run_dir, init_weights=stage1_dir / "checkpoint_best.pt", quiet=quiet,
                  on_epoch=on_epoch)
    finished_now = "stage1" not in results  # a finished run's results.json has it already
    if finished_now:
        results = {"stage1": {"valid": stage1["valid"], "test": stage1["test"],
                              "run_dir": str(stage1_dir)}, **results}
        if from_environment().is_main:
            write_json(Path(run_dir) / "results.json", results)
    if from_environment().is_main:
        log = Logger(Path(run_dir) / "log.txt", echo=False, enabled=finished_now)
        for line in stage_comparison(results, cfg.metric):
            log(line)
            if not quiet:
                print(line, file=sys.stderr if line.startswith("warning") else sys.stdout,
                      flush=True)
    return results
