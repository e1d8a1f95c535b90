"""GRU4Rec (Hidasi et al., ICLR 2016, "Session-based Recommendations with Recurrent Neural
Networks") as the BASRec authors ran it (algorithm.md §2.2: BASRec ``GRU4Rec/src/models.py``, i.e.
RecBole's layers inside the CoSeRec framework).

    E[x] (B, L, D) → Dropout(dropout) → GRU(D → gru_hidden, gru_layers, bias=False, h0 = 0)
    → Linear(gru_hidden → D) at every position.

Initialisation as the original: the item table Xavier-normal (PAD row included, so PAD is a
fixed random vector: ``padding_idx`` only blocks its gradient), the GRU's input and hidden
weights Xavier-uniform, the dense layer PyTorch's default.

Deviations from the original code, each deliberate:
- the item table has n_items + 1 rows (PAD + items): no reserved id max_item + 1;
- ``gru_layers`` > 1 (not used by BASRec) Xavier-initialises every layer's weights (RecBole
  initialises only layer 0's);
- option ``pad_steps``:
  - ``feed`` (default, the original behaviour): the left padding is fed through the GRU as the
    PAD vector, so the hidden state at the first real item depends on how many padding steps
    precede it. A window narrower than N therefore starts from the state after the N − L PAD
    steps it leaves out (``pad_state``: one short GRU run on the PAD vector), which is exact
    where no dropout acts on those steps: ``trim_exact`` is True in eval mode (evaluation is
    trimmed) or with dropout 0, and False in training with dropout, where the original draws a
    dropout mask for every PAD step of every row (the trainer then never trims);
  - ``skip``: padding positions are fed a zero vector instead. With a bias-free GRU and h0 = 0 a
    zero input keeps h = 0 *exactly* (r = z = σ(0) = ½, n = tanh(0) = 0, h' = ½·0 + ½·0 = 0),
    so the state stays 0 until the first real item: the same as running the GRU on the
    unpadded sequence, and trimming is exact (``trim_exact`` True, fused ``nn.GRU`` kept).
    A PAD *inside* a sequence (e.g. CoSeRec's Mask writes id 0) is fed as a zero vector, not
    skipped. The output at a padding position is Linear(0) = the dense bias.

- option ``pad_draws`` (``feed`` in training with dropout; 0, the default, is the original):
  with P > 0 the PAD steps come from P draws shared by the batch. One GRU run over P rows of
  N PAD steps (each with its own dropout mask) gives P state sequences; each row takes one of
  them at random and, inside this module, the rows are cut into length groups
  (``plan_groups``), each group running the GRU on its window only (its own dropout there,
  its shorter rows' PAD steps in the window included) from its rows' pool states before the
  window. Its outputs at the columns before the window are those pool sequences' (through
  the dense layer). Each row's outputs are then distributed as the original's full-width
  encode, every column included; only rows that took the same draw share their padding
  noise. The cost falls from every row's N steps to P·N + Σ the groups' widths
  (docs/performance.md). Eval mode and dropout 0 are unchanged (exact, no draws). One GRU
  layer only (the pool gives only the last layer's states).

With ``feed``, ``encode_with_prefix`` / ``encode_continuing`` (``models/fast.py``) let rows
that share an original row's padding (BASRec's views) run the GRU on their own window only,
from the original's state before it: the PAD steps, and their dropout draws, are the
original's (``prefix_exact``; one GRU layer, whose output sequence is its state sequence).

``causal`` holds in both modes (a recurrent network reads left to right). ``trim_exact``
depends on ``pad_steps``, on the dropout and on train/eval mode.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from basrec.errors import ConfigError
from basrec.models.base import Backbone, ModelSpec
from basrec.models.dropout import Dropout
from basrec.models.fast import CPU_LENGTH_GROUPS, FastPaths, plan_groups, spans
from basrec.registry import MODELS

PAD_STEPS = ("feed", "skip")
POOL_GROUPS = CPU_LENGTH_GROUPS  # length groups of a ``pad_draws`` encode


@dataclass(frozen=True)
class GRU4RecOptions:
    """GRU4Rec's own options (docs/algorithm.md §2.2); the embedding size is the shared
    ``hidden_size``."""

    gru_hidden: int = 128
    gru_layers: int = 1
    pad_steps: str = "feed"
    pad_draws: int = 0

    def validate(self) -> None:
        if self.gru_hidden < 1 or self.gru_layers < 1:
            raise ConfigError("gru4rec.gru_hidden and gru4rec.gru_layers must be at least 1")
        if self.pad_draws < 0:
            raise ConfigError(f"gru4rec.pad_draws must be 0 or more, got {self.pad_draws}")
        if self.pad_draws > 0 and self.gru_layers > 1:
            raise ConfigError("gru4rec.pad_draws needs gru4rec.gru_layers 1 (the shared "
                              "PAD draws carry only the last layer's states)")
        if self.pad_steps not in PAD_STEPS:
            raise ConfigError(f"gru4rec.pad_steps: {self.pad_steps!r} is not one of "
                              f"{', '.join(PAD_STEPS)}")


@MODELS.register("gru4rec", options=GRU4RecOptions)
class GRU4Rec(Backbone, FastPaths):
    causal = True

    def __init__(self, spec: ModelSpec, options: GRU4RecOptions | None = None) -> None:
        super().__init__(spec)
        opts = options or GRU4RecOptions()
        opts.validate()
        self.options = opts
        d = spec.hidden_size
        self.item_emb = nn.Embedding(spec.n_items + 1, d, padding_idx=0)
        self.drop = Dropout(spec.dropout)
        self.gru = nn.GRU(d, opts.gru_hidden, num_layers=opts.gru_layers, bias=False,
                          batch_first=True)
        self.dense = nn.Linear(opts.gru_hidden, d)
        self.skip_pad = opts.pad_steps == "skip"
        nn.init.xavier_normal_(self.item_emb.weight)
        for k in range(opts.gru_layers):
            nn.init.xavier_uniform_(getattr(self.gru, f"weight_ih_l{k}"))
            nn.init.xavier_uniform_(getattr(self.gru, f"weight_hh_l{k}"))

    @property
    def trim_exact(self) -> bool:
        # feed: exact where no dropout acts on the PAD steps
        return self.skip_pad or not self.training or self.drop.p == 0.0

    @property
    def prefix_exact(self) -> bool:
        # feed: views can continue an original's state (its output sequence is the state of
        # its only layer; with more layers the lower layers' states are not returned)
        return not self.skip_pad and self.options.gru_layers == 1

    def padding_output(self) -> torch.Tensor | None:
        """``skip``: Linear(0) = the dense bias at every padding column (the state is exactly
        0 there); ``feed``: None (the state depends on the padding steps and their dropout)."""
        return self.dense.bias if self.skip_pad else None  # (D,)

    def pad_state(self, steps: int, batch: int) -> torch.Tensor:
        """The GRU state after ``steps`` PAD inputs from h0 = 0, without dropout (``feed``):
        the state a window narrower than N starts from. (layers, B, gru_hidden)."""
        pad = self.pad_vector().expand(steps, -1)[None]  # (1, steps, D)
        _, h = self.gru(pad)  # (layers, 1, gru_hidden)
        return h.expand(-1, batch, -1).contiguous()

    def pad_vector(self) -> torch.Tensor:
        """The PAD row of the item table, (1, D), detached: fed as an input of its own (not
        looked up), it must not collect the gradient ``padding_idx`` keeps from it."""
        return self.item_emb.weight[:1].detach()  # (1, D)

    @property
    def pooled(self) -> bool:
        """Whether ``encode`` draws the PAD steps from ``pad_draws`` shared draws: ``feed``
        with dropout in training (where trimming is not exact) and pad_draws > 0."""
        return self.options.pad_draws > 0 and not self.trim_exact

    def encode(self, emb: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        if self.pooled:
            return self._pooled(self.drop(emb), ids, project=True)  # (B, L, D)
        return self.dense(self._states(emb, ids))  # (B, L, D)

    def _pooled(self, x: torch.Tensor, ids: torch.Tensor, project: bool) -> torch.Tensor:
        """``pad_draws``: the GRU states (or, with ``project``, the dense outputs) of the
        dropped-out window x (B, L, D) at every column, the PAD steps before each length
        group's window taken from a shared pool of draws (module docstring). (B, L, ·)"""
        b, width, _ = x.shape
        n = self.max_len
        missing = n - width  # columns before the window: PAD steps of every row
        span = spans(ids)  # (B,)
        order = torch.argsort(span, stable=True)  # (B,) rows by ascending span
        groups = plan_groups(span[order].cpu().numpy(), POOL_GROUPS)
        if missing == 0 and all(w == width for _, _, w in groups):
            return self._states_full(x, project)  # one group of full width: nothing to draw
        p = min(self.options.pad_draws, b)
        pool_in = self.drop(self.pad_vector().expand(p, n, -1))  # (P, N, D): own masks
        pool, _ = self.gru(pool_in)  # (P, N, H): the state after PAD columns 0..c
        pool_out = self.dense(pool) if project else pool  # (P, N, ·)
        draw = torch.randint(p, (b,), device=x.device) if p < b \
            else torch.arange(b, device=x.device)  # (B,): each row's pool sequence
        sizes = [hi - lo for lo, hi, _ in groups]
        seqs = draw.index_select(0, order)  # (B,): the sorted rows' pool sequences
        # gather and sort once, then split (the backward of a slice of the whole batch would
        # allocate a zero gradient of the whole batch for every group)
        xs = x.index_select(0, order).split(sizes)  # groups × (b_g, width, D)
        before = pool_out[:, missing:].index_select(0, seqs).split(sizes)  # × (b_g, width, ·)
        parts = []
        for x_g, pad_g, seq, (_, _, w) in zip(xs, before, seqs.split(sizes), groups,
                                              strict=True):
            start = missing + width - w  # the group window's first column, of N
            h0 = pool[:, start - 1].index_select(0, seq)[None] if start > 0 else None
            out, _ = self.gru(x_g[:, width - w :], h0)  # (b_g, w, H): own draws in the window
            out = self.dense(out) if project else out
            if w < width:  # the columns of the window before the group's: the pool's
                out = torch.cat([pad_g[:, : width - w], out], 1)  # (b_g, width, ·)
            parts.append(out)
        return torch.cat(parts).index_select(0, torch.argsort(order))  # (B, width, ·)

    def _states_full(self, x: torch.Tensor, project: bool) -> torch.Tensor:
        """The GRU over a full-width dropped-out window x (B, N, D) from h0 = 0: its states,
        or with ``project`` its dense outputs. (B, N, ·)"""
        out, _ = self.gru(x)  # (B, N, gru_hidden)
        return self.dense(out) if project else out

    def _states(self, emb: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """The last layer's GRU state at every column, (B, L, gru_hidden)."""
        x = self.drop(emb)  # (B, L, D)
        if self.pooled:
            return self._pooled(x, ids, project=False)  # (B, L, gru_hidden)
        if self.skip_pad:
            x = x * (ids > 0).unsqueeze(-1).to(x.dtype)  # (B, L, D): zero input keeps h = 0
            return self.gru(x)[0]  # (B, L, gru_hidden)
        # feed: a window of width L < N stands for N − L more PAD steps before it
        missing = self.max_len - x.shape[1]
        h0 = self.pad_state(missing, x.shape[0]) if missing > 0 else None
        return self.gru(x, h0)[0]  # (B, L, gru_hidden)

    def encode_with_prefix(self, emb: torch.Tensor,
                           ids: torch.Tensor) -> tuple[torch.Tensor, object | None]:
        """``encode`` and, with ``feed`` (``prefix_exact``), the state sequence (B, L,
        gru_hidden) from which ``encode_continuing`` carries a row's PAD steps over."""
        if not self.prefix_exact:
            return self.encode(emb, ids), None
        states = self._states(emb, ids)  # (B, L, gru_hidden)
        return self.dense(states), states  # (B, L, D)

    def encode_continuing(self, emb: torch.Tensor, ids: torch.Tensor, prefix: object | None,
                          rows: torch.Tensor) -> torch.Tensor:
        """The GRU on the window ``emb`` (b, w, D) from state ``prefix[rows, L − w − 1]``:
        the original rows' state after the columns before the window (their PAD steps with
        their dropout draws), instead of running those steps again. (b, w, D)"""
        if not isinstance(prefix, torch.Tensor) or emb.shape[1] >= prefix.shape[1]:
            return self.encode(emb, ids)
        before = prefix.shape[1] - emb.shape[1] - 1  # the column before the window
        h0 = prefix[:, before].index_select(0, rows)[None]  # (1, b, gru_hidden)
        out, _ = self.gru(self.drop(emb), h0.contiguous())  # (b, w, gru_hidden)
        return self.dense(out)  # (b, w, D)
