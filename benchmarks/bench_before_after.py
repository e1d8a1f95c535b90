"""A model change against the implementation it replaced, side by side on real Beauty batches:
training steps (plain and BASRec stage 2, interleaved step by step, medians) and full
validation passes, swapping one method between the two forms before every step.

Changes (``--change``):
- ``nextitnet-conv``: NextItNet's causal convolution, ``nn.Conv1d`` on a left-padded, transposed
  input (before 2026-11-28) against one matrix product over the shifted inputs (now);
- ``fmlprec-last-filter``: FMLP-Rec's last filter in a last-column step, the FFT filter of the
  whole batch sliced to its last column (before 2026-11-28) against the last row of the filter
  from its impulse responses (now);
- ``sasrec-attention``: SASRec's attention in CPU training, ``scaled_dot_product_attention``
  with ``dropout_p`` (before 2026-12-03) against the softmax written out with ``Dropout`` on
  the weights (now);
- ``cpu-dropout-mask``: ``Dropout``'s CPU mask, ``rand ≥ p`` (before 2026-12-03) against 16
  random bits per element from 64-bit draws (``keep_mask``, now); SASRec unless ``--model``.

Usage: python benchmarks/bench_before_after.py --change NAME [--dataset beauty] [--data-dir DIR]
       [--model NAME] [--steps 20] [--evals 3] [--threads 2] [--device cpu] [--basrec-sizes 1,1]
       [--out FILE.json]
``--basrec-sizes`` sets the BASRec case's n_pairs,n_whole_level (SASRec's Beauty preset: 2,3).
Never run it beside other jobs.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from bench_steps import (  # the sibling script (benchmarks/ is on sys.path)
    build_case,
    emit_report,
    sync,
    train_step,
)
from torch import nn

from basrec.evaluate import evaluate
from basrec.models.dropout import Dropout
from basrec.models.fmlprec import FilterBlock
from basrec.models.nextitnet import ResidualBlockB
from basrec.models.sasrec import SelfAttentionBlock
from basrec.objectives.base import StepRandom
from basrec.runio import environment


def conv1d_form(block: ResidualBlockB, x: torch.Tensor, conv: nn.Conv1d) -> torch.Tensor:
    """NextItNet before: transpose, left-pad, ``nn.Conv1d``, transpose back."""
    xt = F.pad(x.transpose(1, 2), ((block.k - 1) * conv.dilation[0], 0))  # (B, D, (k−1)·d + L)
    return conv(xt).transpose(1, 2)  # (B, L, D)


def sdpa_form(block: SelfAttentionBlock, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
              mask: torch.Tensor) -> torch.Tensor:
    """SASRec's attention before: ``scaled_dot_product_attention`` in training too."""
    return F.scaled_dot_product_attention(
        q, k, v, attn_mask=mask, dropout_p=block.attn_dropout if block.training else 0.0)


def uniform_mask_form(drop: Dropout, x: torch.Tensor) -> torch.Tensor:
    """``Dropout`` before: the CPU mask drawn as ``rand ≥ p`` (one float per element)."""
    if not drop.training or drop.p == 0.0:
        return x
    mask = torch.rand_like(x)
    mask.ge_(drop.p).mul_(1.0 / (1.0 - drop.p))
    return x * mask


def sliced_fft_form(block: FilterBlock, x: torch.Tensor) -> torch.Tensor:
    """FMLP-Rec before: the FFT filter of the whole batch, then its last column."""
    return block._filter(x)[:, -1]  # (B, D)


@dataclass(frozen=True)
class Change:
    model: str
    owner: type
    method: str
    before: Callable[..., torch.Tensor]


CHANGES = {"nextitnet-conv": Change("nextitnet", ResidualBlockB, "_causal_conv", conv1d_form),
           "fmlprec-last-filter": Change("fmlprec", FilterBlock, "_last_filtered",
                                         sliced_fft_form),
           "sasrec-attention": Change("sasrec", SelfAttentionBlock, "_attend", sdpa_form),
           "cpu-dropout-mask": Change("sasrec", Dropout, "forward", uniform_mask_form)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--change", choices=sorted(CHANGES), required=True)
    ap.add_argument("--dataset", default="beauty")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--evals", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--model", default=None, help="the backbone to time (default: the change's)")
    ap.add_argument("--basrec-sizes", default="1,1", help="the BASRec case's n_pairs,n_whole_level")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    n_pairs, n_whole = (int(v) for v in args.basrec_sizes.split(","))
    torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    change = CHANGES[args.change]
    model_name = args.model or change.model
    forms: dict[str, Callable[..., torch.Tensor]] = {
        "before": change.before, "now": getattr(change.owner, change.method)}

    cases = {"plain": build_case(args.dataset, args.data_dir, model_name, "none", {}, dev,
                                 args.steps + 3),
             f"basrec n_pairs={n_pairs} n_whole_level={n_whole}": build_case(
                 args.dataset, args.data_dir, model_name, "basrec",
                 {"basrec.n_pairs": n_pairs, "basrec.n_whole_level": n_whole}, dev,
                 args.steps + 3)}
    times: dict[tuple[str, str], list[float]] = {(c, f): [] for c in cases for f in forms}
    rng = StepRandom.create(0, 0, dev)
    try:
        for i in range(args.steps + 3):
            for case_name, c in cases.items():
                for form_name, form in forms.items():
                    setattr(change.owner, change.method, form)
                    sync(dev)
                    t0 = time.perf_counter()
                    train_step(c, c.batches[i % len(c.batches)], rng)
                    sync(dev)
                    if i >= 3:
                        times[case_name, form_name].append(time.perf_counter() - t0)
        plain = cases["plain"]
        evals: dict[str, list[float]] = {f: [] for f in forms}
        for _ in range(args.evals):
            for form_name, form in forms.items():
                setattr(change.owner, change.method, form)
                sync(dev)
                t0 = time.perf_counter()
                evaluate(plain.model, plain.data, plain.data.eval_samples("valid"),
                         batch_size=plain.cfg.eval_batch_size,
                         length_groups=plain.cfg.length_groups_on(dev), device=dev)
                sync(dev)
                evals[form_name].append(time.perf_counter() - t0)
    finally:
        setattr(change.owner, change.method, forms["now"])
    results: list[dict[str, Any]] = []
    for (case_name, form_name), ts in times.items():
        before = statistics.median(times[case_name, "before"])
        results.append({"what": f"train step: {case_name}, {form_name}",
                        "median_s": round(statistics.median(ts), 4),
                        "speed_up_over_before": round(before / statistics.median(ts), 2)})
    before = statistics.median(evals["before"])
    for form_name, ts in evals.items():
        results.append({"what": f"full validation pass, {form_name}",
                        "median_s": round(statistics.median(ts), 3),
                        "speed_up_over_before": round(before / statistics.median(ts), 2)})
    emit_report({"env": environment(args.device), "change": args.change, "model": model_name,
                 "dataset": args.dataset,
                 "steps": args.steps, "results": results}, args.out)


if __name__ == "__main__":
    main()
