"""The ``basrec`` command line: train and use models, prepare data, run experiments.

Sub-commands: train, evaluate, recommend, config, prepare, data stats, experiment, report
and tune.

Every sub-command and its options are declared here; the handlers of the longer ones live in
``basrec.data.commands``, ``basrec.experiments.commands`` and ``basrec.tune_commands``, imported
when the command runs.

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
from basrec.errors import UsageError as UsageError


class Parser(argparse.ArgumentParser):
    """argparse that reports a usage problem in one line (via UsageError).

    An option's help may be computed when help is shown (``lazy_help``): lists taken from the
    registries, which import torch, cost nothing on the way to running a command."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")

    _lazy: dict[str, Callable[[], str]] | None = None

    def lazy_help(self, dest: str, text: Callable[[], str]) -> None:
        """The help of option ``dest`` is ``text()``, called when help is shown."""
        self._lazy = {**(self._lazy or {}), dest: text}

    def format_help(self) -> str:
        for action in self._actions:
            text = (self._lazy or {}).get(action.dest)
            if text is not None:
                action.help = text()
        return super().format_help()


def objectives_help() -> str:
    """``--objective``'s help: every registered objective (the names its error accepts)."""
    from basrec.registry import OBJECTIVES

    names = [n for n in OBJECTIVES.names() if n not in ("none", "basrec")]
    return f"training objective: none (default), basrec, or a baseline ({', '.join(names)})"


def models_help() -> str:
    from basrec.registry import MODELS

    return f"backbone: {', '.join(MODELS.names())} (default sasrec)"


OVERRIDES_HELP = ("Any config key is also an option: --key=value or --key value (e.g. "
                  "--epochs=50 --lr=0.001), a backbone's or objective's own keys as "
                  "--SECTION.key=value (e.g. --basrec.alpha=0.4); a true/false key alone "
                  "means true (--progress). Later --config files and options win. "
                  "'basrec config --list [--model M] [--objective O]' prints every key with "
                  "its default and meaning.")


def _bool_key(key: str) -> bool | None:
    """Whether config key ``key`` (``section.key`` allowed) is a true/false key; None where
    it is not a known key (the config's own error names it)."""
    import dataclasses
    import typing

    from basrec.config import RunConfig
    from basrec.registry import MODELS, OBJECTIVES

    cls: type = RunConfig
    name = key
    if "." in key:
        section, name = key.split(".", 1)
        if section in MODELS:
            cls = MODELS.get(section).options
        elif section in OBJECTIVES:
            cls = OBJECTIVES.get(section).options
        else:
            return None
    if not dataclasses.is_dataclass(cls):
        return None
    try:
        hints = typing.get_type_hints(cls)
    except (NameError, TypeError):
        return None
    if name not in hints:
        return None
    return set(typing.get_args(hints[name]) or (hints[name],)) - {type(None)} == {bool}


def split_overrides(extra: list[str]) -> dict[str, Any]:
    """``--key=value`` / ``--key value`` / ``--section.key=value`` → {key: parsed value}."""
    from basrec.config import RETIRED_KEYS, parse_override

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
                name = body.replace("-", "_")
                if _bool_key(name) is False:
                    raise UsageError(f"{token} needs a value ({token}=VALUE)")
                body = f"{body}=true"
        key, value = parse_override(body)
        if key in RETIRED_KEYS:
            print(f"basrec: warning: --{key} is retired and has no effect", file=sys.stderr)
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
    from basrec.stages import run

    check_out_dir(args.out)
    cfg = config_from_args(args, extra)
    check_not_raw(cfg.dataset, cfg.data_dir)
    results = run(cfg, args.out)
    if from_environment().is_main:
        print_table(results)
    return 0


def check_not_raw(dataset: str, data_dir: str | None) -> None:
    """A raw interaction log given where a sequence file belongs: a one-line error that says
    to run ``basrec prepare`` first. Other problems are left to the sequence reader."""
    from basrec.data.catalog import CATALOG, resolve_dataset
    from basrec.data.raw import raw_log_reason

    if dataset.lower() in CATALOG:
        return
    try:
        path = resolve_dataset(dataset, data_dir, download=False)
    except BasrecError:
        return
    why = raw_log_reason(path)
    if why is not None:
        raise UsageError(f"{path}: this is a raw interaction log ({why}), not a sequence "
                         f"file; run 'basrec prepare {path} --out FILE.txt' first, then train "
                         f"with --dataset FILE.txt")


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
    from pathlib import Path

    from basrec.inference import evaluate_loaded, load_run
    from basrec.runio import check_out_file
    from basrec.train import save_per_user

    overrides = split_overrides(extra)  # e.g. --history_mask=zero, --gru4rec.pad_steps=skip
    overrides.update(_data_overrides(args))
    if args.per_user is not None:
        check_out_file(args.per_user, replace=args.force)
    cfg, data, model = load_run(args.run_dir, args.device, overrides)
    res = evaluate_loaded(cfg, data, model, args.split)
    if args.per_user is not None:
        save_per_user(Path(args.per_user), res, data)
    print(json.dumps(res.metrics, indent=2))
    return 0


