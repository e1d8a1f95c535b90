"""Invariants of the vectorised BASRec operators (docs/algorithm.md §3.1) and the ItemCF-IUF
table (§3.2)."""

from __future__ import annotations

import math

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from basrec.data.io import Sequences
from basrec.data.similarity import embedding_top1, itemcf_iuf_top1
from basrec.objectives.ops import m_reorder, m_substitute

N_ITEMS = 30


@st.composite
def padded_batches(draw: st.DrawFn) -> tuple[torch.Tensor, torch.Tensor, int]:
    n = draw(st.integers(4, 12))
    b = draw(st.integers(1, 6))
    rows = []
    for _ in range(b):
        length = draw(st.integers(1, n))
        items = draw(st.lists(st.integers(1, N_ITEMS), min_size=length, max_size=length))
        rows.append([0] * (n - length) + items)
    rates = draw(st.lists(st.floats(0.0, 0.999), min_size=b, max_size=b))
    seed = draw(st.integers(0, 2**31 - 1))
    return torch.tensor(rows), torch.tensor(rates, dtype=torch.float32), seed


def gen(seed: int) -> torch.Generator:
    g = torch.Generator()
    g.manual_seed(seed)
    return g


@settings(max_examples=150, deadline=None)
@given(padded_batches())
def test_m_reorder_invariants(case: tuple[torch.Tensor, torch.Tensor, int]) -> None:
    ids, rates, seed = case
    before = ids.clone()
    out = m_reorder(ids, rates, gen(seed))
    assert torch.equal(ids, before), "input mutated"
    assert out.shape == ids.shape
    for row_in, row_out, rate in zip(ids, out, rates):
        real = row_in > 0
        assert torch.equal(row_out > 0, real), "padding moved"
        n = int(real.sum())
        c = math.floor(float(rate) * n)
        assert sorted(row_out.tolist()) == sorted(row_in.tolist()), "not a permutation"
        assert row_out[-1] == row_in[-1], "the last item is never inside the window"
        changed = torch.nonzero(row_out != row_in).flatten()
        if c <= 1:
            assert changed.numel() == 0
        elif changed.numel():
            assert int(changed.max() - changed.min()) + 1 <= c, "edits outside one window"


def neighbour_table(missing: set[int] = frozenset()) -> torch.Tensor:  # type: ignore[assignment]
    table = torch.tensor([-1] + [(v % N_ITEMS) + 1 for v in range(1, N_ITEMS + 1)])
    for v in missing:
        table[v] = -1
    return table


@settings(max_examples=150, deadline=None)
@given(padded_batches())
def test_m_substitute_invariants(case: tuple[torch.Tensor, torch.Tensor, int]) -> None:
    ids, rates, seed = case
    table = neighbour_table()
    fallback = torch.arange(1, N_ITEMS + 1)
    before = ids.clone()
    out = m_substitute(ids, rates, table, fallback, gen(seed))
    assert torch.equal(ids, before), "input mutated"
    for row_in, row_out, rate in zip(ids, out, rates):
        real = row_in > 0
        assert torch.equal(row_out > 0, real), "padding changed"
        n = int(real.sum())
        c = min(max(1, math.floor(float(rate) * n)), n)
        changed = row_out != row_in
        assert int(changed.sum()) == c, "exactly c distinct positions are substituted"
        assert torch.equal(row_out[changed], table[row_in[changed]]), "only neighbours"


def test_m_substitute_fallback_for_items_without_neighbour() -> None:
    table = neighbour_table(missing={5})
    fallback = torch.tensor([7, 8])
    ids = torch.tensor([[0, 0, 5, 5, 5, 5]])
    out = m_substitute(ids, torch.tensor([0.99]), table, fallback, gen(0))
    subs = out[0, 2:].tolist()  # c = floor(0.99 · 4) = 3 positions substituted
    assert sum(v in (7, 8) for v in subs) == 3 and subs.count(5) == 1
    assert out[0, :2].tolist() == [0, 0]


def test_reorder_is_a_uniform_shuffle_of_the_window() -> None:
    ids = torch.tensor([[1, 2, 3, 4]]).repeat(4000, 1)  # c = floor(0.75·4) = 3: window [0, 3)
    out = m_reorder(ids, torch.full((4000,), 0.75), gen(1))
    assert torch.all(out[:, 3] == 4)
    perms = {tuple(r) for r in out[:, :3].tolist()}
    assert len(perms) == 6
    counts = np.unique(out[:, :3].numpy(), axis=0, return_counts=True)[1]
    assert counts.min() > 4000 / 6 * 0.8


def test_itemcf_iuf_by_hand() -> None:
    # training inputs s[:-3]: u1 {1, 2}, u2 {1, 2, 3}, u3 {3, 4}
    seqs = Sequences.from_lists([[1, 2, 9, 9, 9], [1, 2, 3, 9, 9, 9], [3, 4, 9, 9, 9]],
                                n_items=9)
    top = itemcf_iuf_top1(seqs)
    # C[1,2] = 1/ln3 + 1/ln4, N1 = N2 = 2 → sim(1,2) = C/2; sim(1,3) = (1/ln4)/sqrt(2·2)
    assert top[1] == 2 and top[2] == 1
    # item 3: sim(3,4) = (1/ln3)/sqrt(2·1) = 0.644 > sim(3,1) = (1/ln4)/2 = 0.361
    assert top[3] == 4 and top[4] == 3
    assert top[9] == -1, "items only in held-out positions have no neighbour"
    assert top[0] == -1


def test_embedding_top1_is_nearest_other_item() -> None:
    w = torch.tensor([[9.0, 9.0], [1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    top = embedding_top1(w)
    assert top.tolist() == [-1, 2, 1, 2]
