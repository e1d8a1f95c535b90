"""The ``basrec`` command line: train, evaluate, recommend, prepare, data stats.

Bad input (an unknown option, a malformed file, an impossible setting) prints one line to
stderr and exits with status 2; no traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from basrec.errors import BasrecError


class UsageError(BasrecError):
    pass


class Parser(argparse.ArgumentParser):
    """argparse that reports a usage problem in one line (via UsageError)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


def split_overrides(extra: list[str]) -> dict[str, Any]:
    """``--key=value`` / ``--key value`` / ``--section.key=value`` → {key: parsed value}."""
    from basrec.config import parse_override

    out: dict[str, Any] = {}
    i = 0
    while i < len(extra):
        token = extra[i]
        if not token.startswith("--") or token == "--":
            raise UsageError(f"unexpected argument {token!r} (options look like --key=value)")
        body = token[2:]
        if "=" not in body:
            if i + 1 < len(extra) and not extra[i + 1].startswith("--"):
                body = f"{body}={extra[i + 1]}"
                i += 1
            else:
                body = f"{body}=true"
        key, value = parse_override(body)
        out[key] = value
        i += 1
    return out


def config_from_args(args: argparse.Namespace, extra: list[str]) -> Any:
    from basrec import config

    overrides = split_overrides(extra)
    for key in ("dataset", "model", "objective", "init_from", "data_dir"):
        value = getattr(args, key, None)
        if value is not None:
            overrides[key] = value
    return config.load(args.config or [], overrides)


def cmd_train(args: argparse.Namespace, extra: list[str]) -> int:
    from basrec.distributed import from_environment
    from basrec.runio import check_out_dir
    from basrec.train import run

    check_out_dir(args.out)
    cfg = config_from_args(args, extra)
    results = run(cfg, args.out)
    if from_environment().is_main:
        print_table(results)
    return 0


def print_table(results: dict[str, Any]) -> None:
    rows = []
    if "stage1" in results:
        rows.append(("base (stage 1)", results["stage1"]["test"]))
    rows.append(("test", results["test"]))
    keys = [k for k in ("HR@5", "HR@10", "HR@20", "NDCG@5", "NDCG@10", "NDCG@20", "MRR")
            if k in results["test"]]
    width = max(len(r[0]) for r in rows)
    print(f"{'':{width}}  " + "  ".join(f"{k:>8}" for k in keys))
    for name, metrics in rows:
        print(f"{name:{width}}  " + "  ".join(f"{metrics[k]:8.4f}" for k in keys))


def _data_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """``--dataset`` / ``--data-dir`` of evaluate and recommend: where a moved dataset is."""
    return {key: getattr(args, key) for key in ("dataset", "data_dir")
            if getattr(args, key, None) is not None}


def cmd_evaluate(args: argparse.Namespace, extra: list[str]) -> int:
    from basrec.inference import evaluate_run

    overrides = split_overrides(extra)  # e.g. --history_mask=zero, --gru4rec.pad_steps=skip
    overrides.update(_data_overrides(args))
    metrics = evaluate_run(args.run_dir, split=args.split, device=args.device,
                           overrides=overrides)
    print(json.dumps(metrics, indent=2))
    return 0


def cmd_recommend(args: argparse.Namespace, extra: list[str]) -> int:
    from basrec.inference import recommend_run

    if extra:
        raise UsageError(f"recommend: unexpected arguments {' '.join(extra)}")
    recommend_run(args.run_dir, k=args.k, users=args.users, output=args.output,
                  device=args.device, include_history=args.include_history, ids=args.ids,
                  overrides=_data_overrides(args))
    return 0


def _add_data_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", help="the run's dataset file where it has moved since "
                   "training (default: the file recorded in the run's dataset.json); it must "
                   "be the same file (sha256)")
    p.add_argument("--data-dir", dest="data_dir", help="folder holding the run's dataset "
                   "file now (checked the same way)")


def build_parser() -> Parser:
    parser = Parser(prog="basrec", description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", parser_class=Parser)

    train = sub.add_parser("train", help="train a backbone, alone or with an objective")
    train.add_argument("--dataset", help="catalog name (beauty, sports, yelp, home) or a file")
    train.add_argument("--model", help="backbone name (e.g. sasrec)")
    train.add_argument("--objective", help="training objective: none (default), basrec, or a "
                       "baseline (ran, ran_s, sw, cmr, cmrsi, cl4srec, asrep, diffuasr)")
    train.add_argument("--out", required=True, help="run directory")
    train.add_argument("--config", action="append", help="YAML config file (repeatable)")
    train.add_argument("--init-from", dest="init_from", help="finished stage-1 run to reuse")
    train.add_argument("--data-dir", dest="data_dir", help="folder holding dataset files")
    train.set_defaults(func=cmd_train)

    ev = sub.add_parser("evaluate", help="re-evaluate a run's best checkpoint "
                        "(--key=value re-evaluates under a changed setting)")
    ev.add_argument("run_dir", help="a finished run folder (basrec train --out)")
    ev.add_argument("--split", choices=("valid", "test"), default="test",
                    help="the split to rank (default: test)")
    ev.add_argument("--device", default=None, help="cpu, cuda, cuda:1, ... (default: the run's "
                    "device setting; auto: cuda if available, else cpu)")
    _add_data_options(ev)
    ev.set_defaults(func=cmd_evaluate)

    rec = sub.add_parser("recommend", help="top-K recommendations from a run's checkpoint")
    rec.add_argument("run_dir", help="a finished run folder (basrec train --out)")
    rec.add_argument("--k", type=int, default=10, help="items per user (default 10)")
    rec.add_argument("--users", nargs="*", help="user ids (default: all)")
    rec.add_argument("--output", help="CSV file to write (default: stdout)")
    rec.add_argument("--device", default=None, help="cpu, cuda, cuda:1, ... (default: the "
                     "run's device setting; auto: cuda if available, else cpu)")
    rec.add_argument("--include-history", action="store_true",
                     help="allow items the user already has")
    rec.add_argument("--ids", choices=("auto", "original", "internal"), default="auto",
                     help="name users and items by the raw log's ids (original: from the id "
                     "maps basrec prepare writes beside the sequence file; auto, the default: "
                     "where those maps exist) or by the sequence file's (internal)")
    _add_data_options(rec)
    rec.set_defaults(func=cmd_recommend)

    for register in EXTRA_COMMANDS:
        register(sub)
    return parser


#: other modules add sub-commands here: each entry receives the subparsers object
EXTRA_COMMANDS: list[Callable[[Any], None]] = []


def _load_extra_commands() -> None:
    import importlib

    for module in ("basrec.data.commands", "basrec.experiment_commands"):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name != module:
                raise


def main(argv: Sequence[str] | None = None) -> int:
    _load_extra_commands()
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(list(argv) if argv is not None else None)
        if args.command is None:
            parser.print_help()
            return 2
        code = int(args.func(args, extra))
        from basrec.distributed import shutdown

        shutdown()
        return code
    except BasrecError as e:
        print(f"basrec: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("basrec: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
