"""Mixed precision (precision.py, ``--amp``): what autocast changes, what it must not, and the
settings it refuses. CPU only here (bfloat16); fp16 needs CUDA (lab/benchmarks/gpu_paths.sh)."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from basrec import config, train
from basrec.errors import ConfigError
from basrec.experiments.plan import identity
from basrec.models.base import ModelSpec, build_model
from basrec.objectives.losses import bce_values, bpr_values
from basrec.precision import training_precision
from basrec.registry import MODELS

CPU = torch.device("cpu")


def tiny_cfg(data: Path, **extra: Any) -> config.RunConfig:
    overrides = dict(dataset=str(data), model="sasrec", hidden_size=8, num_layers=1,
                     num_heads=2, max_seq_length=10, epochs=3, batch_size=16, threads=1,
                     progress=False, eval_batch_size=32)
    overrides.update(extra)
    return config.load([], overrides)


def test_off_by_default_and_no_scaler_for_bf16() -> None:
    assert config.load([], {}).amp is None
    off = training_precision(None, CPU)
    assert off.scaler is None and isinstance(off.autocast(), contextlib.nullcontext)
    assert training_precision("bf16", CPU).scaler is None


@pytest.mark.parametrize("amp, device, message", [
    ("fp16", "cpu", "fp16 needs a CUDA device"),
    ("fp8", "cpu", "'fp8' is not one of bf16, fp16"),
    ("bf16", "mps", "supported on cpu and cuda"),
])
def test_impossible_settings_are_refused(amp: str, device: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        training_precision(amp, torch.device(device))


def test_config_refuses_fp16_on_the_cpu_before_anything_is_written(tiny_data: Path,
                                                                   tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="fp16 needs a CUDA device"):
        tiny_cfg(tiny_data, amp="fp16")
    with pytest.raises(ConfigError, match="amp: 'half' is not one of bf16, fp16"):
        tiny_cfg(tiny_data, amp="half")
    assert tiny_cfg(tiny_data, amp="fp16", device="cuda").amp == "fp16"  # allowed in config
    assert not (tmp_path / "run").exists()


def test_amp_is_part_of_the_run_identity_and_unset_keeps_old_ids(tiny_data: Path) -> None:
    plain = identity(tiny_cfg(tiny_data))
    assert "amp" not in plain  # None is dropped: runs made before the key keep their ids
    assert identity(tiny_cfg(tiny_data, amp=None)) == plain
    assert identity(tiny_cfg(tiny_data, amp="bf16")) == plain | {"amp": "bf16"}


@pytest.mark.parametrize("name", MODELS.names())
def test_bf16_autocast_computes_in_bfloat16_and_leaves_weights_float32(name: str) -> None:
    torch.manual_seed(0)
    model = build_model(name, ModelSpec(n_items=30, max_seq_length=8, hidden_size=16,
                                        num_layers=1, num_heads=2, dropout=0.0,
                                        attn_dropout=0.0, init_range=0.02), None)
    ids = torch.randint(1, 31, (4, 8))
    ids[:2, :3] = 0  # left padding
    with training_precision("bf16", CPU).autocast():
        out = model(ids)  # (4, 8, 16)
        loss = out.float().square().mean()
    loss.backward()
    assert all(p.dtype == torch.float32 for p in model.parameters())
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(g.dtype == torch.float32 and torch.isfinite(g).all() for g in grads)
    with torch.no_grad():
        reference = model(ids)  # (4, 8, 16) float32
    # close to float32 (bfloat16 keeps 8 bits of mantissa) but not equal to it: autocast
    # lowered some matrix products (every backbone has at least a Linear)
    scale = reference.abs().max().item()
    assert (out.float() - reference).abs().max().item() <= 0.05 * scale + 1e-3
    assert not torch.equal(out.float(), reference)


def test_pairwise_losses_are_float32_under_bf16() -> None:
    g = torch.Generator().manual_seed(1)
    h, pos, neg = (torch.randn(6, 8, generator=g) for _ in range(3))
    for fn in (bce_values, bpr_values):
        low = fn(h.bfloat16(), pos.bfloat16(), neg.bfloat16())
        assert low.dtype == torch.float32
        exact = fn(h.bfloat16().float(), pos.bfloat16().float(), neg.bfloat16().float())
        torch.testing.assert_close(low, exact)  # upcast first, then computed in float32


@pytest.mark.parametrize("objective", ["none", "basrec"])
def test_bf16_training_is_finite_deterministic_and_not_the_float32_run(
        tiny_data: Path, tmp_path: Path, objective: str) -> None:
    extra = dict(objective=objective, epochs=2, dropout=0.2, attn_dropout=0.2)
    if objective == "basrec":
        extra["basrec.stage1_epochs"] = 2
    a = train.run(tiny_cfg(tiny_data, amp="bf16", **extra), tmp_path / "a", quiet=True)
    b = train.run(tiny_cfg(tiny_data, amp="bf16", **extra), tmp_path / "b", quiet=True)
    fp32 = train.run(tiny_cfg(tiny_data, **extra), tmp_path / "c", quiet=True)
    assert a["test"] == b["test"]
    losses = [json.loads(line)["loss"]
              for line in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    assert np.all(np.isfinite(losses))
    fp32_losses = [json.loads(line)["loss"]
                   for line in (tmp_path / "c" / "metrics.jsonl").read_text().splitlines()]
    assert losses != fp32_losses  # autocast did change the computation
    assert fp32["test"].keys() == a["test"].keys()