def cmd_config(args: argparse.Namespace, extra: list[str]) -> int:
    from basrec.config import describe_keys

    if extra:
        raise UsageError(f"config: unexpected arguments {' '.join(extra)}")
    if not args.list:
        raise UsageError("config: nothing to do; 'basrec config --list [--model M] "
                         "[--objective O]' prints every key with its default and meaning")
    rows = describe_keys(args.model, args.objective)
    key_w = max(len(r[0]) for r in rows)
    default_w = min(max(len(r[1]) for r in rows), 14)
    print(f"{'key':{key_w}}  {'default':{default_w}}  meaning")
    section = None
    for key, default, meaning in rows:
        head = key.split(".", 1)[0] if "." in key else None
        if head != section:
            print(f"\n--{head}.KEY=VALUE ({head}'s own options):")
            section = head
        print(f"{key:{key_w}}  {default:{default_w}}  {meaning}")
    for name, kind in ((args.model or "sasrec", "backbone"),
                       (args.objective or "none", "objective")):
        if not any(r[0].startswith(name + ".") for r in rows):
            print(f"\n(the {kind} {name} has no options of its own)")
    return 0


def cmd_recommend(args: argparse.Namespace, extra: list[str]) -> int:
    from basrec.inference import recommend_run

    if extra:
        raise UsageError(f"recommend: unexpected arguments {' '.join(extra)}")
    recommend_run(args.run_dir, k=args.k, users=args.users, output=args.output,
                  device=args.device, include_history=args.include_history, ids=args.ids,
                  overrides=_data_overrides(args), force=args.force)
    return 0


def cmd_prepare(args: argparse.Namespace, extra: list[str]) -> int:
    from basrec.data import commands

    return commands.cmd_prepare(args, extra)


def cmd_data_stats(args: argparse.Namespace, extra: list[str]) -> int:
    from basrec.data import commands

    return commands.cmd_data_stats(args, extra)


def cmd_experiment(args: argparse.Namespace, extra: list[str]) -> int:
    from basrec.experiments import commands

    return commands.cmd_experiment(args, extra)


def cmd_report(args: argparse.Namespace, extra: list[str]) -> int:
    from basrec.experiments import commands

    return commands.cmd_report(args, extra)


def cmd_tune(args: argparse.Namespace, extra: list[str]) -> int:
    from basrec import tune_commands

    return tune_commands.cmd_tune(args, extra)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def add_data_commands(sub: Any) -> None:
    """``prepare`` and ``data stats``."""
    from basrec.data.prepare import DEDUP_MODES
    from basrec.data.raw import FORMATS

    prep = sub.add_parser("prepare", help="raw interaction log -> sequence file (k-core, id maps)")
    prep.add_argument("input", help="CSV/TSV, RecBole .inter, Parquet or JSON-lines log "
                      "(optionally .gz)")
    prep.add_argument("--out", required=True, help="sequence file to write")
    prep.add_argument("--user-col", dest="user_col", help="user column (default: detected; "
                      "a RecBole typed header names its columns)")
    prep.add_argument("--item-col", dest="item_col", help="item column (default: detected)")
    prep.add_argument("--time-col", dest="time_col",
                      help="time column (default: detected; 'none': file order)")
    prep.add_argument("--format", choices=FORMATS, default=None,
                      help="input format (default: from the extension or the content)")
    prep.add_argument("--k-core", dest="k_core", type=_positive, default=5,
                      help="minimum interactions per user and per item (default 5)")
    prep.add_argument("--user-k", dest="user_k", type=_positive, help="users' k (default k-core)")
    prep.add_argument("--item-k", dest="item_k", type=_positive, help="items' k (default k-core)")
    prep.add_argument("--dedup", choices=DEDUP_MODES, default="none",
                      help="drop repeated interactions: none (default), consecutive, all")
    prep.add_argument("--force", action="store_true", help="replace existing output files")
    prep.set_defaults(func=cmd_prepare)

    data = sub.add_parser("data", help="dataset utilities")
    data_sub = data.add_subparsers(dest="data_command", parser_class=type(data), required=True,
                                   metavar="{stats}")
    stats = data_sub.add_parser("stats", help="Table 1 statistics of a dataset")
    stats.add_argument("dataset", help="catalog name (beauty, sports, yelp, home) or a file")
    stats.add_argument("--data-dir", dest="data_dir", help="folder holding dataset files")
    stats.add_argument("--json", action="store_true", help="print JSON")
    stats.set_defaults(func=cmd_data_stats)



