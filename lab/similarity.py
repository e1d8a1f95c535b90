"""The paper's Table 6: cosine similarity of augmented samples to their originals.

Usage: python lab/similarity.py RUN_DIR [--batches 10] [--seed 0] [--positions last|all]
[--train-mode] [--json], or python lab/similarity.py RUN_DIR --over-training [--json]

"We compute the similarity of the final output representation of the model for all samples"
(BASRec §Data Similarity Analysis). Here the representation of a sequence is the encoder output
at its **last real position** (the last column of a left-padded batch: the vector that scores the
next item), computed with the model in eval mode (no dropout), without gradients.

For each original sequence x with representation h = f(E[x]):

- ``BASRec-I`` (single-sequence branch): the objective's own views x' (``BASRec.make_views``),
  λ ~ Beta(α, α) (``BASRec.beta``), mixed embeddings λ·E[x] + (1−λ)·E[x'] encoded with x's
  padding mask, exactly as in training; cos(f(mixed), h).
- ``BASRec-O`` (cross-sequence branch): h mixed with a batch partner's h (a fresh
  permutation per mix): item-wise (one Beta weight per sequence at that position) and
  feature-wise (one weight per feature), ``n_whole_level`` of each, or the linear mixup of
  "w/o NL"; cos(mixed, h).
- ``BASRec``: all augmented samples of both branches pooled (each sample counts once).
- ``views``: the operator views alone (M-Reorder / M-Substitute, no mixup), encoded as inputs.
- ``crop``, ``mask``, ``reorder``: CL4SRec's operators (η = 0.6, γ = 0.3, β = 0.2; a masked
  item becomes PAD, i.e. hidden, since the backbones have no mask token), for comparison with
  the paper's CL4SRec row (which measures a *trained* CL4SRec model, not these views of ours).

The paper averages "throughout the training process": ``analyze_training_log`` does that from
the ``sim_*`` values the objectives log at every step (objectives/sample_similarity.py);
``analyze_run`` measures one trained checkpoint (the run's best) over a few training batches,
in eval mode, for any run, also one made before that logging existed. Values lie in [−1, 1].
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from basrec.models.base import Backbone
from basrec.models.fast import paths
from basrec.objectives.base import StepRandom
from basrec.objectives.sample_similarity import cosine

if TYPE_CHECKING:
    from basrec.data.batches import TrainBatch
    from basrec.objectives.basrec import BASRec

#: the paper's Table 6 (SASRec backbone): Beauty, Sports, Yelp, Home, average. The first
#: row's label is missing in the text; by the text it is CMRSI (docs/algorithm.md §6).
PAPER_TABLE6 = {
    "CMRSI": (0.5673, None, None, None, None),
    "ASReP": (0.9585, 0.9476, 0.9307, 0.9752, 0.9530),
    "CL4SRec": (0.9612, 0.9574, 0.9580, 0.9631, 0.9599),
    "BASRec-I": (0.9083, 0.8954, 0.8626, 0.9522, 0.9046),
    "BASRec-O": (0.9239, 0.9172, 0.9003, 0.9460, 0.9219),
    "BASRec": (0.9152, 0.9076, 0.8790, 0.9485, 0.9126),
}

GENERIC = ("crop", "mask", "reorder")


#: which outputs represent a sample: its last column (B, D), or every column of the window,
#: padding included (B, N, D): one reading of the paper's "final output representation"
POSITIONS = ("last", "all")


def representation(model: Backbone, emb: torch.Tensor, ids: torch.Tensor,
                   positions: str) -> torch.Tensor:
    """The encoder output at the last column, the last real item of left-padded rows, (B, D)
    for ``last``; the whole window, padding columns too, (B, N, D) for ``all``."""
    return paths(model).encode_last(emb, ids) if positions == "last" else model.encode(emb, ids)


def _left_pad(rows: list[np.ndarray], width: int) -> np.ndarray:
    out = np.zeros((len(rows), width), dtype=np.int64)
    for i, r in enumerate(rows):
        if r.size:
            out[i, width - r.size:] = r
    return out


def generic_view(ids: torch.Tensor, kind: str, rng: np.random.Generator,
                 eta: float = 0.6, gamma: float = 0.3, beta: float = 0.2) -> torch.Tensor:
    """A CL4SRec view of left-padded ``ids``: ``crop``, ``mask`` (to PAD) or ``reorder``."""
    x = ids.detach().cpu().numpy()
    n = x.shape[1]
    rows = []
    for row in x:
        seq = row[row > 0].copy()
        length = seq.size
        if length == 0:
            rows.append(seq)
            continue
        if kind == "crop":
            c = max(1, int(eta * length))
            start = int(rng.integers(0, length - c + 1))
            seq = seq[start:start + c]
        elif kind == "mask":
            k = int(gamma * length)
            if k:
                idx = rng.choice(length - 1, size=min(k, length - 1), replace=False) \
                    if length > 1 else np.array([], dtype=np.int64)
                keep = np.ones(length, dtype=bool)
                keep[idx] = False  # the last item stays, so the last position is real
                seq = seq[keep]
        elif kind == "reorder":
            c = max(1, int(beta * length))
            start = int(rng.integers(0, length - c + 1))
            seq[start:start + c] = rng.permutation(seq[start:start + c])
        else:
            raise ValueError(f"unknown view {kind!r}; known: {', '.join(GENERIC)}")
        rows.append(seq)
    return torch.from_numpy(_left_pad(rows, n)).to(ids.device)


@torch.no_grad()
def view_similarity(model: Backbone, ids: torch.Tensor,
                    augment: Callable[[torch.Tensor], torch.Tensor],
                    positions: str = "last", train_mode: bool = False) -> torch.Tensor:
    """cos(f(augment(ids)), f(ids)) per row (``last``, (B,)) or per row and column (``all``,
    (B, N)) for any id-level augmentation, in eval mode (``train_mode``: dropout on)."""
    was_training = model.training
    model.train(train_mode)
    try:
        h = representation(model, model.embed(ids), ids, positions)
        v = augment(ids)
        return cosine(representation(model, model.embed(v), v, positions), h)
    finally:
        model.train(was_training)


@dataclass
class SimilarityStats:
    """Sums for averaging over batches: name → (Σ cos, count)."""

    sums: dict[str, float]
    counts: dict[str, int]

    @staticmethod
    def empty() -> SimilarityStats:
        return SimilarityStats({}, {})

    def add(self, name: str, values: torch.Tensor) -> None:
        v = values.detach().reshape(-1).double()
        self.sums[name] = self.sums.get(name, 0.0) + float(v.sum())
        self.counts[name] = self.counts.get(name, 0) + int(v.numel())

    def means(self) -> dict[str, float]:
        return {k: self.sums[k] / self.counts[k] for k in self.sums if self.counts[k]}


@torch.no_grad()
def augmentation_similarity(model: Backbone, batch: TrainBatch | torch.Tensor,
                            objective: BASRec | None, rng: StepRandom,
                            generic: tuple[str, ...] = GENERIC,
                            stats: SimilarityStats | None = None, positions: str = "last",
                            train_mode: bool = False) -> dict[str, float]:
    """Average cosine similarity of augmented samples to their originals for one batch.

    ``batch``: a TrainBatch or left-padded ids (B, N). ``objective``: a BASRec instance (its
    options decide the branches; None: generic views only). Keys: BASRec-I, BASRec-O, BASRec,
    views, and the ``generic`` view names; a branch the options switch off is absent. Pass
    ``stats`` to accumulate over batches (the return value is then the running average).
    ``positions``: ``last`` (each sample's last column) or ``all`` (every column of the window,
    padding included; the cross-sequence mixups then use Λ of shape (B, N, 1) and (B, 1, D)
    as in training). ``train_mode``: dropout on, as during training."""
    if positions not in POSITIONS:
        raise ValueError(f"positions: {positions!r} is not one of {', '.join(POSITIONS)}")
    was_training = model.training
    model.train(train_mode)
    try:
        acc = stats if stats is not None else SimilarityStats.empty()
        ids = batch if isinstance(batch, torch.Tensor) else batch.inputs
        ids = ids[(ids > 0).any(1)]  # rows with at least one real item
        emb = model.embed(ids)
        h = representation(model, emb, ids, positions)  # (B, D) or (B, N, D)
        b = ids.shape[0]
        if objective is not None and b:
            o = objective.opts
            if o.single and o.n_pairs > 0:
                views, _rates = objective.make_views(model, ids, rng)  # (V, B, N)
                lam = objective.beta(rng, (views.shape[0], b))  # (V, B)
                single = []
                for k in range(views.shape[0]):
                    lk = lam[k][:, None, None]
                    mixed = lk * emb + (1 - lk) * model.embed(views[k])
                    single.append(cosine(representation(model, mixed, ids, positions), h))
                    acc.add("views", cosine(representation(
                        model, model.embed(views[k]), views[k], positions), h))
                cat = torch.cat(single)
                acc.add("BASRec-I", cat)
                acc.add("BASRec", cat)
            if o.cross and o.n_whole_level > 0:
                d = h.shape[-1]
                kinds = (["item"] * o.n_whole_level + ["feature"] * o.n_whole_level
                         if o.mixup == "nonlinear" else ["linear"] * (2 * o.n_whole_level))
                cross = []
                for kind in kinds:
                    perm = torch.randperm(b, generator=rng.gen, device=h.device)
                    if positions == "last":  # one column: Λ (B, 1) or (B, D), λ (B, 1)
                        shape: tuple[int, ...] = {"item": (b, 1), "feature": (b, d),
                                              "linear": (b, 1)}[kind]
                    else:  # the window, as in training: Λ (B, N, 1) or (B, 1, D), λ (B, 1, 1)
                        shape = {"item": (b, ids.shape[1], 1), "feature": (b, 1, d),
                                 "linear": (b, 1, 1)}[kind]
                    lam_m = objective.beta(rng, shape)
                    mixed_h = lam_m * h + (1 - lam_m) * h[perm]
                    cross.append(cosine(mixed_h, h))
                cat = torch.cat(cross)
                acc.add("BASRec-O", cat)
                acc.add("BASRec", cat)
        for kind in generic:
            def augment(x: torch.Tensor, k: str = kind) -> torch.Tensor:
                return generic_view(x, k, rng.np)

            acc.add(kind, view_similarity(model, ids, augment, positions, train_mode))
        return acc.means()
    finally:
        model.train(was_training)


def analyze_run(run_dir: str | Path, batches: int = 10, seed: int = 0,
                device: str | None = None, positions: str = "last",
                train_mode: bool = False) -> dict[str, Any]:
    """Table 6 for a finished run: its best checkpoint over ``batches`` training batches, at
    the ``positions`` of ``augmentation_similarity``, dropout on with ``train_mode``.

    The run's BASRec options are used when it is a BASRec run; otherwise the defaults (the
    similarity BASRec's augmentations *would* have on that model)."""
    from basrec.build import construction_for
    from basrec.data.batches import TrainLoader
    from basrec.errors import BasrecError
    from basrec.inference import load_run
    from basrec.objectives.base import ObjectiveContext, build_objective
    from basrec.objectives.basrec import BASRecOptions

    if batches < 1:
        raise BasrecError(f"--batches: must be at least 1, got {batches}")
    if positions not in POSITIONS:
        raise BasrecError(f"--positions: {positions!r} is not one of {', '.join(POSITIONS)}")
    cfg, data, model = load_run(run_dir, device)
    dev = next(model.parameters()).device
    opts = cfg.objective_options if isinstance(cfg.objective_options, BASRecOptions) \
        else BASRecOptions()
    bcfg = cfg.replace(objective="basrec", objective_options=opts,
                       loss=cfg.loss if cfg.loss in ("bce", "bpr") else "bce")
    objective = build_objective("basrec", opts, ObjectiveContext(bcfg, data, dev))
    samples = data.train_samples(construction_for(cfg, model))
    loader = TrainLoader(data, samples, cfg.max_seq_length, cfg.batch_size, cfg.seed, str(dev))
    torch.manual_seed(seed)
    rng = StepRandom.create(cfg.seed + seed, 0, dev)
    stats = SimilarityStats.empty()
    n = 0
    for batch in loader.epoch(seed):
        augmentation_similarity(model, batch, objective, rng, stats=stats,  # type: ignore[arg-type]
                                positions=positions, train_mode=train_mode)
        n += 1
        if n >= batches:
            break
    return {"run_dir": str(run_dir), "model": cfg.model, "dataset": cfg.dataset,
            "objective": cfg.objective, "batches": n,
            "representation": ("last position" if positions == "last"
                                else "every position of the window, padding included")
            + (", dropout on" if train_mode else ", eval mode"),
            "similarity": stats.means(), "counts": dict(stats.counts)}


