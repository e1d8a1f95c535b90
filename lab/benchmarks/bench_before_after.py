"""A model change against the implementation it replaced, side by side on real Beauty batches:
training steps (plain and BASRec stage 2, interleaved step by step, medians) and full
validation passes, swapping the changed methods between the two forms before every step
(their order alternating from round to round).

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
  random bits per element from 64-bit draws (``keep_mask``, now); SASRec unless ``--model``;
- ``sasrec-kept-positions``: a SASRec BASRec step with ``cross_padding=encoder``: its
  originals' full-width encode with every output computed, and its views padded back to the
  whole window and split (before 2026-12-03), against the last block's position-wise part at
  the positions the step reads (``encode_kept``) and the views read at their targets within
  each length group (``encode_views_at``, now).

Usage: python lab/benchmarks/bench_before_after.py --change NAME [--dataset beauty] [--data-dir DIR]
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
from bench_steps import (  # the sibling script (lab/benchmarks/ is on sys.path)
    build_case,
    emit_report,
    sync,
    train_step,
)
from torch import nn

from basrec.evaluate import evaluate
from basrec.models.base import Backbone
from basrec.models.dropout import Dropout
from basrec.models.fmlprec import FilterBlock
from basrec.models.nextitnet import ResidualBlockB
from basrec.models.sasrec import SASRec, SelfAttentionBlock
from basrec.objectives.base import StepRandom
from basrec.objectives.basrec import BASRec
from basrec.objectives.losses import Targets
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


def every_output_form(model: Backbone, emb: torch.Tensor, ids: torch.Tensor,
                      keep: torch.Tensor) -> torch.Tensor:
    """``encode_kept`` before: the whole encode, every output computed."""
    return model.encode(emb, ids)  # (B, L, D)


def padded_views_form(obj: BASRec, model: Backbone, x: torch.Tensor, views: torch.Tensor,
                      lam: torch.Tensor, t: Targets) -> torch.Tensor:
    """``encode_views_at`` before: the views padded back to the window, split, then read."""
    whole = obj.encode_with_views(model, x, views, lam, False, with_original=False)
    split = whole.view(x.shape[0], views.shape[0], x.shape[1], -1).unbind(1)  # V × (B, N, D)
    return torch.stack([t.select(v) for v in split], 1)  # (M, V, D)


@dataclass(frozen=True)
class Change:
    """The backbone timed and the methods swapped: (owner, name, the form before)."""

    model: str
    swaps: tuple[tuple[type, str, Callable[..., torch.Tensor]], ...]


CHANGES = {"nextitnet-conv": Change("nextitnet", ((ResidualBlockB, "_causal_conv",
                                                   conv1d_form),)),
           "fmlprec-last-filter": Change("fmlprec", ((FilterBlock, "_last_filtered",
                                                      sliced_fft_form),)),
           "sasrec-attention": Change("sasrec", ((SelfAttentionBlock, "_attend", sdpa_form),)),
           "cpu-dropout-mask": Change("sasrec", ((Dropout, "forward", uniform_mask_form),)),
           "sasrec-kept-positions": Change("sasrec", (
               (SASRec, "encode_kept", every_output_form),
               (BASRec, "encode_views_at", padded_views_form)))}


def use_form(change: Change, form: str) -> None:
    """Install the change's methods as they were (``before``) or as they are (``now``)."""
    for (owner, name, before), now in zip(change.swaps, NOW[id(change)], strict=True):
        setattr(owner, name, before if form == "before" else now)


NOW = {id(c): [getattr(owner, name) for owner, name, _ in c.swaps] for c in CHANGES.values()}


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
    forms = ("before", "now")

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
                # the two forms swap places every round: the step that follows a larger one
                # runs slower on a busy allocator and cache, and each form is second half the time
                for form_name in forms if i % 2 == 0 else forms[::-1]:
                    use_form(change, form_name)
                    sync(dev)
                    t0 = time.perf_counter()
                    train_step(c, c.batches[i % len(c.batches)], rng)
                    sync(dev)
                    if i >= 3:
                        times[case_name, form_name].append(time.perf_counter() - t0)
        plain = cases["plain"]
        evals: dict[str, list[float]] = {f: [] for f in forms}
        for _ in range(args.evals):
            for form_name in forms:
                use_form(change, form_name)
                sync(dev)
                t0 = time.perf_counter()
                evaluate(plain.model, plain.data, plain.data.eval_samples("valid"),
                         batch_size=plain.cfg.eval_batch_size,
                         length_groups=plain.cfg.length_groups_on(dev), device=dev)
                sync(dev)
                evals[form_name].append(time.perf_counter() - t0)
    finally:
        use_form(change, "now")
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
