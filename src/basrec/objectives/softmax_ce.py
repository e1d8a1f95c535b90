"""Full-softmax cross-entropy over the catalog, computed in row chunks.

For M outputs h (M, D) and a class table W (C, D) (the item table without PAD), the loss of
row i with label distribution y_i (a few classes, coefficients summing to 1) is

    ℓ_i = logsumexp_c(h_i · W_c) − Σ_k y_ik · (h_i · W_{t_ik})

(plain CE: one class with coefficient 1; BASRec's item-wise mixup: two, λ and 1 − λ). Its
gradient w.r.t. the logits is softmax(h_i W^T) − y_i. ``chunked_softmax_ce`` never holds the
(M, C) logits: the forward pass keeps only each row's log-sum-exp, and the backward pass
recomputes each chunk's logits. Chunks of ``CHUNK_ELEMENTS`` logits stay in the CPU's cache,
which makes the step faster than one (M, C) product and log-softmax, and the memory does not
grow with M × C. Values and gradients equal ``F.cross_entropy`` up to float rounding (tests).
"""

from __future__ import annotations

from typing import Any

import torch

CHUNK_ELEMENTS = 1 << 20  # logits per chunk (4 MB in float32)


def rows_per_chunk(n_classes: int, chunk_elements: int = CHUNK_ELEMENTS) -> int:
    return max(1, chunk_elements // max(1, n_classes))


class _ChunkedSoftmaxCE(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, h: torch.Tensor, w: torch.Tensor, labels: torch.Tensor,
                coef: torch.Tensor, rows: int) -> torch.Tensor:
        m = h.shape[0]
        lse = h.new_empty(m)  # (M,)
        picked = h.new_empty(m)  # (M,) Σ_k y_ik · logit_{i, t_ik}
        for lo in range(0, m, rows):
            hi = min(m, lo + rows)
            logits = h[lo:hi] @ w.T  # (r, C)
            lse[lo:hi] = torch.logsumexp(logits, dim=1)
            picked[lo:hi] = (logits.gather(1, labels[lo:hi]) * coef[lo:hi]).sum(1)
        ctx.save_for_backward(h, w, labels, coef, lse)
        ctx.rows = rows
        return lse - picked  # (M,)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[Any, ...]:
        h, w, labels, coef, lse = ctx.saved_tensors
        rows = ctx.rows
        grad_h = torch.empty_like(h) if ctx.needs_input_grad[0] else None
        grad_w = torch.zeros_like(w) if ctx.needs_input_grad[1] else None
        for lo in range(0, h.shape[0], rows):
            hi = min(h.shape[0], lo + rows)
            p = (h[lo:hi] @ w.T).sub_(lse[lo:hi, None]).exp_()  # (r, C) softmax
            p.scatter_add_(1, labels[lo:hi], -coef[lo:hi])  # softmax − y
            p.mul_(grad[lo:hi, None])
            if grad_h is not None:
                torch.mm(p, w, out=grad_h[lo:hi])  # (r, D)
            if grad_w is not None:
                grad_w.addmm_(p.T, h[lo:hi])  # (C, D)
        return grad_h, grad_w, None, None, None


def chunked_softmax_ce(h: torch.Tensor, w: torch.Tensor, labels: torch.Tensor,
                       coef: torch.Tensor | None = None,
                       rows: int | None = None) -> torch.Tensor:
    """Per-row soft-label cross-entropy (module docstring), (M,), in float32.

    h (M, D); w (C, D); labels (M,) or (M, T) class indices into w; coef (M, T) their
    coefficients (default 1 for a single label); rows per chunk (default: ``CHUNK_ELEMENTS``
    logits)."""
    if labels.dim() == 1:
        labels = labels[:, None]  # (M, 1)
    if coef is None:
        coef = torch.ones(labels.shape, dtype=torch.float32, device=h.device)
    rows = rows or rows_per_chunk(w.shape[0])
    out: torch.Tensor = _ChunkedSoftmaxCE.apply(h.float(), w.float(), labels,
                                                coef.float(), rows)
    return out