#: training-log keys (objectives/sample_similarity.py) → Table 6 row names
LOG_ROWS = {"sim_single": "BASRec-I", "sim_cross": "BASRec-O", "sim_both": "BASRec"}
VIEW_ROWS = {"cl4srec": "CL4SRec", "cmr": "CMR", "cmrsi": "CMRSI"}


def analyze_training_log(run_dir: str | Path) -> dict[str, Any]:
    """Table 6 as the paper averages it, "throughout the training process": the mean over a
    run's epochs of the per-epoch ``sim_*`` values its objective logged (``metrics.jsonl``;
    for a two-stage run, stage 2, the stage the augmentation trains in)."""
    from basrec import config as config_mod
    from basrec.errors import BasrecError
    from basrec.runio import read_metrics

    run = Path(run_dir)
    path = run / "metrics.jsonl"
    if not (run / "config.yaml").is_file() or not path.is_file():
        raise BasrecError(f"{run}: no config.yaml and metrics.jsonl (not a run folder)")
    raw = config_mod.read_yaml(run / "config.yaml")
    objective = str(raw.get("objective", "none"))
    rows: dict[str, list[float]] = {}
    for record in read_metrics(run):
        for key, value in record.items():
            if key.startswith("sim_"):
                name = LOG_ROWS.get(key) or (VIEW_ROWS.get(objective, objective)
                                             if key == "sim_views" else key)
                rows.setdefault(name, []).append(float(value))
    if not rows:
        raise BasrecError(f"{path}: no similarity logged (a run from an older basrec, or an "
                          f"objective that generates no samples); use the checkpoint analysis "
                          f"without --over-training")
    return {"run_dir": str(run), "model": raw.get("model"), "dataset": raw.get("dataset"),
            "objective": objective, "epochs": max(len(v) for v in rows.values()),
            "representation": "final position, training mode, averaged over epochs",
            "similarity": {k: float(np.mean(v)) for k, v in rows.items()},
            "counts": {k: len(v) for k, v in rows.items()}}


