"""Ranking metrics and the pessimistic rank of the answer (metrics.py, evaluate.rank_answers)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from basrec.evaluate import rank_answers
from basrec.metrics import metrics_from_ranks

# 1 / log2(rank + 2) for ranks 0, 1, 4, 9 (worked out by hand: log2 2 = 1, log2 3, log2 6, log2 11)
G0, G1, G4, G9 = 1.0, 0.6309297535714575, 0.38685280723454163, 0.2890648263178879


def test_metrics_match_hand_computed_values() -> None:
    ranks = np.array([0, 1, 4, 9, 20])
    m = metrics_from_ranks(ranks, (1, 5, 10, 20, 21))
    # HR@K counts rank < K: @1 → {0}; @5 → {0,1,4}; @10 and @20 → {0,1,4,9}; @21 adds 20
    assert m["HR@1"] == pytest.approx(1 / 5)
    assert m["HR@5"] == pytest.approx(3 / 5)
    assert m["HR@10"] == pytest.approx(4 / 5)
    assert m["HR@20"] == pytest.approx(4 / 5)
    assert m["HR@21"] == pytest.approx(5 / 5)
    assert m["NDCG@1"] == pytest.approx(G0 / 5)
    assert m["NDCG@5"] == pytest.approx((G0 + G1 + G4) / 5)
    assert m["NDCG@5"] == pytest.approx(0.40355651216119987)
    assert m["NDCG@10"] == pytest.approx((G0 + G1 + G4 + G9) / 5)
    assert m["NDCG@10"] == pytest.approx(0.4613694774247774)
    assert m["NDCG@20"] == pytest.approx(m["NDCG@10"])  # rank 20 is outside the top 20
    assert m["NDCG@21"] == pytest.approx((G0 + G1 + G4 + G9 + 0.22424382421757544) / 5)
    assert m["MRR"] == pytest.approx((1 + 1 / 2 + 1 / 5 + 1 / 10 + 1 / 21) / 5)
    assert m["MRR"] == pytest.approx(0.36952380952380953)


def test_metric_keys_and_single_users() -> None:
    m = metrics_from_ranks(np.array([3]))
    assert set(m) == {"HR@5", "HR@10", "HR@20", "NDCG@5", "NDCG@10", "NDCG@20", "MRR"}
    assert m["HR@5"] == 1.0 and m["NDCG@5"] == pytest.approx(1 / np.log2(5))
    assert metrics_from_ranks(np.array([0]))["NDCG@10"] == 1.0
    assert metrics_from_ranks(np.array([0]))["MRR"] == 1.0
    worst = metrics_from_ranks(np.array([5, 100]), (5,))
    assert worst["HR@5"] == 0.0 and worst["NDCG@5"] == 0.0
    assert worst["MRR"] == pytest.approx((1 / 6 + 1 / 101) / 2)


def test_metrics_of_no_users_are_zero() -> None:
    m = metrics_from_ranks(np.array([], dtype=np.int64), (5, 10))
    assert m == {"HR@5": 0.0, "NDCG@5": 0.0, "HR@10": 0.0, "NDCG@10": 0.0, "MRR": 0.0}


def test_rank_answers_counts_higher_and_ties_pessimistically() -> None:
    inf = float("-inf")
    scores = torch.tensor([
        [inf, 1.0, 2.0, 2.0, 2.0, 0.0],
        [inf, 1.0, 2.0, 2.0, 2.0, 0.0],
        [inf, 1.0, 2.0, 2.0, 2.0, 0.0],
        [inf, 5.0, 4.0, 3.0, 2.0, 1.0],
        [inf, 5.0, 4.0, 3.0, 2.0, 1.0],
    ])
    answers = torch.tensor([3, 5, 1, 1, 5])
    # row 0: items 2 and 4 tie with the answer 3 → both above it; row 1: all four above 0.0;
    # row 2: the three 2.0s; rows 3–4: strict order, best and worst; PAD (−inf) never counts
    assert rank_answers(scores, answers).tolist() == [2, 4, 3, 0, 4]


@pytest.mark.parametrize("n_items", [7, 40, 1000])
def test_constant_scores_rank_last(n_items: int) -> None:
    """A constant row: every other real item ranks above the answer, whatever the answer."""
    scores = torch.full((3, n_items + 1), 0.25)
    scores[:, 0] = float("-inf")  # PAD
    answers = torch.tensor([1, n_items // 2, n_items])
    ranks = rank_answers(scores, answers)
    assert ranks.tolist() == [n_items - 1] * 3
    assert metrics_from_ranks(ranks.numpy(), (10,))["HR@10"] == (1.0 if n_items <= 10 else 0.0)
