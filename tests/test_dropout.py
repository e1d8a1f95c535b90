"""The CPU dropout (models/dropout.py): nn.Dropout's law and interface, a cheaper mask."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from basrec.models.dropout import Dropout
from basrec.registry import MODELS
from tests.test_backbones import SPEC, make


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
    assert SPEC.dropout > 0
    # NextItNet has dropout only on its embeddings, and only when asked
    extra = {"embedding_dropout": True} if name == "nextitnet" else {}
    model = make(name, extra)
    plain = [m for m in model.modules() if type(m) is nn.Dropout]
    assert not plain, f"{name} uses nn.Dropout: {plain}"
    ours = [m for m in model.modules() if isinstance(m, Dropout)]
    assert ours and all(m.p == SPEC.dropout or m.p == SPEC.attn_dropout for m in ours), name
