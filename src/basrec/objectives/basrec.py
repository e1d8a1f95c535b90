"""BASRec (Dang et al., AAAI 2025): single- and cross-sequence augmentation (docs/algorithm.md §3).

Model-agnostic through the Backbone contract: views are mixed between ``embed`` and ``encode``
and outputs / target vectors after ``encode``; no parameter is added to the backbone.

One step, for a batch (x, y, q) (docs/algorithm.md §3.3):

1. L_main = loss(f(x), y, q) (Eq. 13).
2. Single-sequence augmentation: 2·n_pairs views x'_k = op_k(x) with op ∈ {M-Reorder,
   M-Substitute} and rate ~ U[rate_min, rate_max); λ ~ Beta(α, α) per sequence and view;
   E^In = λ·E[x] + (1−λ)·E[x'] (Eq. 7), encoded with x's padding mask;
   L_ssa,k = ω-weighted loss(f(E^In), y, q) with ω = minmax(1 / (λ·rate)) (Eq. 9, 14).
3. Cross-sequence augmentation on the same H: n_whole_level item-wise (Λ: B×N) and
   n_whole_level feature-wise (Λ: B×D) nonlinear mixups, each with a fresh batch permutation,
   of H, E[y] and E[q] (Eq. 10–12, 15), masked by x's targets.
4. L = rec_weight·L_main + ssa_weight·Σ_k L_ssa,k + csa_weight·Σ L_csa (Eq. 16 as the code
   sums it: docs/algorithm.md §3.7 items 7–8).

The original sequence and its views are encoded together in one batched call (the same rows
stacked), with the backbone's length groups where exact. Where a mixup partner is padding at a
target's position, the original mixes in the encoder's output at that padding column, computed
at full width (algorithm.md §3.7 item 9; SASRec's padding queries, every key masked, attend over the
whole window). ``cross_padding=encoder`` (default) keeps that: with length groups the original
rows are encoded at full width and only the views are trimmed (views are read at real
positions only, where trimming is exact), unless the backbone's output at padding is one known
vector (``padding_output``, GRU4Rec ``skip``), which is then filled in and every row trimmed.
``cross_padding=zero``: a partner contributes
nothing at its padding columns, and the original rows are trimmed too (faster on the CPU).
Where a backbone is not trim-exact because of random work on the padding columns (GRU4Rec
``feed``: dropout at every PAD step), the views run at full width with draws of their own, as
the original's separate passes (``view_padding=own``), or, with ``view_padding=shared``, on
their length groups' windows from their original's computation before it
(``encode_with_prefix`` / ``encode_continuing`` of ``models/fast.py``): each loss term keeps its
distribution; only a row's and its views' padding noise is shared.

Loss weighting ``ssa_weighting`` (docs/decisions.md): ``batch_scalar`` (default, what the
original code computes: Σ_b ω_b × the masked-mean loss), ``per_sequence`` (Eq. 14 literally:
each sequence's positions weighted by its ω_b), ``none`` (ω ≡ 1, the "w/o ALW" ablation).
When every ω̃ in a batch is equal (e.g. a batch of one) ω = 1 instead of 0/0.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import torch

from basrec.errors import ConfigError
from basrec.models.base import Backbone
from basrec.objectives import basrec_encode
from basrec.objectives.base import Objective, ObjectiveContext, StepRandom
from basrec.objectives.basrec_ce import CEForm
from basrec.objectives.catalog_loss import SOFTMAX_LOSSES, CatalogLoss
from basrec.objectives.class_sampler import run_sampler
from basrec.objectives.losses import PAIRWISE, Targets, next_item_loss
from basrec.objectives.ops import m_reorder, m_substitute
from basrec.objectives.plain import sorted_batch
from basrec.objectives.sample_similarity import final_cosine, similarity_logs
from basrec.registry import OBJECTIVES

if TYPE_CHECKING:
    from basrec.config import RunConfig
    from basrec.data.batches import TrainBatch

CHOICES = {
    "ssa_weighting": ("batch_scalar", "per_sequence", "none"),
    "operator_choice": ("random", "both", "reorder", "substitute"),
    "substitute_source": ("itemcf", "embedding"),
    "mixup": ("nonlinear", "linear"),
    "training": ("two_stage", "joint"),
    "cross_padding": ("encoder", "zero"),
    "view_padding": ("own", "shared"),
    "loss_form": ("auto", "bce", "ce"),
    "feature_ce": ("soft_labels", "mixed_target"),
}


@dataclass(frozen=True)
class BASRecOptions:
    """BASRec's options; defaults are the original code's (algorithm.md §3.6, decisions.md)."""

    alpha: float = 0.3  # Beta(α, α) for λ and Λ (the code's ``beta``)
    rate_min: float = 0.2  # a of Eq. 4
    rate_max: float = 0.51  # b of Eq. 4 (the code's default)
    n_pairs: int = 1  # 2·n_pairs augmented views per sequence
    n_whole_level: int = 1  # item-wise and feature-wise mixups, each this many times
    ssa_weighting: str = "batch_scalar"
    operator_choice: str = "random"
    substitute_source: str = "itemcf"
    mixup: str = "nonlinear"  # "linear" = the "w/o NL" ablation (one λ per sequence)
    single: bool = True  # False = "w/o SA"
    cross: bool = True  # False = "w/o CA"
    # what a mixup partner contributes where it is padding: the encoder's output there, as the
    # original computes it at full width ("encoder"), or nothing ("zero": faster on the CPU)
    cross_padding: str = "encoder"
    # the views' padding columns where the backbone's outputs depend on random work there
    # (GRU4Rec feed: dropout on every PAD step): each view's own, as the original runs it
    # ("own"), or carried over from its original row ("shared": views then run on their own
    # length group's width; each loss term is distributed as before, see docs/basrec.md)
    view_padding: str = "own"
    training: str = "two_stage"  # "joint" = "w/o Two"
    # the augmentation losses' form: "bce" (the paper's Eq. 13-15 with the sampled negative),
    # "ce" (softmax over the catalog: objectives/basrec_ce.py), "auto" (ce where the run's
    # loss is ce or sampled_ce, else bce)
    loss_form: str = "auto"
    # the CE form of the feature-wise mixup: soft labels with the mean of Λ, or the mixed
    # target vector scored in place of the row's own target (docs/basrec.md)
    feature_ce: str = "soft_labels"
    # the CE form's classes: None, the run's own softmax (every item under loss=ce); N, the
    # targets and N negatives shared by the step (sampled softmax: a CE-form step costs about
    # what a BCE-form step does, docs/performance.md); the main loss keeps the run's loss
    ce_negatives: int | None = None
    # stage 1's stopping rule when `basrec train` trains it (ignored with init_from);
    # None = stage 2's patience and no minimum (algorithm.md §3.5 advises validating from epoch 0)
    stage1_epochs: int = 200
    stage1_patience: int | None = None
    stage1_min_epochs: int | None = None
    # validate stage 1 every N epochs (None: the run's valid_every), so that a short stage 2
    # validated often can share a stage 1 validated as a plain run is
    stage1_valid_every: int | None = None
    rec_weight: float = 1.0
    ssa_weight: float = 1.0
    csa_weight: float = 1.0

    #: keys that only shape a stage 1 trained by the run itself: not part of the identity of
    #: a run that starts from a given stage 1 (``init_from``; identity.result_keys)
    STAGE1_KEYS: ClassVar[tuple[str, ...]] = ("stage1_epochs", "stage1_patience",
                                              "stage1_min_epochs", "stage1_valid_every")

    @property
    def two_stage(self) -> bool:
        return self.training == "two_stage"

    def validate(self) -> None:
        for key, allowed in CHOICES.items():
            if getattr(self, key) not in allowed:
                raise ConfigError(f"basrec.{key}: {getattr(self, key)!r} is not one of "
                                  f"{', '.join(allowed)}")
        if self.alpha <= 0:
            raise ConfigError(f"basrec.alpha: must be positive, got {self.alpha}")
        if not 0.0 <= self.rate_min < self.rate_max <= 1.0:
            raise ConfigError(f"basrec: need 0 <= rate_min < rate_max <= 1, got "
                              f"[{self.rate_min}, {self.rate_max})")
        if self.ce_negatives is not None and self.ce_negatives < 1:
            raise ConfigError(f"basrec.ce_negatives: must be at least 1, got "
                              f"{self.ce_negatives}")
        if self.n_pairs < 0 or self.n_whole_level < 0 or self.stage1_epochs < 1:
            raise ConfigError("basrec: n_pairs and n_whole_level must be >= 0, "
                              "stage1_epochs >= 1")
        if self.stage1_patience is not None and self.stage1_patience < 0:  # 0: never stop
            raise ConfigError(f"basrec.stage1_patience: must be >= 0, got {self.stage1_patience}")
        if self.stage1_min_epochs is not None and self.stage1_min_epochs < 0:
            # >= stage1_epochs is allowed, as min_epochs >= epochs: the last weights are kept
            raise ConfigError(f"basrec.stage1_min_epochs: must be >= 0, got "
                              f"{self.stage1_min_epochs}")
        if self.stage1_valid_every is not None and self.stage1_valid_every < 1:
            raise ConfigError(f"basrec.stage1_valid_every: must be >= 1, got "
                              f"{self.stage1_valid_every}")


def adaptive_weights(lam: torch.Tensor, rate: torch.Tensor) -> torch.Tensor:
    """Eq. 9: ω̃ = 1/(λ·rate), min–max normalised over the batch; ω = 1 if all are equal."""
    raw = 1.0 / (lam * rate).clamp_min(1e-12)  # (B,)
    lo, hi = raw.min(), raw.max()
    if not bool(hi > lo):
        return torch.ones_like(raw)
    return (raw - lo) / (hi - lo)


def weighted_loss(values: torch.Tensor, rows: torch.Tensor, omega: torch.Tensor,
                  mode: str) -> torch.Tensor:
    """The single-sequence loss from per-position losses (M,) of batch rows ``rows`` (M,).

    ``batch_scalar``: Σ_b ω_b × mean (what the original computes, docs/algorithm.md §3.4);
    ``per_sequence``: mean of ω_row × value (Eq. 14); ``none``: the plain mean."""
    if values.numel() == 0:
        return values.sum() * 0.0
    if mode == "batch_scalar":
        return omega.sum() * values.mean()
    if mode == "per_sequence":
        return (values * omega[rows]).mean()
    return values.mean()


def resolve_loss_form(form: str, loss: str) -> str:
    """``auto`` → ce where the run's ``loss`` is a softmax loss, else bce."""
    if form != "auto":
        return form
    return "ce" if loss in SOFTMAX_LOSSES else "bce"