def format_result(result: dict[str, Any]) -> str:
    """A small text table, with the paper's Table 6 value where the dataset is one of its four."""
    from basrec.experiments.plan import dataset_slug

    cols = {"beauty": 0, "sports": 1, "yelp": 2, "home": 3}
    col = cols.get(dataset_slug(str(result["dataset"])))
    span = f"{result['epochs']} epoch(s)" if "epochs" in result \
        else f"{result['batches']} batch(es)"
    lines = [f"{result['run_dir']}: {result['model']} on {result['dataset']}, "
             f"{span}, representation = {result['representation']}"]
    lines.append(f"{'samples':<10} {'cosine':>8} {'n':>7}  paper (SASRec)")
    for name, value in result["similarity"].items():
        paper = PAPER_TABLE6.get(name)
        ref = paper[col] if paper is not None and col is not None else None
        lines.append(f"{name:<10} {value:8.4f} {result['counts'][name]:7d}  "
                     + (f"{ref:.4f}" if ref is not None else ""))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    from basrec.cli import Parser
    from basrec.errors import BasrecError

    parser = Parser(prog="similarity", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("run_dir", help="a finished BASRec (or baseline) run folder")
    parser.add_argument("--batches", type=int, default=10, help="training batches to average")
    parser.add_argument("--seed", type=int, default=0, help="seed of the augmentation draws")
    parser.add_argument("--device", default=None,
                        help="cpu, cuda, ... (default: the run's device setting)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--positions", default="last",
                        help="last (each sample's last column, default) or all (every column "
                             "of the window, padding included)")
    parser.add_argument("--train-mode", action="store_true",
                        help="dropout on, as during training (default: eval mode)")
    parser.add_argument("--over-training", action="store_true",
                        help="average the similarities the run logged at every training step "
                             "(the paper's way) instead of measuring its best checkpoint")
    try:
        args = parser.parse_args(list(argv) if argv is not None else None)
        if args.over_training:
            result = analyze_training_log(args.run_dir)
        else:
            result = analyze_run(args.run_dir, batches=args.batches, seed=args.seed,
                                 device=args.device, positions=args.positions,
                                 train_mode=args.train_mode)
    except BasrecError as e:
        print(f"similarity: error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2) if args.json else format_result(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
