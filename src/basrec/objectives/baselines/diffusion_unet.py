"""DiffuASR's noise network, "SU-Net" (algorithm.md §5.2; Liu et al., CIKM 2023): a small DDPM-style
2-D U-Net over a block of M item embeddings, each D = s·s values reshaped to an s × s map
(M channels). Defaults as the official code: base width 8, widths ×(1, 2, 2, 2), two residual
blocks per level, GroupNorm with 8 groups, swish, dropout 0.1, self-attention in the middle
block only. A timestep embedding (sinusoidal → MLP) plus a *guide* embedding (the sum of the
condition items' embeddings → Linear-swish-Linear) is added in every residual block.

Written from the description (no code copied): the down path halves the map until 1 × 1 (three
halvings for 8 × 8; fewer levels for a smaller D), the up path mirrors it with skip
connections.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of integer steps t (B,) → (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device) / half)  # (h,)
    args = t.float()[:, None] * freqs[None]  # (B, h)
    return torch.cat([torch.sin(args), torch.cos(args)], 1)  # (B, dim)


class ResBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, emb_dim: int, dropout: float, groups: int) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb_dim, c_out)
        self.norm2 = nn.GroupNorm(groups, c_out)
        self.drop = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))  # (B, c_out, s, s)
        h = h + self.emb(F.silu(emb))[:, :, None, None]
        h = self.conv2(self.drop(F.silu(self.norm2(h))))
        return self.skip(x) + h


class Attention(nn.Module):
    """Single-head self-attention over the positions of the map."""

    def __init__(self, c: int, groups: int) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(groups, c)
        self.qkv = nn.Conv2d(c, 3 * c, 1)
        self.out = nn.Conv2d(c, c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, hh, ww = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, c, hh * ww).unbind(1)  # (B, c, P) each
        w = torch.softmax(q.transpose(1, 2) @ k / math.sqrt(c), dim=-1)  # (B, P, P)
        h = (v @ w.transpose(1, 2)).reshape(b, c, hh, ww)
        return x + self.out(h)


class SUNet(nn.Module):
    """ε̂(x_t, t, g): (B, M, s, s) noisy block, (B,) steps, (B, D) guide → (B, M, s, s)."""

    def __init__(self, m: int, d: int, ch: int = 8, mult: tuple[int, ...] = (1, 2, 2, 2),
                 n_res: int = 2, dropout: float = 0.1, groups: int = 8) -> None:
        super().__init__()
        self.ch = ch
        side = math.isqrt(d)
        mult = mult[: side.bit_length()]  # halve at most down to 1 × 1 (8 × 8: all 4 levels)
        emb_dim = 4 * ch
        self.time_mlp = nn.Sequential(nn.Linear(ch, emb_dim), nn.SiLU(),
                                      nn.Linear(emb_dim, emb_dim))
        self.guide_mlp = nn.Sequential(nn.Linear(d, emb_dim), nn.SiLU(),
                                       nn.Linear(emb_dim, emb_dim))
        self.conv_in = nn.Conv2d(m, ch, 3, padding=1)
        widths = [ch * k for k in mult]
        self.down: list[nn.ModuleList] = nn.ModuleList()  # type: ignore[assignment]
        self.downsample = nn.ModuleList()
        skips = [ch]
        c = ch
        for level, w in enumerate(widths):
            blocks = nn.ModuleList()
            for _ in range(n_res):
                blocks.append(ResBlock(c, w, emb_dim, dropout, groups))
                c = w
                skips.append(c)
            self.down.append(blocks)
            last = level == len(widths) - 1
            self.downsample.append(nn.Identity() if last else nn.Conv2d(c, c, 3, 2, 1))
            if not last:
                skips.append(c)
        self.mid1 = ResBlock(c, c, emb_dim, dropout, groups)
        self.mid_attn = Attention(c, groups)
        self.mid2 = ResBlock(c, c, emb_dim, dropout, groups)
        self.up: list[nn.ModuleList] = nn.ModuleList()  # type: ignore[assignment]
        self.upsample = nn.ModuleList()
        for level, w in reversed(list(enumerate(widths))):
            blocks = nn.ModuleList()
            for _ in range(n_res + 1):
                blocks.append(ResBlock(c + skips.pop(), w, emb_dim, dropout, groups))
                c = w
            self.up.append(blocks)
            self.upsample.append(nn.Identity() if level == 0 else nn.Upsample(scale_factor=2))
        self.norm_out = nn.GroupNorm(groups, c)
        self.conv_out = nn.Conv2d(c, m, 3, padding=1)

    def forward(self, x: torch.Tensor, t: torch.Tensor, guide: torch.Tensor) -> torch.Tensor:
        emb = self.time_mlp(timestep_embedding(t, self.ch)) + self.guide_mlp(guide)  # (B, E)
        h = self.conv_in(x)
        hs = [h]
        for blocks, down in zip(self.down, self.downsample):
            for block in blocks:
                h = block(h, emb)
                hs.append(h)
            if not isinstance(down, nn.Identity):
                h = down(h)
                hs.append(h)
        h = self.mid2(self.mid_attn(self.mid1(h, emb)), emb)
        for blocks, up in zip(self.up, self.upsample):
            for block in blocks:
                h = block(torch.cat([h, hs.pop()], 1), emb)
            h = up(h)
        return self.conv_out(F.silu(self.norm_out(h)))
