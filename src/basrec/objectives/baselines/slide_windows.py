"""Slide windows (SW), a heuristic baseline of the paper's Table 3 (algorithm.md §4.3, after Caser,
Tang & Wang 2018): every window of w = L + T = 8 consecutive items of a user's training part
z = s[:-2] becomes one extra training sequence (input window[:-1], targets window[1:], the
backbone's usual loss at every position), beside the user's own sequence. Users with fewer
than w training items are unchanged (most of them: the median Beauty sequence has 3).

The windows are fixed sample descriptors (user, first item, end), built once; negatives are
redrawn every epoch as for any sample. Windows need the all-position construction (a causal
backbone); a backbone trained on prefixes (FMLP-Rec) already sees every window's targets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from basrec.data.io import ragged_positions
from basrec.data.split import LeaveOneOut, Samples
from basrec.errors import ConfigError
from basrec.objectives.plain import Plain
from basrec.registry import OBJECTIVES


@dataclass(frozen=True)
class SlideWindowOptions:
    width: int = 8  # w = L + T (Caser's L 5, T 3)

    def validate(self) -> None:
        if self.width < 2:
            raise ConfigError("sw.width must be at least 2 (an input and a target)")


def window_samples(data: LeaveOneOut, width: int) -> Samples:
    """Every window z[j : j + width] of each user's training part z = s[:-2]."""
    z_len = data.seqs.lengths - 2
    n_windows = np.maximum(z_len - width + 1, 0)
    users, begins = ragged_positions(data.starts, n_windows)
    return Samples(users.astype(np.int64), begins + width - 1, False, begins)


@OBJECTIVES.register("sw", options=SlideWindowOptions)
class SlideWindows(Plain):
    def train_samples(self, data: LeaveOneOut, construction: str) -> Samples:
        if construction != "all":
            raise ConfigError(f"sw (slide windows) needs construction 'all', not "
                              f"{construction!r}: use a causal backbone")
        return data.train_samples("all").concat(window_samples(data, self.width), data)

    def __init__(self, options: SlideWindowOptions, context: object) -> None:
        super().__init__(options, context)  # type: ignore[arg-type]
        self.width = options.width
