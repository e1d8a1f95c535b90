"""A deterministic dropout stand-in for tests of carried padding work."""

from __future__ import annotations

import torch


class ColumnDropout(torch.nn.Module):
    """A dropout stand-in whose mask depends only on the column counted from the right (the
    same at a column in any window): rows continuing an original's prefix then see exactly
    the draws a full-width encode of theirs would see, so the two can be compared."""

    def __init__(self, p: float, n: int, d: int, seed: int = 0) -> None:
        super().__init__()
        self.p = p  # read by trim_exact
        g = torch.Generator().manual_seed(seed)
        self.scale = (torch.rand(n, d, generator=g) >= p).float() / (1 - p)  # (N, D)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale[-x.shape[1] :] if self.training else x  # (B, L, D)
