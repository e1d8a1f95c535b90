"""Vectorised sequence operators on left-padded id tensors (B, N), BASRec's M-Reorder and
M-Substitute (docs/algorithm.md §3.1), with explicit generators and no per-sample Python.

Both keep the length and the padding. They act on the padded window (the last N items), where
the original applies them to the uncut list before cutting; this differs only for the users
with more than N training items (0.2–1 % here), whose edits may fall outside the window there.
"""

from __future__ import annotations

import torch


def real_lengths(ids: torch.Tensor) -> torch.Tensor:
    return (ids > 0).sum(1)  # (B,)


def m_reorder(ids: torch.Tensor, rates: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Shuffle a window of c = floor(rate·n) items starting at i ~ U{0 .. n−c−1}
    (docs/algorithm.md §3.1).

    As in the original, the last item is never inside the window, and c ≤ 1 leaves the row
    unchanged. ids (B, N), rates (B,) → (B, N); the input is not modified.
    """
    b, n = ids.shape
    lengths = real_lengths(ids)  # (B,)
    c = torch.floor(rates * lengths).long()  # (B,)
    span = (lengths - c).clamp_min(1)  # start offsets 0 .. n−c−1
    u = torch.rand(b, generator=gen, device=ids.device)
    start = (u * span).long().clamp_max(span - 1)  # (B,)
    first_col = n - lengths + start  # (B,) first column of the window
    cols = torch.arange(n, device=ids.device).expand(b, n)  # (B, N)
    inside = (cols >= first_col[:, None]) & (cols < (first_col + c)[:, None])  # (B, N)
    noise = torch.rand(b, n, generator=gen, device=ids.device)  # (B, N)
    key = torch.where(inside, first_col[:, None] + noise * c[:, None].clamp_min(1),
                      cols.to(noise.dtype))  # in-window keys stay inside [first, first + c)
    order = torch.argsort(key, dim=1)  # (B, N): a uniform shuffle of the window only
    return ids.gather(1, order)


def m_substitute(ids: torch.Tensor, rates: torch.Tensor, neighbours: torch.Tensor,
                 fallback: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Replace c = max(1, floor(rate·n)) distinct random items by their top-1 neighbour.

    ``neighbours`` (n_items + 1,) holds −1 for items without one: those get a uniform draw
    from ``fallback`` (the items that have a neighbour), as the original picks a random key of
    its similarity table. ids (B, N), rates (B,) → (B, N); the input is not modified.
    """
    b, n = ids.shape
    real = ids > 0  # (B, N)
    lengths = real.sum(1)  # (B,)
    c = torch.maximum(torch.floor(rates * lengths).long(), torch.ones_like(lengths))
    c = torch.minimum(c, lengths)
    noise = torch.rand(b, n, generator=gen, device=ids.device)
    noise = noise.masked_fill(~real, 2.0)  # padding sorts last, never chosen
    rank = torch.argsort(torch.argsort(noise, dim=1), dim=1)  # (B, N) rank among the row
    chosen = rank < c[:, None]  # (B, N): c distinct real positions, uniformly
    sub = neighbours[ids]  # (B, N), −1 where none
    missing = sub < 0
    if fallback.numel() > 0:
        pick = torch.randint(0, fallback.numel(), (b, n), generator=gen, device=ids.device)
        sub = torch.where(missing, fallback[pick], sub)
    else:
        sub = torch.where(missing, ids, sub)
    return torch.where(chosen, sub, ids)
