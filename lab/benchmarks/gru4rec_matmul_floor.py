"""How fast can a GRU4Rec ``pad_steps=feed`` training step be on this machine? A lower bound.

With ``feed`` and dropout, every row runs the GRU over all N = 50 columns (the dropped-out PAD
steps differ per row, docs/performance.md), so an exact FP32 step must do at least these
matrix products (R rows = batch × encoded views, D = 64, G = 3 × 128 gate rows):

    forward   X·W_ihᵀ (R·N × D → G), N dependent h·W_hhᵀ (R × 128 → G), dense (R·N × 128 → D)
    backward  N dependent δ·W_hh (R × G → 128), one δᵀ·H for W_hh's gradient, and the
              input-projection and dense gradients (two products each)

This script times exactly those products (nothing else: no gates, no loss, no optimizer), and
the real steps of ``bench_steps.py`` beside them, interleaved round by round, medians. The
product set is a floor for any implementation in FP32 on the same cores; where the floor is
above a third of the original code's step, a 3× speed-up is out of reach for ``feed``.

Usage: python lab/benchmarks/gru4rec_matmul_floor.py [--data-dir ../shared/data] [--threads 2]
       [--steps 20] [--out FILE.json]          (never beside other jobs)
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch
from bench_steps import (  # the sibling script (lab/benchmarks/ is on sys.path)
    build_case,
    emit_report,
    train_step,
)

from basrec.objectives.base import StepRandom
from basrec.runio import environment

#: the original code's seconds per batch on this kind of machine
ORIGINAL_S = {"plain": 0.093, "basrec n_pairs=1 n_whole_level=1": 0.349}


def matmul_floor(rows: int, real: int, n: int = 50, d: int = 64, hidden: int = 128
                 ) -> Callable[[], None]:
    """The products an exact FP32 GRU4Rec step needs for ``rows`` sequences of ``n`` columns,
    ``real`` of them (over the batch) real items: only those need the input gradient (the PAD
    row of the item table gets none), every column needs the rest."""
    g = 3 * hidden
    x = torch.randn(rows * n, d)  # (R·N, D) dropped-out embeddings
    w_ih, w_hh = torch.randn(g, d), torch.randn(g, hidden)  # (G, D), (G, 128)
    w_dense = torch.randn(d, hidden)  # (D, 128)
    h = torch.randn(rows, hidden)  # (R, 128)
    hs = torch.randn(rows * n, hidden)  # (R·N, 128) every step's state
    delta_g = torch.randn(rows, g)  # (R, G) a step's gate gradient
    deltas_g = torch.randn(rows * n, g)  # (R·N, G)
    deltas_real = torch.randn(real, g)  # (real, G) gate gradients at real items
    delta_out = torch.randn(rows * n, d)  # (R·N, D) gradient at the dense output

    def run() -> None:
        x @ w_ih.T  # (R·N, G) input projection
        for _ in range(n):
            h @ w_hh.T  # (R, G) one recurrent step
        hs @ w_dense.T  # (R·N, D) dense
        delta_out @ w_dense  # (R·N, 128) dense, input gradient
        delta_out.T @ hs  # (D, 128) dense, weight gradient
        for _ in range(n):
            delta_g @ w_hh  # (R, 128) one step back
        deltas_g.T @ hs  # (G, 128) W_hh's gradient, all steps at once
        deltas_real @ w_ih  # (real, D) input gradient, real items only
        deltas_g.T @ x  # (G, D) W_ih's gradient

    return run


def real_step(objective: str, extra: dict[str, Any], data_dir: str | None
              ) -> tuple[Callable[[int], None], int, int]:
    """One configuration's training step on real Beauty batches, the batch size and the
    median number of real (non-PAD) input items per batch."""
    c = build_case("beauty", data_dir, "gru4rec", objective, {"dropout": 0.2, **extra},
                   torch.device("cpu"), 30)
    rng = StepRandom.create(0, 0, torch.device("cpu"))
    real = int(statistics.median(int((b.inputs > 0).sum()) for b in c.batches))

    def run(i: int) -> None:
        train_step(c, c.batches[i % len(c.batches)], rng)

    return run, c.cfg.batch_size, real


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    plain, batch, real = real_step("none", {}, args.data_dir)
    stage2, _, _ = real_step("basrec", {"basrec.n_pairs": 1, "basrec.n_whole_level": 1},
                             args.data_dir)
    # BASRec n_pairs 1 encodes 1 + 2 sequences per row; its views keep the original's mask
    floor_plain, floor_stage2 = matmul_floor(batch, real), matmul_floor(3 * batch, 3 * real)
    cases: dict[str, Callable[[int], None]] = {
        "plain": plain,
        "basrec n_pairs=1 n_whole_level=1": stage2,
        "matmul floor, plain (256 rows)": lambda i: floor_plain(),
        "matmul floor, basrec (768 rows)": lambda i: floor_stage2(),
    }
    times: dict[str, list[float]] = {k: [] for k in cases}
    for i in range(args.steps + 3):
        for name, fn in cases.items():
            t0 = time.perf_counter()
            fn(i)
            if i >= 3:
                times[name].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    results = []
    for what, floor in (("plain", "matmul floor, plain (256 rows)"),
                        ("basrec n_pairs=1 n_whole_level=1", "matmul floor, basrec (768 rows)")):
        results.append({
            "what": what, "step_s": round(med[what], 4), "floor_s": round(med[floor], 4),
            "original_s": ORIGINAL_S[what],
            "speedup_over_original": round(ORIGINAL_S[what] / med[what], 2),
            "speedup_bound_from_floor": round(ORIGINAL_S[what] / med[floor], 2),
            "step_over_floor": round(med[what] / med[floor], 2)})
    report = {"env": environment("cpu"), "steps": args.steps, "batch_size": batch,
              "real_items_per_batch": real, "results": results}
    emit_report(report, args.out)


if __name__ == "__main__":
    main()
