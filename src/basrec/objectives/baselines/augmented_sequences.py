"""Heuristic augmentation as extra training sequences: CMR and CMRSI of the paper's Table 3
(docs/algorithm.md §4.0, §4.4, §4.5), the operators used as plain data augmentation, without a
contrastive loss (``cl_weight`` 0; a positive weight adds CoSeRec's InfoNCE between the original
and its view).

Each step, every user's training sequence z = s[:-2] (its input window plus the last target)
gets one augmented view z' = op(z), and z' joins the batch as an extra sequence (input
z'[:-1], targets z'[1:], a fresh negative per position; targets that are padding, e.g. masked
items, carry no loss, and the view's first item is no target: input and targets are padded
separately, as in CoSeRec's dataset): the next-item loss is the mean over the positions of
both. For a backbone that is not causal only the view's last position is trained (no target
leaks).

- ``cmr``: Crop, Mask or Reorder, uniformly (CoSeRec rates 0.2 / 0.7 / 0.2).
- ``cmrsi``: CoSeRec's five operators with its length rule (docs/algorithm.md §4.5): a sequence
  longer than ``threshold`` draws from all five; a shorter one from ``short_ops`` (default "SIM":
  Substitute, Insert, Mask). Substitute and Insert use the ItemCF-IUF top-1 neighbour
  (docs/algorithm.md §3.2). Reorder uses ``reorder`` everywhere (CoSeRec's list passes gamma
  instead, docs/algorithm.md §4.5: not copied).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import torch

from basrec.errors import ConfigError
from basrec.models.base import Backbone
from basrec.models.fast import encode_batch
from basrec.objectives.base import Objective, ObjectiveContext, StepRandom
from basrec.objectives.baselines.cl4srec import check_rates
from basrec.objectives.baselines.contrastive import info_nce, view_representation
from basrec.objectives.baselines.coserec_ops import cmr_operators, insert, random_views, substitute
from basrec.objectives.class_sampler import run_sampler
from basrec.objectives.losses import Targets, next_item_loss
from basrec.objectives.ops import real_lengths
from basrec.objectives.sample_similarity import last_column_cosine, similarity_logs
from basrec.registry import OBJECTIVES

if TYPE_CHECKING:
    from basrec.data.batches import TrainBatch

LETTERS = "CMRSI"  # Crop, Mask, Reorder, Substitute, Insert


@dataclass(frozen=True)
class CMROptions:
    crop: float = 0.2  # tao: the share of items a Crop keeps
    mask: float = 0.7  # gamma: the share of items a Mask hides
    reorder: float = 0.2  # beta: the share of items a Reorder shuffles
    cl_weight: float = 0.0  # > 0: InfoNCE between each sequence and its view (CoSeRec-like)
    tau: float = 1.0

    def validate(self) -> None:
        check_rates("cmr", crop=self.crop, mask=self.mask, reorder=self.reorder)
        if self.cl_weight < 0 or self.tau <= 0:
            raise ConfigError("cl_weight must be ≥ 0 and tau > 0")


@dataclass(frozen=True)
class CMRSIOptions(CMROptions):
    substitute: float = 0.1  # share of items replaced by their neighbour (Beauty script: 0.05)
    insert: float = 0.4  # share of items that get a neighbour inserted (Beauty script: 0.5)
    threshold: int = 4  # longer sequences use all five operators (Beauty script: 12)
    short_ops: str = "SIM"  # operators of the others, letters of C, M, R, S, I

    def validate(self) -> None:
        super().validate()
        check_rates("cmrsi", substitute=self.substitute, insert=self.insert)
        letters = set(self.short_ops.upper())
        if not letters or not letters <= set(LETTERS):
            raise ConfigError(f"cmrsi.short_ops: {self.short_ops!r} must be letters of "
                              f"{LETTERS} (Crop, Mask, Reorder, Substitute, Insert)")


class AugmentedSequences(Objective):
    extra_negatives = True  # the views need a negative at every position

    def __init__(self, options: CMROptions, context: ObjectiveContext) -> None:
        self.opts = options
        self.loss_kind = context.config.loss
        self.sampler = run_sampler(context)
        self.groups = context.config.length_groups_on(context.device)
        self.operators = cmr_operators(options.crop, options.mask, options.reorder)

    def allowed(self, z: torch.Tensor) -> torch.Tensor | None:
        """Which operators each row may use (B, K); None: all."""
        return None

    def __call__(self, model: Backbone, batch: TrainBatch,
                 rng: StepRandom) -> dict[str, torch.Tensor]:
        x, y, q = batch.inputs, batch.targets, batch.negatives
        extra = batch.extra_negatives
        if extra is None:
            raise RuntimeError("augmented sequences need the loader's extra_negatives")
        z = torch.cat([x, y[:, -1:]], 1)  # (B, N+1): the training part s[:-2], left-padded
        view, _ = random_views(z, self.operators, rng.gen, self.allowed(z))  # (B, N+1)
        vx, vy = view[:, :-1], view[:, 1:]  # (B, N) input and targets of the extra sequence
        first = (view > 0).to(torch.int8).argmax(1)  # (B,) the view's first item: no target
        cols = torch.arange(vy.shape[1], device=vy.device)  # (N,)
        vy = vy.masked_fill(cols[None, :] < first[:, None], 0)
        if not model.causal:
            vy = torch.cat([torch.zeros_like(vy[:, :-1]), vy[:, -1:]], 1)  # last position only
        vq = extra.masked_fill(vy == 0, 0)  # (B, N)
        ids = torch.cat([x, vx])  # (2B, N)
        h = encode_batch(model, model.embed(ids), ids, self.groups)  # (2B, N, D)
        t = Targets.of(torch.cat([y, vy]), torch.cat([q, vq]))
        rec = next_item_loss(self.loss_kind, model, t.select(h), t,
                             sampler=self.sampler)
        parts = {"rec": rec.detach()}
        loss = rec
        if self.opts.cl_weight > 0:
            b = x.shape[0]
            cl = info_nce(view_representation(h[:b], x, "flatten"),
                          view_representation(h[b:], vx, "flatten"), self.opts.tau)
            loss = rec + self.opts.cl_weight * cl
            parts["cl"] = cl.detach()
        b = x.shape[0]
        sims = {"views": [last_column_cosine(h[b:], h[:b], vx, x)]}
        return {"loss": loss, **parts, **similarity_logs(sims)}


@OBJECTIVES.register("cmr", options=CMROptions)
class CMR(AugmentedSequences):
    """Crop, Mask, Reorder as extra training sequences (Table 3's CMR)."""


@OBJECTIVES.register("cmrsi", options=CMRSIOptions)
class CMRSI(AugmentedSequences):
    """CoSeRec's five operators as extra training sequences (Table 3's CMRSI)."""

    def __init__(self, options: CMRSIOptions, context: ObjectiveContext) -> None:
        super().__init__(options, context)
        from basrec.data.similarity import itemcf_tensors

        neighbours, fallback = itemcf_tensors(context.data.seqs, context.device)
        self.operators += [partial(substitute, rate=options.substitute, neighbours=neighbours,
                                   fallback=fallback),
                           partial(insert, rate=options.insert, neighbours=neighbours,
                                   fallback=fallback)]
        short = set(options.short_ops.upper())
        self.short_mask = torch.tensor([c in short for c in LETTERS], device=context.device)
        self.threshold = options.threshold

    def allowed(self, z: torch.Tensor) -> torch.Tensor:
        long = real_lengths(z) > self.threshold  # (B,)
        every = torch.ones(z.shape[0], len(LETTERS), dtype=torch.bool, device=z.device)
        return torch.where(long[:, None], every, self.short_mask[None, :].expand_as(every))
