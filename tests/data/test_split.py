"""Leave-one-out split, sample constructions, padded batches and negatives (docs/decisions.md):
no valid or test item ever reaches a training input or target."""

from __future__ import annotations

import numpy as np
import pytest

from basrec.data.batches import NegativeSampler, TrainLoader, window
from basrec.data.io import Sequences
from basrec.data.split import LeaveOneOut

N = 5  # window, shorter than many users' sequences


def distinct_data(n_users: int = 30, n_items: int = 60, seed: int = 0) -> LeaveOneOut:
    """Every user's items are distinct, so an item id identifies its position; lengths 3..14
    (some longer than the window N, some too short for an `all` sample)."""
    rng = np.random.default_rng(seed)
    seqs = [rng.choice(np.arange(1, n_items + 1), size=int(rng.integers(3, 15)),
                       replace=False).tolist() for _ in range(n_users)]
    seqs[0] = [7, 8, 9]  # the shortest a user can be
    seqs[1] = list(range(20, 34))  # longer than N
    return LeaveOneOut(Sequences.from_lists(seqs, n_items=n_items))


def left_pad(items: list[int], n: int) -> list[int]:
    items = items[-n:] if items else []
    return [0] * (n - len(items)) + items


def all_rows(loader: TrainLoader, epoch: int) -> dict[str, np.ndarray]:
    batches = list(loader.epoch(epoch))
    return {key: np.concatenate([getattr(b, key).numpy() for b in batches])
            for key in ("inputs", "targets", "negatives", "users")}


@pytest.mark.parametrize("construction", ["all", "prefix"])
def test_training_batches_never_see_valid_or_test_items(construction: str) -> None:
    data = distinct_data()
    samples = data.train_samples(construction)
    loader = TrainLoader(data, samples, N, batch_size=7, seed=3)
    rows = all_rows(loader, epoch=0)
    assert rows["inputs"].shape == (len(samples), N)
    for b, u in enumerate(rows["users"].tolist()):
        s = data.seqs.sequence(u).tolist()
        held_out = {s[-2], s[-1]}
        seen = set(rows["inputs"][b].tolist()) | set(rows["targets"][b].tolist())
        assert not seen & held_out, f"user {u}: held-out item in a training batch"
        assert seen - {0} <= set(s[:-2])  # only the training part s[:-2]
    # every user with a training sample appears (each once for `all`)
    if construction == "all":
        assert sorted(rows["users"].tolist()) == [
            u for u in range(data.seqs.n_users) if data.seqs.lengths[u] >= 4]


def test_all_construction_inputs_and_targets() -> None:
    """One sample per user: input s[:-3], targets s[1:-2] (next item at every position),
    left-padded with 0 and cut to the last N."""
    data = distinct_data()
    samples = data.train_samples("all")
    assert not samples.last_only
    loader = TrainLoader(data, samples, N, batch_size=4, seed=0)
    rows = all_rows(loader, epoch=1)
    assert len(rows["users"]) == int((data.seqs.lengths >= 4).sum())
    for b, u in enumerate(rows["users"].tolist()):
        s = data.seqs.sequence(u).tolist()
        assert rows["inputs"][b].tolist() == left_pad(s[:-3], N)
        assert rows["targets"][b].tolist() == left_pad(s[1:-2], N)
        assert ((rows["targets"][b] > 0) == (rows["inputs"][b] > 0)).all()
    # the long user: no padding, the last N items of s[:-3]
    b = rows["users"].tolist().index(1)
    assert rows["inputs"][b].tolist() == list(range(20, 34))[:-3][-N:] == [26, 27, 28, 29, 30]
    assert rows["targets"][b].tolist() == [27, 28, 29, 30, 31]


def test_prefix_construction_one_sample_per_training_prefix() -> None:
    data = distinct_data()
    samples = data.train_samples("prefix")
    assert samples.last_only
    assert len(samples) == int((data.seqs.lengths - 3).sum())  # Σ (len − 3)
    loader = TrainLoader(data, samples, N, batch_size=5, seed=0)
    rows = all_rows(loader, epoch=0)
    seen: dict[int, list[int]] = {}
    for b, u in enumerate(rows["users"].tolist()):
        s = data.seqs.sequence(u).tolist()
        real = [int(x) for x in rows["inputs"][b] if x]
        k = s.index(real[-1]) + 1  # prefix length (items are distinct per user)
        assert rows["inputs"][b].tolist() == left_pad(s[:k], N)
        # loss at the last position only; the target is the next item s[k]
        assert rows["targets"][b, :-1].tolist() == [0] * (N - 1)
        assert int(rows["targets"][b, -1]) == s[k]
        seen.setdefault(u, []).append(k)
    for u in range(data.seqs.n_users):
        n = int(data.seqs.lengths[u])
        assert sorted(seen.get(u, [])) == list(range(1, n - 2)), f"user {u}"


