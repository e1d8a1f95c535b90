"""DiffuASR (Liu et al., CIKM 2023, "Diffusion Augmentation for Sequential Recommendation"),
a baseline of the paper's Table 4 (algorithm.md §5.2), with classifier-free guidance (the official
``cf`` variant):

1. **Diffusion stage** (``RUN/diffusion``): for users whose training part z = s[:-2] has more
   than M + 2 items, x₀ = the embeddings of z's first M items, an (M, s, s) block (D = s²); the
   condition is the rest of z, summed into a guide vector g (order-free). DDPM with T = 1000,
   linear β 1e-4 → 0.02, antithetic t, loss MSE(ε, ε̂) of ``diffusion_unet.SUNet``; the item
   table is trained jointly through x₀. The guide is replaced by a learned "place" vector ∅
   with probability ``uncond_prob`` so that ε̂(∅) exists. Adam, batch 512, early stopping on
   the training loss.
2. **Generation**: for every user, condition g on the training part s[:-2], DDIM (η = 0) with
   ``sample_steps`` steps from x_T ~ N(0, I), ε̂ = ε̂(g) + w·(ε̂(g) − ε̂(∅)); each of the M output
   vectors becomes the item (1..|V|) of highest cosine with the item table.
3. **Recommender**: the M items are put in front of every sequence, as context only (targets
   masked, as DiffuASR's loader), and the backbone trains from scratch with its usual loss.

Deviations, each deliberate: only the classifier-free variant (the classifier-guided one
needs a Bert4Rec classifier and applies its correction with an inverted sign, algorithm.md §5.2);
``uncond_prob`` (0.1) is our choice, the official code does not say how ∅ is trained; the
condition at generation is read in time order (the official code reverses it, which changes
nothing for a sum); defaults for the epoch budget are smaller than the official 3000 (set
``diffuasr.epochs`` to follow it); generation is conditioned on the training part, not on
train + valid as the official code (the validation answer would shape the pseudo-items that
sit in the context at validation time, the leak Ran-S's train + valid pool shows,
pseudo_items.py).
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from basrec.config import RunConfig
from basrec.data.batches import window
from basrec.data.split import LeaveOneOut
from basrec.errors import ConfigError
from basrec.objectives.base import Stages
from basrec.objectives.baselines.diffusion_unet import SUNet
from basrec.objectives.baselines.pseudo_items import load_generated, prepend
from basrec.objectives.plain import Plain
from basrec.registry import OBJECTIVES


@dataclass(frozen=True)
class DiffuASROptions:
    count: int = 10  # M, pseudo-items per user (aug_num)
    steps: int = 1000  # T
    beta_start: float = 1e-4
    beta_end: float = 0.02
    epochs: int = 300  # diffusion epochs at most (official: 3000)
    patience: int = 100  # on the training loss, as the official code
    batch_size: int = 512
    lr: float = 1e-3
    uncond_prob: float = 0.1
    guidance: float = 1.0  # w, the classifier-free scale
    sample_steps: int = 5  # DDIM steps (t = 800, 600, 400, 200, 0 for T = 1000)

    def validate(self) -> None:
        if self.count < 1 or self.steps < 2 or self.sample_steps < 1 or self.epochs < 1:
            raise ConfigError("diffuasr.count, steps, sample_steps and epochs must be positive")
        if not 0.0 <= self.uncond_prob < 1.0:
            raise ConfigError("diffuasr.uncond_prob must be in [0, 1)")

    def pseudo_file(self) -> str:
        return f"pseudo_items_M{self.count}.npz"


class Diffusion(nn.Module):
    """The noise network, the item table it trains and the ∅ guide."""

    def __init__(self, n_items: int, d: int, m: int) -> None:
        super().__init__()
        side = math.isqrt(d)
        if side * side != d:
            raise ConfigError(f"diffuasr: the embedding size {d} must be a square (8 × 8 = 64)")
        self.side = side
        self.item_emb = nn.Embedding(n_items + 1, d, padding_idx=0)
        self.place = nn.Parameter(torch.zeros(d))  # ∅, the unconditional guide
        self.net = SUNet(m, d)

    def block(self, items: torch.Tensor) -> torch.Tensor:
        """(B, M) ids → (B, M, s, s) embeddings."""
        e = self.item_emb(items)  # (B, M, D)
        return e.reshape(e.shape[0], e.shape[1], self.side, self.side)

    def guide(self, cond: torch.Tensor) -> torch.Tensor:
        """(B, L) condition ids (0 = none) → (B, D): the sum of their embeddings."""
        return self.item_emb(cond).sum(1)  # (B, D): the PAD row stays zero (padding_idx)


INIT_STREAM, TRAIN_STREAM, GENERATE_STREAM = 1, 2, 3


def schedule(opts: DiffuASROptions, device: torch.device) -> torch.Tensor:
    """ᾱ_t for t = 0 .. T − 1 (linear β scaled by 1000 / T, docs/algorithm.md §5.2)."""
    scale = 1000.0 / opts.steps
    betas = torch.linspace(scale * opts.beta_start, scale * opts.beta_end, opts.steps,
                           dtype=torch.float64)
    return torch.cumprod(1.0 - betas, 0).float().to(device)


def training_pairs(data: LeaveOneOut, m: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(x₀ ids (P, M), condition ids (P, width), left-padded) for users with |z| > M + 2."""
    z_len = data.seqs.lengths - 2
    users = np.nonzero(z_len > m + 2)[0]
    starts = data.starts[users]
    first = data.seqs.items[starts[:, None] + np.arange(m)[None]]  # (P, M)
    cond = window(data.seqs.items, starts + m, starts + z_len[users], width)  # the rest of z
    return first, cond


