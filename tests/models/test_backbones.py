"""Contract tests for every registered backbone (algorithm.md §2, decisions.md, models/base.py).

Parametrised over ``MODELS.names()`` (with default options), so a new backbone is covered as
soon as it is registered, plus the non-default padding variants of gru4rec and nextitnet and
SASRec's kang2018 layout (padding keys masked or visible) and FMLP-Rec's causal filter.
"""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from column_dropout import ColumnDropout

from basrec import config as config_mod
from basrec.config import RunConfig
from basrec.data.batches import TrainLoader
from basrec.data.io import Sequences
from basrec.data.split import LeaveOneOut
from basrec.errors import ConfigError
from basrec.models.base import Backbone, ModelSpec, build_model, encode_batch
from basrec.models.gru4rec import GRU4Rec
from basrec.models.nextitnet import NextItNet, ResidualBlockB
from basrec.objectives.base import ObjectiveContext, StepRandom, build_objective
from basrec.objectives.basrec import BASRecOptions
from basrec.objectives.plain import PlainOptions
from basrec.registry import MODELS
from basrec.train import construction_for, stage1_rules

ROOT = Path(__file__).resolve().parents[2]
N = 12  # window
D = 16
BASE = ModelSpec(n_items=30, max_seq_length=N, hidden_size=D, num_layers=2, num_heads=2,
                 dropout=0.1, attn_dropout=0.1)
# non-default options worth covering (unknown names are simply not listed here)
VARIANTS: dict[str, list[dict[str, Any]]] = {
    "gru4rec": [{"pad_steps": "skip"}, {"pad_draws": 3}],
    "nextitnet": [{"pad_steps": "feed"}],
    "sasrec": [{"layout": "kang2018"}, {"layout": "kang2018", "mask_padding_keys": False}],
    "fmlprec": [{"filter": "causal"}],
}
CASES: list[tuple[str, dict[str, Any]]] = [(name, {}) for name in MODELS.names()] + [
    (name, extra) for name, extras in VARIANTS.items() if name in MODELS for extra in extras
]
IDS = [f"{name}-{'-'.join(f'{k}={v}' for k, v in extra.items()) or 'default'}"
       for name, extra in CASES]


def make(name: str, extra: dict[str, Any], spec: ModelSpec = BASE, seed: int = 0) -> Backbone:
    torch.manual_seed(seed)
    options = dataclasses.replace(MODELS.get(name).options(), **extra)
    return build_model(name, spec, options)


def padded_ids(b: int, n: int, n_items: int, seed: int, min_len: int = 1) -> torch.Tensor:
    """(b, n) left-padded ids with lengths min_len..n (the last row is full)."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, n_items + 1, (b, n), generator=g)  # (B, N)
    lengths = torch.randint(min_len, n + 1, (b,), generator=g)
    lengths[-1] = n
    cols = torch.arange(n)[None, :]
    return torch.where(cols >= n - lengths[:, None], ids, torch.zeros_like(ids))


def synthetic_data(n_users: int = 40, n_items: int = 30, max_len: int = 20,
                   seed: int = 0) -> LeaveOneOut:
    """Users whose next item is often (item + 1); some longer than the window N."""
    rng = np.random.default_rng(seed)
    seqs = []
    for _ in range(n_users):
        length = int(rng.integers(5, max_len + 1))
        start = int(rng.integers(1, n_items + 1))
        seqs.append([(start + k - 1) % n_items + 1 for k in range(length)])
    return LeaveOneOut(Sequences.from_lists(seqs, n_items=n_items))


@pytest.fixture(params=CASES, ids=IDS)
def case(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    name, extra = request.param
    return name, extra


# ---------------------------------------------------------------------------------- contract


def test_shapes_and_forward_is_encode_of_embed(case: tuple[str, dict[str, Any]]) -> None:
    model = make(*case).eval()
    assert isinstance(model, Backbone)
    assert model.item_emb.num_embeddings == BASE.n_items + 1
    assert model.item_emb.embedding_dim == D
    ids = padded_ids(5, N, BASE.n_items, seed=1)
    with torch.no_grad():
        h = model(ids)
        assert h.shape == (5, N, D)
        assert torch.isfinite(h).all()
        torch.testing.assert_close(h, model.encode(model.embed(ids), ids), rtol=0, atol=0)
        assert model.scores(h[:, -1]).shape == (5, BASE.n_items + 1)
        for width in (1, 4, N):  # the window may be the last L <= N columns
            assert model.encode(model.embed(ids[:, -width:]), ids[:, -width:]).shape == (
                5, width, D)


def test_encode_last_is_the_last_column(case: tuple[str, dict[str, Any]]) -> None:
    """``encode_last`` equals ``encode(...)[:, -1]`` for every window width, and (dropout 0)
    so do its gradients: the shortcut a backbone may take changes nothing it returns."""
    spec = dataclasses.replace(BASE, dropout=0.0, attn_dropout=0.0)
    model = make(*case, spec=spec).eval()
    ids = padded_ids(7, N, BASE.n_items, seed=5)
    with torch.no_grad():
        for width in (1, 5, N):
            emb = model.embed(ids[:, -width:])  # (B, width, D)
            torch.testing.assert_close(model.encode_last(emb, ids[:, -width:]),
                                       model.encode(emb, ids[:, -width:])[:, -1],
                                       rtol=0, atol=1e-5)
    grads = []
    for last in (True, False):
        model.zero_grad()
        emb = model.embed(ids)
        h = model.encode_last(emb, ids) if last else model.encode(emb, ids)[:, -1]  # (B, D)
        (h * torch.linspace(-1, 1, D)).sum().backward()
        grads.append([p.grad.clone() if p.grad is not None else torch.zeros_like(p)
                      for p in model.parameters()])
    for fast, full in zip(*grads, strict=True):
        torch.testing.assert_close(fast, full, rtol=1e-4, atol=1e-6)


def test_encode_kept_equals_encode_where_kept(case: tuple[str, dict[str, Any]]) -> None:
    """``encode_kept`` gives ``encode``'s outputs at the kept positions, for every window
    width, and (dropout 0) the same gradients through them: a backbone that skips the other
    positions' work changes nothing that is read. SASRec does skip it (zeros there)."""
    spec = dataclasses.replace(BASE, dropout=0.0, attn_dropout=0.0)
    model = make(*case, spec=spec).eval()
    ids = padded_ids(7, N, BASE.n_items, seed=6)
    g = torch.Generator().manual_seed(3)
    for width in (1, 5, N):
        keep = torch.rand(7, width, generator=g) < 0.4  # (B, width)
        keep[0] = False  # a row with nothing kept
        weights = torch.randn(7, width, D, generator=g) * keep[..., None]  # read where kept
        grads = []
        for kept in (True, False):
            model.zero_grad()
            emb = model.embed(ids[:, -width:])  # (B, width, D)
            h = model.encode_kept(emb, ids[:, -width:], keep) if kept else \
                model.encode(emb, ids[:, -width:])  # (B, width, D)
            grads.append([h[keep].detach().clone()])
            (h * weights).sum().backward()
            grads[-1] += [p.grad.clone() if p.grad is not None else torch.zeros_like(p)
                          for p in model.parameters()]
        for fast, full in zip(*grads, strict=True):
            torch.testing.assert_close(fast, full, rtol=1e-4, atol=1e-6)
        if case[0] == "sasrec" and case[1].get("layout", "coserec") == "coserec":
            with torch.no_grad():  # kang2018 computes every position (nothing is skipped)
                h = model.encode_kept(model.embed(ids[:, -width:]), ids[:, -width:], keep)
            assert (h[~keep] == 0).all()


