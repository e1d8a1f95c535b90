"""NextItNet (Yuan et al., WSDM 2019, "A Simple Convolutional Generative Network for Next Item
Recommendation") with RecBole's residual blocks (algorithm.md §2.3: RecBole ``nextitnet.py`` and
``NextItNet.yaml``; BASRec released no NextItNet code).

    X = E[x] (B, L, D) → blocks → Linear(D → D) at every position.

The dilation list is repeated ``block_num`` times (default [1, 4] × 5 = 10 blocks). Each block is
RecBole's "residual block (b)": left-pad (k−1)·d → conv(k, dilation d) → LN → ReLU → left-pad
(k−1)·2d → conv(k, dilation 2d) → LN → ReLU → + X. Causal: position t never sees t' > t.
Initialisation as RecBole: item table U(−1/√V, 1/√V) with V the table's rows (PAD row
included), Linear Xavier-normal with bias 0.1, convolutions and LayerNorm PyTorch's default.

Deviations from RecBole, each deliberate:
- left padding (the §1 framework) and the final Linear applied at **every** position, so the
  model gives H (B, L, D) for the all-position loss and BASRec's mixing (RecBole right-pads and
  keeps only ``[:, −1]``, which for short sequences is a padding slot);
- ``nn.Conv1d`` instead of ``nn.Conv2d`` with a 1×k kernel: same maths, same parameter count,
  same default initialisation distribution (fan-in D·k); applied as one matrix product over the
  k shifted copies of the input (``ResidualBlockB._causal_conv``), the same maths again;
- the loss is the run's ``loss`` (BCE by default, as in the §1 framework; RecBole uses CE);
- RecBole's L2 term (reg_weight·(‖E‖₂ + ‖W_final‖₂ + Σ‖block weights‖₂)) is not added: the
  paper's NextItNet rows are trained without it, as every backbone here (weight decay aside);
- option ``pad_steps`` (how the left padding enters the convolutions):
  - ``skip`` (default): padding columns are set to zero before every convolution and in every
    block's output. Each real position then computes exactly what RecBole computes (there the
    real items come first and their left context is the convolutions' zero padding), and
    trimming the window is exact (``trim_exact`` True). The output at a padding position is
    Linear(0) = the final bias;
  - ``feed``: the PAD embedding (a fixed random vector) is fed through the blocks like an item,
    as BASRec's GRU4Rec feeds it. Then the convolutions' zero padding at the window's left
    edge differs from the PAD activations a longer window would hold, so trimming is not
    exact (``trim_exact`` False);
- ``embedding_dropout`` (default False, RecBole has no dropout): Dropout(dropout) on the item
  embeddings, where GRU4Rec has it.

``trim_exact`` depends on ``pad_steps``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from basrec.errors import ConfigError
from basrec.models.base import Backbone, ModelSpec
from basrec.models.dropout import Dropout
from basrec.models.fast import FastPaths
from basrec.registry import MODELS

PAD_STEPS = ("feed", "skip")


@dataclass(frozen=True)
class NextItNetOptions:
    """NextItNet's own options (RecBole defaults, docs/algorithm.md §2.3); channels = shared
    ``hidden_size``."""

    kernel_size: int = 3
    block_num: int = 5
    dilations: tuple[int, ...] = (1, 4)
    layer_norm_eps: float = 1e-8
    pad_steps: str = "skip"
    embedding_dropout: bool = False

    def validate(self) -> None:
        if self.kernel_size < 1 or self.block_num < 1:
            raise ConfigError("nextitnet.kernel_size and nextitnet.block_num must be at least 1")
        if not self.dilations or min(self.dilations) < 1:
            raise ConfigError("nextitnet.dilations: needs at least one positive dilation")
        if self.pad_steps not in PAD_STEPS:
            raise ConfigError(f"nextitnet.pad_steps: {self.pad_steps!r} is not one of "
                              f"{', '.join(PAD_STEPS)}")


class ResidualBlockB(nn.Module):
    """RecBole's residual block (b): two causal dilated convolutions (d, 2d), LN, ReLU, + x."""

    def __init__(self, channels: int, kernel_size: int, dilation: int, eps: float) -> None:
        super().__init__()
        self.k = kernel_size
        self.dilation = dilation
        self.conv1 = nn.Conv1d(channels, channels, kernel_size, dilation=dilation)
        self.ln1 = nn.LayerNorm(channels, eps=eps)
        self.conv2 = nn.Conv1d(channels, channels, kernel_size, dilation=2 * dilation)
        self.ln2 = nn.LayerNorm(channels, eps=eps)

    def _causal_conv(self, x: torch.Tensor, conv: nn.Conv1d) -> torch.Tensor:
        """``conv`` (dilation d) over x left-padded with (k−1)·d zeros, as RecBole, as one matrix
        product: out[t] = b + Σ_j W[:, :, j] · x[t − (k−1−j)·d]. The same maths as
        ``conv(F.pad(x.transpose(1, 2), ((k−1)·d, 0)))`` (a test compares them) without the
        transposes, and faster on the few columns of a length group (docs/performance.md)."""
        n, dilation = x.shape[1], conv.dilation[0]
        xp = F.pad(x, (0, 0, (self.k - 1) * dilation, 0))  # (B, (k−1)·d + L, D)
        taps = torch.cat([xp[:, j * dilation : j * dilation + n] for j in range(self.k)],
                         dim=-1)  # (B, L, k·D): tap j is x shifted by (k−1−j)·d
        w = conv.weight.permute(0, 2, 1).reshape(conv.out_channels, -1)  # (D, k·D)
        return F.linear(taps, w, conv.bias)  # (B, L, D)

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None) -> torch.Tensor:
        # x: (B, L, D); keep: (B, L, 1) 1 at real positions (pad_steps=skip) or None (feed)
        out = F.relu(self.ln1(self._causal_conv(x, self.conv1)))  # (B, L, D)
        if keep is not None:
            out = out * keep
        out = F.relu(self.ln2(self._causal_conv(out, self.conv2)))
        if keep is not None:
            out = out * keep
        return out + x  # (B, L, D)