def stream_seed(seed: int, stream: int) -> int:
    """Independent seeds for the table's initialisation, the training noise and the generation
    noise. One seed for all three made the generation's x_T *equal* the item table's initial
    rows (the same normal draws), so that user u's j-th pseudo-item came out as item u·M + j."""
    return int(np.random.SeedSequence([seed, 41, stream]).generate_state(1)[0])


def train_diffusion(data: LeaveOneOut, opts: DiffuASROptions, d: int, width: int,
                    device: torch.device, seed: int,
                    log: Callable[[str], None] | None = None) -> Diffusion:
    """Step 1; ``log`` gets one line per epoch (the mean training loss)."""
    torch.manual_seed(stream_seed(seed, INIT_STREAM))
    model = Diffusion(data.n_items, d, opts.count).to(device)
    with torch.no_grad():
        model.item_emb.weight[0].zero_()
    first, cond = training_pairs(data, opts.count, width)
    if first.shape[0] == 0:
        raise ConfigError(f"diffuasr: no user has more than {opts.count + 2} training items")
    x_ids = torch.from_numpy(first).to(device)
    c_ids = torch.from_numpy(cond).to(device)
    abar = schedule(opts, device)
    optim = torch.optim.Adam(model.parameters(), lr=opts.lr)
    gen = torch.Generator(device=device)
    gen.manual_seed(stream_seed(seed, TRAIN_STREAM))
    best, bad = float("inf"), 0
    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    for epoch in range(opts.epochs):
        order = torch.randperm(x_ids.shape[0], generator=gen, device=device)
        total, n = 0.0, 0
        for i in range(0, order.shape[0], opts.batch_size):
            rows = order[i : i + opts.batch_size]
            b = rows.shape[0]
            x0 = model.block(x_ids[rows])  # (b, M, s, s)
            half = torch.randint(0, opts.steps, ((b + 1) // 2,), generator=gen, device=device)
            t = torch.cat([half, opts.steps - 1 - half])[:b]  # antithetic
            eps = torch.randn(x0.shape, generator=gen, device=device)
            a = abar[t][:, None, None, None]
            xt = a.sqrt() * x0 + (1 - a).sqrt() * eps
            g = model.guide(c_ids[rows])  # (b, D)
            drop = torch.rand(b, generator=gen, device=device) < opts.uncond_prob
            g = torch.where(drop[:, None], model.place.expand_as(g), g)
            loss = F.mse_loss(model.net(xt, t, g), eps)
            optim.zero_grad()
            loss.backward()
            optim.step()
            with torch.no_grad():
                model.item_emb.weight[0].zero_()
            total += float(loss.detach()) * b
            n += b
        mean = total / n
        if mean < best:
            best, bad = mean, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            bad += 1
        if log is not None:
            log(f"diffusion epoch {epoch}: loss {mean:.5f} (best {best:.5f})")
        if bad >= opts.patience:
            break
    model.load_state_dict(best_state)
    return model.eval()


@torch.no_grad()
def generate(model: Diffusion, data: LeaveOneOut, opts: DiffuASROptions, width: int,
             seed: int, batch_size: int = 1024) -> np.ndarray:
    """M items per user (U, M), in time order, conditioned on the training part s[:-2]."""
    device = model.place.device
    abar = schedule(opts, device)
    stride = opts.steps // opts.sample_steps
    ts = [opts.steps - stride * (k + 1) for k in range(opts.sample_steps)]  # 800 .. 0
    table = F.normalize(model.item_emb.weight[1:], dim=1)  # (V, D)
    gen = torch.Generator(device=device)
    gen.manual_seed(stream_seed(seed, GENERATE_STREAM))
    u_all = data.seqs.n_users
    ends_all = data.seqs.offsets[1:] - 2  # exclusive end of s[:-2]
    out = np.zeros((u_all, opts.count), dtype=np.int64)
    side = model.side
    for i in range(0, u_all, batch_size):
        users = np.arange(i, min(i + batch_size, u_all))
        starts, ends = data.starts[users], ends_all[users]
        cond = window(data.seqs.items, starts, ends, width)  # (b, width) training part
        g = model.guide(torch.from_numpy(cond).to(device))  # (b, D)
        empty = model.place.expand_as(g)
        x = torch.randn((users.shape[0], opts.count, side, side), generator=gen, device=device)
        for k, t in enumerate(ts):
            tt = torch.full((users.shape[0],), t, device=device, dtype=torch.long)
            e_c = model.net(x, tt, g)
            eps = e_c + opts.guidance * (e_c - model.net(x, tt, empty))
            a = abar[t]
            x0 = (x - (1 - a).sqrt() * eps) / a.sqrt()
            a_prev = abar[ts[k + 1]] if k + 1 < len(ts) else torch.ones((), device=device)
            x = a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * eps
        vecs = F.normalize(x.reshape(users.shape[0], opts.count, -1), dim=2)  # (b, M, D)
        out[users] = (vecs @ table.T).argmax(2).cpu().numpy() + 1
    return out


@OBJECTIVES.register("diffuasr", options=DiffuASROptions)
class DiffuASR(Plain):
    """The recommender on sequences with diffusion-generated pseudo-items in front."""

    @staticmethod
    def prepare_run(cfg: RunConfig, run_dir: Path, quiet: bool,
                    stages: Stages) -> tuple[RunConfig, Path | None]:
        """Steps 1–2 once; the returned config's ``init_from`` is the diffusion stage (its
        pseudo-items); no initial weights: the recommender starts from scratch."""
        from basrec.runio import Logger, atomic_write_bytes

        opts: DiffuASROptions = cfg.objective_options
        ddir = Path(cfg.init_from) if cfg.init_from else run_dir / "diffusion"
        path = ddir / opts.pseudo_file()
        if not path.exists():
            if cfg.init_from:
                raise ConfigError(f"init_from: {path} is missing (a finished diffusion stage)")
            ddir.mkdir(parents=True, exist_ok=True)
            if cfg.threads:
                torch.set_num_threads(cfg.threads)
            device = stages.resolve_device(cfg.device)
            data = stages.load_data(cfg.replace(objective="none"))
            log = Logger(ddir / "log.txt", echo=not quiet)
            start = time.perf_counter()
            model = train_diffusion(data, opts, cfg.hidden_size, cfg.max_seq_length, device,
                                    cfg.seed, log)
            log(f"diffusion stage: {time.perf_counter() - start:.1f} s")
            items = generate(model, data, opts, cfg.max_seq_length, cfg.seed)
            buf = io.BytesIO()
            np.savez(buf, users=np.asarray(data.seqs.users), items=items)
            atomic_write_bytes(path, buf.getvalue())
        return cfg.replace(init_from=str(ddir)), None

    @staticmethod
    def transform_data(data: LeaveOneOut, cfg: RunConfig) -> LeaveOneOut:
        opts: DiffuASROptions = cfg.objective_options
        saved = load_generated(cfg, opts.pseudo_file(), "diffusion stage", data)
        return prepend(data, saved["items"], mask_targets=True)
