"""How sampled softmax draws its negatives (objectives/class_sampler.py): uniform draws as
before, popularity draws from training counts only, and the logQ correction, by hand, as an
invariant and in the limit of many draws."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from basrec import config
from basrec.data.io import Sequences
from basrec.data.split import LeaveOneOut
from basrec.errors import ConfigError
from basrec.experiments.plan import run_id
from basrec.objectives.catalog_loss import CatalogLoss
from basrec.objectives.class_sampler import ClassSampler, train_item_counts

TOL = {"rtol": 1e-5, "atol": 1e-5}


def data_of(lists: list[list[int]]) -> LeaveOneOut:
    return LeaveOneOut(Sequences.from_lists(lists))


def test_train_item_counts_read_the_training_part_only() -> None:
    # training parts s[:-2]: [1, 2], [2], [] ; items 3, 4, 5, 6 are validation / test answers
    counts = train_item_counts(data_of([[1, 2, 3, 4], [2, 2, 5], [6, 3]]))
    assert counts.tolist() == [0, 1, 2, 0, 0, 0, 0]


def test_popularity_probabilities_are_add_one_counts() -> None:
    sampler = ClassSampler.of("popularity", data_of([[1, 2, 3, 4], [2, 2, 5], [6, 3]]), 8)
    assert sampler.probs is not None and sampler.n == 8
    # (count + 1) / Σ: items 1..6 weigh 2, 3, 1, 1, 1, 1 (of 9); PAD never
    want = [0.0, 2 / 9, 3 / 9, 1 / 9, 1 / 9, 1 / 9, 1 / 9]
    torch.testing.assert_close(sampler.probs, torch.tensor(want, dtype=torch.float64))
    log_q = sampler.log_expected_counts(torch.device("cpu"))
    assert log_q is not None
    assert float(log_q[2]) == pytest.approx(math.log(8 * 3 / 9), rel=1e-6)
    assert ClassSampler.of("popularity", data_of([[1, 2, 3]]), 4,
                           logq=False).log_expected_counts(torch.device("cpu")) is None
    assert ClassSampler.of("uniform", data_of([[1, 2, 3]])).log_expected_counts(
        torch.device("cpu")) is None


def test_uniform_draws_are_the_plain_randint_stream() -> None:
    """The default sampler draws exactly what sampled_ce always drew (runs keep their ids and
    their numbers)."""
    table = torch.randn(11, 3)
    got = CatalogLoss.create("sampled_ce", table, ClassSampler(500),
                             torch.Generator().manual_seed(1))
    want = torch.randint(1, 11, (500,), generator=torch.Generator().manual_seed(1))
    assert got.negatives is not None and torch.equal(got.negatives, want)
    assert got.log_q is None


def test_popularity_draws_follow_the_counts() -> None:
    lists = [[1, 2, 3, 9, 9]] * 50 + [[4, 5, 9, 9]]  # item 9 only ever validation / test
    sampler = ClassSampler.of("popularity", data_of(lists), 20000)
    drawn = sampler.draw(10, torch.device("cpu"), torch.Generator().manual_seed(0))
    freq = np.bincount(drawn.numpy(), minlength=10) / 20000
    assert freq[0] == 0 and freq[9] > 0  # never PAD; add-one keeps every item drawable
    # weights 51, 51, 51, 2, 2, 1 (items 6, 7, 8, 9) of 162
    assert freq[1] == pytest.approx(51 / 162, abs=0.015)
    assert freq[4] == pytest.approx(2 / 162, abs=0.005)
    with pytest.raises(ValueError, match="knows 9 items"):
        sampler.draw(12, torch.device("cpu"))


def test_logq_correction_by_hand() -> None:
    """ℓ = log(e^{s_t − c_t} + Σ_{j ≠ t} e^{s_j − c_j}) − (s_t − c_t), c = log(N·q)."""
    g = torch.Generator().manual_seed(5)
    table = torch.randn(6, 3, generator=g)
    h = torch.randn(1, 3, generator=g)
    s = (h.double() @ table.double().T)[0].tolist()  # s[i]: item i's logit (s[0]: PAD)
    log_q = torch.log(torch.tensor([1.0, 0.1, 0.2, 0.3, 0.15, 0.25]) * 3)
    catalog = CatalogLoss(table, negatives=torch.tensor([2, 4, 4]), log_q=log_q)
    c = log_q.double().tolist()
    lse = math.log(math.exp(s[3] - c[3]) + math.exp(s[2] - c[2]) + 2 * math.exp(s[4] - c[4]))
    got = float(catalog.values(h, torch.tensor([3])))
    assert got == pytest.approx(lse - (s[3] - c[3]), abs=1e-5)
    # lse over the classes other than the row's item: only the negatives, corrected
    other = float(catalog.lse_without_own(h, torch.tensor([4])))
    assert other == pytest.approx(s[2] - c[2], abs=1e-5)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(1, 3))
def test_a_constant_correction_changes_nothing(seed: int, t: int) -> None:
    """Equal q for every class (uniform sampling) shifts every logit alike: same loss."""
    g = torch.Generator().manual_seed(seed)
    table = torch.randn(9, 4, generator=g)
    h = torch.randn(5, 4, generator=g)
    labels = torch.randint(1, 9, (5, t), generator=g)
    coef = torch.rand(5, t, generator=g) + 0.1
    coef = coef / coef.sum(1, keepdim=True)
    negatives = torch.randint(1, 9, (7,), generator=g)
    plain = CatalogLoss(table, negatives)
    shifted = CatalogLoss(table, negatives, log_q=torch.full((9,), math.log(7 / 8)))
    torch.testing.assert_close(shifted.values(h, labels, coef), plain.values(h, labels, coef),
                               **TOL)


def other_classes_ce_grad(h: torch.Tensor, table: torch.Tensor,
                          pos: torch.Tensor) -> torch.Tensor:
    """∂/∂h of Σ_rows [log Σ_{c ≠ t} e^{s_c} − s_t]: the limit of sampled softmax with the
    accidental hits left out, as the number of draws grows."""
    h = h.detach().double().requires_grad_(True)
    s = h @ table.double()[1:].T  # (M, n_items)
    own = s.gather(1, pos[:, None] - 1)[:, 0]
    others = torch.logsumexp(s.scatter(1, pos[:, None] - 1, float("-inf")), 1)
    (others - own).sum().backward()
    assert h.grad is not None
    return h.grad


def sampled_grad(h: torch.Tensor, table: torch.Tensor, pos: torch.Tensor,
                 sampler: ClassSampler) -> torch.Tensor:
    h = h.detach().clone().requires_grad_(True)
    catalog = CatalogLoss.create("sampled_ce", table, sampler, torch.Generator().manual_seed(3))
    catalog.values(h, pos).sum().backward()
    assert h.grad is not None
    return h.grad.double()


def test_corrected_popularity_sampling_is_consistent_and_uncorrected_is_not() -> None:
    """With many popularity draws, the logQ-corrected gradient reaches the every-other-class
    softmax's (as uniform draws do); without the correction it stays biased."""
    lists: list[list[int]] = [[1, 1, 1, 1, 2, 7, 7]] * 30 + [[3, 4, 5, 6, 7, 7]]
    data = data_of(lists)
    g = torch.Generator().manual_seed(0)
    table = torch.randn(8, 4, generator=g)
    h = torch.randn(4, 4, generator=g)
    pos = torch.tensor([1, 3, 5, 6])
    want = other_classes_ce_grad(h, table, pos)
    n = 400_000
    errors: dict[str, float] = {}
    for name, sampler in {"uniform": ClassSampler.of("uniform", data, n),
                          "popularity": ClassSampler.of("popularity", data, n),
                          "uncorrected": ClassSampler.of("popularity", data, n, logq=False)
                          }.items():
        got = sampled_grad(h, table, pos, sampler)
        errors[name] = float((got - want).norm() / want.norm())
    assert errors["uniform"] < 0.02 and errors["popularity"] < 0.02, errors
    assert errors["uncorrected"] > 0.1, errors


