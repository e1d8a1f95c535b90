"""The block layout of the original SASRec code (Kang & McAuley, ICDM 2018), ``sasrec.layout=
kang2018``: the layout of its TensorFlow release and of the PyTorch ports that full-softmax
cross-entropy baselines use (e.g. the CE-SCE-LLMRec pipeline's SASRec).

Per block, with x (B, L, D) zero at padding columns::

    q   = LN_a(x)                       # only the queries are normalised
    x   = x + MHA(q, x, x)               # attention-weight dropout, no dropout on its output
    x   = LN_f(x)
    x   = x + Drop(W2 · ReLU(Drop(W1 · x)))   # D -> ffn_factor·D -> D (1 in the original)
    x   = x · [column is not padding]

The input is Drop(E[ids]·√D + P) zeroed at padding columns, and a last LayerNorm follows the
blocks. Unlike the CoSeRec layout (models/sasrec.py), padding keys may stay visible
(``mask_padding_keys=false``, as in the original): a padded key is then the projections' biases,
and outputs at real columns depend on how many padding columns the window holds, so such a
model is always encoded at full width (``trim_exact`` False).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from basrec.models.dropout import Dropout


class QueryNormBlock(nn.Module):
    """One block of the kang2018 layout (module docstring); (B, L, D) -> (B, L, D)."""

    def __init__(self, d: int, heads: int, dropout: float, attn_dropout: float, eps: float,
                 ffn_factor: int) -> None:
        super().__init__()
        self.heads = heads
        self.ln_query = nn.LayerNorm(d, eps=eps)
        self.qkv = nn.Linear(d, 3 * d)  # rows [0, D): queries, [D, 3D): keys and values
        self.out = nn.Linear(d, d)
        self.attn_dropout = attn_dropout
        self.attn_drop = Dropout(attn_dropout)
        self.ln_ffn = nn.LayerNorm(d, eps=eps)
        self.ffn_in = nn.Linear(d, ffn_factor * d)
        self.ffn_out = nn.Linear(ffn_factor * d, d)
        self.drop_inner = Dropout(dropout)
        self.drop = Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        """x (B, L, D); mask (B or 1, 1, L, L) additive; real (B, L, 1) float, 1 at items."""
        b, l, d = x.shape
        h = self.heads
        w, bias = self.qkv.weight, self.qkv.bias
        q = F.linear(self.ln_query(x), w[:d], bias[:d])  # (B, L, D)
        k, v = F.linear(x, w[d:], bias[d:]).split(d, dim=-1)  # (B, L, D) each
        q, k, v = (t.view(b, l, h, d // h).transpose(1, 2) for t in (q, k, v))  # (B, H, L, D/H)
        if self.training and self.attn_dropout > 0.0 and q.device.type == "cpu":
            scores = torch.add(mask, q @ k.transpose(-1, -2), alpha=q.shape[-1] ** -0.5)
            ctx = self.attn_drop(scores.softmax(-1)) @ v  # (B, H, L, D/H)
        else:
            ctx = F.scaled_dot_product_attention(
                q, k, v, attn_mask=mask, dropout_p=self.attn_dropout if self.training else 0.0)
        x = x + self.out(ctx.transpose(1, 2).reshape(b, l, d))  # (B, L, D)
        x = self.ln_ffn(x)
        x = x + self.drop(self.ffn_out(F.relu(self.drop_inner(self.ffn_in(x)))))  # (B, L, D)
        return x * real


def init_kang(model: nn.Module, blocks: nn.ModuleList) -> None:
    """The original code's initialisation: Xavier-normal item and position tables and
    attention output projections (biases 0), Xavier-uniform attention input projections
    (biases 0), LayerNorm (1, 0); the feed-forward layers keep PyTorch's default."""
    for m in model.modules():
        if isinstance(m, nn.Embedding):
            nn.init.xavier_normal_(m.weight)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    for block in blocks:
        assert isinstance(block, QueryNormBlock)
        nn.init.xavier_uniform_(block.qkv.weight)
        nn.init.zeros_(block.qkv.bias)
        nn.init.xavier_normal_(block.out.weight)
        nn.init.zeros_(block.out.bias)
