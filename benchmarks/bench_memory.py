"""Resident memory over one epoch of training steps, with and without the heap limits.

Usage: python benchmarks/bench_memory.py [--dataset PATH] [--objective basrec] [--steps 88]
       [--no-limit]

Prints the resident set size (RSS) every 10 steps and the peak. The trainer applies
``basrec.memory.limit_heap_growth`` and ``release_free_memory`` every 16 steps; --no-limit
shows glibc's default behaviour.
"""

from __future__ import annotations

import argparse
import resource

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
    ap.add_argument("--steps", type=int, default=88)
    ap.add_argument("--no-limit", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if not args.no_limit:
        limit_heap_growth()
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
    for i, batch in enumerate(loader.epoch(0)):
        if i >= args.steps:
            break
        loss = obj(model, batch, rng)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        if not args.no_limit and (i + 1) % TRIM_EVERY == 0:
            release_free_memory()
        if i % 10 == 0:
            print(f"step {i:3d}  rss {rss_mb():7.1f} MB")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"final rss {rss_mb():.1f} MB, peak {peak:.1f} MB, threads {torch.get_num_threads()}")


if __name__ == "__main__":
    main()
