"""CLI sub-commands: ``experiment``, ``report``, ``plot`` and ``analyze-similarity``.

Imported by ``basrec.cli`` (``_load_extra_commands``); registers itself in EXTRA_COMMANDS.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from basrec.cli import EXTRA_COMMANDS, UsageError


def _no_extra(name: str, extra: list[str]) -> None:
    if extra:
        raise UsageError(f"{name}: unexpected arguments {' '.join(extra)}")


def cmd_experiment(args: argparse.Namespace, extra: list[str]) -> int:
    from basrec.experiment import (
        describe,
        load_spec,
        parse_only,
        parse_shard,
        plan,
        run_experiment,
        save_summary,
        select_runs,
        status_lines,
    )

    _no_extra("experiment", extra)
    shard = parse_shard(args.shard)
    only = parse_only(args.only)
    spec = load_spec(args.file, args.root)
    if args.status:
        the_plan = plan(spec)
        runs = select_runs(the_plan.shard(*shard), only or {}, the_plan.by_id())
        for line in status_lines(the_plan, runs):
            print(line)
        return 0

    def log(message: str) -> None:
        print(message, flush=True)

    outcome = run_experiment(spec, shard=shard, dry_run=args.dry_run, quiet=not args.verbose,
                             log=log, only=only)
    if not args.dry_run:
        save_summary(outcome)
        print(f"index: {spec.index_path}")
    for line in describe(outcome):
        print(line)
    return 1 if outcome.failed else 0


def cmd_report(args: argparse.Namespace, extra: list[str]) -> int:
    from basrec.report import write_report

    _no_extra("report", extra)
    done = write_report(args.source, args.out, paper=args.paper, layout=args.layout,
                        primary=args.metric, root=args.root)
    for _, md, files in done:
        if files:
            for f in files:
                print(f"wrote {f}")
        else:
            sys.stdout.write(md)
    return 0


def cmd_plot(args: argparse.Namespace, extra: list[str]) -> int:
    from basrec.plot import plot

    _no_extra("plot", extra)
    for path in plot(args.inputs, args.out, kind=args.kind, metric=args.metric,
                     curve_metric=args.valid_metric):
        print(f"wrote {path}")
    return 0


def cmd_similarity(args: argparse.Namespace, extra: list[str]) -> int:
    from basrec.similarity_analysis import analyze_run, analyze_training_log, format_result

    _no_extra("analyze-similarity", extra)
    if args.over_training:
        result = analyze_training_log(args.run_dir)
    else:
        result = analyze_run(args.run_dir, batches=args.batches, seed=args.seed,
                             device=args.device, positions=args.positions,
                             train_mode=args.train_mode)
    print(json.dumps(result, indent=2) if args.json else format_result(result))
    return 0


def register(sub: Any) -> None:
    """Add ``experiment``, ``report``, ``plot`` and ``analyze-similarity``."""
    from basrec.plot import KINDS
    from basrec.report import LAYOUT_TITLES

    exp = sub.add_parser("experiment", help="run a grid of runs from a YAML file (resumable)")
    exp.add_argument("file", help="experiment YAML (see docs/experiments.md)")
    exp.add_argument("--shard", help="run only shard i of N (i/N, 1-based), whole cells")
    exp.add_argument("--root", help="runs folder (default: $BASREC_RUNS, else the file's "
                     "root, else ~/basrec-runs)")
    exp.add_argument("--only", action="append", metavar="FIELD=VALUE[,VALUE]",
                     help="keep the runs whose dataset, model, objective, label or seed is one "
                     "of the values (repeatable: all must match), plus the stage-1 runs they "
                     "need; a value that is some run's label as written may contain commas")
    exp.add_argument("--dry-run", dest="dry_run", action="store_true",
                     help="list the runs and their state; train nothing")
    exp.add_argument("--status", action="store_true",
                     help="print each run as done, running, partial (last epoch and "
                     "validation metric) or not started; train nothing")
    exp.add_argument("--verbose", action="store_true", help="print every epoch")
    exp.set_defaults(func=cmd_experiment)

    rep = sub.add_parser("report", help="tables (Markdown, CSV) from an experiment or a run")
    rep.add_argument("source", help="experiment YAML, experiment folder, runs root or a run")
    rep.add_argument("--out", help="folder for NAME.md, NAME.csv, NAME-runs.csv "
                                   "(default: print Markdown)")
    rep.add_argument("--paper", action="store_true", help="the paper's numbers beside ours")
    rep.add_argument("--layout", choices=("none", *LAYOUT_TITLES),
                     help="paper table layout (default: the file's 'table')")
    rep.add_argument("--metric", default="NDCG@10", help="metric of the paired tests")
    rep.add_argument("--root", help="runs folder (with a YAML source)")
    rep.set_defaults(func=cmd_report)

    plt = sub.add_parser("plot", help="PNG figures: curves, α and (a, b) sensitivity")
    plt.add_argument("inputs", nargs="+",
                     help="run folders, experiments, a report CSV or run records (docs/results)")
    plt.add_argument("--out", required=True, help="folder for the PNG files")
    plt.add_argument("--kind", choices=KINDS, default="auto",
                     help="which figures (default auto: what the inputs allow)")
    plt.add_argument("--metric", default="NDCG@10", help="test metric of Figures 3-4")
    plt.add_argument("--valid-metric", dest="valid_metric",
                     help="validation metric of the curves (default: the run's)")
    plt.set_defaults(func=cmd_plot)

    sim = sub.add_parser("analyze-similarity",
                         help="Table 6: cosine similarity of augmented to original samples")
    sim.add_argument("run_dir", help="a finished BASRec (or baseline) run folder")
    sim.add_argument("--batches", type=int, default=10, help="training batches to average")
    sim.add_argument("--seed", type=int, default=0, help="seed of the augmentation draws")
    sim.add_argument("--device", default=None, help="cpu, cuda, ... (default: the run's device "
                     "setting)")
    sim.add_argument("--json", action="store_true", help="print JSON instead of a table")
    sim.add_argument("--positions", default="last",
                     help="last (each sample's last column, default) or all (every column of "
                          "the window, padding included)")
    sim.add_argument("--train-mode", action="store_true",
                     help="dropout on, as during training (default: eval mode)")
    sim.add_argument("--over-training", action="store_true",
                     help="average the similarities the run logged at every training step "
                          "(the paper's way) instead of measuring its best checkpoint")
    sim.set_defaults(func=cmd_similarity)


if register not in EXTRA_COMMANDS:
    EXTRA_COMMANDS.append(register)
