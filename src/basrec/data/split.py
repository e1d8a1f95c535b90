"""Leave-one-out split and the training sample constructions (decisions.md, algorithm.md §1.1).

For a user sequence s: train on s[:-2] (input s[:-3], targets s[1:-2]), validate with input
s[:-2] and answer s[-2], test with input s[:-1] and answer s[-1].

A sample is stored as two integers (user row, exclusive end of its input in the CSR item
array), so no padded copy is ever materialised for the whole dataset:

- ``all``: one sample per user, the loss at every position (the CoSeRec/BASRec protocol);
- ``prefix``: every prefix s[:k] of the training part (k ≥ 1) is one sample with the loss at
  its last position only (RecBole / FMLP-Rec). Required for backbones that are not causal.
  Unlike FMLP-Rec's loader, the empty prefix (a sample with no input) is not used.

Two hooks serve the augmentation baselines: ``context`` marks each user's first items as
context only (pseudo-items prepended by Random / Random-seq: they and the step to the first
real item are never training targets, algorithm.md §4.1), and ``Samples.begins`` lets a sample start
inside a sequence (Slide windows, docs/algorithm.md §4.3).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from basrec.data.io import Sequences


@dataclass(frozen=True)
class Samples:
    """Training or evaluation samples: user rows and exclusive input ends (CSR indices)."""

    users: np.ndarray  # (S,) int64
    ends: np.ndarray  # (S,) int64, input = items[starts[user]:end]
    last_only: bool  # loss at the last position only (prefix construction)
    begins: np.ndarray | None = None  # (S,) int64 first input index; None: the user's start

    def __len__(self) -> int:
        return int(self.users.shape[0])

    def first(self, data: LeaveOneOut) -> np.ndarray:
        """(S,) CSR index of each sample's first input item."""
        return data.starts[self.users] if self.begins is None else self.begins

    def concat(self, other: Samples, data: LeaveOneOut) -> Samples:
        """These samples then ``other`` (same construction), with explicit begins."""
        if other.last_only != self.last_only:
            raise ValueError("cannot mix last-position and all-position samples")
        return Samples(np.concatenate([self.users, other.users]),
                       np.concatenate([self.ends, other.ends]), self.last_only,
                       np.concatenate([self.first(data), other.first(data)]))


@dataclass(frozen=True)
class LeaveOneOut:
    """The leave-one-out view of a Sequences object."""

    seqs: Sequences
    #: (n_users,) leading items of each user that are context only, never targets; None: 0
    context: np.ndarray | None = None

    @property
    def n_items(self) -> int:
        return self.seqs.n_items

    @property
    def starts(self) -> np.ndarray:
        return self.seqs.offsets[:-1]

    def train_samples(self, construction: str = "all") -> Samples:
        lengths = self.seqs.lengths
        starts = self.starts
        train_len = lengths - 2  # length of the training part s[:-2]
        if construction == "all":
            keep = np.nonzero(train_len >= 2)[0]
            return Samples(keep.astype(np.int64), starts[keep] + train_len[keep] - 1, False)
        if construction == "prefix":
            n_prefix = np.maximum(train_len - 1, 0)  # prefixes s[:1] .. s[:-3]
            users = np.repeat(np.arange(len(lengths), dtype=np.int64), n_prefix)
            first = np.repeat(np.cumsum(n_prefix) - n_prefix, n_prefix)
            k = np.arange(users.shape[0], dtype=np.int64) - first + 1  # prefix length
            return Samples(users, starts[users] + k, True)
        raise ValueError(f"unknown construction {construction!r}")

    def eval_samples(self, split: str) -> Samples:
        """``valid``: input s[:-2], answer s[-2]; ``test``: input s[:-1], answer s[-1]."""
        back = {"valid": 2, "test": 1}[split]
        users = np.arange(self.seqs.n_users, dtype=np.int64)
        return Samples(users, self.seqs.offsets[1:] - back, True)

    def training_part(self) -> Sequences:
        """Each user's s[:-2] (what item-item statistics may be computed from without leakage).

        Note: algorithm.md §3.2 computes ItemCF-IUF on s[:-3]; callers choose by trimming further.
        """
        lengths = self.seqs.lengths - 2
        offsets = np.zeros_like(self.seqs.offsets)
        np.cumsum(lengths, out=offsets[1:])
        idx = np.concatenate([np.arange(s, s + n) for s, n in zip(self.starts, lengths)]) \
            if len(lengths) else np.zeros(0, dtype=np.int64)
        return Sequences(self.seqs.users, self.seqs.items[idx], offsets, self.seqs.n_items)
