"""Load a finished run and use it: re-evaluation and top-K recommendation."""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from basrec import config as config_mod
from basrec.build import load_data, make_model, resolve_device
from basrec.data.catalog import resolve_dataset
from basrec.data.fingerprint import check_same, read_fingerprint
from basrec.data.id_maps import load_id_maps
from basrec.errors import BasrecError
from basrec.evaluate import EvalResult, evaluate, masked_scores
from basrec.models.base import Backbone
from basrec.runio import check_out_file, load_weights


def load_run(run_dir: str | Path, device: str | None = None,
             overrides: dict[str, Any] | None = None) -> tuple[Any, Any, Backbone]:
    """A finished run's config, data and best model (eval mode). ``overrides`` (dotted keys, as
    on the command line) change the config first: a setting that does not change the weights'
    shapes, e.g. ``history_mask`` or ``gru4rec.pad_steps``."""
    run = Path(run_dir)
    ckpt = run / "checkpoint_best.pt"
    if not (run / "config.yaml").exists() or not ckpt.exists():
        raise BasrecError(f"{run}: not a finished run (config.yaml and checkpoint_best.pt)")
    raw = config_mod.read_yaml(run / "config.yaml")
    cfg = config_mod.resolve(config_mod.merge(raw, config_mod.nest_dotted(overrides or {})))
    if cfg.threads and "threads" in (overrides or {}):  # the run's own value was for training
        torch.set_num_threads(cfg.threads)
    dev = resolve_device(device or cfg.device)
    cfg = cfg.replace(dataset=str(run_dataset(run, cfg, overrides or {})), data_dir=None)
    data = load_data(cfg)
    model = make_model(cfg, data.n_items, dev)
    load_weights(model, ckpt, dev)
    model.eval()
    return cfg, data, model


def run_dataset(run: Path, cfg: Any, overrides: dict[str, Any]) -> Path:
    """The run's sequence file: the one recorded at training (``dataset.json``), or where
    ``--dataset`` / ``--data-dir`` say it is now, checked against the record. Runs without a
    record resolve ``cfg.dataset`` as at training."""
    recorded = read_fingerprint(run)
    moved = "dataset" in overrides or "data_dir" in overrides
    if recorded is None or moved:
        try:
            path = resolve_dataset(cfg.dataset, cfg.data_dir, download=recorded is None)
        except BasrecError:
            beside = Path(cfg.data_dir or ".") / Path(recorded.path).name if recorded else None
            if beside is None or not beside.is_file():
                raise
            path = beside
    else:
        path = Path(recorded.path)
        if not path.is_file():
            raise BasrecError(f"{path}: the dataset {run} was trained on is gone; give its new "
                              "place with --dataset FILE or --data-dir FOLDER")
    if recorded is not None:
        check_same(path, recorded, run)
    return path.resolve()


def evaluate_loaded(cfg: Any, data: Any, model: Backbone, split: str = "test",
                    history_mask: str | None = None) -> EvalResult:
    """Rank ``split`` with a run's loaded model (``load_run``) under its config's protocol,
    or under ``history_mask`` where given."""
    dev = next(model.parameters()).device
    return evaluate(model, data, data.eval_samples(split), batch_size=cfg.eval_batch_size,
                    topk=cfg.topk, history_mask=history_mask or cfg.history_mask,
                    length_groups=cfg.length_groups_on(dev), device=dev)


def evaluate_run(run_dir: str | Path, split: str = "test", device: str | None = None,
                 overrides: dict[str, Any] | None = None) -> dict[str, float]:
    cfg, data, model = load_run(run_dir, device, overrides)
    return evaluate_loaded(cfg, data, model, split).metrics


