"""Seconds per training step (plain and BASRec stage 2) and per full validation pass.

Usage: python lab/benchmarks/bench_steps.py [--dataset beauty] [--models sasrec,gru4rec]
       [--threads 2] [--steps 20] [--out FILE.json] [--baselines cl4srec,cmr,...]
       [--only-baselines]

``--baselines`` adds one configuration per baseline objective (with the backbone's plain
settings) and reports its batches per epoch too (Slide windows and the prefix construction
change the number of samples, the pseudo-items of Random the sequence lengths).

Each configuration runs ``--steps`` training steps on real batches after 3 warm-up steps and
reports the median seconds per step; configurations are interleaved round by round so that a
noisy machine affects them alike. Never run it beside other jobs.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time
from dataclasses import dataclass
from typing import Any

import torch

from basrec import config
from basrec.evaluate import evaluate
from basrec.models.base import Backbone
from basrec.objectives.base import ObjectiveContext, StepRandom, build_objective
from basrec.precision import Precision, training_precision
from basrec.registry import OBJECTIVES
from basrec.runio import environment
from basrec.train import load_data, make_model, training_loader

# (label, model, objective, overrides): stage-2 settings of docs/algorithm.md §3.6 for the benchmark
CASES: dict[str, list[tuple[str, str, dict[str, Any]]]] = {
    "sasrec": [("plain", "none", {}),
               ("basrec n_pairs=2 n_whole_level=3", "basrec",
                {"basrec.n_pairs": 2, "basrec.n_whole_level": 3, "basrec.alpha": 0.4,
                 "basrec.rate_max": 0.71})],
    "gru4rec": [("plain", "none", {"dropout": 0.2}),
                ("basrec n_pairs=1 n_whole_level=1", "basrec",
                 {"dropout": 0.2, "basrec.n_pairs": 1, "basrec.n_whole_level": 1}),
                ("basrec n_pairs=1 n_whole_level=1, view_padding=shared", "basrec",
                 {"dropout": 0.2, "basrec.n_pairs": 1, "basrec.n_whole_level": 1,
                  "basrec.view_padding": "shared"}),
                ("plain, pad_draws=16", "none", {"dropout": 0.2, "gru4rec.pad_draws": 16}),
                ("basrec n_pairs=1 n_whole_level=1, pad_draws=16", "basrec",
                 {"dropout": 0.2, "basrec.n_pairs": 1, "basrec.n_whole_level": 1,
                  "gru4rec.pad_draws": 16}),
                ("plain, pad_steps=skip", "none", {"dropout": 0.2, "gru4rec.pad_steps": "skip"}),
                ("basrec n_pairs=1 n_whole_level=1, pad_steps=skip", "basrec",
                 {"dropout": 0.2, "basrec.n_pairs": 1, "basrec.n_whole_level": 1,
                  "gru4rec.pad_steps": "skip"}),
                ("basrec n_pairs=1 n_whole_level=1, pad_steps=skip, cross_padding=zero",
                 "basrec", {"dropout": 0.2, "basrec.n_pairs": 1, "basrec.n_whole_level": 1,
                            "gru4rec.pad_steps": "skip", "basrec.cross_padding": "zero"})],
}
for _name in ("nextitnet", "fmlprec"):
    CASES[_name] = [("plain", "none", {}),
                    ("basrec n_pairs=1 n_whole_level=1", "basrec",
                     {"basrec.n_pairs": 1, "basrec.n_whole_level": 1})]
# where length groups trim (SASRec, NextItNet), the BASRec step with cross_padding=zero too:
# the default (encoder) runs the original rows at full width for the partners' padding columns
for _name in ("sasrec", "nextitnet"):
    _label, _objective, _extra = CASES[_name][1]
    CASES[_name].append((_label + ", cross_padding=zero", _objective,
                         {**_extra, "basrec.cross_padding": "zero"}))
    # and the plain step at full width (one length group), as the original computes every step:
    # the denominator that leaves out what trimming saves
    CASES[_name].append(("plain, one length group (full width)", "none", {"length_groups": 1}))
# FMLP-Rec's prefix batches encode the last column alone (encode_last, models/fast.py); these two
# time the same batches with every column encoded, as before that shortcut
EVERY_COLUMN = ", every column encoded"
CASES["fmlprec"] += [(label + EVERY_COLUMN, objective, extra)
                     for label, objective, extra in CASES["fmlprec"]]


@dataclass
class Case:
    """One configuration ready to time: its config, data, model, objective, optimizer, the
    first batches of epoch 0 and the batches per epoch."""

    cfg: config.RunConfig
    data: Any
    model: Backbone
    objective: Any
    optimizer: torch.optim.Optimizer
    precision: Precision
    batches: list[Any]
    batches_per_epoch: int


def build_case(dataset: str, data_dir: str | None, model_name: str, objective: str,
               extra: dict[str, Any], dev: torch.device, n_batches: int) -> Case:
    """A configuration as training builds it (``train.py``), with ``n_batches`` real batches."""
    cfg = config.load([], {"dataset": dataset, "data_dir": data_dir, "model": model_name,
                           "objective": objective, **extra})
    data = load_data(cfg)
    model = make_model(cfg, data.n_items, dev)
    obj = build_objective(objective, cfg.objective_options, ObjectiveContext(cfg, data, dev))
    loader = training_loader(cfg, data, model, obj, dev)
    return Case(cfg, data, model, obj, torch.optim.Adam(model.parameters(), lr=cfg.lr),
                training_precision(cfg.amp, dev), list(loader.epoch(0))[:n_batches],
                len(loader))


def sync(dev: torch.device) -> None:
    """Wait for the work queued on ``dev`` (CUDA), so that a timer reads whole steps."""
    if dev.type == "cuda":
        torch.cuda.synchronize()


def fp32_step(model: Any, objective: Any, optimizer: torch.optim.Optimizer, batch: Any,
              rng: StepRandom) -> torch.Tensor:
    """One full-precision training step (forward, backward, the optimizer's step); its loss."""
    loss = objective(model, batch, rng)["loss"]
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach()


def train_step(case: Case, batch: Any, rng: StepRandom) -> None:
    """One training step as the trainer takes it: the forward pass under the case's precision,
    backward, the optimizer's step."""
    with case.precision.autocast():
        loss = case.objective(case.model, batch, rng)["loss"]
    case.optimizer.zero_grad()
    case.precision.step(loss, case.optimizer)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", default="beauty")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--models", default="sasrec")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--evals", type=int, default=3)
    ap.add_argument("--out", default=None)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--baselines", default="", help="baseline objectives to add, comma-separated")
    ap.add_argument("--only-baselines", action="store_true",
                    help="time plain and the baselines only (not BASRec)")
    ap.add_argument("--amp", choices=("bf16", "fp16"), default=None,
                    help="add a mixed-precision twin of every configuration")
    args = ap.parse_args()
    unknown = [n for n in args.baselines.split(",") if n and n not in OBJECTIVES]
    if unknown:
        ap.error(f"unknown objective(s) in --baselines: {', '.join(unknown)} "
                 f"(known: {', '.join(OBJECTIVES.names())})")
    torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    report: dict[str, Any] = {"env": environment(args.device), "dataset": args.dataset,
                              "steps": args.steps, "results": []}
    for model_name in args.models.split(","):
        runs: list[tuple[str, Case, list[float]]] = []  # (label, case, step times)
        cases = CASES[model_name]
        plain_extra = cases[0][2]
        if args.only_baselines:
            cases = cases[:1]
        cases = cases + [(name, name, plain_extra) for name in args.baselines.split(",") if name]
        if args.amp:
            cases = cases + [(f"{label}, amp {args.amp}", objective, {**extra, "amp": args.amp,
                                                                      "device": args.device})
                             for label, objective, extra in cases]
        for label, objective, extra in cases:
            c = build_case(args.dataset, args.data_dir, model_name, objective, extra, dev,
                           args.steps + 3)
            if label.endswith(EVERY_COLUMN):
                c = dataclasses.replace(c, batches=[dataclasses.replace(b, last_only=False)
                                                    for b in c.batches])
            runs.append((label, c, []))
        # interleave: one step of each configuration per round
        rng = StepRandom.create(0, 0, dev)
        for i in range(args.steps + 3):
            for _label, c, times in runs:
                sync(dev)
                t0 = time.perf_counter()
                train_step(c, c.batches[i % len(c.batches)], rng)
                sync(dev)
                if i >= 3:
                    times.append(time.perf_counter() - t0)
        plain = statistics.median(runs[0][2])
        for label, c, times in runs:
            med = statistics.median(times)
            report["results"].append({"model": model_name, "what": f"train step: {label}",
                                      "median_s": round(med, 4),
                                      "ratio_to_plain": round(med / plain, 2),
                                      "batches_per_epoch": c.batches_per_epoch})
        first = runs[0][1]
        cfg, data, model = first.cfg, first.data, first.model
        evals = []
        for _ in range(args.evals):
            sync(dev)
            t0 = time.perf_counter()
            evaluate(model, data, data.eval_samples("valid"), batch_size=cfg.eval_batch_size,
                     length_groups=1, device=dev)
            sync(dev)
            evals.append(time.perf_counter() - t0)
        report["results"].append({"model": model_name, "what": "full validation pass",
                                  "median_s": round(statistics.median(evals), 3),
                                  "users": data.seqs.n_users})
    emit_report(report, args.out)


def emit_report(report: dict[str, Any], out: str | None) -> None:
    """Print the report as JSON and write it to ``out`` too, where given."""
    text = json.dumps(report, indent=2)
    print(text)
    if out:
        with open(out, "w") as fh:
            fh.write(text + "\n")


if __name__ == "__main__":
    main()
