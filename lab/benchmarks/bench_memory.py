"""Resident memory over one epoch of training steps, with and without the heap limits.

Usage: python lab/benchmarks/bench_memory.py [--dataset PATH] [--objective basrec] [--steps 88]
       [--no-limit] [--mmap-mib M] [--trim-every K]

Prints the resident set size (RSS) every 10 steps, the peak, and the wall, user and system
CPU seconds of the steps (a low mmap threshold trades memory for kernel time: every large
tensor is then a fresh mmap whose pages the kernel zeroes). The trainer applies
``basrec.memory.limit_heap_growth`` and ``release_free_memory`` every ``TRIM_EVERY`` steps;
--no-limit shows glibc's default behaviour; --mmap-mib 0 keeps glibc's own mmap threshold
and only trims.
"""

from __future__ import annotations

import argparse
import os
import resource
import time

import torch

from basrec import config
from basrec.data.batches import TrainLoader
from basrec.memory import limit_heap_growth, release_free_memory
from basrec.objectives.base import ObjectiveContext, StepRandom, build_objective
from basrec.train import TRIM_EVERY, construction_for, load_data, make_model


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096 / 2**20


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", default="../shared/data/Beauty.txt")
    ap.add_argument("--objective", default="basrec")
    ap.add_argument("--steps", type=int, default=88, help="steps per epoch at most")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--no-limit", action="store_true")
    ap.add_argument("--mmap-mib", type=float, default=None,
                    help="mmap threshold in MiB (default: the trainer's; 0: glibc's own)")
    ap.add_argument("--trim-every", type=int, default=TRIM_EVERY)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if not args.no_limit:
        if args.mmap_mib is None:
            limit_heap_growth()
        elif args.mmap_mib > 0:
            limit_heap_growth(mmap_threshold=int(args.mmap_mib * 2**20))
    cfg = config.load([], {"dataset": args.dataset, "objective": args.objective,
                           "basrec.n_pairs": 2, "basrec.n_whole_level": 3})
    data = load_data(cfg)
    model = make_model(cfg, data.n_items, torch.device("cpu"))
    obj = build_objective(cfg.objective, cfg.objective_options,
                          ObjectiveContext(cfg, data, torch.device("cpu")))
    loader = TrainLoader(data, data.train_samples(construction_for(cfg, model)),
                         cfg.max_seq_length, cfg.batch_size, cfg.seed)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    rng = StepRandom.create(0, 0, "cpu")
    t0, c0 = time.perf_counter(), os.times()
    batches = (b for e in range(args.epochs)
               for k, b in zip(range(args.steps), loader.epoch(e)))
    for i, batch in enumerate(batches):
        loss = obj(model, batch, rng)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        if not args.no_limit and args.trim_every > 0 and (i + 1) % args.trim_every == 0:
            release_free_memory()
        if i % 10 == 0:
            print(f"step {i:3d}  rss {rss_mb():7.1f} MB")
    wall, c1 = time.perf_counter() - t0, os.times()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"final rss {rss_mb():.1f} MB, peak {peak:.1f} MB, threads {torch.get_num_threads()}, "
          f"steps wall {wall:.1f} s, user {c1.user - c0.user:.1f} s, "
          f"system {c1.system - c0.system:.1f} s")


if __name__ == "__main__":
    main()
