"""Shared fixtures: tiny synthetic datasets, the real data folder (skipped where absent)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("BASREC_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(autouse=True)
def _pin_threads() -> None:
    torch.set_num_threads(1)


def synthetic_lines(n_users: int = 60, n_items: int = 40, seed: int = 0,
                    min_len: int = 5, max_len: int = 14) -> list[str]:
    """Users whose next item is often (item + 1): learnable, so training must beat chance."""
    rng = np.random.default_rng(seed)
    lines = []
    for u in range(1, n_users + 1):
        length = int(rng.integers(min_len, max_len + 1))
        start = int(rng.integers(1, n_items + 1))
        seq = [(start + k - 1) % n_items + 1 for k in range(length)]
        lines.append(" ".join(map(str, [u, *seq])))
    return lines


@pytest.fixture
def tiny_data(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.txt"
    path.write_text("\n".join(synthetic_lines()) + "\n")
    return path


@pytest.fixture
def beauty_path() -> Path:
    path = SHARED_DATA / "Beauty.txt"
    if not path.is_file():
        pytest.skip(f"{path} not available")
    return path
