"""Fake run folders and experiment indexes for the report and plot tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

BASE = {1: 0.10, 2: 0.20, 3: 0.30}
OURS = {1: 0.20, 2: 0.30, 3: 0.50}


def fake_run(folder: Path, dataset: str, model: str, objective: str, seed: int,
             ndcg10: float | None, ranks: np.ndarray | None = None,
             options: dict[str, Any] | None = None, history: int = 3) -> None:
    folder.mkdir(parents=True)
    cfg = {"dataset": dataset, "model": model, "objective": objective, "seed": seed,
           "metric": "NDCG@20"}
    if objective == "basrec":
        cfg["basrec"] = {"alpha": 0.3, "rate_min": 0.2, "rate_max": 0.5,
                         **{k.split(".", 1)[1]: v for k, v in (options or {}).items()}}
    (folder / "config.yaml").write_text(json.dumps(cfg))
    rows = [{"epoch": e, "loss": 1.0 / (e + 1), "valid": {"NDCG@20": 0.1 + 0.01 * e}}
            for e in range(history)]
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    if ndcg10 is None:
        return
    test = {"NDCG@10": ndcg10, "HR@10": 2 * ndcg10, "NDCG@20": ndcg10 + 0.01,
            "HR@20": 2 * ndcg10 + 0.02}
    (folder / "results.json").write_text(json.dumps({"test": test, "valid": test}))
    if ranks is not None:
        np.savez(folder / "per_user_test.npz", users=np.arange(ranks.size), ranks=ranks,
                 labels=np.arange(ranks.size))


def fake_experiment(root: Path, labels: dict[str, tuple[str, dict[int, float] | None]],
                    table: str | None = None, dataset: str = "beauty",
                    model: str = "sasrec", options: dict[str, dict[str, Any]] | None = None
                    ) -> Path:
    """An index with runs per label: label → (objective, {seed: NDCG@10} or None = not run)."""
    rng = np.random.default_rng(0)
    runs = []
    base_ids: dict[int, str] = {}
    for label, (objective, per_seed) in labels.items():
        for seed in (1, 2, 3):
            rid = f"{label}-{seed}".replace(" ", "_").replace("/", "_")
            rel = f"{dataset}/{model}/{rid}"
            value = per_seed.get(seed) if per_seed is not None else None
            shift = 0 if objective == "none" else -3
            ranks = np.clip(rng.integers(0, 30, 50) + shift, 0, None)
            opts = (options or {}).get(label, {})
            fake_run(root / rel, dataset, model, objective, seed, value, ranks, opts)
            if objective == "none":
                base_ids[seed] = rid
            runs.append({"id": rid, "label": label, "objective": objective,
                         "dataset": dataset, "model": model, "seed": seed, "cell": seed,
                         "dir": rel, "stage1": base_ids.get(seed) if objective != "none"
                         else None, "available": True, "note": "", "options": opts})
    index = root / "experiments" / "fake"
    index.mkdir(parents=True)
    (index / "experiment.json").write_text(json.dumps({
        "name": "fake", "table": table, "datasets": [dataset], "models": [model],
        "runs": runs}))
    return index