@MODELS.register("nextitnet", options=NextItNetOptions)
class NextItNet(Backbone, FastPaths):
    causal = True

    def __init__(self, spec: ModelSpec, options: NextItNetOptions | None = None) -> None:
        super().__init__(spec)
        opts = options or NextItNetOptions()
        opts.validate()
        self.options = opts
        d = spec.hidden_size
        self.item_emb = nn.Embedding(spec.n_items + 1, d, padding_idx=0)
        self.drop = Dropout(spec.dropout) if opts.embedding_dropout else nn.Identity()
        self.blocks = nn.ModuleList(
            ResidualBlockB(d, opts.kernel_size, dil, opts.layer_norm_eps)
            for _ in range(opts.block_num) for dil in opts.dilations
        )
        self.final = nn.Linear(d, d)
        self.skip_pad = opts.pad_steps == "skip"
        bound = 1.0 / math.sqrt(spec.n_items + 1)
        nn.init.uniform_(self.item_emb.weight, -bound, bound)
        nn.init.xavier_normal_(self.final.weight)
        nn.init.constant_(self.final.bias, 0.1)

    @property
    def trim_exact(self) -> bool:
        return self.skip_pad  # feed: the PAD embedding runs through the blocks

    def encode(self, emb: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        x = self.drop(emb)  # (B, L, D)
        keep = (ids > 0).unsqueeze(-1).to(x.dtype) if self.skip_pad else None  # (B, L, 1)
        if keep is not None:
            x = x * keep
        for block in self.blocks:
            x = block(x, keep)  # (B, L, D)
        return self.final(x)  # (B, L, D)
