"""Compare two runs user by user from their per-user ranks: means and a Wilcoxon signed-rank test.

Usage: python lab/scripts/paired_users.py BASE.npz OTHER.npz [--metrics NDCG@10,HR@10] [--json]

Each file is a run's ``per_user_test.npz`` or the ``--per-user`` file of ``basrec evaluate``
(users, 0-based ranks of the held-out item), so two runs can be compared under a changed
evaluation setting, e.g. the original's scoring of input items:

    basrec evaluate RUN_A --history_mask=zero --per-user a_zero.npz
    basrec evaluate RUN_B --history_mask=zero --per-user b_zero.npz
    python lab/scripts/paired_users.py a_zero.npz b_zero.npz

Users are paired by id; both files must hold the same users.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from basrec.stats import improvement, per_user_metric, per_user_ranks, wilcoxon


def load_ranks(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(users, ranks) sorted by user (``basrec.stats.per_user_ranks``), refused where empty or
    where a user appears twice."""
    try:
        users, ranks = per_user_ranks(path)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise SystemExit(f"{path}: not a per-user ranks file ({e})") from None
    if users.size == 0:
        raise SystemExit(f"{path}: one rank per user needed (no user)")
    if np.unique(users).size != users.size:
        raise SystemExit(f"{path}: a user appears twice")
    return users, ranks


def compare(base: Path, other: Path, metrics: list[str]) -> dict[str, Any]:
    """Per metric: both means, the relative change, the Wilcoxon test over users."""
    users_a, ranks_a = load_ranks(base)
    users_b, ranks_b = load_ranks(other)
    if not np.array_equal(users_a, users_b):
        raise SystemExit(f"{base} and {other} do not hold the same users")
    out: dict[str, Any] = {"base": str(base), "other": str(other), "users": int(users_a.size)}
    for metric in metrics:
        try:
            a, b = per_user_metric(ranks_a, metric), per_user_metric(ranks_b, metric)
        except ValueError as e:
            raise SystemExit(f"--metrics: {e}") from None
        test = wilcoxon(b, a)
        out[metric] = {"base": float(a.mean()), "other": float(b.mean()),
                       "change_pct": improvement(float(b.mean()), float(a.mean())),
                       "wilcoxon_p": None if test is None else test.pvalue,
                       "users_differing": 0 if test is None else test.n}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("base", type=Path)
    ap.add_argument("other", type=Path)
    ap.add_argument("--metrics", default="NDCG@10,HR@10,NDCG@20,HR@20")
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    args = ap.parse_args(argv)
    result = compare(args.base, args.other, args.metrics.split(","))
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    print(f"{result['users']} users; base {args.base}, other {args.other}")
    for metric in args.metrics.split(","):
        r = result[metric]
        p = "—" if r["wilcoxon_p"] is None else f"{r['wilcoxon_p']:.2g}"
        print(f"{metric}: {r['base']:.4f} → {r['other']:.4f} ({r['change_pct']:+.1f} %), "
              f"Wilcoxon p {p} over {r['users_differing']} users that differ")
    return 0


if __name__ == "__main__":
    sys.exit(main())
