"""fit(): the training loop, early stopping, checkpoints and exact resume. No model names here.
Runs with stages (stage 1, then the objective) are ``basrec.stages.run``, also ``train.run``.

Every epoch's randomness (batch order, negatives, dropout, augmentation) is derived from
(seed, epoch), and ``checkpoint_last.pt`` is written atomically after every epoch with the model,
optimizer and early-stopping state, so a killed run resumes from its last finished epoch and ends
with the same result as an uninterrupted one.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from basrec import config as config_mod
from basrec import identity as identity_mod
from basrec.build import construction_for as construction_for
from basrec.build import dataset_path as dataset_path
from basrec.build import leaky_protocol, make_objective
from basrec.build import load_data as load_data
from basrec.build import make_model as make_model
from basrec.build import model_spec as model_spec
from basrec.build import resolve_device as resolve_device
from basrec.build import stage1_rules as stage1_rules
from basrec.build import training_loader as training_loader
from basrec.config import RunConfig
from basrec.data.batches import TrainLoader as TrainLoader
from basrec.data.fingerprint import check_same, fingerprint, read_fingerprint, write_fingerprint
from basrec.data.split import LeaveOneOut, Samples
from basrec.distributed import (
    Dist,
    average_gradients,
    barrier,
    broadcast_parameters,
    from_environment,
    gather_ranks,
    setup_process,
)
from basrec.errors import BasrecError, ConfigError
from basrec.evaluate import EvalResult, evaluate
from basrec.memory import limit_heap_growth, release_free_memory
from basrec.metrics import metrics_from_ranks
from basrec.models.base import Backbone
from basrec.objectives.base import StepRandom
from basrec.precision import training_precision
from basrec.runio import (
    RUN_FILES,
    atomic_torch_save,
    atomic_write_text,
    environment,
    load_weights,
    read_json,
    write_json,
)
from basrec.runio import Logger as Logger
from basrec.stages import run as run
from basrec.stages import stage_comparison as stage_comparison
from basrec.stages import stages as stages
from basrec.stopping import advance_stopping as advance_stopping

TRIM_EVERY = 16  # steps between returns of free heap memory to the system (memory.py)


def epoch_seed(seed: int, epoch: int) -> int:
    return int(np.random.SeedSequence([seed, epoch, 3]).generate_state(1)[0])


def _identity(cfg: RunConfig) -> dict[str, Any]:
    """Config keys that define a run's result (progress, device placement aside).

    ``init_from`` counts by its folder's name: run folders (stage 1 beside its BASRec runs) can
    move to another directory or machine, a GPU say, and still resume there.
    """
    d = identity_mod.result_keys(cfg)
    if d.get("init_from"):
        d["init_from"] = Path(d["init_from"]).name
    return d


#: what a run writes before its config.yaml: a folder holding no more failed before training
_BEFORE_CONFIG = ("log.txt", "dataset.json")
#: what a run writes after its config.yaml: a folder holding one of these but no config.yaml
#: is not a basrec run, and training there would replace them
_AFTER_CONFIG = (*(name for name in RUN_FILES if name not in ("config.yaml", *_BEFORE_CONFIG)),
                 "checkpoint_last.pt", "checkpoint_best.pt")


def _discard_if_unused(run: Path) -> None:
    """Remove a run folder made by a run that failed before training: nothing but its log and
    its dataset fingerprint."""
    contents = list(run.iterdir())
    if all(p.name in _BEFORE_CONFIG for p in contents):
        for p in contents:
            p.unlink()
        run.rmdir()


def record_dataset(run: Path, data_file: Path, data: LeaveOneOut) -> None:
    """Write ``dataset.json`` (data/fingerprint.py); a resumed run checks that its file is the
    one it started on."""
    recorded = read_fingerprint(run)
    if recorded is not None:
        check_same(data_file, recorded, run)
    else:
        write_fingerprint(run, fingerprint(data_file, data.seqs.n_users, data.n_items))


def fit(cfg: RunConfig, run_dir: str | Path, *, init_weights: str | Path | None = None,
        quiet: bool = False,
        on_epoch: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Train ``cfg`` in ``run_dir`` (resuming if it holds a checkpoint); return results.json.

    ``on_epoch`` is called with each epoch's record (``valid`` holds the validation metrics
    where the epoch was validated) once its checkpoint is written; an exception it raises
    stops training there (a tuner's pruning), and a later call resumes."""
    run = Path(run_dir)
    created = not run.exists()
    run.mkdir(parents=True, exist_ok=True)
    results_path = run / "results.json"
    cfg_path = run / "config.yaml"
    if cfg_path.exists():
        previous = config_mod.resolve(config_mod.read_yaml(cfg_path))
        if _identity(previous) != _identity(cfg):
            raise ConfigError(f"{run} already holds a run with a different configuration; "
                              f"choose another --out")
        if results_path.exists():
            return dict(read_json(results_path))
    else:
        foreign = [name for name in _AFTER_CONFIG if (run / name).exists()]
        if foreign:
            raise ConfigError(f"{run} holds {foreign[0]} but no config.yaml: not a basrec run "
                              f"folder; choose another --out")
    try:
        dist_info = from_environment()
        main = dist_info.is_main
        if main:
            for stale in run.glob(".*.tmp"):  # left by a kill in the middle of an atomic write
                stale.unlink()
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        limit_heap_growth()
        device = setup_process(dist_info, resolve_device(cfg.device))
        precision = training_precision(cfg.amp, device)  # an impossible setting fails here, early
        log = Logger(run / "log.txt", echo=not quiet, enabled=main)
        data_file = dataset_path(cfg)
        data = load_data(cfg, log, data_file)
        if main:
            record_dataset(run, data_file, data)
        model = make_model(cfg, data.n_items, device)
        objective = make_objective(cfg, data, device)
        loader = training_loader(cfg, data, model, objective, device,
                                 shard=(dist_info.rank, dist_info.world))
        samples = loader.samples
        if len(samples) == 0:
            raise BasrecError(f"{cfg.dataset}: no training samples (every user is too short)")
        optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        if main:
            config_mod.save(cfg, cfg_path)
            write_json(run / "env.json", environment(str(device)) | {"world_size": dist_info.world})
    except BaseException:
        if created:  # bad data or settings: leave no empty run folder behind
            _discard_if_unused(run)
        raise

    state: dict[str, Any] = {"epoch": -1, "best_score": None, "best_epoch": -1, "bad": 0,
                             "history": [], "stopped": False}
    last_path = run / "checkpoint_last.pt"
    best_path = run / "checkpoint_best.pt"
    if last_path.exists():
        ckpt = load_weights(model, last_path, device, keys=("model", "optimizer", "state"))
        optimizer.load_state_dict(ckpt["optimizer"])
        if precision.scaler is not None and "scaler" in ckpt:
            precision.scaler.load_state_dict(ckpt["scaler"])
        state = json.loads(ckpt["state"])
        log(f"resuming from epoch {state['epoch'] + 1}")
    elif init_weights is not None:
        load_weights(model, init_weights, device)
        log(f"initialised from {init_weights}")
    broadcast_parameters(model, dist_info)

    eval_kw = dict(batch_size=cfg.eval_batch_size, topk=cfg.topk, history_mask=cfg.history_mask,
                   length_groups=cfg.length_groups_on(device), device=device)
    valid_samples = data.eval_samples("valid")
    show_bar = cfg.progress and sys.stderr.isatty() and not quiet and main

    def validate(which: Samples) -> EvalResult:
        return evaluate_sharded(model, data, which, dist_info, **eval_kw)

    start_time = time.time()
    log_dtype = torch.float32 if device.type == "mps" else torch.float64  # MPS has no float64
    epoch = state["epoch"] + 1
    while epoch < cfg.epochs and not state["stopped"]:
        torch.manual_seed(epoch_seed(cfg.seed, epoch) + dist_info.rank)
        rng = StepRandom.create(cfg.seed, epoch, device, stream=dist_info.rank)
        model.train()
        # summed on the model's device: one host synchronisation per key per epoch, not per step
        sums: dict[str, torch.Tensor] = {}
        counts: dict[str, int] = {}  # per key: a step may log a key only when it applies
        t0 = time.time()
        batches = loader.epoch(epoch)
        if show_bar:
            from tqdm import tqdm

            batches = tqdm(batches, total=len(loader), desc=f"epoch {epoch}", leave=False)
        for n_batches, batch in enumerate(batches, start=1):
            with precision.autocast():
                parts = objective(model, batch, rng)
            optimizer.zero_grad(set_to_none=True)
            precision.step(parts["loss"], optimizer,
                           before_step=lambda: average_gradients(model, dist_info))
            for key, value in parts.items():
                value = value.detach().to(log_dtype)  # () on the model's device
                sums[key] = sums[key] + value if key in sums else value
                counts[key] = counts.get(key, 0) + 1
            if n_batches % TRIM_EVERY == 0:
                release_free_memory()
        record: dict[str, Any] = {"epoch": epoch, "train_s": round(time.time() - t0, 3)}
        record.update({k: float(v) / counts[k] for k, v in sums.items()})
        if not np.isfinite(record.get("loss", 0.0)):
            raise BasrecError(f"training diverged at epoch {epoch} (loss is not finite); "
                              f"try a smaller lr")
        if (epoch + 1) % cfg.valid_every == 0 or epoch + 1 == cfg.epochs:
            t1 = time.time()
            valid = validate(valid_samples)
            record["valid_s"] = round(time.time() - t1, 3)
            record["valid"] = valid.metrics
            score = valid.metrics[cfg.metric]
            if advance_stopping(state, epoch, score, cfg.min_epochs, cfg.patience) and main:
                atomic_torch_save({"model": model.state_dict(), "epoch": epoch}, best_path)
        state["epoch"] = epoch
        state["history"].append(record)
        if main:
            last = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "state": json.dumps(state)}
            if precision.scaler is not None:
                last["scaler"] = precision.scaler.state_dict()
            atomic_torch_save(last, last_path)
            atomic_write_text(run / "metrics.jsonl",
                              "".join(json.dumps(r) + "\n" for r in state["history"]))
            if not quiet:  # the full record is in metrics.jsonl
                print(epoch_line(record, state, cfg.metric), flush=True)
        if on_epoch is not None:
            on_epoch(record)
        epoch += 1
    if main:  # again here: a kill between the last checkpoint and this file must not lose it
        atomic_write_text(run / "metrics.jsonl",
                          "".join(json.dumps(r) + "\n" for r in state["history"]))
    barrier(dist_info)  # the best checkpoint is on disk for every process

    if best_path.exists():
        load_weights(model, best_path, device)
    else:  # no validation counted (e.g. min_epochs >= epochs): test the last weights
        if main:
            atomic_torch_save({"model": model.state_dict(), "epoch": state["epoch"]}, best_path)
        state["best_epoch"] = state["epoch"]
    valid_res = validate(valid_samples)
    test_res = validate(data.eval_samples("test"))
    results = {
        "valid": valid_res.metrics,
        "test": test_res.metrics,
        "best_epoch": state["best_epoch"],
        "epochs_run": state["epoch"] + 1,
        "early_stopped": state["stopped"],
        "train_wall_s": round(sum(r["train_s"] + r.get("valid_s", 0.0)
                                  for r in state["history"]), 2),
        # the wall time of the process that finished the run (a resumed run: since the
        # resume); older records call it session_wall_s (process_wall_s reads both)
        "last_process_wall_s": round(time.time() - start_time, 2),
        "n_users": data.seqs.n_users,
        "n_items": data.n_items,
        "n_train_samples": len(samples),
    }
    if leaky_protocol(cfg, model):
        results["leaky_protocol"] = True
    if main:
        save_per_user(run / "per_user_test.npz", test_res, data)
        write_json(results_path, results)
    log(f"test: {json.dumps(test_res.metrics)}")
    barrier(dist_info)
    return results


