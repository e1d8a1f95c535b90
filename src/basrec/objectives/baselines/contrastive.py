"""In-batch contrastive loss of two views (NT-Xent / InfoNCE), as CL4SRec and CoSeRec use it
(algorithm.md §4.5, §5.3): each of the 2B views has its partner as positive and the 2B − 2 others as
negatives, ℓ_i = −log exp(s(z_i, z_j)/τ) / Σ_{k≠i} exp(s(z_i, z_k)/τ), averaged over 2B."""

from __future__ import annotations

import torch
import torch.nn.functional as F

REPRESENTATIONS = ("flatten", "last")
SIMILARITIES = ("dot", "cosine")


def view_representation(h: torch.Tensor, ids: torch.Tensor, kind: str) -> torch.Tensor:
    """(B, N, D) encoder output → (B, F).

    ``flatten`` (CoSeRec/ICLRec): the whole output as one vector, with padding positions set
    to zero, so the value does not depend on how a batch is trimmed (CoSeRec also flattens the
    outputs at padding positions). ``last`` (RecBole's CL4SRec): the output at the last column,
    the last item of a left-padded row."""
    if kind == "last":
        return h[:, -1]  # (B, D)
    return (h * (ids > 0).unsqueeze(-1).to(h.dtype)).reshape(h.shape[0], -1)  # (B, N·D)


def info_nce(a: torch.Tensor, b: torch.Tensor, tau: float = 1.0,
             similarity: str = "dot") -> torch.Tensor:
    """NT-Xent of paired views a, b (B, F): a scalar."""
    z = torch.cat([a, b])  # (2B, F)
    if similarity == "cosine":
        z = F.normalize(z, dim=1)
    logits = (z @ z.T).float() / tau  # (2B, 2B), float32 under autocast too
    eye = torch.eye(z.shape[0], dtype=torch.bool, device=z.device)
    logits = logits.masked_fill(eye, float("-inf"))  # a view is not its own negative
    n = a.shape[0]
    partner = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)  # (2B,)
    return F.cross_entropy(logits, partner)
