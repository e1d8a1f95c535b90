"""SASRec (Kang & McAuley, ICDM 2018) as in the CoSeRec/BASRec code (docs/algorithm.md §2.1).

Post-LN transformer: z = Dropout(LN(E[x] + Pos)), then blocks of
[self-attention → dropout → LN(· + input)] and [D→4D→D GELU FFN → dropout → LN(· + input)].
The attention mask adds −10000 where the key is padding or in the future.

Deviations from the original code, each deliberate:
- the item table has n_items + 1 rows (PAD + items): no reserved id max_item + 1;
- attention uses ``scaled_dot_product_attention`` with the same additive mask (same maths), or,
  in CPU training with attention dropout, the same softmax written out (``_attend``);
- with a trimmed window of width L the last L position embeddings are used, so outputs at real
  positions match the full-width computation (up to float rounding: masked keys get weight
  exp(−10000) = 0 in either case).
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
from basrec.models.sasrec_kang import QueryNormBlock, init_kang
from basrec.registry import MODELS

LAYOUTS = ("coserec", "kang2018")


@dataclass(frozen=True)
class SASRecOptions:
    """Beyond the shared sizes: the block ``layout`` (``coserec``, the BASRec/CoSeRec code's
    post-LN blocks; ``kang2018``, the original SASRec code's, models/sasrec_kang.py), whether
    attention masks padding keys (``kang2018`` only; the original does not), the LayerNorm
    eps and the feed-forward width factor."""

    layer_norm_eps: float = 1e-12
    ffn_factor: int = 4
    layout: str = "coserec"
    mask_padding_keys: bool = True

    def validate(self) -> None:
        if self.layout not in LAYOUTS:
            raise ConfigError(f"sasrec.layout must be one of {', '.join(LAYOUTS)}, "
                              f"got {self.layout!r}")
        if not self.mask_padding_keys and self.layout != "kang2018":
            raise ConfigError("sasrec.mask_padding_keys=false needs sasrec.layout=kang2018")
        if self.ffn_factor < 1:
            raise ConfigError(f"sasrec.ffn_factor must be at least 1, got {self.ffn_factor}")


class SelfAttentionBlock(nn.Module):
    """One post-LN transformer block (multi-head attention + feed-forward)."""

    def __init__(self, d: int, heads: int, dropout: float, attn_dropout: float, eps: float,
                 ffn_factor: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)
        self.attn_dropout = attn_dropout
        self.attn_drop = Dropout(attn_dropout)
        self.drop = Dropout(dropout)
        self.ln1 = nn.LayerNorm(d, eps=eps)
        self.ffn_in = nn.Linear(d, ffn_factor * d)
        self.ffn_out = nn.Linear(ffn_factor * d, d)
        self.ln2 = nn.LayerNorm(d, eps=eps)

    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                mask: torch.Tensor) -> torch.Tensor:
        """softmax(QKᵀ/√d_h + mask) with attention dropout, times V: (B, H, L, D/H).

        Training on the CPU with attention dropout spells it out (the attention weights
        dropped out by ``Dropout``'s cheaper mask): PyTorch's CPU
        ``scaled_dot_product_attention`` takes its math path there, with a ``bernoulli_`` mask
        and a check of every row for all-masked keys (1.08× on a BASRec step,
        docs/performance.md, "SASRec's attention and the dropout mask in CPU training").
        Elsewhere ``scaled_dot_product_attention`` (fused kernels)."""
        if not (self.training and self.attn_dropout > 0.0 and q.device.type == "cpu"):
            return F.scaled_dot_product_attention(
                q, k, v, attn_mask=mask, dropout_p=self.attn_dropout if self.training else 0.0)
        scores = torch.add(mask, q @ k.transpose(-1, -2), alpha=q.shape[-1] ** -0.5)
        return self.attn_drop(scores.softmax(-1)) @ v  # (B, H, L, L) @ (B, H, L, D/H)

    def forward(self, x: torch.Tensor, mask: torch.Tensor,
                kept: torch.Tensor | None = None) -> torch.Tensor:
        """(B, L, D) -> (B, L, D). With ``kept`` (P,), flat indices into B·L, every position
        still serves as a key, but the output projection, the feed-forward part and their
        norms run on the P kept positions only; the other outputs are zero."""
        b, l, d = x.shape
        q, k, v = self.qkv(x).view(b, l, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        # q, k, v: (B, H, L, D/H); mask: (B, 1, L, L) additive
        ctx = self._attend(q, k, v, mask).transpose(1, 2).reshape(b, l, d)  # (B, L, D)
        if kept is None:
            return self._position_wise(ctx, x)  # (B, L, D)
        out = self._position_wise(ctx.reshape(b * l, d)[kept], x.reshape(b * l, d)[kept])  # (P, D)
        return out.new_zeros(b * l, d).index_copy(0, kept, out).view(b, l, d)  # (B, L, D)

    def _position_wise(self, ctx: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Output projection, residual + LN, feed-forward, residual + LN: (..., D)."""
        x = self.ln1(self.drop(self.out(ctx)) + x)
        ffn = self.ffn_out(F.gelu(self.ffn_in(x)))  # (..., D)
        return self.ln2(self.drop(ffn) + x)


@MODELS.register("sasrec", options=SASRecOptions)
class SASRec(Backbone, FastPaths):
    causal = True

    def __init__(self, spec: ModelSpec, options: SASRecOptions | None = None) -> None:
        super().__init__(spec)
        opts = options or SASRecOptions()
        self.options = opts
        d = spec.hidden_size
        self.item_emb = nn.Embedding(spec.n_items + 1, d, padding_idx=0)
        self.pos_emb = nn.Embedding(spec.max_seq_length, d)
        self.ln = nn.LayerNorm(d, eps=opts.layer_norm_eps)  # coserec: input; kang2018: last
        self.drop = Dropout(spec.dropout)
        self.kang = opts.layout == "kang2018"
        block = QueryNormBlock if self.kang else SelfAttentionBlock
        self.blocks = nn.ModuleList(
            block(d, spec.num_heads, spec.dropout, spec.attn_dropout, opts.layer_norm_eps,
                  opts.ffn_factor)
            for _ in range(spec.num_layers)
        )
        if self.kang:
            init_kang(self, self.blocks)
        else:
            init_normal(self, spec.init_range)

    @property
    def trim_exact(self) -> bool:
        # kang2018 with visible padding keys: outputs depend on the window's width
        return not self.kang or self.options.mask_padding_keys

    def encode(self, emb: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        return self._encode(emb, ids, None)  # (B, L, D)

    def encode_kept(self, emb: torch.Tensor, ids: torch.Tensor,
                    keep: torch.Tensor) -> torch.Tensor:
        """``encode`` whose last block runs its position-wise part at ``keep`` (B, L) only
        (zero elsewhere): the earlier blocks and the last block's keys still need every
        position. The ``kang2018`` layout ignores ``keep`` and encodes every position (its
        blocks have no trimmed path); callers read the kept rows only."""
        return self._encode(emb, ids, keep.reshape(-1).nonzero().squeeze(1))  # (B, L, D)

    def _encode(self, emb: torch.Tensor, ids: torch.Tensor,
                kept: torch.Tensor | None) -> torch.Tensor:
        b, l, d = emb.shape
        n = self.spec.max_seq_length
        pos = self.pos_emb.weight[n - l :]  # (L, D): the last L positions
        causal = torch.ones(l, l, dtype=torch.bool, device=ids.device).tril()  # (L, L)
        if self.kang and not self.options.mask_padding_keys:
            allowed = causal[None]  # (1, L, L): every earlier key, padding included
        else:
            allowed = causal[None] & (ids > 0)[:, None, :]  # (B, L, L): query × key
        mask = torch.zeros(allowed.shape[0], 1, l, l, dtype=emb.dtype, device=emb.device)
        mask.masked_fill_(~allowed[:, None], -10000.0)  # (B or 1, 1, L, L)
        if self.kang:
            real = (ids > 0).unsqueeze(-1).to(emb.dtype)  # (B, L, 1)
            x = self.drop(emb * d**0.5 + pos) * real  # (B, L, D)
            for block in self.blocks:
                x = block(x, mask, real)
            return self.ln(x)  # (B, L, D)
        x = self.drop(self.ln(emb + pos))  # (B, L, D)
        for i, block in enumerate(self.blocks):
            x = block(x, mask, kept if i == len(self.blocks) - 1 else None)
        return x  # (B, L, D)
