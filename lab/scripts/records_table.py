"""Tables over seeds from committed run records (docs/results/*.json), with the paper beside.

Usage: python lab/scripts/records_table.py MANIFEST.yaml [--update DOC.md]

``--update DOC.md`` writes the two tables into DOC.md in place of the two that follow the line
naming this command (the docs' tables are checked against this script's output by the tests).

``basrec report`` reads run folders; some of our cells were trained in folders that no longer
exist here (the GPU runs) or moved between machines mid-run. Each of those has a committed record
(lab/scripts/collect_run.py). A manifest names the records of each row; this prints, per row, the
per-seed values and the mean ± sample std, the change against the row's base in % with a paired
t-test over the seeds both rows have, and the paper's number with our mean's difference to it.

Manifest::

    dataset: beauty
    metrics: [NDCG@10, HR@10]          # optional (default NDCG@10, HR@10, NDCG@20, HR@20)
    rows:
      - {model: sasrec, label: Base, records: [sasrec_beauty_basrec_s2024.json:stage1, ...]}
      - {model: sasrec, label: BASRec, base: Base, records: [sasrec_beauty_basrec_s2024.json]}
      - {model: sasrec, label: "Base, patience 50", paper: Base, records: [...]}

``paper`` names the paper's row to compare with where the label is not one (default: the label).

A record name is relative to the manifest's folder; ``NAME.json:stage1`` takes that record's
stage-1 ("Base") test metrics. The seed comes from the record's config.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from basrec.experiments.report import fmt_value, paper_value
from basrec.runio import atomic_write_text
from basrec.stats import improvement, mean_std, paired_ttest

DEFAULT_METRICS = ("NDCG@10", "HR@10", "NDCG@20", "HR@20")
NAMES = {"sasrec": "SASRec", "gru4rec": "GRU4Rec", "nextitnet": "NextItNet",
         "fmlprec": "FMLP-Rec"}


@dataclass
class Row:
    """One table row: its measured test metrics per seed."""

    model: str
    label: str
    base: str | None
    per_seed: dict[int, dict[str, float]]
    paper: str  # the paper's row this one compares with
    table2: bool = False  # the row the whole Table 2 shows for (model, paper row)


def read_record(folder: Path, ref: str) -> tuple[int, dict[str, float]]:
    """(seed, test metrics) of ``NAME.json``; with ``:stage1``, of its stage 1; with
    ``:KEY=VALUE``, of its re-evaluation under that setting (collect_run.py --reevaluate)."""
    name, _, part = ref.partition(":")
    path = folder / name
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise SystemExit(f"{path}: unreadable record ({e})") from None
    if part not in ("", "stage1") and "=" not in part:
        raise SystemExit(f"{ref}: unknown part {part!r} (':stage1' or ':KEY=VALUE')")
    if record.get("partial") and part != "stage1":
        raise SystemExit(f"{path}: an unfinished run's record (partial), no test metrics")
    try:
        results = record["results"]
        if "=" in part:
            results = (record.get("reevaluated") or {}).get(part)
            if not isinstance(results, dict) or "test" not in results:
                raise SystemExit(f"{path}: no re-evaluation under {part}")
        elif part == "stage1":
            results = (results or {}).get("stage1") or record.get("stage1")
            if not isinstance(results, dict) or "test" not in results:
                raise SystemExit(f"{path}: no stage-1 results")
        return int(record["config"]["seed"]), {k: float(v) for k, v in results["test"].items()}
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise SystemExit(f"{path}: not a run record ({type(e).__name__}: {e})") from None


def load_rows(manifest: Path) -> tuple[dict[str, Any], list[Row]]:
    try:
        spec = yaml.safe_load(manifest.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as e:
        raise SystemExit(f"{manifest}: unreadable manifest ({type(e).__name__})") from None
    if not isinstance(spec, dict) or "dataset" not in spec:
        raise SystemExit(f"{manifest}: a manifest needs 'dataset' and 'rows'")
    rows = []
    for i, entry in enumerate(spec.get("rows") or []):
        if not isinstance(entry, dict) or "model" not in entry or "label" not in entry:
            raise SystemExit(f"{manifest}: row {i + 1} needs 'model', 'label' and 'records'")
        if entry.get("table2") not in (None, True, False):
            raise SystemExit(f"{manifest}: row {i + 1}: table2 must be true or false")
        per_seed: dict[int, dict[str, float]] = {}
        for ref in entry.get("records") or []:
            seed, metrics = read_record(manifest.parent, str(ref))
            if seed in per_seed:
                raise SystemExit(f"{manifest}: row {i + 1} has two records for seed {seed}")
            per_seed[seed] = metrics
        rows.append(Row(str(entry["model"]), str(entry["label"]), entry.get("base"), per_seed,
                        str(entry.get("paper", entry["label"])), entry.get("table2") is True))
    return spec, rows


def _pct(x: float, ref: float) -> str:
    pct = improvement(x, ref)
    return "—" if math.isnan(pct) else f"{pct:+.1f} %"


def table(spec: dict[str, Any], rows: list[Row]) -> list[str]:
    dataset = str(spec["dataset"])
    metrics = tuple(spec.get("metrics") or DEFAULT_METRICS)
    by_key = {(r.model, r.label): r for r in rows}
    head = ["backbone", "row", "seeds", *[f"{m} mean ± std" for m in metrics],
            *[f"{m} vs base (paired t, p)" for m in metrics[:2]],
            *[f"paper {m} (ours vs paper)" for m in metrics[:2]]]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        seeds = sorted(r.per_seed)
        cells = [NAMES.get(r.model, r.model), r.label, ", ".join(map(str, seeds)) or "—"]
        means = {}
        for m in metrics:
            values = [r.per_seed[s][m] for s in seeds]
            mean, std = mean_std(values)
            means[m] = mean
            cells.append("—" if not values else
                         f"{mean:.4f}" if len(values) == 1 else fmt_value(mean, std))
        base = by_key.get((r.model, r.base)) if r.base else None
        for m in metrics[:2]:
            shared = sorted(set(seeds) & set(base.per_seed)) if base else []
            if not base or not shared:
                cells.append("—")
                continue
            ours = [r.per_seed[s][m] for s in shared]
            theirs = [base.per_seed[s][m] for s in shared]
            test = paired_ttest(ours, theirs)
            gain = _pct(mean_std(ours)[0], mean_std(theirs)[0])
            cells.append(f"{gain} ({len(shared)} seed{'s' if len(shared) > 1 else ''}" +
                         (f", p = {test.pvalue:.3g})" if test else ")"))
        for m in metrics[:2]:
            paper = paper_value(r.model, dataset, r.paper, m)
            cells.append("—" if paper is None else
                         f"{paper:.4f}" + ("" if math.isnan(means[m]) else
                                           f" ({_pct(means[m], paper)})"))
        out.append("| " + " | ".join(cells) + " |")
    return out


def per_seed_table(spec: dict[str, Any], rows: list[Row]) -> list[str]:
    metrics = tuple(spec.get("metrics") or DEFAULT_METRICS)[:2]
    seeds = sorted({s for r in rows for s in r.per_seed})
    head = ["backbone", "row", *[f"{s} {m}" for s in seeds for m in metrics]]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [NAMES.get(r.model, r.model), r.label]
        for s in seeds:
            for m in metrics:
                cells.append(f"{r.per_seed[s][m]:.4f}" if s in r.per_seed else "—")
        out.append("| " + " | ".join(cells) + " |")
    return out


def _table_block(lines: list[str], start: int, header: str) -> tuple[int, int]:
    """[first, end) of the first block of ``|`` lines at or after ``start`` whose first line
    starts with ``header``; (-1, -1) where there is none."""
    for i in range(start, len(lines)):
        if lines[i].startswith(header):
            end = i
            while end < len(lines) and lines[end].startswith("|"):
                end += 1
            return i, end
    return -1, -1


def update_doc(doc: Path, command: str, tables: list[list[str]]) -> None:
    """Replace, in ``doc``, the tables printed under the line naming ``command`` (the summary
    table, then the per-seed table) with ``tables``; the file is replaced whole, or not at all."""
    lines = doc.read_text(encoding="utf-8").split("\n")
    at = next((i for i, line in enumerate(lines) if command in line), -1)
    if at < 0:
        raise SystemExit(f"{doc}: no line names `{command}`")
    position = at
    spans = []
    for new in tables:
        first, end = _table_block(lines, position, new[0].split(" |")[0] + " | row |")
        if first < 0:
            raise SystemExit(f"{doc}: no table after `{command}` to replace")
        spans.append((first, end, new))
        position = end
    for first, end, new in reversed(spans):
        lines[first:end] = new
    atomic_write_text(doc, "\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("manifest", type=Path)
    parser.add_argument("--update", type=Path, metavar="DOC",
                        help="replace the two tables under this command's line in DOC")
    args = parser.parse_args(argv)
    for path in (args.manifest, args.update):
        if path is not None and not path.is_file():
            print(f"{path}: no such file", file=sys.stderr)
            return 2
    spec, rows = load_rows(args.manifest)
    if args.update:
        command = f"python lab/scripts/records_table.py {args.manifest.as_posix()}"
        update_doc(args.update, command, [table(spec, rows), per_seed_table(spec, rows)])
        print(f"{args.update}: tables of {args.manifest} updated")
        return 0
    print("\n".join(table(spec, rows)))
    print()
    print("\n".join(per_seed_table(spec, rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