def epoch_line(record: dict[str, Any], state: dict[str, Any], metric: str) -> str:
    """One short line per epoch: epoch, loss, the validation metric where validated, the best
    so far and the epoch's seconds (the full record goes to metrics.jsonl)."""
    parts = [f"epoch {record['epoch']:>3}"]
    if "loss" in record:
        parts.append(f"loss {record['loss']:.4f}")
    valid = record.get("valid")
    if valid is not None and metric in valid:
        parts.append(f"valid {metric} {valid[metric]:.4f}")
    if state.get("best_score") is not None:
        parts.append(f"best {state['best_score']:.4f} (epoch {state['best_epoch']})")
    seconds = record.get("train_s", 0.0) + record.get("valid_s", 0.0)
    parts.append(f"{seconds:.1f} s")
    return "  ".join(parts)


def process_wall_s(results: dict[str, Any]) -> float | None:
    """The wall time of the process that finished a run, from a results.json of any age
    (``last_process_wall_s``; ``session_wall_s`` before the key was renamed)."""
    value = results.get("last_process_wall_s", results.get("session_wall_s"))
    return None if value is None else float(value)


def evaluate_sharded(model: Backbone, data: LeaveOneOut, samples: Samples, dist_info: Dist,
                     **kw: Any) -> EvalResult:
    """``evaluate`` on this process's share of the users, gathered over all processes."""
    if not dist_info.enabled:
        return evaluate(model, data, samples, **kw)
    r, w = dist_info.rank, dist_info.world
    local = evaluate(model, data, Samples(samples.users[r::w], samples.ends[r::w],
                                          samples.last_only), **kw)
    users, ranks = gather_ranks(local.users, local.ranks, dist_info)
    return EvalResult(metrics_from_ranks(ranks, kw.get("topk", (5, 10, 20))), users, ranks)


def save_per_user(path: Path, result: EvalResult, data: LeaveOneOut) -> None:
    import io

    from basrec.runio import atomic_write_bytes

    buf = io.BytesIO()
    np.savez_compressed(buf, users=result.users, ranks=result.ranks,
                        labels=np.asarray(data.seqs.users)[result.users])
    atomic_write_bytes(path, buf.getvalue())
