"""Inverted dropout with a cheaper mask on the CPU.

``nn.Dropout`` draws its CPU mask with ``bernoulli_``, and ``torch.rand`` costs about as
much: PyTorch draws CPU random numbers serially, one 32-bit draw or more per element, so the
masks were the largest cost of a SASRec BASRec step after the matrix products
(docs/performance.md). This module keeps ``nn.Dropout``'s interface and, up to a rounding of p,
its law (each element kept with probability 1 − p and scaled by 1 / (1 − p)); its CPU mask
takes 16 random bits per element, four elements from one 64-bit draw of the same global
generator (``keep_mask``). Other devices use ``F.dropout`` (fused there).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

BITS = 16  # random bits per element: p is rounded to a multiple of 2^-16
_INT16_MIN = -(2 ** (BITS - 1))


def keep_mask(shape: torch.Size, p: float, device: torch.device) -> torch.Tensor:
    """Bernoulli(1 − p̂) draws of ``shape`` (bool, True = kept), p̂ = round(p·2^16) / 2^16
    (|p̂ − p| ≤ 2^-17), from the global generator: 64-bit words uniform over [−2^63, 2^63 − 1)
    (``random_``), read as four int16 chunks each (every chunk value has probability
    2^-16 within 2^-64); an element is dropped where its chunk is among the lowest
    round(p·2^16) of the 2^16 values."""
    cut = round(p * 2 ** BITS)  # dropped chunk values
    if cut >= 2 ** BITS:  # (the int16 threshold below would wrap around)
        return torch.zeros(shape, dtype=torch.bool, device=device)
    n = shape.numel()
    words = torch.empty((n + 3) // 4, dtype=torch.int64, device=device)
    words.random_(-(2 ** 63), 2 ** 63 - 1)  # (⌈n/4⌉,)
    chunks = words.view(torch.int16)[:n].view(shape)  # (*shape,) uniform int16
    return chunks >= _INT16_MIN + cut


class Dropout(nn.Dropout):
    """``nn.Dropout`` whose CPU mask is ``keep_mask`` (same law up to p's rounding to a
    multiple of 2^-16, a quarter of the random draws)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        if x.device.type != "cpu" or self.p >= 1.0 or not x.is_floating_point():
            return F.dropout(x, self.p, True, self.inplace)
        mask = keep_mask(x.shape, self.p, x.device).to(x.dtype)  # same shape as x, 0 or 1
        return x * mask.mul_(1.0 / (1.0 - self.p))  # 1/(1−p) where kept, else 0
