"""What one epoch costs: a stage-1 (plain) epoch, a stage-2 (BASRec) epoch and a validation
pass, for each backbone's preset on each dataset, at 1 and 2 torch threads.

Usage: python lab/benchmarks/bench_epoch_cost.py [--datasets sports,yelp,home]
       [--models sasrec,gru4rec,nextitnet,fmlprec] [--threads 1,2] [--steps 6]
       [--eval-users 4096] [--out FILE.json]
       python lab/benchmarks/bench_epoch_cost.py --markdown FILE.json   (the docs' table)

Each training step is timed on real batches of the preset's first epoch (``--warmup`` steps
first, untimed); an epoch is the median step times the epoch's batches. A validation pass is
timed on ``--eval-users`` users, whose inputs are spread over the length range as the whole
set's (every k-th user by input length), and scaled to all users. Presets:
``configs/backbones/{model}_{dataset}.yaml``, with ``configs/basrec/{model}_{dataset}.yaml``
for the BASRec step. Estimates, not whole epochs: measured medians of the steps an epoch is
made of. Never run it beside other jobs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from bench_steps import fp32_step  # the sibling script (lab/benchmarks/ is on sys.path)

from basrec import config
from basrec.data.split import Samples
from basrec.evaluate import evaluate
from basrec.objectives.base import StepRandom
from basrec.runio import environment
from basrec.train import load_data, make_model, make_objective, training_loader


def step_seconds(cfg: Any, data: Any, steps: int, warmup: int) -> tuple[float, int]:
    """(median seconds of a training step, batches in an epoch)."""
    device = torch.device("cpu")
    model = make_model(cfg, data.n_items, device).train()
    objective = make_objective(cfg, data, device)
    loader = training_loader(cfg, data, model, objective, "cpu")
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    rng = StepRandom.create(cfg.seed, 0, device)
    batches = loader.epoch(0)
    n_batches = len(loader)
    times: list[float] = []
    for i, batch in enumerate(batches):
        if i >= warmup + steps:
            break
        t0 = time.perf_counter()
        fp32_step(model, objective, opt, batch, rng)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return statistics.median(times), n_batches


def validation_seconds(cfg: Any, data: Any, users: int) -> tuple[float, int]:
    """(seconds of a validation pass over every user, estimated from ``users`` of them; the
    number of validation users)."""
    model = make_model(cfg, data.n_items, torch.device("cpu"))
    samples = data.eval_samples("valid")
    n = len(samples)
    order = np.argsort(samples.ends - data.starts[samples.users], kind="stable")
    pick = np.sort(order[:: max(1, n // users)][:users])
    subset = Samples(samples.users[pick], samples.ends[pick], samples.last_only,
                     None if samples.begins is None else samples.begins[pick])
    t0 = time.perf_counter()
    evaluate(model, data, subset, batch_size=cfg.eval_batch_size, topk=cfg.topk,
             history_mask=cfg.history_mask, length_groups=cfg.length_groups_on("cpu"))
    return (time.perf_counter() - t0) * n / len(subset), n


def _seconds(per_threads: dict[int, dict[str, Any]], key: str) -> str:
    return " / ".join(f"{per_threads[t][key]:.0f}" for t in sorted(per_threads))


def markdown(path: str) -> str:
    """The cost table of a results file: one row per dataset and backbone, seconds at 1 and 2
    threads (``1 / 2``)."""
    try:
        rows = json.loads(Path(path).read_text(encoding="utf-8"))["results"]
    except (OSError, ValueError, KeyError) as e:
        raise SystemExit(f"bench_epoch_cost: {path}: not a results file ({e})") from None
    by_key: dict[tuple[str, str], dict[int, dict[str, Any]]] = {}
    for row in rows:
        by_key.setdefault((row["dataset"], row["model"]), {})[row["torch_threads"]] = row
    lines = ["| dataset | backbone | samples | stage-1 epoch (s) | stage-2 epoch (s) "
             "| validation pass (s) |", "|---|---|---|---|---|---|"]
    for (dataset, model), per in by_key.items():
        first = per[min(per)]
        lines.append(f"| {dataset} | {model} | {first['construction']}, "
                     f"{first['stage1_batches']} batches | {_seconds(per, 'stage1_epoch_s')} "
                     f"| {_seconds(per, 'stage2_epoch_s')} | {_seconds(per, 'validation_s')} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--markdown", metavar="FILE.json", help="print the table of a results file")
    ap.add_argument("--datasets", default="sports,yelp,home")
    ap.add_argument("--models", default="sasrec,gru4rec,nextitnet,fmlprec")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--eval-users", type=int, default=4096)
    ap.add_argument("--data-dir", default="../shared/data")
    ap.add_argument("--out")
    args = ap.parse_args()
    if args.markdown:
        print(markdown(args.markdown))
        return
    report: dict[str, Any] = {"env": environment("cpu"), "date": time.strftime("%Y-%m-%d"),
                              "steps": args.steps, "warmup": args.warmup,
                              "eval_users": args.eval_users, "results": []}
    for dataset in args.datasets.split(","):
        for model in args.models.split(","):
            backbone = f"configs/backbones/{model}_{dataset}.yaml"
            plain = config.load([backbone], {"data_dir": args.data_dir, "progress": False})
            basrec = config.load([backbone, f"configs/basrec/{model}_{dataset}.yaml"],
                                 {"data_dir": args.data_dir, "objective": "basrec",
                                  "progress": False})
            data = load_data(plain)
            for threads in (int(t) for t in args.threads.split(",")):
                torch.set_num_threads(threads)
                s1, n1 = step_seconds(plain, data, args.steps, args.warmup)
                s2, n2 = step_seconds(basrec, data, args.steps, args.warmup)
                ev, n_users = validation_seconds(plain, data, args.eval_users)
                row = {"dataset": dataset, "model": model,
                       "torch_threads": torch.get_num_threads(),
                       "construction": plain.construction,
                       "stage1_step_s": round(s1, 4), "stage1_batches": n1,
                       "stage1_epoch_s": round(s1 * n1, 1),
                       "stage2_step_s": round(s2, 4), "stage2_batches": n2,
                       "stage2_epoch_s": round(s2 * n2, 1),
                       "validation_s": round(ev, 1), "validation_users": n_users}
                report["results"].append(row)
                print(json.dumps(row), flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
