"""NextItNet's causal convolution as ``nn.Conv1d`` on a left-padded, transposed input (before
2026-11-28) against the matrix-product form the model uses now, side by side on real Beauty
batches: training steps (plain and BASRec stage 2, interleaved step by step, medians) and full
validation passes.

Usage: python benchmarks/bench_nextitnet_conv.py [--dataset beauty] [--data-dir DIR]
       [--steps 20] [--evals 3] [--threads 2] [--device cpu] [--out FILE.json]
Never run it beside other jobs.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from bench_steps import build_case, emit_report  # the sibling script (benchmarks/ is on sys.path)
from torch import nn

from basrec.evaluate import evaluate
from basrec.models.nextitnet import ResidualBlockB
from basrec.objectives.base import StepRandom
from basrec.runio import environment

Conv = Callable[[ResidualBlockB, torch.Tensor, nn.Conv1d, int], torch.Tensor]


def conv1d_form(block: ResidualBlockB, x: torch.Tensor, conv: nn.Conv1d,
                dilation: int) -> torch.Tensor:
    """The earlier implementation: transpose, left-pad, ``nn.Conv1d``, transpose back."""
    xt = F.pad(x.transpose(1, 2), ((block.k - 1) * dilation, 0))  # (B, D, (k−1)·d + L)
    return conv(xt).transpose(1, 2)  # (B, L, D)


#: the method swapped per step (setattr: a method assignment mypy would refuse)
METHOD = "_causal_conv"
FORMS: dict[str, Conv] = {"conv1d (before)": conv1d_form,
                          "matrix product (now)": ResidualBlockB._causal_conv}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", default="beauty")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--evals", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    dev = torch.device(args.device)

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize()

    cases = {"plain": build_case(args.dataset, args.data_dir, "nextitnet", "none", {}, dev,
                                 args.steps + 3),
             "basrec n_pairs=1 n_whole_level=1": build_case(
                 args.dataset, args.data_dir, "nextitnet", "basrec",
                 {"basrec.n_pairs": 1, "basrec.n_whole_level": 1}, dev, args.steps + 3)}
    times: dict[tuple[str, str], list[float]] = {(c, f): [] for c in cases for f in FORMS}
    rng = StepRandom.create(0, 0, dev)
    original = ResidualBlockB._causal_conv
    try:
        for i in range(args.steps + 3):
            for case_name, c in cases.items():
                for form_name, form in FORMS.items():
                    setattr(ResidualBlockB, METHOD, form)
                    batch = c.batches[i % len(c.batches)]
                    sync()
                    t0 = time.perf_counter()
                    loss = c.objective(c.model, batch, rng)["loss"]
                    c.optimizer.zero_grad()
                    c.precision.step(loss, c.optimizer)
                    sync()
                    if i >= 3:
                        times[case_name, form_name].append(time.perf_counter() - t0)
        plain = cases["plain"]
        evals: dict[str, list[float]] = {f: [] for f in FORMS}
        for _ in range(args.evals):
            for form_name, form in FORMS.items():
                setattr(ResidualBlockB, METHOD, form)
                sync()
                t0 = time.perf_counter()
                evaluate(plain.model, plain.data, plain.data.eval_samples("valid"),
                         batch_size=plain.cfg.eval_batch_size,
                         length_groups=plain.cfg.length_groups_on(dev), device=dev)
                sync()
                evals[form_name].append(time.perf_counter() - t0)
    finally:
        setattr(ResidualBlockB, METHOD, original)
    results: list[dict[str, Any]] = []
    for (case_name, form_name), ts in times.items():
        before = statistics.median(times[case_name, "conv1d (before)"])
        results.append({"what": f"train step: {case_name}, {form_name}",
                        "median_s": round(statistics.median(ts), 4),
                        "speed_up_over_before": round(before / statistics.median(ts), 2)})
    before = statistics.median(evals["conv1d (before)"])
    for form_name, ts in evals.items():
        results.append({"what": f"full validation pass, {form_name}",
                        "median_s": round(statistics.median(ts), 3),
                        "speed_up_over_before": round(before / statistics.median(ts), 2)})
    emit_report({"env": environment(args.device), "dataset": args.dataset,
                 "steps": args.steps, "results": results}, args.out)


if __name__ == "__main__":
    main()
