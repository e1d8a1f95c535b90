"""FMLP-Rec's causal filter (``fmlprec.filter=causal``) and the leaky diagnostic protocol
(``allow_leak``): the filter is the hand-written linear convolution, reads no later column,
trains at every position without leaking the test item (with and without BASRec); the
original circular filter at every position is refused unless asked for, and then leaks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from canary import train_and_test

from basrec import config
from basrec.errors import ConfigError
from basrec.models.fmlprec import FilterBlock
from basrec.train import construction_for, leaky_protocol, make_model, run

ITEMS = 300


def test_causal_filter_is_the_linear_convolution_with_the_circular_filters_response() -> None:
    """g = irFFT(W) is the circular filter's impulse response (X ⊛ g); the causal filter is
    Σ_{k≤t} g_k X_{t−k}, written out here as a loop."""
    torch.manual_seed(0)
    n, d = 8, 3
    circular = FilterBlock(n, d, 0.0, 1e-12, 4, 0.02).double()
    causal = FilterBlock(n, d, 0.0, 1e-12, 4, 0.02, causal=True).double()
    causal.load_state_dict(circular.state_dict())
    x = torch.randn(2, n, d, dtype=torch.float64)
    g = torch.fft.irfft(torch.view_as_complex(circular.weight), n=n, dim=0)  # (N, D)
    wrapped = torch.stack([sum(g[k] * x[:, (t - k) % n] for k in range(n))
                           for t in range(n)], 1)
    linear = torch.stack([sum(g[k] * x[:, t - k] for k in range(t + 1)) for t in range(n)], 1)
    torch.testing.assert_close(circular._filter(x), wrapped)
    torch.testing.assert_close(causal._filter(x), linear)


@pytest.mark.parametrize("t", [0, 3, 10])
def test_causal_fmlprec_output_at_t_ignores_later_items(t: int) -> None:
    cfg = config.load([], {"model": "fmlprec", "fmlprec.filter": "causal",
                           "max_seq_length": 12, "hidden_size": 16, "num_layers": 2})
    net = make_model(cfg, 50, torch.device("cpu")).eval()
    assert net.causal
    g = torch.Generator().manual_seed(t)
    ids = torch.randint(1, 51, (4, 12), generator=g)  # (B, N)
    later = ids.clone()
    later[:, t + 1 :] = torch.randint(1, 51, later[:, t + 1 :].shape, generator=g)
    with torch.no_grad():
        h = net.encode(net.embed(ids), ids)  # (B, N, D)
        h_later = net.encode(net.embed(later), later)
    torch.testing.assert_close(h[:, : t + 1], h_later[:, : t + 1])
    if t + 1 < 12:
        assert not torch.allclose(h[:, t + 1 :], h_later[:, t + 1 :])


def test_every_position_training_of_the_circular_filter_needs_allow_leak() -> None:
    cfg = config.load([], {"model": "fmlprec", "construction": "all"})
    net = make_model(cfg, 20, torch.device("cpu"))
    with pytest.raises(ConfigError, match="allow_leak=true"):
        construction_for(cfg, net)
    leaky = cfg.replace(allow_leak=True)
    assert construction_for(leaky, net) == "all" and leaky_protocol(leaky, net)
    causal = config.load([], {"model": "fmlprec", "fmlprec.filter": "causal"})
    causal_net = make_model(causal, 20, torch.device("cpu"))
    assert construction_for(causal, causal_net) == "all"
    assert not leaky_protocol(causal, causal_net)


def test_allow_leak_and_the_causal_filter_leave_existing_run_ids_alone() -> None:
    from basrec.identity import result_keys

    base = config.load([], {"model": "fmlprec"})
    keys = result_keys(base)
    assert "allow_leak" not in keys and "filter" not in keys["fmlprec"]
    assert "allow_leak" in result_keys(base.replace(allow_leak=True))
    causal = config.load([], {"model": "fmlprec", "fmlprec.filter": "causal"})
    assert result_keys(causal)["fmlprec"]["filter"] == "causal"


def test_unknown_filter_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="fmlprec.filter"):
        config.load([], {"model": "fmlprec", "fmlprec.filter": "acausal"})


def random_lists(n_users: int = 300, seed: int = 0) -> list[list[int]]:
    """Unpredictable sequences: no next item can be learnt from the past."""
    rng = np.random.default_rng(seed)
    return [rng.choice(np.arange(1, ITEMS + 1), size=int(rng.integers(6, 10)),
                       replace=False).tolist() for _ in range(n_users)]


def train_fmlprec(lists: list[list[int]], objective: str, overrides: dict[str, object],
                  epochs: int = 10) -> tuple[float, float]:
    """FMLP-Rec trained at every position on ``lists``; (last epoch's mean loss, HR@10)."""
    settings = {"model": "fmlprec", "objective": objective, "construction": "all",
                "hidden_size": 32, "num_layers": 1, "max_seq_length": 12, "dropout": 0.0,
                **overrides}
    return train_and_test(lists, lists, ITEMS, settings, epochs)


@pytest.mark.parametrize("objective", ["none", "basrec"])
def test_causal_filter_at_every_position_does_not_leak_the_test_item(objective: str) -> None:
    """Unpredictable next items: test HR@10 stays near chance (10/300), below 0.05."""
    _, hr10 = train_fmlprec(random_lists(), objective, {"fmlprec.filter": "causal"})
    assert hr10 < 0.05


def test_the_leaky_protocol_leaks() -> None:
    """The circular filter at every position (allow_leak) reads its training targets: on the
    same unpredictable sequences it drives the training loss far below the causal filter's."""
    lists = random_lists()
    causal_loss, _ = train_fmlprec(lists, "none", {"fmlprec.filter": "causal"})
    leaky_loss, _ = train_fmlprec(lists, "none", {"allow_leak": True})
    assert leaky_loss < 0.5 * causal_loss


def test_a_leaky_run_says_so_in_results_json(tiny_data: Path, tmp_path: Path) -> None:
    cfg = config.load([], {"dataset": str(tiny_data), "model": "fmlprec", "epochs": 1,
                           "construction": "all", "allow_leak": True, "hidden_size": 16,
                           "num_layers": 1, "max_seq_length": 10, "progress": False})
    results = run(cfg, tmp_path / "leaky", quiet=True)
    assert results["leaky_protocol"] is True
    plain = run(cfg.replace(allow_leak=False, construction="auto"), tmp_path / "plain",
                quiet=True)
    assert "leaky_protocol" not in plain