@OBJECTIVES.register("basrec", options=BASRecOptions)
class BASRec(Objective):
    @staticmethod
    def stage1(options: BASRecOptions, cfg: RunConfig) -> dict[str, int] | None:
        """Two-stage training: the stage 1 follows ``stage1_*`` (unset: stage 2's patience and
        validation cadence, no minimum, validation from epoch 0, docs/algorithm.md §3.5)."""
        if not options.two_stage:
            return None
        patience, min_epochs = options.stage1_patience, options.stage1_min_epochs
        rules = {"epochs": options.stage1_epochs,
                 "patience": cfg.patience if patience is None else patience,
                 "min_epochs": 0 if min_epochs is None else min_epochs}
        if options.stage1_valid_every is not None:
            rules["valid_every"] = options.stage1_valid_every
        return rules

    def __init__(self, options: BASRecOptions, context: ObjectiveContext) -> None:
        cfg = context.config
        self.opts = options
        self.loss_kind = cfg.loss
        self.sampler = run_sampler(context)
        # the CE form's own classes (basrec.ce_negatives), drawn as the run draws its own
        self.augmentation_sampler = None if options.ce_negatives is None \
            else replace(self.sampler, n=options.ce_negatives)
        self.ce_form = resolve_loss_form(options.loss_form, cfg.loss) == "ce"
        # the BCE form's loss on the augmented terms: the run's pairwise loss, BCE under CE
        self.pairwise = PAIRWISE.get(cfg.loss, PAIRWISE["bce"])
        self.groups = cfg.length_groups_on(context.device)
        self.device = context.device
        self._neighbours: torch.Tensor | None = None
        self._fallback: torch.Tensor | None = None
        if options.single and options.n_pairs > 0 and options.substitute_source == "itemcf" \
                and options.operator_choice != "reorder":
            from basrec.data.similarity import itemcf_tensors

            self._neighbours, self._fallback = itemcf_tensors(context.data.seqs, self.device)

    def _set_neighbours(self, table: np.ndarray) -> None:
        self._neighbours = torch.from_numpy(table).to(self.device)
        self._fallback = torch.from_numpy(np.nonzero(table > 0)[0]).to(self.device)

    # -- the pieces -------------------------------------------------------------------------

    def make_views(self, model: Backbone, ids: torch.Tensor, rng: StepRandom
                   ) -> tuple[torch.Tensor, torch.Tensor]:
        """2·n_pairs augmented id views and their rates: (V, B, N) and (V, B)."""
        o = self.opts
        n_views = 2 * o.n_pairs
        b = ids.shape[0]
        g = rng.gen
        rates = o.rate_min + (o.rate_max - o.rate_min) * torch.rand(
            n_views, b, generator=g, device=ids.device)  # (V, B)
        if o.operator_choice == "random":
            use_reorder = torch.rand(n_views, b, generator=g, device=ids.device) < 0.5
        else:
            pattern = {"both": [k % 2 == 0 for k in range(n_views)],
                       "reorder": [True] * n_views, "substitute": [False] * n_views}
            flags = torch.tensor(pattern[o.operator_choice], device=ids.device)
            use_reorder = flags[:, None].expand(n_views, b)
        if self._neighbours is None and not bool(use_reorder.all()):
            from basrec.data.similarity import embedding_top1

            self._set_neighbours(embedding_top1(model.item_emb.weight))
        flat_ids = ids.repeat(n_views, 1)  # (V·B, N)
        flat_rates = rates.reshape(-1)  # (V·B,)
        reordered = m_reorder(flat_ids, flat_rates, g)
        if self._neighbours is not None and self._fallback is not None:
            substituted = m_substitute(flat_ids, flat_rates, self._neighbours, self._fallback, g)
        else:
            substituted = reordered
        views = torch.where(use_reorder.reshape(-1, 1), reordered, substituted)  # (V·B, N)
        return views.view(n_views, b, -1), rates

    def beta(self, rng: StepRandom, shape: tuple[int, ...]) -> torch.Tensor:
        a = self.opts.alpha
        draws = rng.np.beta(a, a, size=shape).astype(np.float32)
        return torch.from_numpy(draws).to(self.device)

    def draw_mixups(self, rng: StepRandom, b: int, m: int,
                    d: int) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
        """The cross-sequence mixups of one step (docs/algorithm.md §3.3 item 3), in the
        original's order: n_whole_level item-wise then n_whole_level feature-wise (or
        2·n_whole_level linear), each a fresh batch permutation (B,) and its weights: Λ (M, 1)
        for the M target positions (item-wise, Eq. 11), Λ (B, D) per sequence and feature
        (Eq. 12), or λ (B, 1) per sequence (linear, "w/o NL")."""
        o = self.opts
        kinds = (["item"] * o.n_whole_level + ["feature"] * o.n_whole_level
                 if o.mixup == "nonlinear" else ["linear"] * (2 * o.n_whole_level))
        shapes = {"item": (m, 1), "feature": (b, d), "linear": (b, 1)}
        mixes = []
        for kind in kinds:
            perm = torch.randperm(b, generator=rng.gen, device=self.device)  # (B,)
            mixes.append((kind, perm, self.beta(rng, shapes[kind])))
        return mixes

    def augmentation_catalog(self, model: Backbone, main: CatalogLoss | None) -> CatalogLoss:
        """The classes of the CE-form terms: ``ce_negatives`` sampled ones where set, else the
        main loss's (full CE where the run's loss is not a softmax loss)."""
        if self.augmentation_sampler is not None:
            return CatalogLoss.create("sampled_ce", model.item_emb.weight,
                                      self.augmentation_sampler)
        return main if main is not None else CatalogLoss.create("ce", model.item_emb.weight)

    # -- the encoder (objectives/basrec_encode.py) ------------------------------------------

    def encode_with_views(self, model: Backbone, x: torch.Tensor, views: torch.Tensor,
                          lam: torch.Tensor, last_only: bool,
                          with_original: bool = True) -> torch.Tensor:
        """``basrec_encode.encode_with_views`` with this objective's length groups."""
        return basrec_encode.encode_with_views(model, x, views, lam, last_only, self.groups,
                                               with_original)

    def encode_views_at(self, model: Backbone, x: torch.Tensor, views: torch.Tensor,
                        lam: torch.Tensor, t: Targets,
                        prefix: object | None = None) -> torch.Tensor:
        """``basrec_encode.encode_views_at`` with this objective's length groups."""
        return basrec_encode.encode_views_at(model, x, views, lam, t, self.groups, prefix)

    # -- the step ---------------------------------------------------------------------------

    def __call__(self, model: Backbone, batch: TrainBatch,
                 rng: StepRandom) -> dict[str, torch.Tensor]:
        o = self.opts
        x, y, q = sorted_batch(batch)  # rows by length; y, q: (B, W), W = N or 1 (last_only)
        b, w = x.shape[0], y.shape[1]
        last = batch.last_only
        t = Targets.of(y, q)  # the M positions with a target
        values_fn = self.pairwise
        use_ssa = o.single and o.n_pairs > 0
        use_csa = o.cross and o.n_whole_level > 0
        views: torch.Tensor | None = None
        lam: torch.Tensor | None = None
        if use_ssa:
            views, rates = self.make_views(model, x, rng)  # (V, B, N), (V, B)
            n_views = views.shape[0]
            lam = self.beta(rng, (n_views, b))  # (V, B)
        cols = t.flat % w  # (M,) output column of each target
        # the mixups' partners and weights, drawn before the encoder runs (no encoder draws
        # from these generators, so the order of draws is that of the loop that uses them)
        m = t.flat.numel()
        mixes = self.draw_mixups(rng, b, m, model.item_emb.embedding_dim) if use_csa else []
        partners = [perm[t.rows] * w + cols for _, perm, _ in mixes]  # (M,) each: the same
        # position in the partner row; the positions the mixups read, ((1 + 2L)·M,)
        where = torch.cat([t.flat, *partners])  # L = n_whole_level
        enc = basrec_encode.encode_step(model, x, views, lam, t, w, where, last, self.groups,
                                        o.cross_padding, o.view_padding, use_csa)
        h, h_view_ts = enc.h, enc.h_view_ts  # (B, W, D), V × (M, D)
        if use_csa:  # the originals at the targets, then at each mixup's partner positions
            read = basrec_encode.read_outputs(enc, where, x, y, o.cross_padding)
            h_t, *h_partners = read.split([m] * (1 + len(partners)))  # (M, D) each
        else:
            h_t = t.select(h)  # (M, D)
        at_last = cols == w - 1  # (M,): the targets at each row's last (final) position
        sims: dict[str, list[torch.Tensor]] = {"single": [], "cross": []}
        catalog = CatalogLoss.create(self.loss_kind, model.item_emb.weight, self.sampler) \
            if self.loss_kind in SOFTMAX_LOSSES else None
        main = next_item_loss(self.loss_kind, model, h_t, t, catalog)
        ce = CEForm(self.augmentation_catalog(model, catalog), t.pos) if self.ce_form else None
        out: dict[str, torch.Tensor] = {"rec": main.detach()}
        total = o.rec_weight * main
        # every target vector of the step in one lookup (one backward over the item table):
        # the positives and negatives, then the partners' positives and negatives per mixup
        partner_at = where[m:]  # (2L·M,)
        vectors = model.item_emb(torch.cat([t.pos, t.neg, y.reshape(-1)[partner_at],
                                            q.reshape(-1)[partner_at]]))  # ((2 + 4L)·M, D)
        pos, neg, *partner_vectors = vectors.split([m] * (2 + 2 * len(partners)))  # (M, D)
        partner_pos, partner_neg = partner_vectors[:len(partners)], partner_vectors[len(partners):]

        if lam is not None:  # single-sequence augmentation
            ssa = h.new_zeros(())
            for k in range(n_views):
                omega = adaptive_weights(lam[k], rates[k]) if o.ssa_weighting != "none" \
                    else torch.ones_like(lam[k])  # (B,)
                h_view_t = h_view_ts[k]  # (M, D)
                values = ce.view(h_view_t) if ce is not None \
                    else values_fn(h_view_t, pos, neg)  # (M,)
                sims["single"].append(final_cosine(h_view_t, h_t, at_last))
                ssa = ssa + weighted_loss(values, t.rows, omega, o.ssa_weighting)
            total = total + o.ssa_weight * ssa
            out["ssa"] = ssa.detach()

        if use_csa:
            csa = h.new_zeros(())
            for (kind, _, lam_drawn), partner, h_partner, p_pos, p_neg in zip(
                    mixes, partners, h_partners, partner_pos, partner_neg, strict=True):
                # the partner's output, positive and negative at the same position: (M, D)
                # item-wise: one weight per target position; else per sequence: (M, 1 or D)
                lam_m = lam_drawn if kind == "item" else lam_drawn[t.rows]
                h_mix = lam_m * h_t + (1 - lam_m) * h_partner  # (M, D)
                sims["cross"].append(final_cosine(h_mix, h_t, at_last))
                pos_mix = lam_m * pos + (1 - lam_m) * p_pos  # (M, D)
                if not t.flat.numel():
                    continue
                if ce is not None:
                    p_ids = y.reshape(-1)[partner]  # (M,) the partner's targets (0: none)
                    csa = csa + ce.mixup(h_mix, lam_m, p_ids, pos_mix, kind,
                                         self.opts.feature_ce).mean()
                    continue
                neg_mix = lam_m * neg + (1 - lam_m) * p_neg  # (M, D)
                csa = csa + values_fn(h_mix, pos_mix, neg_mix).mean()
            total = total + o.csa_weight * csa
            out["csa"] = csa.detach()

        out.update(similarity_logs(sims))
        out["loss"] = total
        return out

