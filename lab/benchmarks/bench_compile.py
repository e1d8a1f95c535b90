"""``torch.compile`` (inductor) against eager for the plain and BASRec training steps.

Usage: python lab/benchmarks/bench_compile.py [--models sasrec,gru4rec,nextitnet] [--threads 2]
       [--steps 15] [--out FILE.json]

Each configuration (backbone × plain/BASRec, the Beauty presets' sizes) is built twice from
the same seed: eager, and with the backbone's ``encode`` compiled (``torch.compile(...,
dynamic=True)``: length groups give every step other shapes). Both take the same real
batches, interleaved step by step; the compiled one's first steps (compilation) are timed
apart. Reports median seconds per step, the speed-up, the compilation time, and whether the
two models' losses agree over the timed steps (float rounding aside). Never run it beside
other jobs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import torch
from bench_steps import fp32_step  # the sibling script (lab/benchmarks/ is on sys.path)

from basrec import config
from basrec.objectives.base import ObjectiveContext, StepRandom, build_objective
from basrec.runio import environment
from basrec.train import load_data, make_model, training_loader

BASREC = {"sasrec": {"basrec.n_pairs": 2, "basrec.n_whole_level": 3},
          "gru4rec": {"basrec.n_pairs": 1, "basrec.n_whole_level": 1},
          "nextitnet": {"basrec.n_pairs": 1, "basrec.n_whole_level": 1}}


def build(model_name: str, objective: str, extra: dict[str, Any], data_dir: str,
          compiled: bool) -> tuple[Any, Any, Any, list[Any]]:
    files = [f"configs/backbones/{model_name}_beauty.yaml"]
    cfg = config.load(files, {"data_dir": data_dir, "objective": objective, **extra})
    data = load_data(cfg)
    model = make_model(cfg, data.n_items, torch.device("cpu"))
    if compiled:
        model.encode = torch.compile(model.encode, dynamic=True)  # type: ignore[method-assign]
    obj = build_objective(objective, cfg.objective_options,
                          ObjectiveContext(cfg, data, torch.device("cpu")))
    loader = training_loader(cfg, data, model, obj, "cpu")
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    return model, obj, opt, list(loader.epoch(0))


def step(model: Any, obj: Any, opt: Any, batch: Any, rng: StepRandom) -> tuple[float, float]:
    t0 = time.perf_counter()
    loss = fp32_step(model, obj, opt, batch, rng)
    return time.perf_counter() - t0, float(loss)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="sasrec,gru4rec,nextitnet")
    ap.add_argument("--data-dir", default="../shared/data")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=15)
    ap.add_argument("--warmup", type=int, default=5, help="compiled steps timed apart")
    ap.add_argument("--out")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    report: dict[str, Any] = {"env": environment("cpu"), "steps": args.steps,
                              "date": time.strftime("%Y-%m-%d"), "results": []}
    for name in args.models.split(","):
        for label, objective, extra in (("plain", "none", {}),
                                        ("basrec", "basrec", BASREC[name])):
            torch.manual_seed(0)
            eager = build(name, objective, extra, args.data_dir, False)
            torch.manual_seed(0)
            comp = build(name, objective, extra, args.data_dir, True)
            batches = eager[3][: args.warmup + args.steps]
            rng_e = StepRandom.create(1, 0, torch.device("cpu"))
            rng_c = StepRandom.create(1, 0, torch.device("cpu"))
            t_e: list[float] = []
            t_c: list[float] = []
            diffs: list[float] = []
            warm = 0.0
            for i, batch in enumerate(batches):
                torch.manual_seed(i)
                te, le = step(*eager[:3], batch, rng_e)
                torch.manual_seed(i)
                try:
                    tc, lc = step(*comp[:3], batch, rng_c)
                except Exception as e:  # noqa: BLE001 - report a failed compilation
                    report["results"].append({"model": name, "step": label,
                                              "error": str(e).splitlines()[0][:300]})
                    break
                if i < args.warmup:
                    warm += tc
                    continue
                t_e.append(te)
                t_c.append(tc)
                diffs.append(abs(le - lc) / max(abs(le), 1e-12))
            else:
                me, mc = statistics.median(t_e), statistics.median(t_c)
                row = {"model": name, "step": label, "eager_s": round(me, 4),
                       "compiled_s": round(mc, 4), "speedup": round(me / mc, 3),
                       "compile_warmup_s": round(warm, 1),
                       "max_rel_loss_diff": max(diffs) if diffs else None,
                       "torch_threads": torch.get_num_threads()}
                report["results"].append(row)
            print(json.dumps(report["results"][-1]), flush=True)
    text = json.dumps(report, indent=2)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
