"""The paper's whole Table 2 (4 datasets × 4 backbones × Base / BASRec × 4 metrics) from the
committed records, the paper's number and our difference beside each cell.

Usage: python lab/scripts/table2_full.py [--results docs/results]

For each dataset it reads ``RESULTS/table2_<dataset>.yaml`` (a records_table.py manifest) where
one exists; a backbone's Base and BASRec cells are the manifest's rows marked ``table2: true``
(the presets' rows) compared with the paper's "Base" and "BASRec" rows, else its first rows
compared with them, as mean over their seeds. A cell is "not
measured" where the dataset has no manifest or the row no record. Each cell reads
``ours (paper, ours vs paper)``; the seeds behind each dataset's cells are listed under the table.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling records_table.py
import records_table  # noqa: E402

from basrec.experiments.report import PAPER_DATASETS, PAPER_MODELS, paper_value  # noqa: E402
from basrec.stats import improvement, mean_std  # noqa: E402

METRICS = ("NDCG@10", "HR@10", "NDCG@20", "HR@20")
DATASET_NAMES = {"beauty": "Beauty", "sports": "Sports", "yelp": "Yelp", "home": "Home"}
ROWS = ("Base", "BASRec")


def preset_rows(manifest: Path) -> dict[tuple[str, str], records_table.Row]:
    """(model, "Base" / "BASRec") → the manifest's row marked ``table2`` for that paper row, else
    its first row compared with it."""
    _, rows = records_table.load_rows(manifest)
    chosen: dict[tuple[str, str], records_table.Row] = {}
    for row in rows:
        if row.paper in ROWS:
            key = (row.model, row.paper)
            if row.table2 and key in chosen and chosen[key].table2:
                raise SystemExit(f"{manifest}: two rows marked table2 for {row.model} "
                                 f"{row.paper}")
            if key not in chosen or (row.table2 and not chosen[key].table2):
                chosen[key] = row
    return chosen


def cell(row: records_table.Row | None, model: str, dataset: str, label: str,
         metric: str) -> str:
    paper = paper_value(model, dataset, label, metric)
    paper_txt = "—" if paper is None else f"{paper:.4f}"
    if row is None or not row.per_seed:
        return f"not measured ({paper_txt})"
    mean, _ = mean_std([row.per_seed[s][metric] for s in sorted(row.per_seed)])
    if paper is None:
        return f"{mean:.4f} (—)"
    return f"{mean:.4f} ({paper_txt}, {improvement(mean, paper):+.1f} %)"


def full_table(results: Path) -> list[str]:
    head = ["dataset", "metric"] + [f"{records_table.NAMES[m]} {label}"
                                    for m in PAPER_MODELS for label in ROWS]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    notes = []
    for dataset in PAPER_DATASETS:
        manifest = results / f"table2_{dataset}.yaml"
        rows = preset_rows(manifest) if manifest.exists() else {}
        for metric in METRICS:
            cells = [DATASET_NAMES[dataset], metric]
            for model in PAPER_MODELS:
                for label in ROWS:
                    cells.append(cell(rows.get((model, label)), model, dataset, label, metric))
            out.append("| " + " | ".join(cells) + " |")
        seeds = [f"{records_table.NAMES[m]} {label}: "
                 f"{', '.join(map(str, sorted(r.per_seed))) or 'none'}"
                 for (m, label), r in sorted(rows.items())]
        notes.append(f"- {DATASET_NAMES[dataset]}: " +
                     ("; ".join(seeds) if seeds else f"no manifest ({manifest.name})"))
    return out + ["", "Seeds behind each cell (mean over them):", *notes]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--results", type=Path, default=Path("docs/results"))
    args = parser.parse_args(argv)
    if not args.results.is_dir():
        print(f"table2_full: {args.results} is not a folder", file=sys.stderr)
        return 2
    print("\n".join(full_table(args.results)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