def add_experiment_commands(sub: Any) -> None:
    """``experiment`` and ``report``."""
    from basrec.config import CHOICES
    from basrec.experiments.report import LAYOUT_TITLES

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
    exp.add_argument("--verbose", action="store_true", help="print every epoch")
    exp.add_argument("--threads", metavar="N",
                     help="torch threads of every run trained, in place of the file's (not part "
                     "of a run's id: a run resumes under any count)")
    exp.add_argument("--status", action="store_true",
                     help="print each run as done, running, partial (last epoch, best "
                     "validation, epochs left) or not started; train nothing")
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
    rep.add_argument("--history_mask", choices=CHOICES["history_mask"],
                     help="score every finished run's test split under this mask (zero: the "
                          "original's scoring), from its best checkpoint; kept in "
                          "RUN/rescored/ for later reports")
    rep.add_argument("--data-dir", dest="data_dir",
                     help="where the runs' data is now, if it moved (with --history_mask)")
    rep.add_argument("--device", default="auto",
                     help="where --history_mask ranks: auto, cpu, cuda[:N], mps (default auto)")
    rep.set_defaults(func=cmd_report)


def add_tune_command(sub: Any) -> None:
    """``tune``."""
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

def _add_data_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", help="the run's dataset file where it has moved since "
                   "training (default: the file recorded in the run's dataset.json); it must "
                   "be the same file (sha256)")
    p.add_argument("--data-dir", dest="data_dir", help="folder holding the run's dataset "
                   "file now (checked the same way)")


def build_parser() -> Parser:
    description = __doc__.splitlines()[0].replace("``", "") if __doc__ else None
    parser = Parser(prog="basrec", description=description)
    sub = parser.add_subparsers(dest="command", parser_class=Parser)

    train = sub.add_parser("train", help="train a backbone, alone or with an objective",
                           description="Train a backbone, alone or with an objective, into a "
                           "run folder (a killed run started again resumes).",
                           epilog=OVERRIDES_HELP)
    train.add_argument("--dataset", help="catalog name (beauty, sports, yelp, home) or a "
                       "sequence file (a raw log: run basrec prepare first)")
    train.add_argument("--model", help="backbone (default sasrec)")
    train.lazy_help("model", models_help)
    train.add_argument("--objective", help="training objective")
    train.lazy_help("objective", objectives_help)
    train.add_argument("--out", required=True, help="run directory")
    train.add_argument("--config", action="append", help="YAML config file (repeatable)")
    train.add_argument("--init-from", dest="init_from", help="finished stage-1 run to reuse")
    train.add_argument("--data-dir", dest="data_dir", help="folder holding dataset files")
    train.set_defaults(func=cmd_train)

    ev = sub.add_parser("evaluate", help="re-evaluate a run's best checkpoint "
                        "(--key=value re-evaluates under a changed setting)",
                        description="Re-evaluate a finished run's best checkpoint; prints "
                        "the metrics as JSON.",
                        epilog="A config key given as --key=value (or --key value) "
                        "re-evaluates under a changed setting that keeps the weights' shapes, "
                        "e.g. --history_mask=zero or --gru4rec.pad_steps=skip. 'basrec config "
                        "--list [--model M] [--objective O]' prints every key with its "
                        "default and meaning.")
    ev.add_argument("run_dir", help="a finished run folder (basrec train --out)")
    ev.add_argument("--split", choices=("valid", "test"), default="test",
                    help="the split to rank (default: test)")
    ev.add_argument("--device", default=None, help="cpu, cuda, cuda:1, ... (default: the run's "
                    "device setting; auto: cuda if available, else cpu)")
    ev.add_argument("--per-user", dest="per_user", metavar="FILE.npz",
                    help="also save each user's rank of the held-out item (users, ranks, "
                    "labels; the format of a run's per_user_test.npz)")
    ev.add_argument("--force", action="store_true", help="replace an existing --per-user file")
    _add_data_options(ev)
    ev.set_defaults(func=cmd_evaluate)

    rec = sub.add_parser("recommend", help="top-K recommendations from a run's checkpoint")
    rec.add_argument("run_dir", help="a finished run folder (basrec train --out)")
    rec.add_argument("--k", type=int, default=10, help="items per user (default 10)")
    rec.add_argument("--users", nargs="*", help="user ids (default: all)")
    rec.add_argument("--output", help="CSV file to write (default: stdout)")
    rec.add_argument("--force", action="store_true", help="replace an existing --output file")
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

    conf = sub.add_parser("config", help="list every config key with its default and meaning",
                          description="Every key train takes (as --key=value or in a YAML "
                          "--config file), with its default and meaning, then the options of "
                          "one backbone and one objective (--SECTION.key=value).")
    conf.add_argument("--list", action="store_true", help="print the keys")
    conf.add_argument("--model", help="backbone whose options to list (default sasrec)")
    conf.lazy_help("model", models_help)
    conf.add_argument("--objective", help="objective whose options to list (default none)")
    conf.lazy_help("objective", objectives_help)
    conf.set_defaults(func=cmd_config)

    add_data_commands(sub)
    add_experiment_commands(sub)
    add_tune_command(sub)
    for register in EXTRA_COMMANDS:
        register(sub)
    return parser


#: sub-commands a plugin adds: each entry receives the subparsers object
EXTRA_COMMANDS: list[Callable[[Any], None]] = []


def main(argv: Sequence[str] | None = None) -> int:
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
    except OSError as e:  # a path that cannot be written or read (a file where a folder goes)
        where = f"{e.filename}: " if e.filename else ""
        print(f"basrec: error: {where}{e.strerror or e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("basrec: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
