"""Where a training step's time goes: median step time under a few switches, and a
``torch.profiler`` table of the costliest operators.

Usage: python lab/benchmarks/profile_step.py --model nextitnet [--objective none] [--device cuda]
       [--dataset beauty] [--data-dir DIR] [--steps 20] [--threads 2] [--top 15]

Times the same real batches (interleaved, medians) with the run's length groups (default 6)
and with one group (every batch at its full width), and, on CUDA, with cuDNN's autotuner on
(``torch.backends.cudnn.benchmark``); then profiles five steps of the default configuration.
Written for the GPU step of NextItNet, which took 61 ms on an H100 against 6 ms for GRU4Rec
(2026-11-28, grid runs through the device tool). Never run it beside other jobs.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from bench_steps import (  # the sibling script (lab/benchmarks/ is on sys.path)
    Case,
    build_case,
    sync,
    train_step,
)
from torch.profiler import ProfilerActivity, profile

from basrec.objectives.base import StepRandom


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="nextitnet")
    ap.add_argument("--objective", default="none")
    ap.add_argument("--dataset", default="beauty")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--top", type=int, default=15)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    dev = torch.device(args.device)

    def case(groups: int) -> Case:
        return build_case(args.dataset, args.data_dir, args.model, args.objective,
                          {"length_groups": groups}, dev,
                          args.steps + 3)

    variants: dict[str, tuple[Case, Callable[[bool], None]]] = {
        "length_groups 6 (default)": (case(6), lambda on: None),
        "length_groups 1": (case(1), lambda on: None),
    }
    if dev.type == "cuda":
        def autotune(on: bool) -> None:
            torch.backends.cudnn.benchmark = on
        variants["length_groups 6, cudnn.benchmark"] = (case(6), autotune)
    times: dict[str, list[float]] = {name: [] for name in variants}
    rng = StepRandom.create(0, 0, dev)
    for i in range(args.steps + 3):
        for name, (c, switch) in variants.items():
            switch(True)
            sync(dev)
            t0 = time.perf_counter()
            train_step(c, c.batches[i % len(c.batches)], rng)
            sync(dev)
            switch(False)
            if i >= 3:
                times[name].append(time.perf_counter() - t0)
    print(f"{args.model} / {args.objective} on {dev}, {torch.get_num_threads()} threads, "
          f"median of {args.steps} steps:")
    for name, ts in times.items():
        print(f"  {name}: {statistics.median(ts) * 1000:.1f} ms")
    default = variants["length_groups 6 (default)"][0]
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if dev.type == "cuda" else [])
    with profile(activities=activities) as prof:
        for i in range(5):
            train_step(default, default.batches[i % len(default.batches)], rng)
        sync(dev)
    for key in (["self_cuda_time_total"] if dev.type == "cuda" else []) + ["self_cpu_time_total"]:
        print(prof.key_averages().table(sort_by=key, row_limit=args.top, max_name_column_width=40))


if __name__ == "__main__":
    main()
