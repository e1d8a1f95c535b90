"""Copy a finished run's small files into docs/results/NAME.json (no checkpoints).

Usage: python lab/scripts/collect_run.py RUN_DIR NAME --command "basrec train ..." [--note TEXT]
[--out FILE.json] (default docs/results/NAME.json) [--reevaluate KEY=VALUE ... --data-dir DIR]
[--partial]

The record holds the command, the date the run finished, the machine (env.json), the fully
resolved config, results.json (with stage 1 where there is one) and the per-epoch validation
curve, so every number in the docs can be traced to the command that produced it.
``--reevaluate history_mask=zero`` also ranks the test split of the run's best checkpoint under
that changed setting (``basrec evaluate RUN --history_mask=zero``) and keeps the metrics under
``reevaluated["history_mask=zero"]``; a manifest row reads them as ``NAME.json:history_mask=zero``.

``--partial`` records a run that has not finished (no results.json): its curve so far, its
finished stage 1 where there is one, ``"partial": true``, ``"results": null`` and the time of
its last epoch, by default in lab/partial/NAME.json (manifests read only finished records). A
long run's evidence is then kept even where its folder is later lost.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path
from typing import Any

import yaml


def curve(run: Path) -> list[dict[str, Any]]:
    rows = []
    path = run / "metrics.jsonl"
    if path.exists():
        for line in path.read_text().splitlines():
            r = json.loads(line)
            rows.append({k: r[k] for k in r
                         if k in ("epoch", "loss", "train_s", "valid_s") or k.startswith("sim_")}
                        | {"valid_NDCG@10": r.get("valid", {}).get("NDCG@10"),
                           "valid_NDCG@20": r.get("valid", {}).get("NDCG@20")})
    return rows


def _utc(path: Path) -> str:
    """The file's modification time, ISO 8601 in UTC."""
    stamp = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.timezone.utc)
    return stamp.isoformat(timespec="seconds")


def reevaluate(run: Path, settings: list[str], data_dir: str | None) -> dict[str, Any]:
    """{"KEY=VALUE": {"command", "test"}}: the test metrics of the run's best checkpoint under
    each changed setting."""
    from basrec.config import parse_override
    from basrec.errors import BasrecError
    from basrec.inference import evaluate_run

    out: dict[str, Any] = {}
    for setting in settings:
        if "=" not in setting:
            raise SystemExit(f"collect_run: --reevaluate {setting}: give KEY=VALUE")
        key, value = parse_override(setting)
        name = f"{key}={setting.split('=', 1)[1].strip()}"  # the key as configs spell it
        overrides = {key: value} | ({"data_dir": data_dir} if data_dir else {})
        command = f"basrec evaluate {run} --{name}" + (f" --data-dir {data_dir}" if data_dir
                                                       else "")
        try:
            out[name] = {"command": command,
                         "test": evaluate_run(run, "test", "cpu", overrides)}
        except BasrecError as e:
            raise SystemExit(f"collect_run: {e}") from None
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run_dir")
    ap.add_argument("name")
    ap.add_argument("--command", required=True)
    ap.add_argument("--note", default="")
    ap.add_argument("--out", help="record to write (default docs/results/NAME.json)")
    ap.add_argument("--reevaluate", action="append", default=[], metavar="KEY=VALUE",
                    help="also test the best checkpoint under this setting (repeatable)")
    ap.add_argument("--data-dir", help="folder holding the run's dataset file now")
    ap.add_argument("--partial", action="store_true",
                    help="record an unfinished run (curve so far; default lab/partial/NAME.json)")
    args = ap.parse_args(argv)
    run = Path(args.run_dir)
    if not (run / "config.yaml").exists():
        raise SystemExit(f"collect_run: {run} is not a run folder (no config.yaml)")
    finished_file = run / "results.json"
    if args.partial == finished_file.exists():
        raise SystemExit(f"collect_run: {run} " + (
            "has finished: record it without --partial" if args.partial
            else "has not finished (no results.json): record it with --partial"))
    if args.partial and args.reevaluate:
        raise SystemExit("collect_run: --reevaluate needs a finished run")
    record: dict[str, Any] = {"name": args.name, "command": args.command, "note": args.note}
    rows = curve(run)
    if args.partial:
        last = run / "metrics.jsonl"
        record |= {"partial": True,
                   "updated_utc": _utc(last if last.exists() else run / "config.yaml"),
                   "last_epoch": rows[-1]["epoch"] if rows else None}
    else:
        record["finished_utc"] = _utc(finished_file)
    record |= {
        "env": json.loads((run / "env.json").read_text()),
        "config": yaml.safe_load((run / "config.yaml").read_text()),
        "results": None if args.partial else json.loads(finished_file.read_text()),
        "curve": rows,
    }
    stage1 = run / "stage1"
    if stage1.is_dir() and (stage1 / "results.json").exists():
        record["stage1"] = {"results": json.loads((stage1 / "results.json").read_text()),
                            "env": json.loads((stage1 / "env.json").read_text()),
                            "curve": curve(stage1)}
    if args.reevaluate:
        record["reevaluated"] = reevaluate(run, args.reevaluate, args.data_dir)
    root = Path(__file__).resolve().parents[2]
    out = Path(args.out) if args.out else (
        root / ("lab/partial" if args.partial else "docs/results") / f"{args.name}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1) + "\n")
    print(out)


if __name__ == "__main__":
    main()
