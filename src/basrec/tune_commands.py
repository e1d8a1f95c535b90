"""CLI sub-command ``tune``: hyper-parameter search with Optuna (docs/tuning.md).

Imported by ``basrec.cli`` (``_load_extra_commands``); registers itself in EXTRA_COMMANDS.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from basrec.cli import EXTRA_COMMANDS, UsageError
from basrec.errors import BasrecError


def _need_optuna() -> None:
    try:
        import optuna  # noqa: F401
    except ImportError:
        raise BasrecError("basrec tune needs Optuna: pip install 'basrec[tune]'") from None


def cmd_tune(args: argparse.Namespace, extra: list[str]) -> int:
    if extra:
        raise UsageError(f"tune: unexpected arguments {' '.join(extra)}")
    if args.seeds is not None and not args.retrain_best:
        raise UsageError("tune: --seeds goes with --retrain-best")
    _need_optuna()
    from basrec.tune.report import (
        parse_seeds,
        retrain_best,
        retrain_lines,
        status_lines,
        write_study_report,
    )
    from basrec.tune.spec import load_spec
    from basrec.tune.storage import normalise, redact
    from basrec.tune.study import check_index_dir, open_study, optimize

    seeds = parse_seeds(args.seeds or "2024,2025,2026") if args.retrain_best else []
    spec = load_spec(args.file, args.root, trials=args.trials)
    url = normalise(args.storage) if args.storage else spec.default_storage

    def log(message: str) -> None:
        print(message, flush=True)

    if args.status or args.report or args.retrain_best:
        study = open_study(spec, url)
        if args.status:
            for line in status_lines(spec, study):
                print(line)
        if args.retrain_best:
            check_index_dir(spec)
            items = retrain_best(spec, study, seeds, preset=not args.best_only,
                                 quiet=not args.verbose, log=log)
            for line in retrain_lines(spec, items):
                print(line)
            if any(i.error for i in items):
                return 1
        if args.report:
            from pathlib import Path

            md, files = write_study_report(spec, study, Path(args.out) if args.out else None)
            sys.stdout.write("\n".join(md) + "\n")
            for f in files:
                print(f"wrote {f}")
        return 0
    study = optimize(spec, url, workers=args.workers, quiet=not args.verbose, log=log)
    for line in status_lines(spec, study)[-2:]:
        print(line)
    print(f"index: {spec.index_dir / 'experiment.json'}")
    print(f"live view: optuna-dashboard {redact(url).replace('journal:', '')}")
    complete = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    return 0 if complete else 1


def register(sub: Any) -> None:
    """Add ``tune``."""
    tune = sub.add_parser("tune", help="hyper-parameter search with Optuna (resumable, "
                                       "many processes or machines)")
    tune.add_argument("file", help="study YAML (see docs/tuning.md)")
    tune.add_argument("--root", help="runs folder (default: $BASREC_RUNS, else the file's "
                      "root, else ~/basrec-runs)")
    tune.add_argument("--storage", help="sqlite:///PATH (default: sqlite:///ROOT/NAME.db), "
                      "postgresql://USER@HOST/DB or journal:PATH; other machines join by "
                      "running the same command against the same storage")
    tune.add_argument("--workers", type=int, default=1,
                      help="local worker processes (one torch thread each; default 1)")
    tune.add_argument("--trials", type=int, help="the study's number of trials (default: "
                      "the file's 'trials')")
    tune.add_argument("--status", action="store_true",
                      help="print every trial's state; train nothing")
    tune.add_argument("--report", action="store_true",
                      help="best values, the trials table (Markdown, CSV) and PNG plots")
    tune.add_argument("--out", help="folder for --report (default ROOT/experiments/NAME/"
                      "report)")
    tune.add_argument("--retrain-best", dest="retrain_best", action="store_true",
                      help="train the best values at --seeds beside the preset and print "
                           "their test metrics")
    tune.add_argument("--seeds", help="seeds of --retrain-best: 2024,2025,2026 (default) "
                      "or 2024-2026")
    tune.add_argument("--best-only", dest="best_only", action="store_true",
                      help="--retrain-best without the preset (the file's base values)")
    tune.add_argument("--verbose", action="store_true", help="print every epoch")
    tune.set_defaults(func=cmd_tune)


if register not in EXTRA_COMMANDS:
    EXTRA_COMMANDS.append(register)
