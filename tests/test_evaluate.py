"""Full-ranking evaluation (evaluate.py, docs/decisions.md): PAD and history never ranked, the
answer never masked, pessimistic ties, ranks independent of batching and of length sorting."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from basrec.data.io import Sequences
from basrec.data.split import LeaveOneOut
from basrec.evaluate import evaluate
from basrec.models.base import Backbone, ModelSpec, build_model
from basrec.models.fast import FastPaths
from basrec.registry import MODELS

INF = float("-inf")


class FixedScores(Backbone, FastPaths):
    """Scores every user with the same fixed vector over 0..n_items (PAD included)."""

    def __init__(self, fixed: list[float], max_len: int = 10, trim: bool = False) -> None:
        super().__init__(ModelSpec(n_items=len(fixed) - 1, max_seq_length=max_len,
                                   hidden_size=2, num_layers=1, num_heads=1))
        self.item_emb = nn.Embedding(len(fixed), 2)
        self.fixed = torch.tensor(fixed)
        self.trim = trim  # exercise both evaluation paths

    @property
    def trim_exact(self) -> bool:
        return self.trim

    def encode(self, emb: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        return emb

    def scores(self, h: torch.Tensor, items: torch.Tensor | None = None) -> torch.Tensor:
        assert items is None
        return self.fixed.expand(h.shape[0], -1).clone()


class ZeroModel(Backbone):
    """All outputs and all item vectors are zero: every item scores exactly the same."""

    def __init__(self, n_items: int, max_len: int = 10) -> None:
        super().__init__(ModelSpec(n_items=n_items, max_seq_length=max_len, hidden_size=4,
                                   num_layers=1, num_heads=1))
        self.item_emb = nn.Embedding(n_items + 1, 4)
        nn.init.zeros_(self.item_emb.weight)

    def encode(self, emb: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(emb)


def loo(seqs: list[list[int]], n_items: int) -> LeaveOneOut:
    return LeaveOneOut(Sequences.from_lists(seqs, n_items=n_items))


# fixed scores for items 0..10: PAD would win, item 3 (history) is next, answer 2 scores −0.5
FIXED = [100.0, 1.0, -0.5, 50.0, -1.0, -10.0, -2.0, -20.0, -3.0, -4.0, -5.0]


@pytest.mark.parametrize("trim", [False, True])
def test_pad_and_history_excluded_answer_rank(trim: bool) -> None:
    data = loo([[3, 5, 7, 2]], n_items=10)  # test: input [3, 5, 7], answer 2
    model = FixedScores(FIXED, trim=trim)
    test = data.eval_samples("test")

    def rank(mask: str) -> int:
        return int(evaluate(model, data, test, history_mask=mask).ranks[0])

    # exclude: only item 1 (1.0) beats −0.5; PAD (100) and history 3 (50) are not ranked
    assert rank("exclude") == 1
    # zero (the original code's quirk): history items 3, 5, 7 become 0.0 > −0.5, plus item 1
    assert rank("zero") == 4
    # none: nothing but PAD is masked: item 3 (50) and item 1 are above the answer
    assert rank("none") == 2


@pytest.mark.parametrize("trim", [False, True])
def test_a_repeated_answer_is_kept_by_exclude_and_zeroed_by_zero(trim: bool) -> None:
    """An answer that is also in the input (6.7 % of Yelp's test users): ``exclude`` keeps
    it rankable at its own score; ``zero`` scores it 0 with the rest of the input, as the
    original code does."""
    data = loo([[2, 3, 7, 3]], n_items=10)  # test answer 3 (50.0) is also in the input
    model = FixedScores(FIXED, trim=trim)
    test = data.eval_samples("test")
    assert int(evaluate(model, data, test, history_mask="exclude").ranks[0]) == 0
    # zero: the answer, 2 and 7 all score 0.0; item 1 (1.0) above, 2 and 7 tie (pessimistic)
    assert int(evaluate(model, data, test, history_mask="zero").ranks[0]) == 3
    assert int(evaluate(model, data, test, history_mask="none").ranks[0]) == 0


def test_valid_split_masks_only_the_valid_input() -> None:
    # valid: input [3, 5], answer 7 (−20); test item 2 (−0.5) is not history for valid
    data = loo([[3, 5, 7, 2]], n_items=10)
    model = FixedScores(FIXED)
    res = evaluate(model, data, data.eval_samples("valid"), history_mask="exclude")
    # above −20 among items not in {3, 5}: 1, 2, 4, 6, 8, 9, 10 (PAD never)
    assert int(res.ranks[0]) == 7


def test_history_beyond_the_window_is_still_excluded() -> None:
    """History masking uses the whole input s[:end], not only the last N items the model saw."""
    seq = [3, 1, 4, 6, 8, 2]  # test: input [3, 1, 4, 6, 8], answer 2; window of 2 = [6, 8]
    data = loo([seq], n_items=10)
    model = FixedScores(FIXED, max_len=2)
    # non-history items: 5, 7, 9, 10 all below −0.5 → rank 0
    assert int(evaluate(model, data, data.eval_samples("test")).ranks[0]) == 0


@pytest.mark.parametrize("mask", ["exclude", "zero", "none"])
def test_constant_model_scores_zero(mask: str) -> None:
    """A model that scores every item the same gets HR@10 = 0 (ties broken pessimistically)."""
    rng = np.random.default_rng(0)
    n_items = 40
    seqs = [rng.choice(np.arange(1, n_items + 1), size=int(rng.integers(3, 12)),
                       replace=False).tolist() for _ in range(25)]
    data = loo(seqs, n_items)
    model = ZeroModel(n_items)
    for split in ("valid", "test"):
        res = evaluate(model, data, data.eval_samples(split), history_mask=mask, batch_size=7)
        assert res.metrics["HR@10"] == 0.0 and res.metrics["NDCG@10"] == 0.0
        assert res.metrics["HR@20"] == 0.0
        n_hist = data.eval_samples(split).ends - data.starts  # distinct items by construction
        # the answer ranks below every other real item that is still ranked
        expected = n_items - 1 - (n_hist if mask == "exclude" else 0)
        np.testing.assert_array_equal(res.ranks, expected)


# ------------------------------------------------------- batching, order and the reference


def reference_ranks(model: Backbone, data: LeaveOneOut, users: np.ndarray, ends: np.ndarray
                    ) -> np.ndarray:
    """Rank each sample alone: full-width left-padded window, PAD and history out by sets."""
    n = model.max_len
    out = []
    with torch.no_grad():
        for u, end in zip(users.tolist(), ends.tolist()):
            start = int(data.starts[u])
            history = data.seqs.items[start:end].tolist()
            answer = int(data.seqs.items[end])
            window = history[-n:]
            ids = torch.tensor([[0] * (n - len(window)) + window])
            scores = model.scores(model(ids)[:, -1])[0].tolist()
            target = scores[answer]
            excluded = {0} | (set(history) - {answer})
            rank = sum(1 for i, s in enumerate(scores)
                       if i != answer and i not in excluded and s >= target)
            out.append(rank)
    return np.array(out)


@pytest.fixture(scope="module")
def sasrec_case() -> tuple[Backbone, LeaveOneOut]:
    """A random SASRec and users whose lengths are deliberately not sorted (some > N)."""
    torch.manual_seed(0)
    n_items = 30
    spec = ModelSpec(n_items=n_items, max_seq_length=6, hidden_size=8, num_layers=1,
                     num_heads=2, dropout=0.3, attn_dropout=0.3, init_range=0.5)
    model = build_model("sasrec", spec, MODELS.get("sasrec").options())
    rng = np.random.default_rng(1)
    lengths = [9, 3, 12, 4, 3, 7, 15, 5, 3, 10, 6, 4, 8, 3, 11]
    seqs = [rng.integers(1, n_items + 1, size=k).tolist() for k in lengths]  # repeats allowed
    return model, loo(seqs, n_items)


@pytest.mark.parametrize("split", ["valid", "test"])
def test_ranks_match_unbatched_reference_for_any_batch_size(
        sasrec_case: tuple[Backbone, LeaveOneOut], split: str) -> None:
    model, data = sasrec_case
    assert model.trim_exact  # so evaluate sorts users by length and trims each batch
    samples = data.eval_samples(split)
    model.train()  # evaluate must switch dropout off (and restore the mode)
    ranks = {}
    for bs in (1, 3, 1024):
        for groups in (1, 3):
            res = evaluate(model, data, samples, batch_size=bs, length_groups=groups)
            np.testing.assert_array_equal(res.users, samples.users)
            ranks[bs, groups] = res.ranks
    assert model.training
    model.eval()
    expected = reference_ranks(model, data, samples.users, samples.ends)
    for key, r in ranks.items():
        np.testing.assert_array_equal(r, expected, err_msg=f"batch size, groups = {key}")
    assert len(set(expected.tolist())) > 3  # a real ranking, not a degenerate one


def test_ranks_follow_the_given_sample_order(sasrec_case: tuple[Backbone, LeaveOneOut]) -> None:
    """Users handed over in an arbitrary order get their own ranks back, in that order."""
    from basrec.data.split import Samples

    model, data = sasrec_case
    test = data.eval_samples("test")
    perm = np.random.default_rng(5).permutation(len(test))
    shuffled = Samples(test.users[perm], test.ends[perm], True)
    res = evaluate(model, data, shuffled, batch_size=4)
    base = evaluate(model, data, test, batch_size=4)
    np.testing.assert_array_equal(res.users, test.users[perm])
    np.testing.assert_array_equal(res.ranks, base.ranks[perm])
    model.eval()
    np.testing.assert_array_equal(res.ranks, reference_ranks(model, data, shuffled.users,
                                                             shuffled.ends))
    assert res.metrics == pytest.approx(base.metrics)
