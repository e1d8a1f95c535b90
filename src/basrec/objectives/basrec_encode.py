"""How a BASRec step encodes its originals and their views: the padding fast paths.

The method (``basrec.py``) needs the originals' outputs H (B, W, D) and, per view, the views'
outputs at the M target positions. This module computes them as cheaply as the options and the
backbone allow, never changing a result:

- the originals and their views are encoded together, one batched call, in the backbone's
  length groups where trimming is exact (``encode_with_views``); the views alone are read at
  their targets only (``encode_views_at``);
- ``cross_padding=encoder``: a mixup partner's padding columns are the encoder's outputs at
  full width (docs/algorithm.md §3.7 item 9): the originals are then encoded at full width
  (only the read positions' last-block work, ``encode_kept``), unless the backbone's output at
  padding is one known vector (``padding_output``), filled in after trimmed encodes;
  ``cross_padding=zero``: partners contribute nothing there and every row is trimmed;
- ``view_padding=shared`` on a backbone whose padding columns carry random work (GRU4Rec
  ``feed``): the views continue their original's computation before their window
  (``encode_with_prefix`` / ``encode_continuing``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from basrec.models.base import Backbone
from basrec.models.fast import encode_groups, encode_outputs, groups_apply, length_groups, paths
from basrec.objectives.losses import Targets


def encode_with_views(model: Backbone, x: torch.Tensor, views: torch.Tensor, lam: torch.Tensor,
                      last_only: bool, groups: int, with_original: bool = True) -> torch.Tensor:
    """Encoder outputs of each original row (B, N) and of its V mixed views λ·E[x] +
    (1−λ)·E[x'] (Eq. 6–7, the mask from x), interleaved row by row: (B·(1+V), W, D); the
    views alone, (B·V, W, D), without ``with_original``.

    Where length groups apply, each group's inputs are looked up and mixed on its own
    width only (the same groups and values as mixing the whole window first, without the
    whole-window tensors); otherwise the whole window is mixed and encoded at once."""
    n_rows = int(with_original) + views.shape[0]
    n = x.shape[1]
    lam4 = lam.t()[:, :, None, None]  # (B, V, 1, 1)

    def mixed_inputs(xs: torch.Tensor, vs: torch.Tensor, ls: torch.Tensor) -> torch.Tensor:
        emb = model.embed(xs)  # (b, w, D)
        mixed = ls * emb[:, None] + (1 - ls) * model.embed(vs.transpose(0, 1))
        if not with_original:
            return mixed.flatten(0, 1)  # (b·V, w, D)
        # original and views interleaved row by row keep the length order
        return torch.cat([emb[:, None], mixed], 1).flatten(0, 1)  # (b·(1+V), w, D)

    ids = x.repeat_interleave(n_rows, 0)  # (B·(1+V), N): the mask comes from x
    if last_only or not groups_apply(model, groups):
        return encode_outputs(model, mixed_inputs(x, views, lam4), ids, groups, last_only)
    # the groups encode_sorted would choose; a user's 1 + V rows share one length, so
    # every group boundary falls between users
    planned = length_groups(ids, groups)
    inputs = []
    for lo, hi, w in planned:
        users = slice(lo // n_rows, hi // n_rows)
        inputs.append(mixed_inputs(x[users, n - w :], views[:, users, n - w :],
                                   lam4[users]))  # (b_g·(1+V), w, D)
    return encode_groups(model, inputs, ids, planned)  # (B·(1+V), N, D)

def encode_views_at(model: Backbone, x: torch.Tensor, views: torch.Tensor, lam: torch.Tensor,
                    t: Targets, groups: int, prefix: object | None = None) -> torch.Tensor:
    """``encode_with_views(..., with_original=False)`` read at the M target positions of
    x only (the views' losses read nothing else): (M, V, D). Each length group's outputs
    are read where they are, never padded back to the whole window (with 4 views that
    padding, and the backward of splitting it into views, were 12 % of a SASRec BASRec
    step on the CPU). With the originals' ``prefix`` (``encode_with_prefix``) the views
    are length-grouped on any backbone and continue their original's computation before
    each group's window (``encode_continuing``)."""
    n_views, (b, n) = views.shape[0], x.shape
    cols = t.flat % n  # (M,)
    if prefix is None and not groups_apply(model, groups):
        h = encode_with_views(model, x, views, lam, False, groups, with_original=False)
        return h.view(b, n_views, n, -1)[t.rows, :, cols]  # (M, V, D)
    lam4 = lam.t()[:, :, None, None]  # (B, V, 1, 1)
    ids = x.repeat_interleave(n_views, 0)  # (B·V, N): the mask comes from x
    planned = length_groups(ids, groups)
    # a group's users are contiguous and t is row-major: its targets are one slice of t
    bounds = torch.searchsorted(
        t.rows, torch.tensor([lo // n_views for lo, _, _ in planned] + [b],
                             device=t.rows.device)).tolist()
    parts = []
    for (lo, hi, w), m_lo, m_hi in zip(planned, bounds[:-1], bounds[1:], strict=True):
        users = slice(lo // n_views, hi // n_views)
        xs = x[users, n - w :]  # (b_g, w)
        emb = model.embed(xs)[:, None]  # (b_g, 1, w, D)
        mixed = lam4[users] * emb + (1 - lam4[users]) * model.embed(
            views[:, users, n - w :].transpose(0, 1))  # (b_g, V, w, D)
        if prefix is None:
            h = model.encode(mixed.flatten(0, 1), ids[lo:hi, n - w :])  # (b_g·V, w, D)
        else:  # each view row continues its user's original row
            rows = torch.arange(users.start, users.stop,
                                device=x.device).repeat_interleave(n_views)  # (b_g·V,)
            h = paths(model).encode_continuing(mixed.flatten(0, 1), ids[lo:hi, n - w :],
                                               prefix, rows)  # (b_g·V, w, D)
        # row (user·V + k), column c − (N − w) of h for each target and view k: (M_g, V)
        at = ((t.rows[m_lo:m_hi, None] - users.start) * n_views
              + torch.arange(n_views, device=x.device)) * w + cols[m_lo:m_hi, None] - (n - w)
        parts.append(h.reshape(-1, h.shape[-1]).index_select(0, at.reshape(-1)).view(
            -1, n_views, h.shape[-1]))  # (M_g, V, D)
    return torch.cat(parts)  # (M, V, D)


@dataclass
class Encoded:
    """A step's encoder outputs: the originals' H (B, W, D), each view's outputs at the M
    targets (V × (M, D); empty without views) and the output at padding where it is known."""

    h: torch.Tensor
    h_view_ts: list[torch.Tensor]
    pad_out: torch.Tensor | None


def encode_step(model: Backbone, x: torch.Tensor, views: torch.Tensor | None,
                lam: torch.Tensor | None, t: Targets, w: int, where: torch.Tensor, last: bool,
                groups: int, cross_padding: str, view_padding: str,
                use_csa: bool) -> Encoded:
    """The originals ``x`` (B, N), rows sorted by length, and their ``views`` (V, B, N) mixed
    with weights ``lam`` (V, B); W = ``w`` output columns (N, or 1 where ``last``); ``where``:
    the flat output positions the mixups read."""
    b = x.shape[0]
    use_ssa = views is not None and lam is not None
    fast = paths(model)
    # partners' padding columns as the original computes them: the originals at full width
    # (unless the backbone's output at padding is one known vector: it is filled in later)
    pad_out = fast.padding_output() if cross_padding == "encoder" else None
    full_width = use_csa and cross_padding == "encoder" and not last \
        and groups_apply(model, groups) and pad_out is None
    # views that carry their original's padding work over (not trim-exact backbones)
    carried = use_ssa and view_padding == "shared" and not last \
        and not fast.trim_exact and fast.prefix_exact
    h_view_ts: list[torch.Tensor] = []
    if carried and views is not None and lam is not None:
        # the originals at full width, the views on their groups' windows
        h, prefix = fast.encode_with_prefix(model.embed(x), x)  # (B, N, D)
        h_view_ts = list(encode_views_at(model, x, views, lam, t, groups, prefix).unbind(1))
    elif views is not None and lam is not None and not full_width:
        n_views = views.shape[0]
        h_all = encode_with_views(model, x, views, lam, last, groups).view(
            b, 1 + n_views, w, -1)  # (B, 1 + V, W, D)
        # one unbind, not 1 + V selects (each select's backward fills a whole zero tensor)
        h, *h_views = h_all.unbind(1)  # (B, W, D) each
        h_view_ts = [t.select(hv) for hv in h_views]  # V × (M, D)
    else:  # the originals alone: at full width (one group) for the partners' padding
        if full_width:  # outputs read: the targets' and, per mixup, their partners'
            keep = torch.zeros(b * w, dtype=torch.bool, device=x.device)  # (B·W,)
            keep[where] = True
            h = fast.encode_kept(model.embed(x), x, keep.view(b, w))  # (B, W, D)
        else:
            h = encode_outputs(model, model.embed(x), x, groups, last)  # (B, W, D)
        if views is not None and lam is not None:
            h_view_ts = list(encode_views_at(model, x, views, lam, t, groups).unbind(1))
    return Encoded(h, h_view_ts, pad_out)


def read_outputs(enc: Encoded, where: torch.Tensor, x: torch.Tensor, y: torch.Tensor,
                 cross_padding: str) -> torch.Tensor:
    """The originals' outputs at the flat positions ``where`` the mixups read, gathered at once
    (one backward for all), with a partner's padding columns as ``cross_padding`` says."""
    b, w = y.shape
    n = x.shape[1]
    # index_select: its backward (index_add_) is several times cheaper on the CPU than that of
    # advanced indexing (index_put_ with accumulate)
    read = enc.h.reshape(b * w, -1).index_select(0, where)  # (rows read, D)
    if cross_padding == "zero":  # a partner's padding columns contribute nothing
        return read * (y.reshape(-1)[where] > 0)[:, None]
    if enc.pad_out is not None:  # trimmed rows: the known output at padding columns
        pad = x[:, n - w :].reshape(-1)[where] == 0  # (rows read,): x's columns of y
        return torch.where(pad[:, None], enc.pad_out, read)
    return read
