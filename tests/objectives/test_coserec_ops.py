"""Invariants of CoSeRec's operators (docs/algorithm.md §4.4–4.5) and of the contrastive loss."""

from __future__ import annotations

import math
from functools import partial

import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from basrec.objectives.baselines.contrastive import info_nce, view_representation
from basrec.objectives.baselines.coserec_ops import crop, insert, mask, random_views

N_ITEMS = 30


@st.composite
def batches(draw: st.DrawFn) -> tuple[torch.Tensor, float, int]:
    """Left-padded rows of distinct items (so positions can be traced), a rate, a seed."""
    w = draw(st.integers(3, 12))
    b = draw(st.integers(1, 6))
    rows = []
    for _ in range(b):
        length = draw(st.integers(0, w))
        items = draw(st.permutations(range(1, N_ITEMS + 1)))[:length]
        rows.append([0] * (w - length) + list(items))
    rate = draw(st.floats(0.0, 0.999))
    return torch.tensor(rows), rate, draw(st.integers(0, 2**31 - 1))


def gen(seed: int) -> torch.Generator:
    g = torch.Generator()
    g.manual_seed(seed)
    return g


def real(row: torch.Tensor) -> list[int]:
    return [int(v) for v in row if v > 0]


@settings(max_examples=150, deadline=None)
@given(batches())
def test_crop_keeps_a_contiguous_run_without_the_last_item(case: tuple) -> None:
    ids, tao, seed = case
    before = ids.clone()
    out = crop(ids, gen(seed), tao)
    assert torch.equal(ids, before), "the input is not modified"
    for src, row in zip(ids, out):
        items, kept = real(src), real(row)
        n = len(items)
        if n == 0:
            assert kept == []
            continue
        c = math.floor(tao * n)
        assert len(kept) == max(1, c)
        assert (row[: row.shape[0] - len(kept)] == 0).all(), "left-padded"
        start = items.index(kept[0])
        assert items[start : start + len(kept)] == kept, "a contiguous run"
        if c >= 1:
            assert items[-1] not in kept, "CoSeRec's crop never keeps the last item"


@settings(max_examples=150, deadline=None)
@given(batches())
def test_mask_hides_floor_gamma_n_items_in_place(case: tuple) -> None:
    ids, gamma, seed = case
    out = mask(ids, gen(seed), gamma)
    for src, row in zip(ids, out):
        n = int((src > 0).sum())
        hidden = (src > 0) & (row == 0)
        assert int(hidden.sum()) == math.floor(gamma * n)
        assert torch.equal(row[~hidden], src[~hidden]), "the other items stay in place"


@settings(max_examples=150, deadline=None)
@given(batches())
def test_insert_puts_each_neighbour_before_its_item(case: tuple) -> None:
    ids, rate, seed = case
    w = ids.shape[1]
    # every item's neighbour is item + 100 (out of the range of real items, easy to trace);
    # item 1 has none and falls back to the only item that has one
    neighbours = torch.arange(N_ITEMS + 1) + 100
    neighbours[0] = -1
    neighbours[1] = -1
    fallback = torch.tensor([150])  # an id out of the real range, to be traceable
    before = ids.clone()
    out = insert(ids, gen(seed), rate, neighbours, fallback)
    assert torch.equal(ids, before)
    for src, row in zip(ids, out):
        items, got = real(src), real(row)
        n = len(items)
        if n == 0:
            assert got == []
            continue
        k = min(max(1, math.floor(rate * n)), n)
        full_len = n + k
        assert len(got) == min(w, full_len), "grows by k, cut to the last W"
        originals = [v for v in got if v <= N_ITEMS]
        assert originals == items[len(items) - len(originals) :], "order kept, cut on the left"
        for i, v in enumerate(got):
            if v > N_ITEMS:  # an inserted neighbour: the next item is its source
                assert i + 1 < len(got) and got[i + 1] <= N_ITEMS
                assert v == got[i + 1] + 100 or (got[i + 1] == 1 and v == 150)
        if full_len <= w:  # nothing cut: exactly k neighbours were inserted
            assert sum(v > N_ITEMS for v in got) == k


def test_random_views_respects_the_allowed_operators() -> None:
    ids = torch.tensor([[0, 1, 2], [3, 4, 5], [0, 0, 6], [7, 8, 9]])
    tag = [lambda x, g, t=t: torch.full_like(x, t) for t in (100, 200, 300)]
    allowed = torch.tensor([[True, False, False], [False, True, True], [False, False, True],
                            [True, True, True]])
    g = gen(0)
    for _ in range(20):
        views, pick = random_views(ids, tag, g, allowed)
        assert allowed[torch.arange(4), pick].all()
        assert torch.equal(views[:, 0], (pick + 1) * 100)
    picks = torch.stack([random_views(ids, tag, g)[1] for _ in range(300)])
    assert set(picks.flatten().tolist()) == {0, 1, 2}, "uniform over all operators by default"


def test_operators_compose_with_partial() -> None:
    """crop(tao=0.5) of 4 items keeps 2 consecutive ones, never the last, left-padded."""
    op = partial(crop, tao=0.5)
    outs = {tuple(op(torch.tensor([[0, 1, 2, 3, 4]]), gen(s))[0].tolist()) for s in range(30)}
    assert outs == {(0, 0, 0, 1, 2), (0, 0, 0, 2, 3)}


def test_info_nce_matches_the_formula() -> None:
    torch.manual_seed(0)
    a, b = torch.randn(3, 4), torch.randn(3, 4)
    z = torch.cat([a, b])
    sim = z @ z.T / 0.5
    expected = 0.0
    for i in range(6):
        j = (i + 3) % 6
        others = torch.cat([sim[i, :i], sim[i, i + 1 :]])
        expected += -(sim[i, j] - torch.logsumexp(others, 0))
    assert torch.isclose(info_nce(a, b, 0.5), expected / 6, atol=1e-5)
    same = F.normalize(torch.randn(3, 4), dim=1) * 30
    assert info_nce(same, same, 1.0, "cosine") < info_nce(same, same.roll(1, 0), 1.0, "cosine")


def test_flatten_representation_ignores_padding_outputs() -> None:
    h = torch.randn(2, 3, 4)
    ids = torch.tensor([[0, 5, 6], [1, 2, 3]])
    z = view_representation(h, ids, "flatten")
    assert z.shape == (2, 12)
    assert torch.equal(z[0, :4], torch.zeros(4)) and torch.equal(z[1], h[1].reshape(-1))
    assert torch.equal(view_representation(h, ids, "last"), h[:, -1])
