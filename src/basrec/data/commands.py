"""CLI sub-commands for data: ``basrec prepare`` and ``basrec data stats``.

Imported by ``basrec.cli`` (``_load_extra_commands``); registers itself in EXTRA_COMMANDS.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from basrec.cli import EXTRA_COMMANDS, UsageError


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def cmd_prepare(args: argparse.Namespace, extra: list[str]) -> int:
    from basrec.data.prepare import prepare, tie_lines

    if extra:
        raise UsageError(f"prepare: unexpected arguments {' '.join(extra)}")
    user_k = args.user_k if args.user_k is not None else args.k_core
    item_k = args.item_k if args.item_k is not None else args.k_core
    result = prepare(args.input, args.out, fmt=args.format, user_col=args.user_col,
                     item_col=args.item_col, time_col=args.time_col, user_k=user_k,
                     item_k=item_k, dedup=args.dedup, force=args.force)
    info = result.prepared.info
    print(f"read {info['rows_read']:,} interactions ({info['users_read']:,} users, "
          f"{info['items_read']:,} items); kept the {user_k}/{item_k}-core "
          f"after {info['kcore_rounds']} round(s)")
    for line in tie_lines(info, timed=result.time_column is not None):
        print(line)
    for line in result.stats.lines():
        print(line)
    for path in result.paths.values():
        print(f"wrote {path}")
    return 0


def cmd_data_stats(args: argparse.Namespace, extra: list[str]) -> int:
    from basrec.data.catalog import resolve_dataset
    from basrec.data.io import read_sequences
    from basrec.data.stats import dataset_stats

    if extra:
        raise UsageError(f"data stats: unexpected arguments {' '.join(extra)}")
    path = resolve_dataset(args.dataset, args.data_dir)
    seqs, _ = read_sequences(path, min_length=1)
    stats = dataset_stats(seqs)
    short = int((seqs.lengths < 3).sum())
    if args.json:
        record: dict[str, Any] = {"path": str(path), **stats.to_dict(),
                                  "users_under_3_items": short}
        print(json.dumps(record, indent=2))
        return 0
    print(f"{'dataset':<12}  {path}")
    for line in stats.lines():
        print(line)
    if short:
        print(f"note: {short:,} users have fewer than 3 items; training skips them")
    return 0


def register(sub: Any) -> None:
    """Add ``prepare`` and ``data`` to the ``basrec`` subparsers."""
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


if register not in EXTRA_COMMANDS:
    EXTRA_COMMANDS.append(register)