@torch.no_grad()
def recommend(model: Backbone, data: Any, users: np.ndarray, k: int, *,
              include_history: bool = False, batch_size: int = 1024
              ) -> tuple[np.ndarray, np.ndarray]:
    """Top-k items for each user given the user's *whole* sequence; (U, k) items and scores."""
    device = next(model.parameters()).device
    items_out = np.zeros((users.shape[0], k), dtype=np.int64)
    scores_out = np.zeros((users.shape[0], k), dtype=np.float32)
    ends_all = data.seqs.offsets[1:]
    for i in range(0, users.shape[0], batch_size):
        u = users[i : i + batch_size]
        scores = masked_scores(model, data, u, ends_all[u], model.max_len, device=device,
                               history_fill=None if include_history else float("-inf"))
        top = torch.topk(scores, min(k, scores.shape[1] - 1), dim=1)
        # fewer candidates than k: the −inf entries (PAD, history) are no recommendation → 0
        top.indices[top.values == float("-inf")] = 0
        items_out[i : i + u.shape[0], : top.indices.shape[1]] = top.indices.cpu().numpy()
        scores_out[i : i + u.shape[0], : top.values.shape[1]] = top.values.cpu().numpy()
    return items_out, scores_out


#: how ``recommend`` names users and items: ``auto`` (the raw log's ids where ``basrec prepare``
#: left id maps beside the sequence file, the file's own otherwise), ``original`` (the maps,
#: required) or ``internal`` (the sequence file's user labels and item ids)
ID_MODES = ("auto", "original", "internal")


def recommend_run(run_dir: str | Path, k: int = 10, users: list[str] | None = None,
                  output: str | None = None, device: str | None = None,
                  include_history: bool = False, ids: str = "auto",
                  overrides: dict[str, Any] | None = None, force: bool = False) -> None:
    """Write ``user,rank,item,score`` rows (CSV) for ``users`` (default: all), to ``output``
    or stdout (an existing ``output`` only with ``force``). With id maps (``ids`` auto or
    original) ``users`` are the raw log's user ids and the rows name users and items by the
    raw log's ids."""
    if k < 1:
        raise BasrecError(f"--k must be at least 1, got {k}")
    if ids not in ID_MODES:
        raise BasrecError(f"--ids must be one of {', '.join(ID_MODES)}, got {ids!r}")
    if output:  # a folder, a path under a file, a run's own file: refused before any work;
        check_out_file(output, replace=force)  # an existing file, unless force
    cfg, data, model = load_run(run_dir, device, overrides)
    maps = None
    if ids != "internal":
        sequence_file = resolve_dataset(cfg.dataset, cfg.data_dir)
        maps = load_id_maps(sequence_file)
        if maps is None and ids == "original":
            raise BasrecError(f"{sequence_file}: no id maps beside it (basrec prepare writes "
                              "them); use --ids internal")
    labels = data.seqs.users
    if users:
        index = {label: i for i, label in enumerate(labels)}
        wanted = users
        if maps is not None:
            unknown = [u for u in users if u not in maps.label_of_user]
            if unknown:
                raise BasrecError(f"unknown user {unknown[0]!r} in {maps.user_map} (original "
                                  "ids; --ids internal names the sequence file's users)")
            wanted = [maps.label_of_user[u] for u in users]
        missing = [u for u in wanted if u not in index]
        if missing:
            raise BasrecError(f"unknown user {missing[0]!r} in {cfg.dataset}")
        rows = np.array([index[u] for u in wanted], dtype=np.int64)
    else:
        rows = np.arange(len(labels), dtype=np.int64)
    items, scores = recommend(model, data, rows, k, include_history=include_history)
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["user", "rank", "item", "score"])
    for r, u in enumerate(rows):
        user: str = labels[u]
        if maps is not None:
            user = maps.user_of_label.get(user, user)
        for j in range(items.shape[1]):
            item_id = int(items[r, j])
            if item_id == 0:  # no candidate left for this rank
                break
            item: str | int = item_id
            if maps is not None:
                if item_id not in maps.original_item:
                    raise BasrecError(f"item {item_id} is not in {maps.item_map}")
                item = maps.original_item[item_id]
            writer.writerow([user, j + 1, item, f"{scores[r, j]:.6f}"])
    if output:
        from basrec.runio import atomic_write_text

        atomic_write_text(output, buf.getvalue())
    else:
        sys.stdout.write(buf.getvalue())
