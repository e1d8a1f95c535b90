"""Softmax losses over the catalog (objectives/softmax_ce.py, catalog_loss.py), BASRec's
augmentation losses in CE form (objectives/basrec_ce.py, basrec.loss_form), their options, and
leakage canaries for ``loss=ce`` / ``loss=sampled_ce``."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from canary import train_and_test
from hypothesis import given, settings
from hypothesis import strategies as st

from basrec import config
from basrec.data.batches import TrainLoader
from basrec.data.io import read_sequences
from basrec.data.split import LeaveOneOut
from basrec.errors import ConfigError
from basrec.objectives.base import ObjectiveContext, StepRandom, build_objective
from basrec.objectives.basrec_ce import CEForm
from basrec.objectives.catalog_loss import DEFAULT_NEGATIVES, CatalogLoss
from basrec.objectives.losses import Targets, bce_values, next_item_loss
from basrec.objectives.softmax_ce import chunked_softmax_ce, rows_per_chunk
from basrec.train import make_model

TOL = {"rtol": 1e-5, "atol": 1e-5}  # float32 arithmetic against a float64 reference


def dense_targets(labels: torch.Tensor, coef: torch.Tensor, n_classes: int) -> torch.Tensor:
    """(M, T) labels and coefficients as (M, C) label distributions (duplicates add up)."""
    return torch.zeros(labels.shape[0], n_classes, dtype=coef.dtype).scatter_add_(1, labels, coef)


def grads(value: torch.Tensor, upstream: torch.Tensor,
          *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
    return torch.autograd.grad((value.double() * upstream).sum(), inputs)


# ------------------------------------------------------------------ chunked_softmax_ce


@st.composite
def ce_problems(draw: st.DrawFn) -> dict[str, Any]:
    m, d, c = draw(st.integers(1, 9)), draw(st.integers(1, 6)), draw(st.integers(2, 12))
    t = draw(st.integers(1, 3))  # labels per row (soft labels where > 1)
    g = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    coef = torch.rand(m, t, generator=g, dtype=torch.float64) + 0.05
    return {"h": torch.randn(m, d, generator=g, dtype=torch.float64),
            "w": torch.randn(c, d, generator=g, dtype=torch.float64),
            "labels": torch.randint(0, c, (m, t), generator=g),  # duplicates happen
            "coef": coef / coef.sum(1, keepdim=True),
            "upstream": torch.randn(m, generator=g, dtype=torch.float64)}


@settings(max_examples=40, deadline=None)
@given(ce_problems())
def test_chunked_ce_equals_cross_entropy_on_full_logits(p: dict[str, Any]) -> None:
    """Value and gradients (h and w, under any upstream gradient) of F.cross_entropy on the
    (M, C) logits, hard labels and soft ones, for chunks of 1 row, 2 rows, more than M."""
    h = p["h"].requires_grad_(True)
    w = p["w"].requires_grad_(True)
    m, c = h.shape[0], w.shape[0]
    hard = p["labels"][:, 0]
    soft = dense_targets(p["labels"], p["coef"], c)  # (M, C)
    for labels, coef, target in ((hard, None, hard), (p["labels"], p["coef"], soft)):
        ref = F.cross_entropy(h @ w.T, target, reduction="none")  # (M,) float64
        ref_grads = grads(ref, p["upstream"], h, w)
        for rows in (1, 2, m + 3, None):
            got = chunked_softmax_ce(h, w, labels, coef, rows=rows)
            assert got.dtype == torch.float32 and got.shape == (m,)
            torch.testing.assert_close(got.double(), ref, **TOL)
            for g_got, g_ref in zip(grads(got, p["upstream"], h, w), ref_grads, strict=True):
                assert g_got.dtype == torch.float64  # back through .float() to the input's
                torch.testing.assert_close(g_got, g_ref, **TOL)


def test_chunked_ce_in_float32_matches_a_float64_reference_tightly() -> None:
    g = torch.Generator().manual_seed(0)
    h = torch.randn(37, 8, generator=g)
    w = torch.randn(50, 8, generator=g)
    y = torch.randint(0, 50, (37,), generator=g)
    ref = F.cross_entropy(h.double() @ w.double().T, y, reduction="none")
    for rows in (1, 5, 100):
        torch.testing.assert_close(chunked_softmax_ce(h, w, y, rows=rows).double(), ref,
                                   rtol=1e-6, atol=2e-6)


def test_soft_label_ce_by_hand() -> None:
    """W = I, so the logits are h. Row 0: logits (0, 0, 0), labels 0 and 1 with ½ each:
    ℓ = ln 3 − 0. Row 1: logits (0, ln 2, ln 5), Σ e = 8; labels 2 (¾) and 0 (¼):
    ℓ = ln 8 − ¾ ln 5. Gradient w.r.t. h = softmax − y: row 0 (⅓ − ½, ⅓ − ½, ⅓),
    row 1 (⅛ − ¼, 2/8, 5/8 − ¾) = (−⅛, ¼, −⅛)."""
    h = torch.tensor([[0.0, 0.0, 0.0], [0.0, math.log(2), math.log(5)]], requires_grad=True)
    labels = torch.tensor([[0, 1], [2, 0]])
    coef = torch.tensor([[0.5, 0.5], [0.75, 0.25]])
    for rows in (1, 2, 8):
        out = chunked_softmax_ce(h, torch.eye(3), labels, coef, rows=rows)
        expected = torch.tensor([math.log(3), math.log(8) - 0.75 * math.log(5)])
        torch.testing.assert_close(out, expected, rtol=0, atol=1e-6)
        (grad_h,) = torch.autograd.grad(out.sum(), h)
        torch.testing.assert_close(grad_h, torch.tensor([[-1 / 6, -1 / 6, 1 / 3],
                                                         [-0.125, 0.25, -0.125]]),
                                   rtol=0, atol=1e-6)


def test_rows_per_chunk() -> None:
    assert rows_per_chunk(1000, 4096) == 4
    assert rows_per_chunk(3, 10) == 3
    assert rows_per_chunk(10**9, 4096) == 1  # never 0
    assert rows_per_chunk(0, 16) == 16


def test_chunked_ce_of_no_rows() -> None:
    h = torch.zeros(0, 4, requires_grad=True)
    w = torch.randn(5, 4, requires_grad=True)
    out = chunked_softmax_ce(h, w, torch.zeros(0, dtype=torch.long))
    assert out.shape == (0,)
    out.sum().backward()
    assert w.grad is not None and torch.equal(w.grad, torch.zeros(5, 4))


# ------------------------------------------------------------------------- CatalogLoss


def every_item(table: torch.Tensor) -> CatalogLoss:
    """sampled_ce whose negatives are the whole catalog, each once."""
    return CatalogLoss(table, negatives=torch.arange(1, table.shape[0]))


def item_logits(h: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """(M, n_items) logits of items 1..n_items (PAD is never a class), in float64."""
    return h.double() @ table[1:].double().T


@st.composite
def catalog_problems(draw: st.DrawFn) -> dict[str, Any]:
    n_items, d, m = draw(st.integers(2, 10)), draw(st.integers(1, 5)), draw(st.integers(1, 8))
    t = draw(st.integers(1, 3))
    g = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    coef = torch.rand(m, t, generator=g) + 0.05
    return {"h": torch.randn(m, d, generator=g), "table": torch.randn(n_items + 1, d, generator=g),
            "labels": torch.randint(1, n_items + 1, (m, t), generator=g),
            "coef": coef / coef.sum(1, keepdim=True),
            "upstream": torch.randn(m, generator=g, dtype=torch.float64)}


@settings(max_examples=40, deadline=None)
@given(catalog_problems())
def test_sampled_ce_with_every_item_negative_equals_full_ce(p: dict[str, Any]) -> None:
    """Both equal F.cross_entropy over items 1..n (soft labels, duplicates included), in value
    and in the gradients w.r.t. h and the whole table (PAD's row gets none)."""
    h = p["h"].requires_grad_(True)
    table = p["table"].requires_grad_(True)
    labels, coef = p["labels"], p["coef"]
    target = dense_targets(labels - 1, coef.double(), table.shape[0] - 1)
    ref = F.cross_entropy(item_logits(h, table), target, reduction="none")
    ref_grads = grads(ref, p["upstream"], h, table)
    for catalog in (CatalogLoss(table), every_item(table)):
        got = catalog.values(h, labels, coef)
        torch.testing.assert_close(got.double(), ref, **TOL)
        got_grads = grads(got, p["upstream"], h, table)
        for g_got, g_ref in zip(got_grads, ref_grads, strict=True):
            torch.testing.assert_close(g_got.double(), g_ref.double(), **TOL)
        assert torch.equal(got_grads[1][0], torch.zeros_like(got_grads[1][0]))


@pytest.mark.parametrize("labels, coef", [
    ([[2], [4], [1]], None),  # hard labels
    ([[2, 3], [4, 1], [1, 2]], [[0.3, 0.7], [0.5, 0.5], [0.9, 0.1]]),  # two labels
    ([[2, 2], [4, 1], [3, 3]], [[0.3, 0.7], [0.5, 0.5], [0.2, 0.8]]),  # duplicates in a row
], ids=["hard", "two", "duplicate"])
def test_full_and_every_item_catalogs_agree(labels: list[list[int]],
                                            coef: list[list[float]] | None) -> None:
    g = torch.Generator().manual_seed(4)
    table = torch.randn(6, 4, generator=g, requires_grad=True)
    h = torch.randn(3, 4, generator=g, requires_grad=True)
    lab = torch.tensor(labels)
    cf = None if coef is None else torch.tensor(coef)
    out = [c.values(h, lab, cf) for c in (CatalogLoss(table), every_item(table))]
    logits = item_logits(h, table)  # (3, 5)
    y = dense_targets(lab - 1, torch.ones(lab.shape, dtype=torch.float64) if cf is None
                      else cf.double(), 5)
    by_hand = torch.logsumexp(logits, 1) - (logits * y).sum(1)
    for value in out:
        torch.testing.assert_close(value.double(), by_hand, rtol=1e-6, atol=1e-6)
    g_full = torch.autograd.grad(out[0].sum(), (h, table))
    g_every = torch.autograd.grad(out[1].sum(), (h, table))
    for a, b in zip(g_full, g_every, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_sampled_ce_classes_by_hand() -> None:
    """The row's labels once each, the negatives with their multiplicity, a negative equal to a
    label left out. Item logits s = (s1, .., s5) = h·e_i."""
    g = torch.Generator().manual_seed(2)
    table = torch.randn(6, 3, generator=g)
    h = torch.randn(2, 3, generator=g)
    s = item_logits(h, table).tolist()  # (2, 5): column i − 1 is item i
    catalog = CatalogLoss(table, negatives=torch.tensor([3, 5, 5, 2]))
    got = catalog.values(h, torch.tensor([3, 4])).double()
    row0 = math.log(sum(math.exp(s[0][i - 1]) for i in (3, 5, 5, 2))) - s[0][2]  # 3: a label
    row1 = math.log(sum(math.exp(s[1][i - 1]) for i in (4, 3, 5, 5, 2))) - s[1][3]
    torch.testing.assert_close(got, torch.tensor([row0, row1], dtype=torch.float64),
                               rtol=1e-6, atol=1e-6)
    # two labels (λ = 0.25 on item 1, 0.75 on item 5): 5 is a class once, not three times
    soft = catalog.values(h[:1], torch.tensor([[1, 5]]), torch.tensor([[0.25, 0.75]])).double()
    lse = math.log(sum(math.exp(s[0][i - 1]) for i in (1, 5, 3, 2)))
    assert float(soft) == pytest.approx(lse - 0.25 * s[0][0] - 0.75 * s[0][4], abs=1e-6)


def test_lse_without_own_by_hand() -> None:
    g = torch.Generator().manual_seed(3)
    table = torch.randn(8, 4, generator=g)
    h = torch.randn(5, 4, generator=g) * 2
    own = torch.tensor([1, 7, 3, 3, 5])
    logits = item_logits(h, table)  # (5, 7)
    expected = torch.logsumexp(
        logits.scatter(1, own[:, None] - 1, float("-inf")), dim=1)  # every class but own
    for catalog in (CatalogLoss(table), every_item(table)):
        torch.testing.assert_close(catalog.lse_without_own(h, own).double(), expected,
                                   rtol=1e-5, atol=1e-5)
    # a drawn set: only the negatives, the own item left out wherever it was drawn
    drawn = CatalogLoss(table, negatives=torch.tensor([3, 3, 6]))
    want = [math.log(sum(math.exp(logits[r, i - 1]) for i in (3, 3, 6) if i != int(own[r])))
            for r in range(5)]
    torch.testing.assert_close(drawn.lse_without_own(h, own).double(),
                               torch.tensor(want, dtype=torch.float64), rtol=1e-6, atol=1e-6)


def test_create_draws_negatives_from_the_catalog() -> None:
    table = torch.randn(11, 3)
    assert CatalogLoss.create("ce", table).negatives is None
    a = CatalogLoss.create("sampled_ce", table, 500, torch.Generator().manual_seed(1))
    b = CatalogLoss.create("sampled_ce", table, 500, torch.Generator().manual_seed(1))
    assert a.negatives is not None and b.negatives is not None
    assert torch.equal(a.negatives, b.negatives) and a.negatives.shape == (500,)
    assert set(a.negatives.tolist()) == set(range(1, 11))  # never PAD, every item reachable
    default = CatalogLoss.create("sampled_ce", table, None)
    assert default.negatives is not None and default.negatives.shape == (DEFAULT_NEGATIVES,)


def test_next_item_loss_softmax_kinds() -> None:
    class Tiny(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.item_emb = torch.nn.Embedding(7, 4)

    model = Tiny()
    g = torch.Generator().manual_seed(0)
    h = torch.randn(3, 4, generator=g)
    t = Targets.of(torch.tensor([[0, 2, 5], [0, 0, 6]]), torch.tensor([[0, 1, 1], [0, 0, 1]]))
    with torch.no_grad():
        logits = item_logits(h, model.item_emb.weight)
        expected = F.cross_entropy(logits, t.pos - 1)
        got = next_item_loss("ce", model, h, t)  # type: ignore[arg-type]
        assert float(got) == pytest.approx(float(expected), abs=1e-5)
        got = next_item_loss("sampled_ce", model, h, t,  # type: ignore[arg-type]
                             every_item(model.item_emb.weight))
        assert float(got) == pytest.approx(float(expected), abs=1e-5)


# ---------------------------------------------------------------------------- CEForm


def ce_problem(m: int = 6, n_items: int = 7, d: int = 5, seed: int = 0) -> dict[str, Any]:
    g = torch.Generator().manual_seed(seed)
    pos = torch.randint(1, n_items + 1, (m,), generator=g)
    partner = torch.randint(1, n_items + 1, (m,), generator=g)
    partner[partner == pos] = pos[partner == pos] % n_items + 1  # a target of its own
    return {"table": torch.randn(n_items + 1, d, generator=g),
            "h": torch.randn(m, d, generator=g), "pos": pos, "partner": partner}


def plain_ce(h: torch.Tensor, table: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(item_logits(h, table), target - 1, reduction="none")  # (M,) f64


CATALOGS = {"ce": CatalogLoss, "every_item": every_item}


@pytest.mark.parametrize("kind", list(CATALOGS))
def test_ce_form_at_unit_weights_is_plain_ce(kind: str) -> None:
    p = ce_problem()
    h, table, pos = p["h"], p["table"], p["pos"]
    m, d = h.shape
    form = CEForm(CATALOGS[kind](table), pos)
    plain = plain_ce(h, table, pos)
    pos_vec = table[pos]  # Λ = 1: the mixed target is the row's own
    got = {"view": form.view(h),
           "item": form.mixup(h, torch.ones(m, 1), p["partner"], pos_vec, "item", "soft_labels"),
           "linear": form.mixup(h, torch.ones(m, 1), p["partner"], pos_vec, "linear",
                                "soft_labels"),
           **{f"feature-{ff}": form.mixup(h, torch.ones(m, d), p["partner"], pos_vec, "feature",
                                          ff) for ff in ("soft_labels", "mixed_target")}}
    for name, value in got.items():
        torch.testing.assert_close(value.double(), plain, rtol=1e-5, atol=1e-5, msg=name)


@pytest.mark.parametrize("kind", list(CATALOGS))
def test_ce_form_soft_labels_weigh_both_targets(kind: str) -> None:
    """λ = 0: CE to the partner's target; any λ: λ·CE(own) + (1 − λ)·CE(partner) (the
    classes are the same for both); a partner without a target (0) leaves all to the own."""
    p = ce_problem(seed=1)
    h, table, pos, partner = p["h"], p["table"], p["pos"], p["partner"]
    m, d = h.shape
    form = CEForm(CATALOGS[kind](table), pos)
    zero = form.mixup(h, torch.zeros(m, 1), partner, table[partner], "item", "soft_labels")
    torch.testing.assert_close(zero.double(), plain_ce(h, table, partner), rtol=1e-5, atol=1e-5)
    lam = torch.linspace(0.1, 0.9, m)
    mixed = (lam.double() * plain_ce(h, table, pos)
             + (1 - lam.double()) * plain_ce(h, table, partner))
    torch.testing.assert_close(form.soft_labels(h, lam, partner).double(), mixed,
                               rtol=1e-5, atol=1e-5)
    # feature-wise soft labels: λ = mean(Λ)
    big_lam = torch.rand(m, d, generator=torch.Generator().manual_seed(2))
    feature = form.mixup(h, big_lam, partner, table[pos], "feature", "soft_labels")
    torch.testing.assert_close(feature, form.soft_labels(h, big_lam.mean(-1), partner),
                               rtol=1e-6, atol=1e-6)
    no_partner = partner.clone()
    no_partner[::2] = 0
    got = form.mixup(h, lam[:, None], no_partner, table[pos], "item", "soft_labels").double()
    torch.testing.assert_close(got[::2], plain_ce(h, table, pos)[::2], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(got[1::2], mixed[1::2], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", list(CATALOGS))
def test_ce_form_mixed_target_by_hand(kind: str) -> None:
    """ℓ = log(e^{h̃·ẽ} + Σ_{c ≠ own} e^{h̃·e_c}) − h̃·ẽ, ẽ = Λ⊙e⁺ + (1 − Λ)⊙e⁺_p."""
    p = ce_problem(seed=3)
    h, table, pos, partner = p["h"], p["table"], p["pos"], p["partner"]
    m, d = h.shape
    big_lam = torch.rand(m, d, generator=torch.Generator().manual_seed(4))
    pos_mix = big_lam * table[pos] + (1 - big_lam) * table[partner]
    got = CEForm(CATALOGS[kind](table), pos).mixup(h, big_lam, partner, pos_mix, "feature",
                                                   "mixed_target")
    logits = item_logits(h, table)  # (M, n_items)
    s = (h.double() * pos_mix.double()).sum(-1)
    others = logits.scatter(1, pos[:, None] - 1, float("-inf"))
    want = torch.logsumexp(torch.cat([others, s[:, None]], 1), 1) - s
    torch.testing.assert_close(got.double(), want, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------- the BASRec step

TINY = {"hidden_size": 16, "num_layers": 1, "num_heads": 2, "max_seq_length": 12,
        "batch_size": 16, "eval_batch_size": 64, "progress": False}


def setup(path: Path, **overrides: Any) -> tuple[Any, Any, Any, Any]:
    cfg = config.load([], {"dataset": str(path), "model": "sasrec", "objective": "basrec",
                           **TINY, **overrides})
    data = LeaveOneOut(read_sequences(path)[0])
    net = make_model(cfg, data.n_items, torch.device("cpu"))
    obj = build_objective("basrec", cfg.objective_options,
                          ObjectiveContext(cfg, data, torch.device("cpu")))
    loader = TrainLoader(data, data.train_samples("all"), cfg.max_seq_length,
                         cfg.batch_size, cfg.seed)
    return cfg, net, obj, next(iter(loader.epoch(0)))


def step(obj: Any, net: Any, batch: Any, seed: int = 0) -> dict[str, float]:
    torch.manual_seed(seed)
    out = obj(net, batch, StepRandom.create(3, 0, "cpu"))
    return {k: float(v.detach()) for k, v in out.items()}


UNIT = {"dropout": 0.0, "attn_dropout": 0.0, "basrec.ssa_weighting": "none"}


@pytest.mark.parametrize("feature_ce", ["soft_labels", "mixed_target"])
def test_ce_step_at_unit_weights_is_a_multiple_of_the_main_loss(
        tiny_data: Path, monkeypatch: pytest.MonkeyPatch, feature_ce: str) -> None:
    n_pairs, n_whole = 2, 2
    _, net, obj, batch = setup(tiny_data, loss="ce", **UNIT,
                               **{"basrec.n_pairs": n_pairs, "basrec.n_whole_level": n_whole,
                                  "basrec.feature_ce": feature_ce})
    assert obj.ce_form
    monkeypatch.setattr(obj, "beta", lambda rng, shape: torch.ones(shape))
    out = step(obj, net, batch)
    rec = out["rec"]
    assert rec > 0
    assert out["ssa"] == pytest.approx(2 * n_pairs * rec, rel=1e-5)
    assert out["csa"] == pytest.approx(2 * n_whole * rec, rel=1e-5)
    assert out["loss"] == pytest.approx((1 + 2 * n_pairs + 2 * n_whole) * rec, rel=1e-5)
    assert out["sim_both"] == pytest.approx(1.0, abs=1e-5)


def test_loss_form_selection(tiny_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, _, obj, _ = setup(tiny_data, loss="bce")
    assert not obj.ce_form  # auto: BCE under a pairwise loss
    _, _, obj, _ = setup(tiny_data, loss="sampled_ce")
    assert obj.ce_form
    _, net, obj, batch = setup(tiny_data, loss="bce", **{"basrec.loss_form": "ce"})
    assert obj.ce_form and np.isfinite(step(obj, net, batch)["loss"])
    # loss_form=bce under loss=ce: at λ = 1 each view's loss is the BCE of the plain output,
    # i.e. the main loss of the same step under loss=bce (same weights, batch, negatives)
    runs = {}
    for loss in ("ce", "bce"):
        _, net, obj, batch = setup(tiny_data, loss=loss, **UNIT,
                                   **{"basrec.loss_form": "bce", "basrec.cross": False})
        assert not obj.ce_form
        monkeypatch.setattr(obj, "beta", lambda rng, shape: torch.ones(shape))
        runs[loss] = step(obj, net, batch)
    assert np.isfinite(runs["ce"]["loss"])
    assert runs["ce"]["ssa"] == pytest.approx(2 * runs["bce"]["rec"], rel=1e-5)
    assert runs["ce"]["rec"] != pytest.approx(runs["bce"]["rec"], rel=1e-3)


def test_bce_form_main_loss_is_bce(tiny_data: Path) -> None:
    _, net, obj, batch = setup(tiny_data, loss="bce", **UNIT)
    out = step(obj, net, batch)
    t = Targets.of(batch.targets, batch.negatives)
    with torch.no_grad():
        h = t.select(net(batch.inputs))
        want = bce_values(h, net.item_emb(t.pos), net.item_emb(t.neg)).mean()
    assert out["rec"] == pytest.approx(float(want), rel=1e-5)


def test_sampled_ce_steps_are_deterministic(tiny_data: Path) -> None:
    over = {"loss": "sampled_ce", "ce_negatives": 5, "basrec.n_whole_level": 2}
    _, net, obj, batch = setup(tiny_data, **over)
    first = step(obj, net, batch)
    _, net, obj, batch = setup(tiny_data, **over)
    again = step(obj, net, batch)
    assert first == again and all(np.isfinite(v) for v in first.values())
    other = step(obj, net, batch, seed=1)  # other negatives (and dropout) from the torch seed
    assert other["rec"] != first["rec"]


def test_augmentation_negatives_change_the_ssa_loss(tiny_data: Path) -> None:
    base = {"loss": "ce", **UNIT}
    _, net, obj, batch = setup(tiny_data, **base)
    full = step(obj, net, batch)
    sampled = {**base, "basrec.ce_negatives": 3}
    _, net, obj, batch = setup(tiny_data, **sampled)
    out = step(obj, net, batch)
    assert all(np.isfinite(v) for v in out.values())
    assert out["rec"] == pytest.approx(full["rec"], rel=1e-6)  # the main loss keeps full CE
    assert out["ssa"] != pytest.approx(full["ssa"], rel=1e-3)
    assert out["ssa"] < full["ssa"]  # 3 negatives (+ the target) against 40 classes


# -------------------------------------------------------------------- leakage canaries

CANARY_ITEMS = 1000


def random_lists(n_users: int = 200, seed: int = 0) -> list[list[int]]:
    """Sequences of distinct random items: nothing in a user's past predicts the next item."""
    rng = np.random.default_rng(seed)
    return [rng.choice(np.arange(1, CANARY_ITEMS + 1), size=int(rng.integers(6, 10)),
                       replace=False).tolist() for _ in range(n_users)]


def canary_hr10(train_lists: list[list[int]], test_lists: list[list[int]], objective: str,
                loss: str, epochs: int = 12) -> float:
    """SASRec trained on ``train_lists``' training part; test HR@10 on ``test_lists``."""
    settings = {"model": "sasrec", "objective": objective, "loss": loss, "hidden_size": 32,
                "num_layers": 1, "num_heads": 2, "max_seq_length": 12, "dropout": 0.0,
                "attn_dropout": 0.0}
    return train_and_test(train_lists, test_lists, CANARY_ITEMS, settings, epochs)[1]


@pytest.mark.parametrize("objective", ["none", "basrec"])
@pytest.mark.parametrize("loss", ["ce", "sampled_ce"])
def test_softmax_losses_do_not_leak_the_test_item(objective: str, loss: str) -> None:
    """Unpredictable next items: test HR@10 stays near chance (10/1000), below 0.05."""
    lists = random_lists()
    assert canary_hr10(lists, lists, objective, loss) < 0.05


@pytest.mark.parametrize("objective, loss", [("none", "ce"), ("basrec", "sampled_ce")])
def test_leakage_canary_has_teeth(objective: str, loss: str) -> None:
    """The same training, given each test item as a training target (every list extended by
    two items, so its training part is the whole original list), memorises it."""
    lists = random_lists()
    leaky = [s + [1, 2] for s in lists]
    assert canary_hr10(leaky, lists, objective, loss) > 0.5


# ---------------------------------------------------------------------------- config


@pytest.mark.parametrize("bad", [
    {"ce_negatives": 0},
    {"ce_negatives": -2},
    {"objective": "basrec", "basrec.ce_negatives": 0},
    {"sasrec.layout": "foo"},
    {"sasrec.mask_padding_keys": False},
    {"sasrec.layout": "coserec", "sasrec.mask_padding_keys": False},
])
def test_impossible_settings_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        config.load([], {"model": "sasrec", **bad})


def test_new_settings_load() -> None:
    cfg = config.load([], {"loss": "sampled_ce", "ce_negatives": 7, "objective": "basrec",
                           "basrec.ce_negatives": 3, "basrec.feature_ce": "mixed_target",
                           "sasrec.layout": "kang2018", "sasrec.mask_padding_keys": False})
    assert (cfg.loss, cfg.ce_negatives) == ("sampled_ce", 7)
    assert cfg.objective_options.ce_negatives == 3
    assert cfg.model_options.layout == "kang2018" and not cfg.model_options.mask_padding_keys
