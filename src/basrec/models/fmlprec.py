"""FMLP-Rec (Zhou et al., WWW 2022, "Filter-enhanced MLP is All You Need for Sequential
Recommendation") as the official code builds it (docs/algorithm.md §2.4: ``Woeee/FMLP-Rec``
``modules.py``, ``models.py``).

    z = Dropout(LN(E[x] + Pos)), then ``num_layers`` blocks of
    [X̃ = irFFT(rFFT(X)·W) → Dropout → LN(X̃ + X)] and [D→4D→D GELU FFN → Dropout → LN(· + input)].

The rFFT runs over the sequence axis with ``norm='ortho'``; W ∈ C^{(N//2+1)×D} per block, stored as
real and imaginary parts initialised 0.02·N(0, 1). Other weights as SASRec (docs/algorithm.md
§1.4). There is no padding mask: the filter mixes every column, padding included, as the original.

**Not causal** (``fmlprec.filter=circular``, the original): a product in the frequency domain
is a circular convolution over the whole window, so H[:, t] depends on inputs after t. Under
the all-position loss position t would read its own target x_{t+1}; this form must be trained
with the ``prefix`` construction (loss at the last position only), which the trainer picks for
it (``construction_for``). ``causal`` is False and a test proves that the prefix batches leak
nothing.

``fmlprec.filter=causal`` keeps the same parameters and initialisation but reads them as an
impulse response at non-negative lags only: the circular filter is the circular convolution
X ⊛ g with g = irFFT(W) (length N, unnormalised inverse), and the causal filter is the linear
convolution X̃_t = Σ_{k=0}^{t} g_k X_{t−k}, computed by FFTs of length 2N (zero padding, so no
lag wraps around). H[:, t] then depends on columns ≤ t only, ``causal`` is True and the
backbone trains on one sequence per user with the loss at every position, like SASRec.

Deviations from the official code, each deliberate:
- the item table has n_items + 1 rows (PAD + items), as the official (no reserved id);
- the prefix construction skips the official's empty (all-padding) prefix (docs/decisions.md);
- the loss is the run's ``loss`` (BCE with one negative by default, as the official);
- a window narrower than N (the contract allows the last L ≤ N columns) is left-padded back to
  N with the PAD embedding and id 0 before the filters, and only its last L outputs are
  returned: the filter weight is defined for N, and the result equals the full-width one when
  the dropped columns were padding. Trimming saves nothing for a full-width FFT, so
  ``trim_exact`` is False and the trainer never trims this backbone.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from basrec.errors import ConfigError
from basrec.models.base import Backbone, ModelSpec, init_normal
from basrec.models.dropout import Dropout
from basrec.models.fast import FastPaths
from basrec.registry import MODELS

FILTERS = ("circular", "causal")


@dataclass(frozen=True)
class FMLPRecOptions:
    """FMLP-Rec's own options; the hidden dropout is the shared ``dropout`` (official 0.5)."""

    layer_norm_eps: float = 1e-12
    ffn_factor: int = 4
    filter_init: float = 0.02
    filter: str = "circular"

    def validate(self) -> None:
        if self.filter not in FILTERS:
            raise ConfigError(f"fmlprec.filter must be one of {', '.join(FILTERS)}, "
                              f"got {self.filter!r}")


