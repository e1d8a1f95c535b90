"""Padded batches and vectorised negative sampling (docs/algorithm.md §1.1).

Inputs are left-padded with id 0 and cut to their last N items. One negative per real target
position is drawn uniformly from the items *not* in the user's whole sequence (valid and test
items included) by vectorised rejection sampling; negatives are redrawn every epoch.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from basrec.data.split import LeaveOneOut, Samples

if TYPE_CHECKING:
    import torch


@dataclass
class TrainBatch:
    """A training batch; every tensor is (B, N) int64 on the model's device."""

    inputs: torch.Tensor  # (B, N) item ids, 0 = PAD, left-padded
    targets: torch.Tensor  # (B, N) next items, 0 where no loss
    negatives: torch.Tensor  # (B, N) sampled negatives, 0 where no loss
    users: torch.Tensor  # (B,) user rows
    #: (B, N) a second negative for *every* position, for objectives that train on extra
    #: sequences of their own (``extra_negatives`` of the loader); None otherwise
    extra_negatives: torch.Tensor | None = None
    #: targets sit in the last column only (the ``prefix`` construction): a step needs the
    #: encoder's last column alone (``encode_last``, models/fast.py)
    last_only: bool = False


def window(items: np.ndarray, starts: np.ndarray, ends: np.ndarray, n: int) -> np.ndarray:
    """Left-padded (B, n) windows holding items[max(start, end-n):end] of each row."""
    idx = ends[:, None] - n + np.arange(n)[None, :]  # (B, n)
    valid = idx >= starts[:, None]
    return np.where(valid, items[np.clip(idx, 0, None)], 0)


def torch_slice(rank: int, world: int) -> slice:
    """The rows of a global batch that process ``rank`` of ``world`` trains on."""
    return slice(rank, None, world)


class NegativeSampler:
    """Uniform negatives over 1..n_items, rejecting every item of the user's full sequence."""

    def __init__(self, data: LeaveOneOut) -> None:
        seqs = data.seqs
        self.n_items = seqs.n_items
        user_of = np.repeat(np.arange(seqs.n_users, dtype=np.int64), seqs.lengths)
        self._keys = np.unique(user_of * (self.n_items + 1) + seqs.items)  # sorted (user, item)
        # a user who has every item cannot get a negative: fall back to any item then
        # (distinct items: a user may repeat items and still lack some)
        counts = np.bincount(self._keys // (self.n_items + 1), minlength=seqs.n_users)
        self._full = counts >= self.n_items

    def _seen(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        keys = users * (self.n_items + 1) + items
        pos = np.searchsorted(self._keys, keys)
        pos = np.minimum(pos, self._keys.shape[0] - 1)
        return self._keys[pos] == keys

    def sample(self, users: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One negative per entry of ``users`` (any shape)."""
        out = rng.integers(1, self.n_items + 1, size=users.shape)
        todo = self._seen(users, out) & ~self._full[users]
        while todo.any():
            out[todo] = rng.integers(1, self.n_items + 1, size=int(todo.sum()))
            todo[todo] = self._seen(users[todo], out[todo])
        return out


class TrainLoader:
    """Shuffled training batches; all randomness comes from (seed, epoch)."""

    def __init__(self, data: LeaveOneOut, samples: Samples, max_len: int, batch_size: int,
                 seed: int, device: str = "cpu", shard: tuple[int, int] = (0, 1),
                 extra_negatives: bool = False) -> None:
        self.data = data
        self.samples = samples
        self.max_len = max_len
        self.batch_size = batch_size
        self.seed = seed
        self.device = device
        self.shard = shard  # (rank, world): this process takes rows rank, rank + world, ...
        self.sampler = NegativeSampler(data)
        self.extra_negatives = extra_negatives

    def __len__(self) -> int:
        return -(-len(self.samples) // self.batch_size)

    def batch(self, rows: np.ndarray, rng: np.random.Generator) -> TrainBatch:
        import torch

        users = self.samples.users[rows]
        ends = self.samples.ends[rows]
        starts = self.samples.first(self.data)[rows]
        items = self.data.seqs.items
        inputs = window(items, starts, ends, self.max_len)  # (B, N)
        # targets before this index are context only (pseudo-items and the first real item)
        context = self.data.context
        first_target = starts + 1 if context is None else np.maximum(
            starts + 1, self.data.starts[users] + context[users] + 1)  # (B,)
        if self.samples.last_only:
            targets = np.zeros_like(inputs)
            targets[:, -1] = np.where(ends >= first_target, items[ends], 0)
        else:
            targets = window(items, first_target, ends + 1, self.max_len)  # (B, N)
        mask = targets > 0
        negatives = np.zeros_like(targets)
        negatives[mask] = self.sampler.sample(np.broadcast_to(users[:, None], mask.shape)[mask],
                                              rng)

        extra = None
        if self.extra_negatives:  # drawn after the others: the main stream is unchanged
            extra = self.sampler.sample(np.repeat(users[:, None], inputs.shape[1], 1), rng)

        def t(a: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(a)).to(self.device)

        return TrainBatch(t(inputs), t(targets), t(negatives), t(users),
                          None if extra is None else t(extra), self.samples.last_only)

    def epoch(self, epoch: int) -> Iterator[TrainBatch]:
        rng = np.random.default_rng([self.seed, epoch, 7])
        order = rng.permutation(len(self.samples))
        rank, world = self.shard
        for i in range(0, order.shape[0], self.batch_size):
            rows = order[i : i + self.batch_size]
            if world > 1:
                # negatives are drawn for the whole batch on every process (same stream), so
                # the global batch is the same whatever the number of processes
                full = self.batch(rows, rng)
                part = torch_slice(rank, world)
                extra = full.extra_negatives
                yield TrainBatch(full.inputs[part], full.targets[part], full.negatives[part],
                                 full.users[part], None if extra is None else extra[part],
                                 full.last_only)
            else:
                yield self.batch(rows, rng)
