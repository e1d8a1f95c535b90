"""Handlers of ``basrec prepare`` and ``basrec data stats`` (their options: ``basrec.cli``)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from basrec.errors import UsageError


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
