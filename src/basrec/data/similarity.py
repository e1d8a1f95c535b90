"""Item neighbours for M-Substitute: ItemCF-IUF top-1 (docs/algorithm.md §3.2) or embedding cosine.

ItemCF-IUF over the training inputs only (each user's s[:-3], the set of distinct items I_u):

    C[i, j] = Σ_u 1[i, j ∈ I_u, i ≠ j] / log(1 + |I_u|),   N[i] = #{u : i ∈ I_u},
    sim(i, j) = C[i, j] / sqrt(N[i] · N[j]).

Computed with one sparse product XᵀWX. The original sorts a dict stably, so ties go to the
neighbour seen first; here ties go to the smallest item id (documented difference, rare).
Items with no co-occurring neighbour get −1 (the operator then substitutes a random item that
has a neighbour, as the original picks a random key of its table).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from basrec.data.io import Sequences, ragged_positions

if TYPE_CHECKING:
    import torch


def training_inputs(seqs: Sequences, holdout: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """(user, item) pairs of every user's s[:-holdout]."""
    lengths = np.maximum(seqs.lengths - holdout, 0)
    users, pos = ragged_positions(seqs.offsets[:-1], lengths)
    return users, seqs.items[pos]


def itemcf_iuf_top1(seqs: Sequences, holdout: int = 3) -> np.ndarray:
    """Top-1 ItemCF-IUF neighbour of every item; (n_items + 1,) int64, −1 = none, row 0 = PAD."""
    import scipy.sparse as sp

    users, items = training_inputs(seqs, holdout)
    n_users, n_cols = seqs.n_users, seqs.n_items + 1
    x = sp.csr_matrix((np.ones(users.shape[0]), (users, items)), shape=(n_users, n_cols))
    x.data[:] = 1.0  # distinct items per user (duplicates were summed)
    sizes = np.asarray(x.sum(axis=1)).ravel()  # |I_u|
    w = np.zeros(n_users)
    w[sizes > 0] = 1.0 / np.log1p(sizes[sizes > 0])
    c = (x.T @ sp.diags(w) @ x).tocsr()  # (V+1, V+1) co-occurrence weighted by IUF
    c.setdiag(0.0)
    c.eliminate_zeros()
    counts = np.asarray(x.sum(axis=0)).ravel()  # N[i]
    coo = c.tocoo()
    coo.data = coo.data / np.sqrt(counts[coo.row] * counts[coo.col])
    sim = coo.tocsr()
    best = np.full(n_cols, -1, dtype=np.int64)
    has = np.diff(sim.indptr) > 0
    # argmax over stored entries only (all similarities are positive)
    arg = np.asarray(sim.argmax(axis=1)).ravel()
    best[has] = arg[has]
    best[0] = -1
    return best


def cached_itemcf_top1(seqs: Sequences, cache: Path | None, holdout: int = 3) -> np.ndarray:
    """``itemcf_iuf_top1`` cached on disk under a hash of the data it is computed from."""
    if cache is None:
        return itemcf_iuf_top1(seqs, holdout)
    h = hashlib.sha256()
    h.update(seqs.items.tobytes())
    h.update(seqs.offsets.tobytes())
    h.update(f"{holdout}".encode())
    path = cache / f"itemcf_iuf_top1_{h.hexdigest()[:24]}.npy"
    if path.is_file():
        try:
            return np.load(path, allow_pickle=False)
        except (OSError, ValueError):
            pass
    table = itemcf_iuf_top1(seqs, holdout)
    try:
        import io

        from basrec.runio import atomic_write_bytes

        buf = io.BytesIO()
        np.save(buf, table, allow_pickle=False)
        atomic_write_bytes(path, buf.getvalue())
    except OSError:
        pass  # a read-only cache is not an error
    return table


def embedding_top1(weight: torch.Tensor, chunk: int = 4096) -> np.ndarray:
    """Nearest item by cosine of the item embeddings (PAD and the item itself excluded)."""
    import torch

    with torch.no_grad():
        e = torch.nn.functional.normalize(weight.detach().float(), dim=1)  # (V+1, D)
        best = torch.empty(e.shape[0], dtype=torch.long)
        for i in range(0, e.shape[0], chunk):
            s = e[i : i + chunk] @ e.T  # (c, V+1)
            s[:, 0] = float("-inf")
            rows = torch.arange(s.shape[0])
            s[rows, rows + i] = float("-inf")
            best[i : i + chunk] = s.argmax(1).cpu()
    out = best.numpy().astype(np.int64)
    out[0] = -1
    return out


def itemcf_tensors(seqs: Sequences, device: torch.device | str
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """The cached ItemCF-IUF top-1 table on ``device`` as (neighbours (n_items + 1,), fallback
    (items that have a neighbour,)): the inputs of the Substitute and Insert operators."""
    import torch

    from basrec.data.catalog import cache_dir

    table = cached_itemcf_top1(seqs, cache_dir() / "similarity")
    return (torch.from_numpy(table).to(device),
            torch.from_numpy(np.nonzero(table > 0)[0]).to(device))
