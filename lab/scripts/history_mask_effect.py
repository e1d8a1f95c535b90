"""How much the original's evaluation quirk moves the metrics of finished runs.

The CoSeRec/BASRec evaluation sets the scores of history items to 0 instead of excluding them
(docs/algorithm.md §1.3; ``history_mask=zero`` here, ``exclude`` by default). A history item
then outranks every item with a negative score, so for an answer that is not in the input the
quirk can only lower a metric, and only where the answer's own score is negative; an answer
that also occurs in the input (Yelp: 6.66 % of test users) is scored 0 itself. This
re-evaluates each run's best checkpoint both ways on the validation and test splits (``basrec
evaluate RUN --history_mask=zero`` does one of them) and writes every metric with the largest
absolute difference, and the metrics on the samples whose answer also occurs in their input.

Usage: python lab/scripts/history_mask_effect.py RUN_DIR [RUN_DIR ...] --data-dir DIR
[--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from basrec.errors import BasrecError
from basrec.inference import evaluate_loaded, load_run
from basrec.metrics import metrics_from_ranks
from basrec.runio import environment

MASKS = ("exclude", "zero")


def repeated_answers(data: Any, samples: Any) -> np.ndarray:
    """(S,) True where a sample's answer also occurs in its input (Yelp's revisits)."""
    items = data.seqs.items
    starts = samples.first(data)
    return np.array([items[e] in items[b:e] for b, e in zip(starts, samples.ends, strict=True)],
                    dtype=bool)


def compare(run: str, split: str, data_dir: str, threads: int) -> dict[str, object]:
    """The run's metrics under both masks, their largest absolute difference, and the share
    of samples whose answer repeats an input item with the metrics on those samples alone."""
    cfg, data, model = load_run(run, "cpu", {"data_dir": data_dir, "threads": threads})
    samples = data.eval_samples(split)
    repeat = repeated_answers(data, samples)
    out: dict[str, object] = {"run": run, "split": split,
                              "repeated_answers": int(repeat.sum()), "samples": len(samples)}
    for mask in MASKS:
        res = evaluate_loaded(cfg, data, model, split, history_mask=mask)
        out[mask] = res.metrics
        if repeat.any():
            out[f"{mask}_on_repeated_answers"] = metrics_from_ranks(res.ranks[repeat], cfg.topk)
    ex, ze = out["exclude"], out["zero"]
    assert isinstance(ex, dict) and isinstance(ze, dict)
    out["max_abs_diff"] = max(abs(ex[k] - ze[k]) for k in ex)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out")
    args = ap.parse_args(argv)
    try:
        rows = [compare(run, split, args.data_dir, args.threads)
                for run in args.runs for split in ("valid", "test")]
    except BasrecError as e:
        sys.exit(f"history_mask_effect: {e}")
    for r in rows:
        ex, ze = r["exclude"], r["zero"]
        assert isinstance(ex, dict) and isinstance(ze, dict)
        print(f"{r['run']} {r['split']}: NDCG@10 {ex['NDCG@10']:.5f} / {ze['NDCG@10']:.5f}, "
              f"HR@10 {ex['HR@10']:.5f} / {ze['HR@10']:.5f}, largest difference "
              f"{r['max_abs_diff']:.2g}; answers repeating an input item: "
              f"{r['repeated_answers']} of {r['samples']}")
    if args.out:
        record = {"date_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                  "env": environment("cpu"), "rows": rows}
        try:
            Path(args.out).write_text(json.dumps(record, indent=1) + "\n")
        except OSError as e:
            sys.exit(f"history_mask_effect: {args.out}: {e.strerror}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