class FilterBlock(nn.Module):
    """Learnable frequency filter + FFN (one "filter-enhanced block" of the official code)."""

    def __init__(self, n: int, d: int, dropout: float, eps: float, ffn_factor: int,
                 filter_init: float, causal: bool = False) -> None:
        super().__init__()
        self.n = n
        self.causal = causal
        self.weight = nn.Parameter(torch.randn(n // 2 + 1, d, 2) * filter_init)  # (F, D, re/im)
        self.drop = Dropout(dropout)
        self.ln1 = nn.LayerNorm(d, eps=eps)
        self.ffn_in = nn.Linear(d, ffn_factor * d)
        self.ffn_out = nn.Linear(ffn_factor * d, d)
        self.ln2 = nn.LayerNorm(d, eps=eps)

    def _filter(self, x: torch.Tensor) -> torch.Tensor:
        """X̃ = irFFT(rFFT(X)·W) over the sequence axis, orthonormal (docs/algorithm.md §2.4):
        (B, N, D); with ``causal``, the linear convolution with g = irFFT(W) at lags 0..N−1
        (module docstring)."""
        if self.causal:
            n = self.n
            g = torch.fft.irfft(torch.view_as_complex(self.weight), n=n, dim=0)  # (N, D)
            spec2 = torch.fft.rfft(x, n=2 * n, dim=1) * torch.fft.rfft(g, n=2 * n, dim=0)
            return torch.fft.irfft(spec2, n=2 * n, dim=1)[:, :n]  # (B, N, D)
        spec = torch.fft.rfft(x, dim=1, norm="ortho")  # (B, N//2+1, D) complex
        spec = spec * torch.view_as_complex(self.weight)  # (B, N//2+1, D)
        return torch.fft.irfft(spec, n=self.n, dim=1, norm="ortho")  # (B, N, D)

    def _last_filtered(self, x: torch.Tensor) -> torch.Tensor:
        """The filter's last output column alone, (B, N, D) → (B, D). The filter is a linear
        map per channel; its last row K[m, d] is its response at column N−1 to a unit impulse
        at column m, computed by ``_filter`` itself on N impulses (so W gets its gradient), and
        X̃[:, N−1] = Σ_m X[:, m] ⊙ K[m]: one small product instead of an FFT of the batch."""
        n, d = self.n, x.shape[-1]
        impulses = torch.eye(n, dtype=x.dtype, device=x.device)  # (N, N): impulse m at column m
        k = self._filter(impulses.unsqueeze(-1).expand(n, n, d))[:, -1]  # (N, D)
        return (x * k).sum(dim=1)  # (B, D); an einsum here made CPU steps slower

    def forward(self, x: torch.Tensor, last_only: bool = False) -> torch.Tensor:
        """(B, N, D) → (B, N, D), or the last column alone (B, D) with ``last_only``: the
        filter still reads every column, everything after it is per column."""
        if last_only:
            filtered, x = self._last_filtered(x), x[:, -1]  # (B, D), (B, D)
        else:
            filtered = self._filter(x)  # (B, N, D)
        x = self.ln1(self.drop(filtered) + x)  # (B, N, D) or (B, D)
        ffn = self.ffn_out(F.gelu(self.ffn_in(x)))  # (B, N, D) or (B, D)
        return self.ln2(self.drop(ffn) + x)  # (B, N, D) or (B, D)


@MODELS.register("fmlprec", options=FMLPRecOptions)
class FMLPRec(Backbone, FastPaths):
    causal = False  # True with fmlprec.filter=causal (set per instance)

    def __init__(self, spec: ModelSpec, options: FMLPRecOptions | None = None) -> None:
        super().__init__(spec)
        opts = options or FMLPRecOptions()
        self.options = opts
        self.causal = opts.filter == "causal"
        d, n = spec.hidden_size, spec.max_seq_length
        self.item_emb = nn.Embedding(spec.n_items + 1, d, padding_idx=0)
        self.pos_emb = nn.Embedding(n, d)
        self.ln = nn.LayerNorm(d, eps=opts.layer_norm_eps)
        self.drop = Dropout(spec.dropout)
        self.blocks = nn.ModuleList(
            FilterBlock(n, d, spec.dropout, opts.layer_norm_eps, opts.ffn_factor,
                        opts.filter_init, causal=self.causal)
            for _ in range(spec.num_layers)
        )
        init_normal(self, spec.init_range)  # Linear/Embedding/LayerNorm; filters keep theirs

    def _filtered(self, emb: torch.Tensor, last_only: bool) -> torch.Tensor:
        b, l, d = emb.shape
        n = self.spec.max_seq_length
        if l < n:  # a trimmed window: restore the PAD columns the filter expects
            pad = self.item_emb.weight[0].expand(b, n - l, d)  # (B, N−L, D)
            emb = torch.cat([pad, emb], dim=1)  # (B, N, D)
        x = self.drop(self.ln(emb + self.pos_emb.weight))  # (B, N, D)
        last = len(self.blocks) - 1
        for k, block in enumerate(self.blocks):
            x = block(x, last_only=last_only and k == last)  # (B, N, D); (B, D) at the end
        return x

    def encode(self, emb: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        n = self.spec.max_seq_length
        return self._filtered(emb, last_only=False)[:, n - emb.shape[1] :]  # (B, L, D)

    def encode_last(self, emb: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """The last column: every block but the last runs on all N columns (the filter mixes
        them); the last block computes its filter's last column alone (``_last_filtered``) and
        its LayerNorms and FFN on that column only (timings in docs/performance.md)."""
        if not self.blocks:
            return self.encode(emb, ids)[:, -1]  # (B, D)
        return self._filtered(emb, last_only=True)  # (B, D)