def test_eval_samples_valid_and_test() -> None:
    data = distinct_data()
    items = data.seqs.items
    for split, back in (("valid", 2), ("test", 1)):
        samples = data.eval_samples(split)
        assert samples.users.tolist() == list(range(data.seqs.n_users))
        ids = window(items, data.starts[samples.users], samples.ends, N)
        for u in range(data.seqs.n_users):
            s = data.seqs.sequence(u).tolist()
            assert ids[u].tolist() == left_pad(s[:-back], N)
            assert int(items[samples.ends[u]]) == s[-back]  # the answer


def test_window_left_pads_and_keeps_the_last_n() -> None:
    items = np.array([1, 2, 3, 4, 5, 6, 7, 8, 9])
    starts = np.array([0, 0, 5, 5])
    ends = np.array([2, 5, 9, 5])
    got = window(items, starts, ends, 3)
    assert got.tolist() == [[0, 1, 2], [3, 4, 5], [7, 8, 9], [0, 0, 0]]


def test_training_part_is_s_minus_two() -> None:
    data = distinct_data()
    part = data.training_part()
    for u in range(data.seqs.n_users):
        assert part.sequence(u).tolist() == data.seqs.sequence(u).tolist()[:-2]


# ------------------------------------------------------------------------------- negatives


def test_negatives_avoid_the_whole_sequence_and_follow_seed_and_epoch() -> None:
    data = distinct_data(n_items=40)
    samples = data.train_samples("all")
    loader = TrainLoader(data, samples, N, batch_size=8, seed=11)
    e0 = all_rows(loader, 0)
    e0_again = all_rows(TrainLoader(data, samples, N, batch_size=8, seed=11), 0)
    e1 = all_rows(loader, 1)
    other_seed = all_rows(TrainLoader(data, samples, N, batch_size=8, seed=12), 0)
    for rows in (e0, e1):
        mask = rows["targets"] > 0
        assert ((rows["negatives"] > 0) == mask).all()  # one negative per target position
        for b, u in enumerate(rows["users"].tolist()):
            negs = set(rows["negatives"][b][mask[b]].tolist())
            assert not negs & set(data.seqs.sequence(u).tolist())  # valid/test items too
            assert negs <= set(range(1, data.n_items + 1))
    for key in e0:  # deterministic for a fixed (seed, epoch)
        np.testing.assert_array_equal(e0[key], e0_again[key])

    def negatives_by_user(rows: dict[str, np.ndarray]) -> dict[int, list[int]]:
        return {u: rows["negatives"][b].tolist() for b, u in enumerate(rows["users"].tolist())}

    assert negatives_by_user(e0) != negatives_by_user(e1)  # redrawn every epoch
    assert negatives_by_user(e0) != negatives_by_user(other_seed)
    assert e0["users"].tolist() != e1["users"].tolist()  # batch order reshuffled too


def test_negatives_with_repeated_items_never_hit_the_sequence() -> None:
    """A user with many repeats (len ≥ n_items) but not every item still gets true negatives."""
    seqs = [[1, 1, 1, 2, 1, 1, 2, 1], [3, 4, 5], [6, 5, 4, 3]]
    data = LeaveOneOut(Sequences.from_lists(seqs, n_items=6))
    sampler = NegativeSampler(data)
    rng = np.random.default_rng(0)
    got = sampler.sample(np.zeros(2000, dtype=np.int64), rng)
    assert set(got.tolist()) == {3, 4, 5, 6}
    got = sampler.sample(np.full(500, 2, dtype=np.int64), rng)
    assert set(got.tolist()) == {1, 2}


def test_user_with_every_item_does_not_hang() -> None:
    data = LeaveOneOut(Sequences.from_lists([[1, 2, 3, 4], [2, 3, 1]], n_items=4))
    got = NegativeSampler(data).sample(np.zeros(50, dtype=np.int64), np.random.default_rng(0))
    assert set(got.tolist()) <= {1, 2, 3, 4}
