"""Where a lift comes from: two runs compared user by user within groups of history length.

Usage: python lab/scripts/lift_by_length.py BASE_RUN OTHER_RUN [--edges 6,10,20,50]
           [--metrics NDCG@10,HR@10] [--history_mask zero] [--json OUT] [--command "..."]

A user's history length is the number of items before the test answer (the whole history,
before the model's ``max_seq_length`` window). ``--edges`` cut it into groups
``[min, e1), [e1, e2), ..., [last, max]``. For each group: its users, both runs' mean metric,
the change in %, and a Wilcoxon signed-rank test over the group's users (``basrec.stats``).
Both runs must be finished, on the same data file (their ``dataset.json``). With
``--history_mask`` the ranks are those of ``basrec report --history_mask`` (kept in
``RUN/rescored/``, ranked there where absent).
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from basrec.config import CHOICES
from basrec.data.fingerprint import DatasetFingerprint, read_fingerprint
from basrec.data.io import read_sequences
from basrec.errors import BasrecError
from basrec.stats import improvement, per_user_metric, per_user_ranks, wilcoxon


def ranks_of(run: Path, history_mask: str | None) -> tuple[np.ndarray, np.ndarray]:
    """(users, 0-based test ranks) of a finished run, sorted by user."""
    folder = run
    if history_mask is not None:
        from basrec.experiments.rescore import rescore_run

        _, folder = rescore_run(run, history_mask)
    path = folder / "per_user_test.npz"
    if not path.is_file():
        raise BasrecError(f"{run}: no per_user_test.npz (not a finished run)")
    try:
        return per_user_ranks(path)
    except (OSError, ValueError, KeyError) as e:
        raise BasrecError(f"{path}: not a per-user ranks file ({e})") from None


def data_file(run: Path) -> DatasetFingerprint:
    """The data file the run was trained on (its ``dataset.json``)."""
    recorded = read_fingerprint(run)
    if recorded is None:
        raise BasrecError(f"{run}: no dataset.json (not a run folder, or which data file it "
                          "was trained on is not recorded)")
    return recorded


def history_lengths(recorded: DatasetFingerprint) -> np.ndarray:
    """Items before the test answer, per user row of the data file."""
    seqs, _ = read_sequences(recorded.path)
    return np.diff(np.asarray(seqs.offsets)) - 1  # (n_users,)


def groups(lengths: np.ndarray, edges: list[int]) -> list[tuple[str, np.ndarray]]:
    """(label, mask) per length group; empty groups are left out."""
    lo, hi = int(lengths.min()), int(lengths.max())
    cuts = [lo, *[e for e in edges if lo < e <= hi], hi + 1]
    out = []
    for a, b in zip(cuts[:-1], cuts[1:]):
        mask = (lengths >= a) & (lengths < b)
        if mask.any():
            out.append((f"{a}" if b - a == 1 else f"{a}-{b - 1}", mask))
    return out


def compare(base: Path, other: Path, edges: list[int], metrics: list[str],
            history_mask: str | None = None) -> dict[str, Any]:
    """Per length group and metric: users, both means, change in %, Wilcoxon p."""
    fp_base, fp_other = data_file(base), data_file(other)
    if fp_base.sha256 != fp_other.sha256:
        raise BasrecError(f"{base} and {other} were not trained on the same data file")
    users_a, ranks_a = ranks_of(base, history_mask)
    users_b, ranks_b = ranks_of(other, history_mask)
    if not np.array_equal(users_a, users_b):
        raise BasrecError(f"{base} and {other} do not hold the same users")
    lengths = history_lengths(fp_base)[users_a]  # (U,)
    rows = []
    for label, mask in groups(lengths, edges) + [("all", np.ones_like(lengths, dtype=bool))]:
        row: dict[str, Any] = {"history_length": label, "users": int(mask.sum()),
                               "share_pct": 100.0 * float(mask.mean())}
        for metric in metrics:
            a = per_user_metric(ranks_a[mask], metric)
            b = per_user_metric(ranks_b[mask], metric)
            test = wilcoxon(b, a)
            change = improvement(float(b.mean()), float(a.mean()))  # NaN where the base is 0
            row[metric] = {"base": float(a.mean()), "other": float(b.mean()),
                           "change_pct": None if math.isnan(change) else change,
                           "wilcoxon_p": None if test is None else test.pvalue}
        rows.append(row)
    return {"base": str(base), "other": str(other), "history_mask": history_mask or "as trained",
            "edges": edges, "groups": rows}


def markdown(result: dict[str, Any], metrics: list[str]) -> str:
    head = ["history length", "users (%)"]
    for m in metrics:
        head += [f"base {m}", f"other {m}", "change", "p (W)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in result["groups"]:
        cells = [row["history_length"], f"{row['users']} ({row['share_pct']:.1f} %)"]
        for m in metrics:
            v = row[m]
            change = v["change_pct"]
            p = v["wilcoxon_p"]
            cells += [f"{v['base']:.4f}", f"{v['other']:.4f}",
                      "n/a" if change is None else f"{change:+.1f} %",
                      "n/a" if p is None else f"{p:.1e}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("base", type=Path)
    ap.add_argument("other", type=Path)
    ap.add_argument("--edges", default="6,10,20,50",
                    help="history lengths where a new group starts (default 6,10,20,50)")
    ap.add_argument("--metrics", default="NDCG@10,HR@10")
    ap.add_argument("--history_mask", choices=CHOICES["history_mask"])
    ap.add_argument("--json", type=Path, help="write the comparison as a record here")
    ap.add_argument("--command", help="the command line to keep in the record")
    args = ap.parse_args(argv)
    try:
        edges = sorted({int(e) for e in args.edges.split(",") if e.strip()})
    except ValueError:
        sys.exit(f"--edges {args.edges!r}: expected whole numbers separated by commas")
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    try:
        for m in metrics:
            per_user_metric(np.zeros(1), m)
    except ValueError as e:
        sys.exit(f"--metrics: {e}")
    try:
        result = compare(args.base, args.other, edges, metrics, args.history_mask)
    except BasrecError as e:
        sys.exit(f"lift_by_length: {e}")
    sys.stdout.write(markdown(result, metrics))
    if args.json is not None:
        import torch

        from basrec.runio import write_json

        result.update({"metrics": metrics, "command": args.command,
                       "date": date.today().isoformat(),
                       "env": {"python": platform.python_version(), "torch": torch.__version__,
                               "machine": platform.machine(), "cpu_count": os.cpu_count()}})
        try:
            write_json(args.json, result)
        except OSError as e:
            sys.exit(f"--json {args.json}: cannot write ({e.strerror or e})")


if __name__ == "__main__":
    main()
