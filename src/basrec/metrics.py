"""Ranking metrics from 0-based ranks of the answer (rank 0 = top of the list)."""

from __future__ import annotations

import numpy as np


def metrics_from_ranks(ranks: np.ndarray, topk: tuple[int, ...] = (5, 10, 20)) -> dict[str, float]:
    """HR@K = 1[rank < K]; NDCG@K = 1[rank < K] / log2(rank + 2); MRR = 1 / (rank + 1).

    Averaged over users; with one answer per user the ideal DCG is 1.
    """
    r = np.asarray(ranks, dtype=np.float64)
    if r.size == 0:
        return {f"{m}@{k}": 0.0 for k in topk for m in ("HR", "NDCG")} | {"MRR": 0.0}
    out: dict[str, float] = {}
    for k in topk:
        hit = r < k
        out[f"HR@{k}"] = float(hit.mean())
        out[f"NDCG@{k}"] = float(np.where(hit, 1.0 / np.log2(r + 2.0), 0.0).mean())
    out["MRR"] = float((1.0 / (r + 1.0)).mean())
    return out
