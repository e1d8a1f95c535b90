"""ASReP (Liu, Fan, Wang & Yu, SIGIR 2021, "Augmenting Sequential Recommendation with
Pseudo-Prior Items via Reversely Pre-training Transformer"), a baseline of the paper's Table 4
(docs/algorithm.md §5.1), in three steps, all on this project's backbone and protocol:

1. **Reverse pre-training** (objective ``reverse``, in ``RUN/reverse``): the backbone trained
   on every user's time-reversed training part z = s[:-2], with the usual early stopping (its
   own leave-one-out: it learns to predict the item *before* a sequence).
2. **Generation**: for each user, k = clip(``max_length`` − |z|, 0, ``max_items``) pseudo-prior
   items, greedily: the reversed model reads reversed(z) plus the items generated so far and
   emits its top-1 item not already in z or generated (``pseudo_items_*.npz`` beside it).
3. **Fine-tuning** (objective ``asrep``): the pseudo-items, oldest first, are put in front of
   the user's sequence and the backbone, initialised from the reversed model (ASReP's
   ``--reversed_pretrain``), trains forward with its usual loss; pseudo-items are ordinary
   items, targets included (``mask_targets`` false, as ASReP).

Deviations, each deliberate: generation reads the training part only (ASReP also feeds the
valid and test items, in an order algorithm.md §5.1 calls a bug, which lets the test item shape the
pseudo-items the forward model then sees); the model, its size and the optimiser are this
project's (BASRec's Table 4 uses D 64, batch 256, N 50 for every method), not ASReP's TF SASRec
with β2 0.98; the reverse stage stops early instead of training a fixed 200 epochs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from basrec.config import RunConfig
from basrec.data.batches import window
from basrec.data.io import Sequences, ragged_positions
from basrec.data.split import LeaveOneOut
from basrec.errors import ConfigError
from basrec.models.base import Backbone
from basrec.models.fast import encode_batch
from basrec.objectives.base import Stages
from basrec.objectives.baselines.pseudo_items import load_generated, prepend_ragged
from basrec.objectives.plain import Plain
from basrec.registry import OBJECTIVES
from basrec.runio import load_weights


@dataclass(frozen=True)
class ReverseOptions:
    """No options: the reverse stage trains the backbone on reversed training parts."""


def reversed_training_parts(data: LeaveOneOut, min_length: int = 1) -> LeaveOneOut:
    """Each user's z = s[:-2] in reverse time order (users with |z| < min_length dropped)."""
    z_len = data.seqs.lengths - 2
    keep = np.nonzero(z_len >= min_length)[0]
    lengths = z_len[keep]
    offsets = np.zeros(keep.shape[0] + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    rows, pos = ragged_positions(data.starts[keep], lengths)
    first = data.starts[keep][rows]
    rev = first + lengths[rows] - 1 - (pos - first)  # the same range, read backwards
    users = [data.seqs.users[u] for u in keep]
    return LeaveOneOut(Sequences(users, data.seqs.items[rev], offsets, data.n_items))


@OBJECTIVES.register("reverse", options=ReverseOptions)
class Reverse(Plain):
    """The backbone alone on time-reversed training parts (ASReP's step 1)."""

    @staticmethod
    def transform_data(data: LeaveOneOut, cfg: RunConfig) -> LeaveOneOut:
        return reversed_training_parts(data, min_length=3)  # 3: a train, valid and test item


@dataclass(frozen=True)
class ASRePOptions:
    max_length: int = 18  # M: pseudo-items fill a training part up to M items
    max_items: int = 15  # ASReP's aug_traindata: at most this many per user
    reverse_epochs: int = 200  # the reverse stage's epoch budget (it stops early)

    def validate(self) -> None:
        if self.max_length < 1 or self.max_items < 0 or self.reverse_epochs < 1:
            raise ConfigError("asrep.max_length and asrep.reverse_epochs must be ≥ 1 and "
                              "asrep.max_items ≥ 0")

    def pseudo_file(self) -> str:
        return f"pseudo_items_M{self.max_length}_K{self.max_items}.npz"


def pseudo_counts(data: LeaveOneOut, opts: ASRePOptions) -> np.ndarray:
    """(U,) pseudo-items per user: up to max_length training items, at most max_items."""
    z_len = data.seqs.lengths - 2
    return np.clip(opts.max_length - z_len, 0, opts.max_items).astype(np.int64)


@torch.no_grad()
def generate(model: Backbone, data: LeaveOneOut, counts: np.ndarray,
             batch_size: int = 1024) -> np.ndarray:
    """Greedy pseudo-prior items: (U, max count) in generation order (nearest first), 0 past
    each user's count. The model reads reversed training parts (newest first)."""
    device = next(model.parameters()).device
    model.eval()
    rev = reversed_training_parts(data)  # every user (|z| ≥ 1), rows aligned with data
    n = model.max_len
    out = np.zeros((counts.shape[0], int(counts.max(initial=0))), dtype=np.int64)
    for i in range(0, counts.shape[0], batch_size):
        users = np.arange(i, min(i + batch_size, counts.shape[0]))
        need = counts[users]
        if need.max(initial=0) == 0:
            continue
        starts, ends = rev.starts[users], rev.seqs.offsets[users + 1]
        cur = torch.from_numpy(window(rev.seqs.items, starts, ends, n)).to(device)  # (B, N)
        rows, cols = ragged_positions(starts, ends - starts)
        seen_rows = torch.from_numpy(rows).to(device)  # row in batch of each z item
        seen_items = torch.from_numpy(rev.seqs.items[cols]).to(device)
        gen = torch.zeros(users.shape[0], out.shape[1], dtype=torch.long, device=device)
        for r in range(int(need.max())):
            h = encode_batch(model, model.embed(cur), cur, 1)[:, -1]  # (B, D)
            scores = model.scores(h)  # (B, n_items + 1)
            scores[:, 0] = float("-inf")
            scores[seen_rows, seen_items] = float("-inf")  # not an item of z
            if r > 0:
                scores.scatter_(1, gen[:, :r], float("-inf"))  # nor one generated before
            new = scores.argmax(1)  # (B,)
            active = torch.from_numpy(need > r).to(device)
            gen[:, r] = torch.where(active, new, torch.zeros_like(new))
            cur = torch.where(active[:, None], torch.cat([cur[:, 1:], new[:, None]], 1), cur)
        out[users] = gen.cpu().numpy()
    return out


@OBJECTIVES.register("asrep", options=ASRePOptions)
class ASReP(Plain):
    """Forward training on sequences with reversely generated pseudo-prior items."""

    @staticmethod
    def prepare_run(cfg: RunConfig, run_dir: Path, quiet: bool,
                    stages: Stages) -> tuple[RunConfig, Path | None]:
        """Steps 1–2 (reverse stage and generation), once; returns the fine-tuning config,
        whose ``init_from`` is the reverse stage (its pseudo-items), and its weights."""
        from basrec.runio import atomic_write_bytes

        opts: ASRePOptions = cfg.objective_options
        rdir = Path(cfg.init_from) if cfg.init_from else run_dir / "reverse"
        if not (rdir / "results.json").exists():
            if cfg.init_from:
                raise ConfigError(f"init_from: {rdir} holds no finished reverse stage")
            rcfg = cfg.replace(objective="reverse", objective_options=ReverseOptions(),
                               init_from=None, min_epochs=0, epochs=opts.reverse_epochs)
            stages.fit(rcfg, rdir, quiet=quiet)
        path = rdir / opts.pseudo_file()
        if not path.exists():
            data = stages.load_data(cfg.replace(objective="none"))
            model = stages.make_model(cfg, data.n_items, stages.resolve_device(cfg.device))
            load_weights(model, rdir / "checkpoint_best.pt")
            counts = pseudo_counts(data, opts)
            items = generate(model, data, counts, cfg.eval_batch_size)
            import io

            buf = io.BytesIO()
            np.savez(buf, users=np.asarray(data.seqs.users), counts=counts, items=items)
            atomic_write_bytes(path, buf.getvalue())
        return cfg.replace(init_from=str(rdir)), rdir / "checkpoint_best.pt"

    @staticmethod
    def transform_data(data: LeaveOneOut, cfg: RunConfig) -> LeaveOneOut:
        opts: ASRePOptions = cfg.objective_options
        saved = load_generated(cfg, opts.pseudo_file(), "reverse stage", data)
        counts, items = saved["counts"], saved["items"]
        cols = np.arange(items.shape[1])[None, :]
        # oldest first: the last generated item is the earliest in time
        ordered = np.where(cols < counts[:, None],
                           np.take_along_axis(items, np.clip(counts[:, None] - 1 - cols, 0,
                                                             None), 1), 0)
        flat = ordered[cols < counts[:, None]]
        return prepend_ragged(data, flat, counts, mask_targets=False)
