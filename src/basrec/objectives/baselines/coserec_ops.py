"""CoSeRec's sequence operators (docs/algorithm.md §4.4–4.5), vectorised on left-padded id
tensors (B, W).

Crop, Mask and Insert are written here; Reorder and Substitute are BASRec's ``m_reorder`` and
``m_substitute`` at a fixed rate (algorithm.md §4.4: "Reorder works like BASRec's with a fixed β";
§4.5: Substitute is the top-1 replacement of ``max(1, floor(ρ·n))`` items). Every operator
takes (ids, gen, rates…), so ``functools.partial`` over the rates gives an ``Operator``; it
keeps the output left-padded to the input width W (items pushed past the left edge are cut,
as the original cuts to the last N after augmenting), uses only the given generator and never
modifies its input. Rows must be left-padded without inner padding (n = number of real items).

``random_views`` picks one operator per row among a set, all rows in one pass.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

import torch

from basrec.objectives.ops import m_reorder, m_substitute, real_lengths

Operator = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


def _uniform_int(high: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """One draw from U{0 .. high−1} per row (high ≥ 1); (B,) → (B,)."""
    u = torch.rand(high.shape, generator=gen, device=high.device)
    return (u * high).long().clamp_max(high - 1)


def crop(ids: torch.Tensor, gen: torch.Generator, tao: float) -> torch.Tensor:
    """Keep c = floor(tao·n) consecutive items starting at U{0 .. n−c−1}, so the last item is
    never kept (CoSeRec ``Crop``); c < 1 keeps one random item. (B, W) → (B, W)."""
    b, w = ids.shape
    n = real_lengths(ids)  # (B,)
    c = torch.floor(tao * n.to(torch.float64)).long()  # (B,)
    short = c < 1
    span = torch.where(short, n, n - c).clamp_min(1)  # number of possible starts
    c = torch.where(short, torch.ones_like(c), c)
    start = _uniform_int(span, gen)  # (B,)
    cols = torch.arange(w, device=ids.device).expand(b, w)  # (B, W)
    src = (w - n + start)[:, None] + cols - (w - c)[:, None]  # source column of each output
    keep = (cols >= (w - c)[:, None]) & (n[:, None] > 0)
    return torch.where(keep, ids.gather(1, src.clamp(0, w - 1)), torch.zeros_like(ids))


def mask(ids: torch.Tensor, gen: torch.Generator, gamma: float) -> torch.Tensor:
    """Set k = floor(gamma·n) distinct random items to 0, the padding id (CoSeRec ``Mask``:
    masked items are dropped from attention, not replaced by a learned token). (B, W)."""
    real = ids > 0  # (B, W)
    k = torch.floor(gamma * real.sum(1).to(torch.float64)).long()  # (B,)
    chosen = _choose(real, k, gen)
    return ids.masked_fill(chosen, 0)


def _choose(real: torch.Tensor, k: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """k[b] distinct real positions of each row, uniformly; (B, W) bool."""
    noise = torch.rand(real.shape, generator=gen, device=real.device)
    noise = noise.masked_fill(~real, 2.0)  # padding sorts last, never chosen
    rank = torch.argsort(torch.argsort(noise, dim=1), dim=1)  # (B, W)
    return rank < k[:, None]


def insert(ids: torch.Tensor, gen: torch.Generator, rate: float, neighbours: torch.Tensor,
           fallback: torch.Tensor) -> torch.Tensor:
    """Before each of k = max(1, floor(rate·n)) distinct random items insert its top-1 similar
    item (CoSeRec ``Insert`` with ``max_insert_num_per_pos`` 1); the row grows by k and keeps
    its last W items. ``neighbours`` (n_items + 1,) holds −1 where an item has none: those get a
    uniform item of ``fallback``, as for Substitute. (B, W) → (B, W)."""
    b, w = ids.shape
    real = ids > 0
    n = real.sum(1)  # (B,)
    k = torch.minimum(torch.clamp_min(torch.floor(rate * n.to(torch.float64)).long(), 1), n)
    chosen = _choose(real, k, gen)  # (B, W)
    new = neighbours[ids]  # (B, W), −1 where none
    if fallback.numel() > 0:
        pick = torch.randint(0, fallback.numel(), (b, w), generator=gen, device=ids.device)
        new = torch.where(new < 0, fallback[pick], new)
    else:
        new = torch.where(new < 0, ids, new)
    # distance from the right end: an item moves left by the number of insertions to its right
    dist = (w - 1) - torch.arange(w, device=ids.device).expand(b, w)  # (B, W)
    right = torch.flip(torch.cumsum(torch.flip(chosen.long(), [1]), 1), [1]) - chosen.long()
    item_dist = dist + right  # (B, W): new distance of each original item
    out = torch.zeros(b, 2 * w, dtype=ids.dtype, device=ids.device)  # distances 0 .. 2W−1
    rows = torch.arange(b, device=ids.device)[:, None].expand(b, w)
    out[rows[real], (2 * w - 1 - item_dist)[real]] = ids[real]
    put = chosen & real
    out[rows[put], (2 * w - 2 - item_dist)[put]] = new[put]
    return out[:, w:]


def reorder(ids: torch.Tensor, gen: torch.Generator, beta: float) -> torch.Tensor:
    """CoSeRec ``Reorder``: BASRec's M-Reorder at the fixed rate beta. (B, W)."""
    rates = torch.full((ids.shape[0],), beta, dtype=torch.float64, device=ids.device)
    return m_reorder(ids, rates, gen)


def substitute(ids: torch.Tensor, gen: torch.Generator, rate: float,
               neighbours: torch.Tensor, fallback: torch.Tensor) -> torch.Tensor:
    """CoSeRec ``Substitute``: BASRec's M-Substitute at the fixed rate. (B, W)."""
    rates = torch.full((ids.shape[0],), rate, dtype=torch.float64, device=ids.device)
    return m_substitute(ids, rates, neighbours, fallback, gen)


def random_views(ids: torch.Tensor, operators: Sequence[Operator], gen: torch.Generator,
                 allowed: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """One view per row, its operator drawn uniformly among those the row may use.

    ``allowed`` (B, K) bool says which of the K operators each row may use (default: all);
    every row needs at least one. Each operator runs once over the rows that drew it.
    Returns the views (B, W) and the operator index of each row (B,)."""
    b = ids.shape[0]
    k = len(operators)
    if allowed is None:
        allowed = torch.ones(b, k, dtype=torch.bool, device=ids.device)
    weights = allowed.to(torch.float64)  # (B, K)
    pick = torch.multinomial(weights, 1, generator=gen).squeeze(1)  # (B,)
    out = ids.clone()
    for j, op in enumerate(operators):
        rows = pick == j
        if bool(rows.any()):
            out[rows] = op(ids[rows], gen)
    return out, pick


def cmr_operators(tao: float, gamma: float, beta: float) -> list[Operator]:
    """Crop, Mask and Reorder at the given rates (CL4SRec's operator set), in that order."""
    return [partial(crop, tao=tao), partial(mask, gamma=gamma), partial(reorder, beta=beta)]
