"""Handler of ``basrec tune``: hyper-parameter search with Optuna (docs/tuning.md; its options:
``basrec.cli``)."""

from __future__ import annotations

import argparse
import sys

from basrec.errors import BasrecError, UsageError


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
    # looking at a study (--status, --report) reads its storage and run folders, not the data
    looking = (args.status or args.report) and not args.retrain_best
    spec = load_spec(args.file, args.root, trials=args.trials, need_data=not looking)
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
