"""Handlers of ``experiment`` and ``report`` (their options: ``basrec.cli``)."""

from __future__ import annotations

import argparse
import re
import sys

from basrec.errors import ConfigError, UsageError
from basrec.runio import check_out_dir


def _no_extra(name: str, extra: list[str]) -> None:
    if extra:
        raise UsageError(f"{name}: unexpected arguments {' '.join(extra)}")


def parse_threads(value: str | None) -> int | None:
    """``--threads N``: a whole number >= 0 (0: torch's default), or None where not given."""
    if value is None:
        return None
    if not re.fullmatch(r"[0-9]+", value.strip()):
        raise ConfigError(f"--threads {value!r}: expected a whole number >= 0 "
                          f"(0: torch's default)")
    return int(value)


def cmd_experiment(args: argparse.Namespace, extra: list[str]) -> int:
    from basrec.experiments.plan import parse_only, parse_shard, plan, select_runs
    from basrec.experiments.runner import describe, run_experiment, save_summary, status_lines
    from basrec.experiments.spec import load_spec

    _no_extra("experiment", extra)
    shard = parse_shard(args.shard)
    only = parse_only(args.only)
    threads = parse_threads(args.threads)
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
                             log=log, only=only, threads=threads)
    if not args.dry_run:
        save_summary(outcome)
        print(f"index: {spec.index_path}")
    for line in describe(outcome):
        print(line)
    return 1 if outcome.failed else 0


def cmd_report(args: argparse.Namespace, extra: list[str]) -> int:
    from basrec.experiments.report import write_report

    _no_extra("report", extra)
    if not re.fullmatch(r"(HR|NDCG)@[1-9][0-9]*|MRR", args.metric):
        raise ConfigError(f"--metric {args.metric!r}: expected HR@K, NDCG@K or MRR")
    if args.out is not None:
        check_out_dir(args.out)  # a file where the report's folder goes: refused first
    if args.data_dir is not None and args.history_mask is None:
        raise ConfigError("--data-dir: only with --history_mask (the runs are read, not "
                          "evaluated, otherwise)")
    done = write_report(args.source, args.out, paper=args.paper, layout=args.layout,
                        primary=args.metric, root=args.root, history_mask=args.history_mask,
                        data_overrides={"data_dir": args.data_dir} if args.data_dir else None,
                        device=args.device)
    for _, md, files in done:
        if files:
            for f in files:
                print(f"wrote {f}")
        else:
            sys.stdout.write(md)
    return 0
