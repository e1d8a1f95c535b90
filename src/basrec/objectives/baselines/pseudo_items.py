"""Random (Ran) and Random-seq (Ran-S), the paper's simplest heuristic baselines (Table 3,
algorithm.md §4.1–4.2, after DiffuASR's ``augment_seq.py``): M pseudo-items are prepended to every
user's sequence once, before training, and the model then trains with its usual loss.

- ``ran``: each pseudo-item is a uniform draw from the whole item set;
- ``ran_s``: each is a uniform draw (with replacement) from the user's own items (the
  "simplest faithful version" of algorithm.md §4.2: the window of the released loop, which may also
  draw earlier pseudo-items, is not emulated). ``pool`` says which items: ``train`` (default,
  s[:-2]) or ``train_valid`` (s[:-1], algorithm.md §4.2's pool). With ``train_valid`` the validation
  answer itself is put into the user's context, where validation finds it: on Beauty SASRec's
  validation NDCG@20 climbs to 0.30 (Base: 0.05) while the test answer, never drawn, gains
  nothing, so early stopping and model selection read a leak (docs/baselines.md).

The valid and test items stay the last two, so evaluation sees the pseudo-items as history
(as in DiffuASR's augmented file). With ``mask_targets`` (default, as DiffuASR) pseudo-items
and the step to the first real item are context only, never targets; ASReP does not mask.
The draws depend only on the run's seed, so every epoch and every resumed run sees the same
augmented data.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from basrec.config import RunConfig
from basrec.data.io import Sequences, ragged_positions
from basrec.data.split import LeaveOneOut
from basrec.errors import ConfigError
from basrec.objectives.plain import Plain
from basrec.registry import OBJECTIVES


@dataclass(frozen=True)
class PseudoItemOptions:
    count: int = 10  # M, the number of pseudo-items per user (all DiffuASR scripts: 10)
    mask_targets: bool = True  # pseudo-items are context only (DiffuASR), not targets (ASReP)

    def validate(self) -> None:
        if self.count < 0:
            raise ConfigError("count (the number of pseudo-items per user) must be ≥ 0")


#: which of the user's items Random-seq draws from (see the module doc)
POOLS = ("train", "train_valid")


@dataclass(frozen=True)
class RandomSeqOptions(PseudoItemOptions):
    # "train": s[:-2], no validation leak; "train_valid": s[:-1], docs/algorithm.md §4.2
    pool: str = "train"

    def validate(self) -> None:
        super().validate()
        if self.pool not in POOLS:
            raise ConfigError(f"pool: {self.pool!r} is not one of {', '.join(POOLS)}")


def prepend(data: LeaveOneOut, pseudo: np.ndarray, mask_targets: bool) -> LeaveOneOut:
    """Every user's sequence with ``pseudo[u]`` (M items) in front; (U, M) → a new split."""
    counts = np.full(data.seqs.n_users, pseudo.shape[1], dtype=np.int64)
    return prepend_ragged(data, pseudo.reshape(-1), counts, mask_targets)


def prepend_ragged(data: LeaveOneOut, flat: np.ndarray, counts: np.ndarray,
                   mask_targets: bool) -> LeaveOneOut:
    """User u's sequence with the next ``counts[u]`` items of ``flat`` in front."""
    seqs = data.seqs
    offsets = np.zeros_like(seqs.offsets)
    np.cumsum(seqs.lengths + counts, out=offsets[1:])
    items = np.empty(int(offsets[-1]), dtype=np.int64)
    _, pos = ragged_positions(offsets[:-1], counts)
    items[pos] = flat
    _, pos = ragged_positions(offsets[:-1] + counts, seqs.lengths)
    items[pos] = seqs.items
    context = counts.astype(np.int64) if mask_targets else None
    return LeaveOneOut(Sequences(seqs.users, items, offsets, seqs.n_items), context)


def draw_rng(cfg: RunConfig) -> np.random.Generator:
    return np.random.default_rng([cfg.seed, 4021])


@OBJECTIVES.register("ran", options=PseudoItemOptions)
class RandomItems(Plain):
    """Pseudo-items drawn uniformly from all items."""

    @staticmethod
    def transform_data(data: LeaveOneOut, cfg: RunConfig) -> LeaveOneOut:
        opts: PseudoItemOptions = cfg.objective_options
        pseudo = draw_rng(cfg).integers(1, data.n_items + 1, size=(data.seqs.n_users, opts.count))
        return prepend(data, pseudo, opts.mask_targets)


@OBJECTIVES.register("ran_s", options=RandomSeqOptions)
class RandomSequenceItems(Plain):
    """Pseudo-items drawn uniformly from the user's own training items (or train + valid)."""

    @staticmethod
    def transform_data(data: LeaveOneOut, cfg: RunConfig) -> LeaveOneOut:
        opts: RandomSeqOptions = cfg.objective_options
        # the first `own` items of each sequence: s[:-2] (train) or s[:-1] (train + valid)
        own = data.seqs.lengths - (2 if opts.pool == "train" else 1)
        u = draw_rng(cfg).random((data.seqs.n_users, opts.count))
        idx = data.starts[:, None] + np.minimum((u * own[:, None]).astype(np.int64),
                                                own[:, None] - 1)  # (U, M)
        return prepend(data, data.seqs.items[idx], opts.mask_targets)


def load_generated(cfg: RunConfig, file_name: str, stage: str,
                   data: LeaveOneOut) -> dict[str, np.ndarray]:
    """The pseudo-items a generating stage (ASReP's reverse model, DiffuASR's diffusion) wrote
    into ``cfg.init_from``, checked against the users of ``data``."""
    name = cfg.objective
    if not cfg.init_from:
        raise ConfigError(f"{name}: no {stage} yet (train the run with `basrec train`)")
    path = Path(cfg.init_from) / file_name
    if not path.exists():
        raise ConfigError(f"{name}: {path} is missing (the {stage}'s pseudo-items)")
    saved = dict(np.load(path))
    if list(saved["users"]) != list(data.seqs.users):
        raise ConfigError(f"{name}: {path} was generated for other users")
    return saved
