"""Seed a grid run with a finished run that differs from it only in when training stops.

Usage: python lab/scripts/continue_run.py GRID.yaml SOURCE_RUN --only FIELD=VALUE [--only ...]

`epochs`, `patience` and `min_epochs` change no training step (the batches, dropout and
augmentation of an epoch are a function of the seed and the epoch, algorithm.md §1.4; the trainer
checkpoints everything else), only when the loop ends and which epoch is selected. So a run that
is SOURCE_RUN with other values of those fields equals SOURCE_RUN's epochs followed by more of
them, provided SOURCE_RUN kept the weights the new rule selects so far. This script replays the
stopping rule over SOURCE_RUN's curve with the new values, copies its last checkpoint (with the
replayed state) and curve into the grid run's folder, and its best checkpoint when the replayed
best epoch is SOURCE_RUN's own; when no epoch counts yet (every epoch so far is under the new
`min_epochs`) there is no best checkpoint to copy. `basrec experiment GRID.yaml` then resumes
the run where SOURCE_RUN stopped. It refuses when any other field differs, when the new rule
would have stopped before SOURCE_RUN's last epoch, when it selects an epoch whose weights
SOURCE_RUN did not keep, or when the grid run's folder already holds anything. log.txt says where
the epochs came from.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import sys
from pathlib import Path
from typing import Any

from basrec import config as config_mod
from basrec.errors import BasrecError
from basrec.experiments.plan import parse_only, plan, select_runs
from basrec.experiments.spec import load_spec
from basrec.runio import atomic_torch_save, load_checkpoint
from basrec.train import _identity, advance_stopping

STOPPING_FIELDS = ("epochs", "patience", "min_epochs")


def replay_stopping(history: list[dict[str, Any]], metric: str, min_epochs: int,
                    patience: int) -> dict[str, Any]:
    """The trainer's early-stopping state after ``history`` (``stopping.advance_stopping`` over
    each validated epoch); raises when that rule stops before the last record."""
    state: dict[str, Any] = {"best_score": None, "best_epoch": -1, "bad": 0, "stopped": False}
    for i, record in enumerate(history):
        if state["stopped"]:
            raise BasrecError(f"with patience {patience} the run stops at epoch "
                              f"{history[i - 1]['epoch']}, before the source's last epoch "
                              f"{history[-1]['epoch']}: not a continuation")
        if "valid" in record:
            advance_stopping(state, record["epoch"], record["valid"][metric], min_epochs,
                             patience)
    return state


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("grid")
    ap.add_argument("source")
    ap.add_argument("--only", action="append", required=True)
    args = ap.parse_args()
    try:
        continue_run(args.grid, Path(args.source), args.only)
    except BasrecError as e:
        sys.exit(f"continue_run: {e}")


def continue_run(grid: str, source: Path, only_items: list[str]) -> None:
    the_plan = plan(load_spec(grid))
    runs = [r for r in select_runs(the_plan.runs, parse_only(only_items), the_plan.by_id())
            if not r.implicit]
    if len(runs) != 1 or runs[0].cfg is None:
        raise BasrecError(f"--only must select exactly one grid run, got {len(runs)}")
    target, cfg = runs[0], runs[0].cfg
    if target.dir.exists() and any(target.dir.iterdir()):
        raise BasrecError(f"{target.dir} already holds files")
    for name in ("config.yaml", "metrics.jsonl", "checkpoint_last.pt"):
        if not (source / name).is_file():
            raise BasrecError(f"{source}: no {name} (a run folder with its last checkpoint "
                              f"is needed)")
    src_cfg = config_mod.resolve(config_mod.read_yaml(source / "config.yaml"))
    new, old = _identity(cfg), _identity(src_cfg)
    differ = sorted(k for k in set(new) | set(old) if new.get(k) != old.get(k))
    if not differ or set(differ) - set(STOPPING_FIELDS):
        raise BasrecError(f"the runs must differ in {' or '.join(STOPPING_FIELDS)} only; "
                          f"they differ in {differ or 'nothing'}")
    last = load_checkpoint(source / "checkpoint_last.pt", keys=("model", "state"))
    state = json.loads(last["state"])
    if state["epoch"] + 1 > cfg.epochs:
        raise BasrecError(f"the source ran {state['epoch'] + 1} epochs, more than {cfg.epochs}")
    replayed = replay_stopping(state["history"], cfg.metric, cfg.min_epochs, cfg.patience)
    keep_best = replayed["best_epoch"] >= 0
    if keep_best and (replayed["best_epoch"] != state["best_epoch"]
                      or not (source / "checkpoint_best.pt").is_file()):
        raise BasrecError(f"the new rule selects epoch {replayed['best_epoch']}, whose weights "
                          f"the source did not keep (its best epoch is {state['best_epoch']})")
    state.update(replayed)
    last["state"] = json.dumps(state)

    target.dir.mkdir(parents=True, exist_ok=True)
    if keep_best:
        shutil.copy2(source / "checkpoint_best.pt", target.dir / "checkpoint_best.pt")
    shutil.copy2(source / "metrics.jsonl", target.dir / "metrics.jsonl")
    config_mod.save(cfg, target.dir / "config.yaml")
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    changes = ", ".join(f"{k}: {old.get(k)} -> {new.get(k)}" for k in differ)
    (target.dir / "log.txt").write_text(
        f"[seeded {stamp}] epochs 0-{state['epoch']} copied from {source.name} (same "
        f"configuration except {changes}; training is a function of (seed, epoch) and the "
        f"checkpointed state, so the continuation equals a run from scratch; "
        f"lab/scripts/continue_run.py)\n", encoding="utf-8")
    atomic_torch_save(last, target.dir / "checkpoint_last.pt")  # last: it marks the run started
    print(f"{target.dir}: seeded from {source} at epoch {state['epoch']} "
          f"(best {state['best_epoch']}, {state['bad']} without improvement, {changes})")


if __name__ == "__main__":
    main()
