"""Pack what paper grids need to go on on a lent GPU machine (lab/benchmarks/gpu_grids.sh).

Usage: python lab/scripts/gpu_carry.py GRID.yaml [GRID.yaml ...] [--out .gpucarry] [--data-dir DIR]
                                   [--limit-mib 60] [--only FIELD=VALUE ...]

Writes OUT/<the runs' folders, relative to here> and OUT/data/ (the grids' dataset files);
``lab/benchmarks/gpu_grids.sh`` copies both into place on the device. What it carries:
- an unfinished run that has started: its whole folder (checkpoints included), to resume;
- a finished run: its small files (results, config, curves), so the grid there skips it, plus
  its best weights where an unfinished BASRec run of the grids starts from it;
- a run that has not started: nothing (it starts there).
``--only`` keeps the runs ``basrec experiment --only`` would train and the stage-1 runs they
start from, finished or not (pair it with the same ``ONLY`` in ``lab/benchmarks/gpu_grids.sh``).
Lock files stay behind. OUT is emptied first. Fails (one line, exit 2) when the whole
exceeds ``--limit-mib`` (the device tool carries 64 MiB with the rest of the working tree).
Name OUT in ``.git/info/exclude`` so that it travels only when carried.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from basrec.data.catalog import resolve_dataset
from basrec.errors import BasrecError
from basrec.experiments.plan import PlannedRun, parse_only, plan, select_runs
from basrec.experiments.spec import load_spec

CHECKPOINTS = ("checkpoint_last.pt", "checkpoint_best.pt")


def files_to_carry(runs: list[PlannedRun]) -> dict[Path, list[Path]]:
    """Run folder → the files of it to carry."""
    stage1_needed = {r.stage1 for r in runs if r.stage1 and not r.finished}
    out: dict[Path, list[Path]] = {}
    for run in runs:
        if not run.dir.is_dir():
            continue
        present = sorted(p for p in run.dir.iterdir() if p.is_file() and p.name != ".basrec.lock")
        if not run.finished:
            out[run.dir] = present
            continue
        keep = [p for p in present if p.name not in CHECKPOINTS]
        if run.id in stage1_needed:
            keep += [p for p in present if p.name == "checkpoint_best.pt"]
        out[run.dir] = keep
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("grids", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=Path(".gpucarry"))
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--limit-mib", type=float, default=60.0)
    parser.add_argument("--only", action="append", metavar="FIELD=VALUE[,VALUE]",
                        help="carry only what these runs need (as basrec experiment --only)")
    args = parser.parse_args(argv)
    try:
        only = parse_only(args.only)
        runs: list[PlannedRun] = []
        datasets: set[Path] = set()
        for grid in args.grids:
            the_plan = plan(load_spec(grid))
            by_id = the_plan.by_id()
            chosen = select_runs(the_plan.runs, only, by_id)
            if only and not chosen:
                raise BasrecError(f"{grid}: --only selects no run of this grid")
            # a chosen run's stage 1 travels even when finished (select_runs leaves finished
            # ones out): there the grid would otherwise train it again
            stage1 = [by_id[r.stage1] for r in chosen if r.stage1 is not None]
            runs += [r for r in chosen + stage1 if r.available]
            datasets |= {resolve_dataset(d, args.data_dir, download=False)
                         for d in the_plan.spec.datasets}
    except BasrecError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    unique = list({r.dir: r for r in runs}.values())
    carry = files_to_carry(unique)
    total = sum(p.stat().st_size for files in carry.values() for p in files)
    total += sum(p.stat().st_size for p in datasets)
    if total > args.limit_mib * 2**20:
        print(f"error: {total / 2**20:.1f} MiB to carry, over --limit-mib {args.limit_mib:g}; "
              f"carry fewer grids", file=sys.stderr)
        return 2
    here = Path.cwd()
    outside = [f for f in carry if not f.resolve().is_relative_to(here)]
    if outside:
        print(f"error: {outside[0]} is not under the current folder {here}", file=sys.stderr)
        return 2
    if args.out.exists():
        shutil.rmtree(args.out)
    for folder, files in carry.items():
        dest = args.out / folder.resolve().relative_to(here)  # OUT/runs/paper/<dataset>/...
        dest.mkdir(parents=True, exist_ok=True)
        for p in files:
            shutil.copy2(p, dest / p.name)
    (args.out / "data").mkdir(parents=True, exist_ok=True)
    for p in datasets:
        shutil.copy2(p, args.out / "data" / p.name)
    for folder, files in sorted(carry.items()):
        kind = "finished" if (folder / "results.json").is_file() else "resume"
        size = sum(p.stat().st_size for p in files) / 2**20
        print(f"{kind:8s} {size:6.1f} MiB  {folder}")
    print(f"{total / 2**20:.1f} MiB in {args.out} (runs/ and data/)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