def test_popularity_needs_sampled_negatives() -> None:
    with pytest.raises(ConfigError, match="ce_sampler=popularity draws sampled negatives"):
        config.load([], {"loss": "ce", "ce_sampler": "popularity"})
    with pytest.raises(ConfigError, match="ce_sampler"):
        config.load([], {"loss": "sampled_ce", "ce_sampler": "zipf"})
    config.load([], {"loss": "sampled_ce", "ce_sampler": "popularity", "ce_logq": False})
    config.load([], {"loss": "ce", "objective": "basrec", "basrec.ce_negatives": 64,
                     "ce_sampler": "popularity"})


def test_default_sampler_keeps_run_identities() -> None:
    cfg = config.load([], {"loss": "sampled_ce"})
    assert run_id(cfg) == run_id(cfg.replace(ce_sampler="uniform", ce_logq=True))
    assert run_id(cfg) != run_id(cfg.replace(ce_sampler="popularity"))


@pytest.mark.parametrize("overrides", [
    {"loss": "sampled_ce", "ce_negatives": 5},
    {"loss": "ce", "basrec.ce_negatives": 5},
], ids=["sampled_ce", "ce_form_negatives"])
def test_popularity_steps_train(tiny_data: Path, overrides: dict[str, Any]) -> None:
    """A BASRec step under popularity negatives: finite, deterministic, and not the uniform
    step."""
    from test_softmax_ce import setup, step

    runs = {}
    for kind in ("uniform", "popularity"):
        _, net, obj, batch = setup(tiny_data, ce_sampler=kind, **overrides,
                                   **{"basrec.n_whole_level": 2})
        runs[kind] = step(obj, net, batch)
        _, net, obj, batch = setup(tiny_data, ce_sampler=kind, **overrides,
                                   **{"basrec.n_whole_level": 2})
        assert step(obj, net, batch) == runs[kind]
    assert all(np.isfinite(v) for v in runs["popularity"].values())
    assert runs["popularity"]["ssa"] != pytest.approx(runs["uniform"]["ssa"], rel=1e-4)


def test_a_ce_form_sampler_leaves_its_stage1_alone() -> None:
    """A CE-form run drawing its augmentation classes by popularity trains from the very
    stage 1 a plain CE run is (its sampler draws nothing there)."""
    from basrec.build import stage1_config

    plain = config.load([], {"loss": "ce"})
    cfg = config.load([], {"loss": "ce", "objective": "basrec", "basrec.ce_negatives": 64,
                           "ce_sampler": "popularity", "ce_logq": False})
    assert run_id(stage1_config(cfg)) == run_id(stage1_config(
        cfg.replace(ce_sampler="uniform", ce_logq=True)))
    assert stage1_config(cfg).ce_sampler == "uniform"
    sampled = config.load([], {"loss": "sampled_ce", "objective": "basrec",
                               "ce_sampler": "popularity"})
    assert stage1_config(sampled).ce_sampler == "popularity"  # its stage 1 samples too
    assert run_id(plain) != run_id(plain.replace(loss="sampled_ce"))
