"""The CPU dropout (models/dropout.py): nn.Dropout's law and interface, a cheaper mask."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from basrec.models.dropout import Dropout, keep_mask
from basrec.registry import MODELS
from tests.models.test_backbones import BASE, make


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_keeps_each_element_with_probability_one_minus_p_and_scales(p: float) -> None:
    torch.manual_seed(0)
    x = torch.rand(200_000) + 0.5  # no zeros of its own
    y = Dropout(p).train()(x)
    kept = y != 0
    rate = kept.float().mean().item()
    sd = (p * (1 - p) / x.numel()) ** 0.5
    assert abs(rate - (1 - p)) < 5 * sd
    torch.testing.assert_close(y[kept], x[kept] / (1 - p))


def test_gradient_is_the_mask_scaled() -> None:
    torch.manual_seed(1)
    x = torch.randn(64, 8, requires_grad=True)
    y = Dropout(0.3).train()(x)
    y.sum().backward()
    assert x.grad is not None
    expected = (y != 0).float() / 0.7
    torch.testing.assert_close(x.grad, expected)


def test_identity_in_eval_mode_and_at_p_zero_and_zeros_at_p_one() -> None:
    x = torch.randn(5, 7)
    assert torch.equal(Dropout(0.5).eval()(x), x)
    assert torch.equal(Dropout(0.0).train()(x), x)
    assert torch.equal(Dropout(1.0).train()(x), torch.zeros_like(x))


def test_same_seed_same_mask() -> None:
    x = torch.ones(1000)
    torch.manual_seed(3)
    a = Dropout(0.4).train()(x)
    torch.manual_seed(3)
    b = Dropout(0.4).train()(x)
    assert torch.equal(a, b)


@pytest.mark.parametrize("name", MODELS.names())
def test_backbones_use_it(name: str) -> None:
    """Every registered backbone's dropout layers are this one (not nn.Dropout's slow mask)."""
    assert BASE.dropout > 0
    # NextItNet has dropout only on its embeddings, and only when asked
    extra = {"embedding_dropout": True} if name == "nextitnet" else {}
    model = make(name, extra)
    plain = [m for m in model.modules() if type(m) is nn.Dropout]
    assert not plain, f"{name} uses nn.Dropout: {plain}"
    ours = [m for m in model.modules() if isinstance(m, Dropout)]
    assert ours and all(m.p == BASE.dropout or m.p == BASE.attn_dropout for m in ours), name


@pytest.mark.parametrize("p", [0.05, 0.2, 0.5])
def test_every_chunk_of_a_random_word_keeps_with_probability_one_minus_p(p: float) -> None:
    """``keep_mask`` reads four elements from each 64-bit draw: each of the four chunk
    positions, and each pair of neighbours within a word, follows the law (independent)."""
    torch.manual_seed(4)
    n = 400_000
    keep = keep_mask(torch.Size([n]), p, torch.device("cpu")).view(-1, 4).double()  # (n/4, 4)
    sd = (p * (1 - p) / (n / 4)) ** 0.5
    for pos in range(4):
        assert abs(keep[:, pos].mean().item() - (1 - p)) < 5 * sd
    for a, b in ((0, 1), (1, 2), (2, 3), (0, 3)):  # both kept: (1 − p)²
        both = (keep[:, a] * keep[:, b]).mean().item()
        assert abs(both - (1 - p) ** 2) < 5 * sd


def test_keep_mask_rounds_p_to_a_multiple_of_two_to_the_minus_16() -> None:
    """p̂ = round(p·2^16)/2^16: a p below 2^-17 drops nothing; p = 1 drops everything; the
    shape is kept for any element count (not only multiples of four)."""
    cpu = torch.device("cpu")
    assert keep_mask(torch.Size([10_000]), 2.0 ** -18, cpu).all()
    assert not keep_mask(torch.Size([3, 5, 7]), 1.0, cpu).any()
    assert keep_mask(torch.Size([3, 5, 7]), 0.3, cpu).shape == (3, 5, 7)
