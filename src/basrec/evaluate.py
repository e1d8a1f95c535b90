"""Full-ranking evaluation (docs/decisions.md), batch by batch, never the whole user × item matrix.

For each batch of users: one encoder pass, one (B, n_items + 1) score matrix, PAD set to −inf,
the user's history set to −inf by index (``history_mask=exclude``; the answer itself is never
masked), and the answer's rank counted directly as the number of items scoring higher plus the
number of *other* items scoring the same (pessimistic ties: a constant model gets HR = 0).

``history_mask=zero`` reproduces the CoSeRec/BASRec quirk (history scores set to 0,
docs/algorithm.md §1.3); ``none`` masks nothing but PAD.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from basrec.data.batches import window
from basrec.data.io import ragged_positions
from basrec.data.split import LeaveOneOut, Samples
from basrec.metrics import metrics_from_ranks
from basrec.models.base import Backbone
from basrec.models.fast import encode_last_batch, paths


@dataclass(frozen=True)
class EvalResult:
    metrics: dict[str, float]
    users: np.ndarray  # (U,) user rows
    ranks: np.ndarray  # (U,) 0-based rank of the answer


#: the score given to history items per ``history_mask`` (None: not masked)
HISTORY_FILL: dict[str, float | None] = {"exclude": float("-inf"), "zero": 0.0, "none": None}


def rank_answers(scores: torch.Tensor, answers: torch.Tensor) -> torch.Tensor:
    """0-based pessimistic rank of each row's answer: #higher + #other equal scores; (B,)."""
    target = scores.gather(1, answers[:, None])  # (B, 1)
    # one comparison: #(score >= target) − 1 counts higher and *other* equal scores; summing
    # as float is the fastest reduction on CPU and exact below 2^24 items
    return (scores >= target).float().sum(1).long() - 1


def history_index(data: LeaveOneOut, users: np.ndarray, ends: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(row in batch, item) pairs for every item of each user's input s[:end]."""
    starts = data.starts[users]
    rows, pos = ragged_positions(starts, ends - starts)
    return rows, data.seqs.items[pos]


def masked_scores(model: Backbone, data: LeaveOneOut, users: np.ndarray, ends: np.ndarray,
                  width: int, *, history_fill: float | None = float("-inf"),
                  keep: np.ndarray | None = None, length_groups: int = 1,
                  device: str | torch.device = "cpu") -> torch.Tensor:
    """Scores of all items after each user's input items[start:end] (a window of ``width``):
    PAD at −inf, history items at ``history_fill`` (None: left alone), except the item
    ``keep[row]`` of each row (None: no exception). (B, n_items + 1)."""
    ids = torch.from_numpy(window(data.seqs.items, data.starts[users], ends, width)).to(device)
    h = encode_last_batch(model, model.embed(ids), ids, length_groups)  # (B, D)
    scores = model.scores(h)  # (B, n_items + 1)
    scores[:, 0] = float("-inf")
    if history_fill is not None:
        rows, cols = history_index(data, users, ends)
        if keep is not None:
            rows, cols = rows[cols != keep[rows]], cols[cols != keep[rows]]
        scores[torch.from_numpy(rows).to(scores.device),
               torch.from_numpy(cols).to(scores.device)] = history_fill
    return scores


@torch.no_grad()
def evaluate(model: Backbone, data: LeaveOneOut, samples: Samples, *, batch_size: int = 1024,
             topk: tuple[int, ...] = (5, 10, 20), history_mask: str = "exclude",
             length_groups: int = 1, device: str | torch.device = "cpu") -> EvalResult:
    """Rank every sample's answer (items[end]) against all items given input items[start:end]."""
    was_training = model.training
    model.eval()
    n = model.max_len
    ranks = np.empty(len(samples), dtype=np.int64)
    items = data.seqs.items
    # users sorted by input length: each batch is trimmed to its own longest input, where the
    # backbone allows it (``trim_exact``), so the encoder does about Σ lengths of token work
    in_len = np.minimum(samples.ends - data.starts[samples.users], n)
    trim = paths(model).trim_exact  # in eval mode
    order = np.argsort(in_len, kind="stable") if trim else np.arange(len(samples))
    try:
        for i in range(0, len(samples), batch_size):
            idx = order[i : i + batch_size]
            users = samples.users[idx]
            ends = samples.ends[idx]
            width = int(in_len[idx].max()) if trim else n
            answers_np = items[ends]
            # exclude: a repeated answer stays rankable; zero: every input item scores 0, a
            # repeated answer too, as the original code (docs/algorithm.md §1.3)
            keep = answers_np if history_mask == "exclude" else None
            scores = masked_scores(model, data, users, ends, width,
                                   history_fill=HISTORY_FILL[history_mask], keep=keep,
                                   length_groups=length_groups, device=device)
            answers = torch.from_numpy(answers_np).to(scores.device)
            ranks[idx] = rank_answers(scores, answers).cpu().numpy()
    finally:
        model.train(was_training)
    return EvalResult(metrics_from_ranks(ranks, topk), samples.users.copy(), ranks)