def test_padding_output_is_what_encode_gives_at_padding(case: tuple[str, dict[str, Any]]) -> None:
    """Where a backbone declares its output at padding (``padding_output``), ``encode`` gives
    exactly that vector at every padding column of every row, in training (dropout on) and in
    eval mode, at any window width. GRU4Rec ``skip`` declares it, SASRec must not."""
    model = make(*case)
    ids = padded_ids(7, N, BASE.n_items, seed=8)
    for mode in (True, False):
        model.train(mode)
        if model.padding_output() is None:
            continue
        for width in (N - 2, N):
            h = model.encode(model.embed(ids[:, -width:]), ids[:, -width:])  # (B, width, D)
            pad = ids[:, -width:] == 0
            assert pad.sum() > 3
            assert torch.equal(h[pad], model.padding_output().expand(int(pad.sum()), -1))
    assert (case[0], case[1].get("pad_steps")) != ("gru4rec", "skip") or \
        model.padding_output() is not None
    assert case[0] != "sasrec" or model.padding_output() is None


def views_of(ids: torch.Tensor, seed: int) -> torch.Tensor:
    """Rows with the padding of ``ids`` and other items (as BASRec's views keep it)."""
    g = torch.Generator().manual_seed(seed)
    other = torch.randint(1, BASE.n_items + 1, ids.shape, generator=g)
    return torch.where(ids > 0, other, torch.zeros_like(ids))  # (B, N)


