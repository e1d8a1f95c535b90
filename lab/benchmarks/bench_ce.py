"""Cost of the softmax losses: seconds per training step and peak memory, BCE beside CE.

Usage: python lab/benchmarks/bench_ce.py [--datasets beauty,home,synthetic1m] [--steps 7]
       [--threads 1] [--out FILE.json]

For each dataset, each configuration (plain BCE, plain CE, plain sampled CE, BASRec with the
BCE form, BASRec with the CE form over the full catalog, and with 256 sampled classes) runs
in a fresh process: 2 warm-up steps, then ``--steps`` timed steps (median), and the peak
resident memory above the memory held before the first step (``ru_maxrss``, the data and
model included in neither). ``synthetic1m`` is a made-up catalog of 1,000,000 items (20,000
users, 4-12 items each; batch 64) where a full (M, items) logit matrix would not fit
comfortably. The report gives, per dataset, the ratios the CE issue asks for: CE+BASRec over
BCE+BASRec against plain CE over plain BCE. Never run it beside other jobs.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SASREC = {"basrec.n_pairs": 2, "basrec.n_whole_level": 3, "basrec.alpha": 0.4,
          "basrec.rate_max": 0.71}
CASES: list[tuple[str, str, dict[str, Any]]] = [
    ("plain bce", "none", {"loss": "bce"}),
    ("plain ce", "none", {"loss": "ce"}),
    ("plain sampled_ce 256", "none", {"loss": "sampled_ce", "ce_negatives": 256}),
    ("basrec bce", "basrec", {"loss": "bce", **SASREC}),
    ("basrec ce (full catalog)", "basrec", {"loss": "ce", **SASREC}),
    ("basrec ce (ce_negatives 256)", "basrec",
     {"loss": "ce", "basrec.ce_negatives": 256, **SASREC}),
    ("basrec sampled_ce 256", "basrec", {"loss": "sampled_ce", "ce_negatives": 256, **SASREC}),
]
FILES = {"beauty": "Beauty.txt", "home": "Home.txt"}


def synthetic_catalog(path: Path, users: int = 20_000, items: int = 1_000_000) -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    with open(path, "w", encoding="utf-8") as fh:
        for u in range(1, users + 1):
            seq = rng.choice(items, size=int(rng.integers(4, 13)), replace=False) + 1
            fh.write(f"{u} " + " ".join(map(str, seq)) + "\n")


def one_case(dataset: str, objective: str, overrides: dict[str, Any], steps: int,
             threads: int, batch_size: int) -> dict[str, Any]:
    """Runs in its own process: median step seconds and peak memory of one configuration."""
    import torch
    from bench_steps import fp32_step  # the sibling script (lab/benchmarks/ is on sys.path)

    from basrec import config
    from basrec.objectives.base import ObjectiveContext, StepRandom, build_objective
    from basrec.train import load_data, make_model, training_loader

    torch.set_num_threads(threads)
    cfg = config.load(["configs/backbones/sasrec_beauty_ce.yaml"],
                      {"dataset": dataset, "objective": objective, "batch_size": batch_size,
                       **overrides})
    data = load_data(cfg)
    model = make_model(cfg, data.n_items, torch.device("cpu"))
    obj = build_objective(objective, cfg.objective_options,
                          ObjectiveContext(cfg, data, torch.device("cpu")))
    loader = training_loader(cfg, data, model, obj, "cpu")
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    batches = [b for _, b in zip(range(steps + 2), loader.epoch(0))]
    rng = StepRandom.create(cfg.seed, 0, torch.device("cpu"))
    torch.manual_seed(0)
    model.train()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # MiB
    times = []
    for i, batch in enumerate(batches):
        t0 = time.perf_counter()
        fp32_step(model, obj, opt, batch, rng)
        if i >= 2:
            times.append(time.perf_counter() - t0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"median_s": round(statistics.median(times), 4), "steps": len(times),
            "peak_rss_mib": round(peak, 1), "peak_above_start_mib": round(peak - before, 1),
            "n_items": data.n_items, "torch_threads": torch.get_num_threads()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", default="beauty,home,synthetic1m")
    ap.add_argument("--data-dir", default="../shared/data")
    ap.add_argument("--steps", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out")
    ap.add_argument("--case", help=argparse.SUPPRESS)  # internal: run one case, print JSON
    args = ap.parse_args()
    if args.case:
        spec = json.loads(args.case)
        print(json.dumps(one_case(**spec)))
        return
    from basrec.runio import environment

    report: dict[str, Any] = {"env": environment("cpu"), "steps": args.steps,
                              "threads": args.threads, "date": time.strftime("%Y-%m-%d"),
                              "results": {}}
    tmp = Path(tempfile.mkdtemp())
    for name in args.datasets.split(","):
        if name == "synthetic1m":
            path, batch = tmp / "synthetic1m.txt", 64
            synthetic_catalog(path)
        else:
            path, batch = Path(args.data_dir) / FILES[name], 512
        rows: dict[str, Any] = {}
        for label, objective, overrides in CASES:
            if name == "synthetic1m" and objective == "basrec":
                overrides = {**overrides, "basrec.operator_choice": "reorder"}
                if label == "basrec ce (full catalog)":
                    continue  # ten full-catalog softmaxes of 1M classes a step: minutes
            spec = {"dataset": str(path), "objective": objective, "overrides": overrides,
                    "steps": args.steps, "threads": args.threads, "batch_size": batch}
            out = subprocess.run([sys.executable, __file__, "--case", json.dumps(spec)],
                                 capture_output=True, text=True, env=os.environ.copy())
            if out.returncode != 0:
                rows[label] = {"error": out.stderr.strip().splitlines()[-1]}
            else:
                rows[label] = json.loads(out.stdout.strip().splitlines()[-1])
            print(name, label, rows[label], flush=True)
        t = {k: v.get("median_s") for k, v in rows.items()}
        if all(t.get(k) for k in ("plain bce", "plain ce", "basrec bce")):
            rows["ratios"] = {"plain ce / plain bce": round(t["plain ce"] / t["plain bce"], 2)}
            for k in ("basrec ce (full catalog)", "basrec ce (ce_negatives 256)",
                      "basrec sampled_ce 256"):
                if t.get(k):
                    rows["ratios"][f"{k} / basrec bce"] = round(t[k] / t["basrec bce"], 2)
        report["results"][name] = rows
    text = json.dumps(report, indent=2)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
