"""Dataset statistics as in the BASRec paper's Table 1."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from basrec.data.io import Sequences


@dataclass(frozen=True)
class DatasetStats:
    """Table 1 figures; ``items`` counts the distinct items that occur."""

    users: int
    items: int
    interactions: int
    avg_length: float  # interactions / users
    sparsity: float  # 1 - interactions / (users * items), a fraction
    min_length: int
    max_length: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self) -> list[str]:
        """The figures as aligned ``name value`` lines (Table 1 rounding)."""
        rows = [
            ("users", f"{self.users:,}"),
            ("items", f"{self.items:,}"),
            ("interactions", f"{self.interactions:,}"),
            ("avg. length", f"{self.avg_length:.1f}"),
            ("sparsity", f"{self.sparsity * 100:.2f}%"),
            ("length range", f"{self.min_length}-{self.max_length}"),
        ]
        width = max(len(name) for name, _ in rows)
        return [f"{name:<{width}}  {value}" for name, value in rows]


def dataset_stats(seqs: Sequences) -> DatasetStats:
    """Users, distinct items, interactions, average length and sparsity of ``seqs``."""
    users = seqs.n_users
    interactions = int(seqs.items.size)
    items = int(np.unique(seqs.items).size)
    lengths = seqs.lengths
    cells = users * items
    return DatasetStats(
        users=users,
        items=items,
        interactions=interactions,
        avg_length=interactions / users if users else 0.0,
        sparsity=1.0 - interactions / cells if cells else 1.0,
        min_length=int(lengths.min()) if users else 0,
        max_length=int(lengths.max()) if users else 0,
    )
