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
from basrec.errors import BasrecError
from basrec.evaluate import evaluate, masked_scores
from basrec.models.base import Backbone
from basrec.train import load_data, make_model, resolve_device


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
    data = load_data(cfg)
    model = make_model(cfg, data.n_items, dev)
    try:
        state = torch.load(ckpt, map_location=dev, weights_only=True)
        model.load_state_dict(state["model"])
    except (RuntimeError, KeyError, EOFError) as e:
        first = (str(e).splitlines() or [type(e).__name__])[0]
        raise BasrecError(f"{ckpt}: unreadable checkpoint ({first})") from None
    model.eval()
    return cfg, data, model


def evaluate_run(run_dir: str | Path, split: str = "test", device: str | None = None,
                 overrides: dict[str, Any] | None = None) -> dict[str, float]:
    cfg, data, model = load_run(run_dir, device, overrides)
    res = evaluate(model, data, data.eval_samples(split), batch_size=cfg.eval_batch_size,
                   topk=cfg.topk, history_mask=cfg.history_mask,
                   length_groups=cfg.length_groups, device=next(model.parameters()).device)
    return res.metrics


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


def recommend_run(run_dir: str | Path, k: int = 10, users: list[str] | None = None,
                  output: str | None = None, device: str | None = None,
                  include_history: bool = False) -> None:
    if k < 1:
        raise BasrecError(f"--k must be at least 1, got {k}")
    cfg, data, model = load_run(run_dir, device)
    labels = data.seqs.users
    if users:
        index = {label: i for i, label in enumerate(labels)}
        missing = [u for u in users if u not in index]
        if missing:
            raise BasrecError(f"unknown user {missing[0]!r} in {cfg.dataset}")
        rows = np.array([index[u] for u in users], dtype=np.int64)
    else:
        rows = np.arange(len(labels), dtype=np.int64)
    items, scores = recommend(model, data, rows, k, include_history=include_history)
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["user", "rank", "item", "score"])
    for r, u in enumerate(rows):
        for j in range(items.shape[1]):
            if items[r, j] == 0:  # no candidate left for this rank
                break
            writer.writerow([labels[u], j + 1, int(items[r, j]), f"{scores[r, j]:.6f}"])
    if output:
        from basrec.runio import atomic_write_text

        atomic_write_text(output, buf.getvalue())
    else:
        sys.stdout.write(buf.getvalue())
