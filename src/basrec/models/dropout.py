"""Inverted dropout with a cheaper mask on the CPU.

``nn.Dropout`` draws its CPU mask with ``bernoulli_``, which costs more than drawing uniforms
(the step timings are in docs/performance.md). This module keeps ``nn.Dropout``'s interface
and distribution (each element kept with probability 1 − p and scaled by 1 / (1 − p)) and
draws the CPU mask as ``rand ≥ p`` from the same global generator. Other devices use
``F.dropout`` (fused there).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Dropout(nn.Dropout):
    """``nn.Dropout`` whose CPU mask is ``uniform ≥ p`` (same law, cheaper to draw)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        if x.device.type != "cpu" or self.p >= 1.0 or not x.is_floating_point():
            return F.dropout(x, self.p, True, self.inplace)
        mask = torch.rand_like(x)  # same shape and dtype as x, U[0, 1)
        mask.ge_(self.p).mul_(1.0 / (1.0 - self.p))  # 1/(1−p) where kept, else 0
        return x * mask
