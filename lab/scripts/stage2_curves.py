"""Stage-2 validation NDCG@10 of committed BASRec records beside the authors' logged run.

Usage: python lab/scripts/stage2_curves.py RECORD.json [RECORD.json ...] [--epochs 0,9,50,101]
       [--png FILE]

The authors' training log gives the validation NDCG@10 of their SASRec + BASRec stage 2 on Beauty
from their released stage-1 checkpoint (0.0402 before training): 0.0420 after epoch 0, 0.0443 after
epoch 9, 0.0525 after epoch 101, best 0.0542 at epoch 153. This prints, per record, its stage 1's
validation NDCG@10, the stage-2 curve at the chosen epochs, its best and where, the epoch the
run selected (NDCG@20) and its test NDCG@10 / HR@10, as one Markdown table. The curve is the
record's ``curve`` (lab/scripts/collect_run.py): one entry per epoch with ``valid_NDCG@10``.
``--png`` also draws every curve with the authors' logged points.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from basrec.experiments.report import paper_value

# the authors' log of SASRec stage 2 from the released stage-1 checkpoint: epoch -> valid NDCG@10
AUTHORS_LOG = {0: 0.0420, 9: 0.0443, 101: 0.0525}
AUTHORS_STAGE1 = 0.0402
AUTHORS_BEST = (0.0542, 153)


def curve_of(record: dict[str, Any]) -> dict[int, float]:
    """Epoch -> validation NDCG@10 from a record's curve."""
    return {int(e["epoch"]): float(e["valid_NDCG@10"]) for e in record.get("curve") or []
            if e.get("valid_NDCG@10") is not None}


def row(name: str, record: dict[str, Any], epochs: list[int]) -> list[str]:
    """One table row: stage 1, the curve at ``epochs``, best (epoch), selected, test."""
    curve = curve_of(record)
    if not curve:
        raise ValueError(f"{name}: no stage-2 validation curve")
    res = record["results"]
    stage1 = res.get("stage1", {}).get("valid", {}).get("NDCG@10")
    best_epoch = max(curve, key=lambda e: curve[e])
    cells = [name, f"{stage1:.4f}" if stage1 is not None else "—"]
    cells += [f"{curve[e]:.4f}" if e in curve else "—" for e in epochs]
    cells += [f"{curve[best_epoch]:.4f} ({best_epoch})", str(res["best_epoch"]),
              f"{res['test']['NDCG@10']:.4f} / {res['test']['HR@10']:.4f}"]
    return cells


def draw(curves: dict[str, dict[int, float]], path: Path) -> None:
    """Every record's validation NDCG@10 over stage-2 epochs, the authors' logged points on top."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for name, curve in curves.items():
        epochs = sorted(curve)
        ax.plot(epochs, [curve[e] for e in epochs], lw=1, label=name)
    logged = {**AUTHORS_LOG, AUTHORS_BEST[1]: AUTHORS_BEST[0]}
    ax.scatter(list(logged), list(logged.values()), color="black", zorder=3,
               label="authors' log")
    ax.set(xlabel="stage-2 epoch", ylabel="validation NDCG@10")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("records", nargs="+", type=Path)
    ap.add_argument("--epochs", default="0,9,50,101", help="stage-2 epochs to show")
    ap.add_argument("--png", type=Path, help="also draw the curves into this PNG")
    args = ap.parse_args(argv)
    try:
        epochs = [int(e) for e in args.epochs.split(",")]
        records = {p.stem: json.loads(p.read_text()) for p in args.records}
        rows = [row(name, record, epochs) for name, record in records.items()]
        if args.png:
            draw({name: curve_of(record) for name, record in records.items()}, args.png)
    except (OSError, ValueError, KeyError) as exc:
        print(f"stage2_curves: {exc}", file=sys.stderr)
        return 1
    head = ["record", "stage 1"] + [f"epoch {e}" for e in epochs]
    head += ["curve's best (epoch)", "selected", "test N@10 / H@10"]
    authors = ["authors' log", f"{AUTHORS_STAGE1:.4f}"]
    authors += [f"{AUTHORS_LOG[e]:.4f}" if e in AUTHORS_LOG else "—" for e in epochs]
    paper = [paper_value("sasrec", "beauty", "BASRec", m) for m in ("NDCG@10", "HR@10")]
    authors += [f"{AUTHORS_BEST[0]:.4f} ({AUTHORS_BEST[1]})", str(AUTHORS_BEST[1]),
                " / ".join(f"{v:.4f}" for v in paper if v is not None) + " (paper)"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for cells in [authors, *rows]:
        print("| " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