def test_encode_continuing_equals_the_full_width_encode(
        case: tuple[str, dict[str, Any]]) -> None:
    """Rows with an original row's padding, encoded on their last w columns by
    ``encode_continuing`` from the originals' ``encode_with_prefix``, give the outputs of
    their full-width encode at real positions (gradients: the next test): in eval mode
    wherever ``trim_exact`` or ``prefix_exact`` holds, and in training for a ``prefix_exact``
    backbone whose random draws at a column are the same for the original and the row
    (``ColumnDropout``). ``encode_with_prefix`` returns ``encode``."""
    ids = padded_ids(7, N, BASE.n_items, seed=9, min_len=1)
    ids[:-1, : N // 2] = 0  # all rows but the last have a padding prefix
    rows = torch.tensor([3, 0, 1, 2, 4, 5, 6])  # each view's original row
    views = views_of(ids[rows], seed=2)  # view i has the padding of original rows[i]
    for training in (False, True):
        model = make(*case)
        if training and model.prefix_exact:
            model.drop = ColumnDropout(0.3, N, D)  # type: ignore[assignment]
        model.train(training)
        if not (model.trim_exact or model.prefix_exact) or (
                training and not isinstance(getattr(model, "drop", None), ColumnDropout)):
            continue
        h, prefix = model.encode_with_prefix(model.embed(ids), ids)  # (B, N, D)
        torch.testing.assert_close(h, model.encode(model.embed(ids), ids), rtol=0, atol=1e-6)
        full = model.encode(model.embed(views), views)  # (B, N, D)
        for width in (N // 2, N):
            part = views[:-1, -width:]  # rows whose columns before the window are padding
            got = model.encode_continuing(model.embed(part), part, prefix, rows[:-1])
            real = part > 0
            torch.testing.assert_close(got[real], full[:-1, -width:][real], rtol=1e-5,
                                       atol=1e-5)
    assert (case[0], case[1].get("pad_steps", "feed")) != ("gru4rec", "feed") or \
        make(*case).prefix_exact
    assert case[0] != "sasrec" or not make(*case).prefix_exact


def test_gru4rec_continuing_carries_the_gradient_through_the_prefix() -> None:
    """GRU4Rec ``feed`` in training (per-column draws shared, ``ColumnDropout``): the loss on
    rows encoded by ``encode_continuing`` from the originals' prefix has the gradients of the
    same rows encoded at full width, the weights' share from the PAD steps included."""
    spec = dataclasses.replace(BASE, dropout=0.0)
    ids = padded_ids(6, N, BASE.n_items, seed=4, min_len=1)
    ids[:, : N // 2] = 0
    views = views_of(ids, seed=5)
    rows = torch.arange(6)
    weights = torch.randn(6, N // 2, D, generator=torch.Generator().manual_seed(2))
    grads = []
    for carried in (True, False):
        model = make("gru4rec", {"pad_steps": "feed"}, spec=spec)
        model.drop = ColumnDropout(0.3, N, D)  # type: ignore[assignment]
        model.train()
        if carried:
            _, prefix = model.encode_with_prefix(model.embed(ids), ids)
            part = views[:, N // 2 :]
            h = model.encode_continuing(model.embed(part), part, prefix, rows)  # (B, N/2, D)
        else:
            h = model.encode(model.embed(views), views)[:, N // 2 :]  # (B, N/2, D)
        (h * weights * (views[:, N // 2 :] > 0)[..., None]).sum().backward()
        grads.append([p.grad.clone() for p in model.parameters() if p.grad is not None])
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("draws", [1, 3, 100])
def test_gru4rec_pad_draws_equals_the_full_width_feed_under_column_draws(
        draws: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """``pad_draws``: the PAD steps from shared pool draws, the rows in length groups inside
    the module. Where a column's dropout draws are the same in every row (``ColumnDropout``)
    the encode equals the original's full-width one at every column (padding included), and
    so do the gradients; a narrower window equals the full width's last columns (its
    missing columns are PAD steps with dropout, as the full width's)."""
    import basrec.models.gru4rec as gru4rec_module
    from basrec.models import base

    plans: list[int] = []

    def plan(lengths: np.ndarray, n: int) -> list[tuple[int, int, int]]:
        groups = base.plan_groups(lengths, n, overhead=0)  # tiny batches: split anyway
        plans.append(len(groups))
        return groups

    monkeypatch.setattr(gru4rec_module, "plan_groups", plan)
    ids = padded_ids(9, N, BASE.n_items, seed=3, min_len=1)
    ids[:-1, :3] = 0
    weights = torch.randn(9, N, D, generator=torch.Generator().manual_seed(1))
    results = []
    for pad_draws in (0, draws):
        model = make("gru4rec", {"pad_draws": pad_draws})
        model.drop = ColumnDropout(0.3, N, D)  # type: ignore[assignment]
        model.train()
        assert isinstance(model, GRU4Rec) and model.pooled == (pad_draws > 0)
        h = model.encode(model.embed(ids), ids)  # (B, N, D)
        (h * weights).sum().backward()
        narrow = model.encode(model.embed(ids[:, 3:]), ids[:, 3:])  # (B, N − 3, D)
        results.append((h.detach(), narrow.detach(),
                        [p.grad.clone() for p in model.parameters() if p.grad is not None]))
    (full, _, g_full), (pooled, narrow, g_pooled) = results
    assert plans and min(plans) > 2  # the pool's states stand in before most groups' windows
    torch.testing.assert_close(pooled, full, rtol=1e-5, atol=1e-6)
    # the rows whose first 3 columns are padding (the last row is full)
    torch.testing.assert_close(narrow[:-1], full[:-1, 3:], rtol=1e-5, atol=1e-6)
    assert len(g_pooled) == len(g_full)
    for a, b in zip(g_full, g_pooled, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-6)


def test_gru4rec_pad_draws_share_the_padding_noise_only() -> None:
    """With real dropout, rows that took the same pool draw share their PAD steps' noise
    (one draw: every row with the same ids gives the same outputs before its group's
    window), while with pad_draws 0, or as many draws as rows, every row has its own; eval
    mode is the default model's, exactly; bad values are refused."""
    ids = padded_ids(1, N, BASE.n_items, seed=5, min_len=3)
    ids[:, : N - 3] = 0  # one row: 3 items after N − 3 PAD steps
    rows = ids.expand(6, -1)  # (6, N): six copies
    for pad_draws, shared in ((1, True), (0, False), (6, False)):
        model = make("gru4rec", {"pad_draws": pad_draws}).train()
        torch.manual_seed(0)
        h = model.encode(model.embed(rows), rows)  # (6, N, D)
        same = torch.equal(h[:, : N - 3], h[:1, : N - 3].expand(6, -1, -1))
        assert same == shared, pad_draws
        assert not torch.equal(h[:, -1], h[:1, -1].expand(6, -1))  # own draws on the items
    pooled, default = make("gru4rec", {"pad_draws": 4}).eval(), make("gru4rec", {}).eval()
    batch = padded_ids(7, N, BASE.n_items, seed=6)
    assert torch.equal(pooled(batch), default(batch))
    for bad in ({"pad_draws": -1}, {"pad_draws": 2, "gru_layers": 2}):
        with pytest.raises(ConfigError, match="pad_draws"):
            make("gru4rec", bad)


def test_gru4rec_pad_vector_fed_directly_collects_no_gradient() -> None:
    """The PAD row is fed as an input of its own (the state before a narrow window, the
    pool's steps): like the lookup with ``padding_idx``, it gets no gradient there."""
    ids = padded_ids(5, N, BASE.n_items, seed=2)
    for extra, spec in (({"pad_draws": 2}, BASE),
                        ({}, dataclasses.replace(BASE, dropout=0.0))):
        model = make("gru4rec", extra, spec=spec).train()
        model.encode(model.embed(ids[:, 4:]), ids[:, 4:]).sum().backward()
        grad = model.item_emb.weight.grad
        assert grad is not None and grad[1:].abs().sum() > 0
        assert torch.equal(grad[0], torch.zeros(D))


@pytest.mark.parametrize("objective", ["none", "basrec"])
def test_last_only_step_equals_the_full_step(case: tuple[str, dict[str, Any]],
                                             objective: str) -> None:
    """A ``prefix`` batch is ``last_only``: the step encodes the last column alone, and its
    loss equals the step that encodes every column (dropout 0, the same random draws)."""
    data = synthetic_data()
    spec = dataclasses.replace(BASE, n_items=data.n_items, dropout=0.0, attn_dropout=0.0)
    model = make(*case, spec=spec).train()
    cfg = RunConfig(model=case[0], max_seq_length=N, hidden_size=D, length_groups=3,
                    construction="prefix")
    samples = data.train_samples("prefix")
    batch = next(TrainLoader(data, samples, N, batch_size=32, seed=0).epoch(0))
    assert batch.last_only
    assert not next(TrainLoader(data, data.train_samples("all"), N, batch_size=8,
                                seed=0).epoch(0)).last_only
    options = BASRecOptions() if objective == "basrec" else PlainOptions()
    obj = build_objective(objective, options, ObjectiveContext(cfg, data, torch.device("cpu")))
    losses = [float(obj(model, b, StepRandom.create(0, 0, "cpu"))["loss"].detach())
              for b in (batch, dataclasses.replace(batch, last_only=False))]
    assert np.isfinite(losses[0])
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)


def test_causality_claim_is_true(case: tuple[str, dict[str, Any]]) -> None:
    """Causal: changing ids after t leaves H[:, :t+1] unchanged at real positions (eval).
    Not causal: some change after t moves an earlier output (so the flag is not too modest)."""
    model = make(*case).eval()
    ids = padded_ids(6, N, BASE.n_items, seed=2, min_len=N // 2)
    g = torch.Generator().manual_seed(3)
    worst = 0.0
    with torch.no_grad():
        h = model(ids)
        for t in range(N - 1):
            changed = ids.clone()
            changed[:, t + 1 :] = torch.randint(1, BASE.n_items + 1, (6, N - t - 1), generator=g)
            h2 = model(changed)
            real = ids[:, : t + 1] > 0  # (B, t+1): loss positions are real positions
            diff = (h[:, : t + 1] - h2[:, : t + 1]).abs().amax(-1)[real]
            worst = max(worst, float(diff.max()) if diff.numel() else 0.0)
    if model.causal:
        assert worst <= 1e-6, f"{case[0]} claims causal but the past moved by {worst}"
    else:
        assert worst > 1e-3, f"{case[0]} claims non-causal but looks causal"


def test_trim_exact_claim(case: tuple[str, dict[str, Any]]) -> None:
    """Where trim_exact is claimed, length-grouped encoding equals the full width at real
    positions, and so does encoding each row on its own unpadded window."""
    model = make(*case).eval()
    if not model.trim_exact:
        pytest.skip(f"{case} does not claim trim_exact (see test_trim_not_exact_*)")
    ids = padded_ids(9, N, BASE.n_items, seed=4)
    with torch.no_grad():
        emb = model.embed(ids)
        full = model.encode(emb, ids)  # (B, N, D)
        grouped = encode_batch(model, emb, ids, n_groups=3)  # (B, N, D)
        real = ids > 0
        torch.testing.assert_close(grouped[real], full[real], rtol=0, atol=1e-5)
        for b in range(ids.shape[0]):
            k = int(real[b].sum())
            own = model.encode(emb[b : b + 1, -k:], ids[b : b + 1, -k:])  # (1, k, D)
            torch.testing.assert_close(own[0], full[b, -k:], rtol=0, atol=1e-5)


def test_length_groups_keep_gradients(case: tuple[str, dict[str, Any]]) -> None:
    """Length-grouped encoding gives the full width's gradients (input and parameters) for a
    loss on the real positions, where trim_exact is claimed."""
    model = make(*case).eval()
    if not model.trim_exact:
        pytest.skip(f"{case} does not claim trim_exact")
    ids = padded_ids(9, N, BASE.n_items, seed=5)
    real = ids > 0
    weights = torch.randn(int(real.sum()), D, generator=torch.Generator().manual_seed(1))
    grads = []
    for n_groups in (1, 3):
        model.zero_grad()
        emb = model.embed(ids).detach().requires_grad_(True)  # (B, N, D)
        h = encode_batch(model, emb, ids, n_groups=n_groups)  # (B, N, D)
        (h[real] * weights).sum().backward()
        grads.append([emb.grad] + [p.grad.clone() if p.grad is not None
                                   else torch.zeros_like(p) for p in model.parameters()])
    for full, grouped in zip(*grads, strict=True):
        torch.testing.assert_close(grouped, full, rtol=1e-4, atol=1e-5)


def test_trim_not_exact_where_declared() -> None:
    """Feeding the PAD vector through a convolution makes outputs depend on how much padding
    precedes the first item: trim_exact=False is necessary, not merely cautious."""
    model = make("nextitnet", {"pad_steps": "feed"}).eval()
    assert not model.trim_exact
    ids = padded_ids(4, N, BASE.n_items, seed=5, min_len=2)
    ids[:, : N // 2] = 0  # every row has at most N/2 items
    with torch.no_grad():
        full = model(ids)[:, N // 2 :]
        trimmed = model(ids[:, N // 2 :])
    assert float((full - trimmed).abs().max()) > 1e-4
    assert torch.equal(encode_batch(model, model.embed(ids), ids, 3), model(ids))  # no trimming


def test_gru4rec_feed_is_trim_exact_in_eval_mode() -> None:
    """A narrower window starts from the state after the PAD steps it leaves out, so eval mode
    (and training without dropout) can trim the original's padding behaviour exactly."""
    model = make("gru4rec", {"pad_steps": "feed"})
    assert not model.trim_exact  # training with dropout 0.1: a dropout mask on every PAD step
    ids = padded_ids(4, N, BASE.n_items, seed=5, min_len=2)
    torch.manual_seed(3)
    grouped = encode_batch(model, model.embed(ids), ids, 3)
    torch.manual_seed(3)
    assert torch.equal(grouped, model(ids)), "not trimmed while training"
    assert model.eval().trim_exact  # test_trim_exact_claim checks the outputs
    assert not model.train().trim_exact
    no_dropout = make("gru4rec", {"pad_steps": "feed"}, dataclasses.replace(BASE, dropout=0.0))
    assert no_dropout.trim_exact


def test_sasrec_kang2018_trims_exactly_with_masked_padding_keys_only() -> None:
    """kang2018 with ``mask_padding_keys``: a trimmed window gives the full width's outputs at
    real positions (eval). Without it the padding keys (the key/value biases) take part in
    every real query's softmax: ``trim_exact`` is False, the outputs do move with the window's
    width, and nothing is trimmed."""
    ids = padded_ids(5, N, BASE.n_items, seed=7, min_len=2)
    ids[:-1, : N // 2] = 0  # every row but the last has at most N/2 items
    narrow = ids[:-1, N // 2 :]  # (B-1, N/2): their real columns and some padding
    real = narrow > 0
    masked = make("sasrec", {"layout": "kang2018"}).eval()
    visible = make("sasrec", {"layout": "kang2018", "mask_padding_keys": False}).eval()
    with torch.no_grad():
        # nonzero key/value biases, as after training: a visible padding key then carries them
        for model in (masked, visible):
            for block in model.blocks:
                block.qkv.bias.copy_(torch.linspace(-0.5, 0.5, 3 * D))
        assert masked.trim_exact and not visible.trim_exact
        full = masked(ids)[:-1, N // 2 :]
        torch.testing.assert_close(masked(narrow)[real], full[real], rtol=0, atol=1e-5)
        for b in range(4):  # each row on its own unpadded window
            k = int(real[b].sum())
            torch.testing.assert_close(masked(narrow[b : b + 1, -k:])[0], full[b, -k:],
                                       rtol=0, atol=1e-5)
        full_v = visible(ids)[:-1, N // 2 :]
        assert float((visible(narrow)[real] - full_v[real]).abs().max()) > 1e-3
        assert torch.equal(encode_batch(visible, visible.embed(ids), ids, 3), visible(ids))
        # a row without padding sees no padding key: the two settings agree there
        torch.testing.assert_close(visible(ids[-1:]), masked(ids[-1:]), rtol=0, atol=1e-6)
        assert float((full_v[real] - full[real]).abs().max()) > 1e-3


def test_fmlprec_narrow_window_equals_full_width() -> None:
    """FMLP-Rec pads a narrower window back to N with PAD: same outputs as the full width."""
    model = make("fmlprec", {}).eval()
    ids = padded_ids(4, N, BASE.n_items, seed=6)
    ids[:, : N - 5] = 0
    with torch.no_grad():
        full = model(ids)
        for width in (5, 8):
            torch.testing.assert_close(model(ids[:, -width:]), full[:, -width:],
                                       rtol=0, atol=1e-6)


# ------------------------------------------------------------------------------ no leakage


def changed_future(data: LeaveOneOut, seed: int) -> tuple[LeaveOneOut, np.ndarray]:
    """A copy of the data where every item at CSR index >= cut[user] is replaced by a
    different item; cut[user] lies inside the user's training targets s[1:-2]."""
    rng = np.random.default_rng(seed)
    seqs = data.seqs
    starts = data.starts
    train_len = seqs.lengths - 2  # s[:-2]
    cut = starts + rng.integers(1, train_len)  # (U,) in [start+1, start+train_len-1]
    user_of = np.repeat(np.arange(seqs.n_users), seqs.lengths)
    later = np.arange(seqs.items.shape[0]) >= cut[user_of]
    shift = rng.integers(1, seqs.n_items, size=seqs.items.shape)  # never 0 mod n_items
    items = np.where(later, (seqs.items - 1 + shift) % seqs.n_items + 1, seqs.items)
    return LeaveOneOut(Sequences(seqs.users, items, seqs.offsets, seqs.n_items)), cut


def leaked_outputs(model: Backbone, data: LeaveOneOut, construction: str,
                   n_groups: int) -> tuple[int, int]:
    """Plant different targets (and everything after them) in the data, rebuild the actual
    training batches, and count loss positions whose output moved although every input up to
    them is unchanged. Returns (leaked positions, checked positions whose target changed)."""
    samples = data.train_samples(construction)
    other, cut = changed_future(data, seed=1)
    loader = TrainLoader(data, samples, N, batch_size=16, seed=0)
    loader2 = TrainLoader(other, samples, N, batch_size=16, seed=0)
    leaked = planted = 0
    model.eval()
    with torch.no_grad():
        for i in range(0, len(samples), 16):
            rows = np.arange(i, min(i + 16, len(samples)))
            b1 = loader.batch(rows, np.random.default_rng(0))
            b2 = loader2.batch(rows, np.random.default_rng(0))
            h1 = encode_batch(model, model.embed(b1.inputs), b1.inputs, n_groups)
            h2 = encode_batch(model, model.embed(b2.inputs), b2.inputs, n_groups)
            ends = samples.ends[rows]
            idx = ends[:, None] - N + np.arange(N)[None, :]  # (B, N) CSR index of each input
            same_past = torch.from_numpy(idx < cut[samples.users[rows]][:, None])
            check = (b1.targets > 0) & same_past  # loss positions with an unchanged past
            assert torch.equal(b1.inputs[same_past], b2.inputs[same_past])
            moved = (h1 - h2).abs().amax(-1) > 1e-5  # (B, N)
            leaked += int((moved & check).sum())
            planted += int((check & (b1.targets != b2.targets)).sum())
    return leaked, planted


def trainable_constructions(name: str, model: Backbone) -> list[str]:
    out = []
    for construction in ("all", "prefix"):
        with contextlib.suppress(ConfigError):
            out.append(construction_for(RunConfig(model=name, construction=construction), model))
    return out


def test_no_target_leakage(case: tuple[str, dict[str, Any]]) -> None:
    """For every construction the trainer accepts for this backbone, the outputs that the loss
    reads are unchanged when the targets (and all later items) are replaced."""
    data = synthetic_data()
    model = make(*case, spec=dataclasses.replace(BASE, n_items=data.n_items))
    constructions = trainable_constructions(case[0], model)
    assert "prefix" in constructions
    assert ("all" in constructions) == model.causal
    for construction in constructions:
        for n_groups in (1, 3):
            leaked, planted = leaked_outputs(model, data, construction, n_groups)
            assert planted > 0  # the check is not vacuous: targets were changed
            assert leaked == 0, f"{case} leaks under {construction} (groups {n_groups})"


def test_leakage_check_detects_a_non_causal_all_position_model() -> None:
    """The check above has teeth: FMLP-Rec under the all-position loss does read its targets."""
    data = synthetic_data()
    model = make("fmlprec", {}, spec=dataclasses.replace(BASE, n_items=data.n_items))
    leaked, _ = leaked_outputs(model, data, "all", 1)
    assert leaked > 0


def test_construction_all_refused_for_non_causal(case: tuple[str, dict[str, Any]]) -> None:
    model = make(*case)
    auto = construction_for(RunConfig(model=case[0]), model)
    if model.causal:
        assert auto == "all"
        return
    assert auto == "prefix"
    with pytest.raises(ConfigError, match="leak"):
        construction_for(RunConfig(model=case[0], construction="all"), model)


# ------------------------------------------------------------------------------ training


def test_few_steps_reduce_the_loss(case: tuple[str, dict[str, Any]]) -> None:
    data = synthetic_data()
    model = make(*case, spec=dataclasses.replace(BASE, n_items=data.n_items))
    cfg = RunConfig(model=case[0], max_seq_length=N, hidden_size=D, length_groups=3)
    samples = data.train_samples(construction_for(cfg, model))
    batch = next(TrainLoader(data, samples, N, batch_size=32, seed=0).epoch(0))
    objective = build_objective("none", PlainOptions(),
                                ObjectiveContext(cfg, data, torch.device("cpu")))
    rng = StepRandom.create(0, 0, "cpu")
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    losses = []
    for _ in range(15):
        loss = objective(model, batch, rng)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert all(np.isfinite(losses))
    assert np.mean(losses[-3:]) < losses[0], losses


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name, extra, expected", [
    # rows 31 × D 16 = 496; W_ih 3·6 × 16 = 288; W_hh 3·6 × 6 = 108 (no biases);
    # dense 6 × 16 + 16 = 112
    ("gru4rec", {"gru_hidden": 6}, 496 + 288 + 108 + 112),
    # 2 blocks × [2 convs × (16·16·3 + 16) + 2 LN × 32] + item table 496 + final 16·16 + 16
    ("nextitnet", {"block_num": 1, "dilations": (1, 2)}, 2 * (2 * 784 + 64) + 496 + 272),
    # table 496 + positions 12·16 + LN 32; per layer: filter 7·16·2 + 2 LN × 32
    # + FFN (16·64 + 64 + 64·16 + 16)
    ("fmlprec", {}, 496 + 192 + 32 + 2 * (224 + 64 + 2128)),
])
def test_parameter_counts(name: str, extra: dict[str, Any], expected: int) -> None:
    assert n_params(make(name, extra)) == expected


def test_gru4rec_matches_the_basrec_layout() -> None:
    """algorithm.md §2.2: one bias-free GRU layer D→128, dense 128→D, dropout on the embeddings,
    Xavier-normal item table with a random (not zero) PAD row."""
    model = make("gru4rec", {})
    assert isinstance(model, GRU4Rec)
    gru = model.gru
    assert (gru.input_size, gru.hidden_size, gru.num_layers, gru.bias) == (D, 128, 1, False)
    assert tuple(model.dense.weight.shape) == (D, 128)
    assert float(model.item_emb.weight[0].detach().abs().sum()) > 0
    assert model.causal


def test_nextitnet_blocks() -> None:
    model = make("nextitnet", {})
    assert isinstance(model, NextItNet)
    dilations = [(b.conv1.dilation[0], b.conv2.dilation[0])
                 for b in model.blocks if isinstance(b, ResidualBlockB)]
    assert dilations == [(1, 2), (4, 8)] * 5  # algorithm.md §2.3: [1, 4] × 5, two convs (d, 2d)
    assert float(model.final.bias[0].detach()) == pytest.approx(0.1)


def test_padding_option_rejects_unknown_values() -> None:
    for name in ("gru4rec", "nextitnet"):
        with pytest.raises(ConfigError, match="pad_steps"):
            config_mod.load(overrides={"model": name, f"{name}.pad_steps": "sometimes"})


# ------------------------------------------------------------------------------ presets

PRESETS = sorted((ROOT / "configs" / "backbones").glob("*.yaml"))


def test_every_preset_exists() -> None:
    names = {p.stem for p in PRESETS}
    for model in ("sasrec", "gru4rec", "nextitnet", "fmlprec"):
        for dataset in ("beauty", "sports", "yelp", "home"):
            assert f"{model}_{dataset}" in names


@pytest.mark.parametrize("path", PRESETS, ids=[p.stem for p in PRESETS])
def test_preset_loads(path: Path) -> None:
    cfg = config_mod.load([str(path)])
    model, dataset, *variant = path.stem.split("_")
    assert (cfg.model, cfg.dataset) == (model, dataset)
    assert cfg.model_options is not None
    assert cfg.min_epochs < cfg.epochs and cfg.patience > 0
    if variant:  # model_dataset_ce: the CE baseline's settings (its own stopping rule)
        assert variant == ["ce"] and cfg.loss == "ce"
        assert cfg.model_options.layout == "kang2018" and not cfg.model_options.mask_padding_keys
        return
    # the stage-1 stopping rules of docs/decisions.md ("Stage-1 stopping rules")
    long_rule = {"gru4rec_beauty": (600, 50, 100), "nextitnet_beauty": (300, 50, 0)}
    assert (cfg.epochs, cfg.patience, cfg.min_epochs) == long_rule.get(path.stem, (200, 20, 0))
    # a BASRec preset's own stage 1 follows the backbone preset's rule
    both = config_mod.load([str(path), str(ROOT / "configs" / "basrec" / path.name)],
                           {"objective": "basrec"})
    assert stage1_rules(both) == {"epochs": cfg.epochs, "patience": cfg.patience,
                                  "min_epochs": cfg.min_epochs}


@pytest.mark.parametrize("kernel_size,dilation,width", [(3, 1, 5), (3, 4, 7), (3, 8, 2), (2, 2, 6),
                                                        (1, 1, 4)])
def test_nextitnet_convolution_equals_left_padded_conv1d(kernel_size: int, dilation: int,
                                                         width: int) -> None:
    """The matrix-product form of the causal convolution computes RecBole's: nn.Conv1d on the
    input left-padded with (k−1)·d zeros (values and gradients)."""
    torch.manual_seed(0)
    block = ResidualBlockB(8, kernel_size, dilation, 1e-8).double()
    x = torch.randn(3, width, 8, dtype=torch.float64, requires_grad=True)
    ours = block._causal_conv(x, block.conv1)
    x_ref = x.detach().clone().requires_grad_(True)
    padded = F.pad(x_ref.transpose(1, 2), ((kernel_size - 1) * dilation, 0))
    ref = block.conv1(padded).transpose(1, 2)
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-12)
    grad = torch.randn_like(ref)
    ours.backward(grad)
    w_ours = block.conv1.weight.grad.clone()
    block.conv1.weight.grad = None
    ref.backward(grad)
    torch.testing.assert_close(x.grad, x_ref.grad, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(w_ours, block.conv1.weight.grad, rtol=1e-12, atol=1e-12)


def test_fmlprec_last_column_of_the_filter_from_its_impulse_responses() -> None:
    """``FilterBlock._last_filtered`` (the filter's last row from N impulse responses) equals
    the last column of the FFT filter of the whole batch, values and gradients, in float64."""
    from basrec.models.fmlprec import FilterBlock

    torch.manual_seed(3)
    block = FilterBlock(12, 8, 0.0, 1e-12, 4, 0.5).double()
    x = torch.randn(5, 12, 8, dtype=torch.float64, requires_grad=True)
    grads = []
    for fast in (True, False):
        block.zero_grad()
        x.grad = None
        out = block._last_filtered(x) if fast else block._filter(x)[:, -1]  # (B, D)
        (out * torch.linspace(-1, 1, 8, dtype=torch.float64)).sum().backward()
        grads.append((out.detach(), x.grad.clone(), block.weight.grad.clone()))
    for fast_part, full_part in zip(*grads, strict=True):
        torch.testing.assert_close(fast_part, full_part, rtol=1e-10, atol=1e-12)


def _attention_inputs(b: int = 4, length: int = 9) -> tuple[torch.Tensor, ...]:
    """q, k, v (B, 2, L, 4) in float64 and SASRec's additive mask (B, 1, L, L) for
    left-padded rows, one of them all padding (every key masked)."""
    g = torch.Generator().manual_seed(5)
    q, k, v = (torch.randn(b, 2, length, 4, generator=g, dtype=torch.float64,
                           requires_grad=True) for _ in range(3))
    ids = padded_ids(b, length, 10, seed=2)
    ids[0] = 0  # a row of padding only
    allowed = torch.ones(length, length, dtype=torch.bool).tril()[None] & (ids > 0)[:, None]
    mask = torch.zeros(b, 1, length, length, dtype=torch.float64)
    mask.masked_fill_(~allowed[:, None], -10000.0)
    return q, k, v, mask


def test_sasrec_written_out_attention_equals_sdpa() -> None:
    """SASRec's CPU training attention (``_attend`` written out) computes what
    ``scaled_dot_product_attention`` computes, values and gradients, in float64, with the
    attention dropout itself replaced by the identity (rows whose keys are all masked too)."""
    from basrec.models.sasrec import SelfAttentionBlock

    block = SelfAttentionBlock(8, 2, 0.1, 0.3, 1e-12, 4).double().train()
    block.attn_drop = torch.nn.Identity()  # the written-out path, without its dropout
    q, k, v, mask = _attention_inputs()
    ours = block._attend(q, k, v, mask)  # (B, 2, L, 4)
    inputs = [t.detach().clone().requires_grad_(True) for t in (q, k, v)]
    ref = F.scaled_dot_product_attention(*inputs, attn_mask=mask)
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-12)
    grad = torch.randn_like(ref)
    ours.backward(grad)
    ref.backward(grad)
    for mine, theirs in zip((q, k, v), inputs, strict=True):
        torch.testing.assert_close(mine.grad, theirs.grad, rtol=1e-12, atol=1e-12)


def test_sasrec_attention_dropout_drops_weights_in_cpu_training_only() -> None:
    """In CPU training the attention weights pass ``Dropout``: each is 0 or w / (1 − p), about
    a share p of them 0; in eval mode no dropout acts and the output is SDPA's."""
    from basrec.models.sasrec import SelfAttentionBlock

    p = 0.3
    block = SelfAttentionBlock(8, 2, 0.1, p, 1e-12, 4).double().train()
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []
    block.attn_drop.register_forward_hook(lambda _m, args, out: seen.append((args[0], out)))
    q, k, v, mask = _attention_inputs(b=64, length=20)
    torch.manual_seed(0)
    block._attend(q, k, v, mask)
    weights, dropped = seen[0]  # (B, 2, L, L) before and after the dropout
    kept = dropped != 0
    torch.testing.assert_close(dropped[kept], weights[kept] / (1 - p))
    real = weights > 0  # masked keys have weight exp(−10000) = 0 before any dropout
    assert abs((~kept[real]).double().mean().item() - p) < 0.02
    block.eval()
    torch.testing.assert_close(block._attend(q, k, v, mask),
                               F.scaled_dot_product_attention(q, k, v, attn_mask=mask))
    assert len(seen) == 1  # eval mode never reaches the written-out path
