"""Mixed precision for training steps (``--amp=bf16`` or ``--amp=fp16``).

The forward pass and the losses run under ``torch.autocast``: matrix products in bfloat16
(CPU and CUDA; this project's CPU has AVX512-BF16, where a bfloat16 product is several times
faster, docs/performance.md) or float16 (CUDA only, with dynamic loss scaling through
``torch.amp.GradScaler``). Weights, gradients and the optimizer stay in float32; the per-position
losses are computed in float32 (objectives/losses.py). Evaluation never uses autocast: ranking
12,000 items by bfloat16 scores would create ties that change the metrics.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import torch

from basrec.errors import ConfigError

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass
class Precision:
    """What a training step needs: a context for the forward pass and a scaler (fp16 only)."""

    autocast: Callable[[], AbstractContextManager[Any]]
    scaler: torch.amp.GradScaler | None

    def step(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer,
             before_step: Callable[[], None] | None = None) -> None:
        """Backward and optimizer step (gradients zeroed by the caller); ``before_step`` runs
        between them (the gradient average of data-parallel training). With fp16 the loss is
        scaled and a step whose gradients hold inf/NaN is skipped, on every process alike
        since the gradients are averaged first."""
        (loss if self.scaler is None else self.scaler.scale(loss)).backward()
        if before_step is not None:
            before_step()
        if self.scaler is None:
            optimizer.step()
        else:
            self.scaler.step(optimizer)
            self.scaler.update()


def training_precision(amp: str | None, device: torch.device) -> Precision:
    """The precision of ``amp`` (None, ``bf16`` or ``fp16``) on ``device``; fp16 on a device
    other than CUDA and any amp on a device autocast does not support are ConfigErrors."""
    if amp is None:
        return Precision(contextlib.nullcontext, None)
    if amp not in DTYPES:
        raise ConfigError(f"amp: {amp!r} is not one of {', '.join(DTYPES)}")
    if amp == "fp16" and device.type != "cuda":
        raise ConfigError(f"amp: fp16 needs a CUDA device (this run's is {device.type}); "
                          "use --amp=bf16")
    if device.type not in ("cpu", "cuda"):
        raise ConfigError(f"amp: mixed precision is supported on cpu and cuda, not "
                          f"{device.type}")
    dtype = DTYPES[amp]
    scaler = _cuda_grad_scaler() if amp == "fp16" else None

    def autocast() -> AbstractContextManager[Any]:
        return torch.autocast(device_type=device.type, dtype=dtype)

    return Precision(autocast, scaler)


def _cuda_grad_scaler() -> torch.amp.GradScaler:
    """``torch.amp.GradScaler("cuda")`` (torch ≥ 2.3), or the older CUDA class (2.1, 2.2)."""
    if hasattr(torch.amp, "GradScaler"):
        return torch.amp.GradScaler("cuda")
    return torch.cuda.amp.GradScaler()  # pragma: no cover - torch < 2.3 only

