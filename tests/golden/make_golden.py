"""Short runs whose metrics must not change: ``python tests/golden/make_golden.py`` writes
``metrics.json`` beside this file; ``tests/test_golden.py`` reruns every case and compares.

Each case trains a tiny model on a fixed synthetic dataset (written by ``write_dataset``, not
read from a data folder) with one torch thread, and records the validation and test metrics
and the loss of the last epoch. ``machine.json`` names the CPU and torch build that wrote them:
there the losses must match to the bit; on another CPU a float reduction may round
differently (seen: 1e-8 relative), so the test allows that much there, the metrics never.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
METRICS = HERE / "metrics.json"
MACHINE = HERE / "machine.json"


def machine() -> dict[str, str]:
    """What decides float rounding here: the CPU model, its vector capability, torch's build."""
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    import platform

    return {"cpu": model or platform.processor() or platform.machine(),
            "capability": torch.backends.cpu.get_cpu_capability(), "torch": torch.__version__}

BASE: dict[str, Any] = dict(hidden_size=8, num_layers=1, num_heads=2, max_seq_length=10,
                            epochs=3, batch_size=32, threads=1, progress=False,
                            eval_batch_size=64, dropout=0.2, attn_dropout=0.2, seed=11)
BACKBONES: dict[str, dict[str, Any]] = {
    "sasrec": {"model": "sasrec"},
    "sasrec_kang2018": {"model": "sasrec", "sasrec.layout": "kang2018"},
    "gru4rec": {"model": "gru4rec", "gru4rec.gru_hidden": 8},
    "nextitnet": {"model": "nextitnet", "nextitnet.block_num": 1},
    "fmlprec": {"model": "fmlprec"},
}
OBJECTIVES: dict[str, dict[str, Any]] = {
    "none": {"objective": "none"},
    "basrec": {"objective": "basrec", "basrec.stage1_epochs": 2},
}

#: padding and length-group paths and the baselines that train a stage of their own
VARIANTS: dict[str, dict[str, Any]] = {
    "sasrec-none-groups1": {"model": "sasrec", "length_groups": 1},
    "sasrec-basrec-zero-padding": {"model": "sasrec", **OBJECTIVES["basrec"],
                                   "basrec.cross_padding": "zero"},
    "gru4rec-basrec-shared-views": {**BACKBONES["gru4rec"], **OBJECTIVES["basrec"],
                                    "basrec.view_padding": "shared",
                                    "gru4rec.pad_draws": 4},
    "gru4rec-basrec-skip": {**BACKBONES["gru4rec"], **OBJECTIVES["basrec"],
                            "gru4rec.pad_steps": "skip"},
    "nextitnet-basrec-feed": {**BACKBONES["nextitnet"], **OBJECTIVES["basrec"],
                              "nextitnet.pad_steps": "feed"},
    "sasrec-kang2018-basrec-ce": {**BACKBONES["sasrec_kang2018"], **OBJECTIVES["basrec"],
                                  "loss": "ce"},
    "sasrec-cl4srec": {"model": "sasrec", "objective": "cl4srec"},
    "sasrec-asrep": {"model": "sasrec", "objective": "asrep", "asrep.reverse_epochs": 2},
    "sasrec-diffuasr": {"model": "sasrec", "objective": "diffuasr", "diffuasr.epochs": 2,
                        "diffuasr.steps": 20, "diffuasr.sample_steps": 2,
                        "diffuasr.count": 3, "hidden_size": 16},
}


def cases() -> dict[str, dict[str, Any]]:
    """Case name → config overrides: every backbone with and without BASRec, and BASRec's CE
    form."""
    out = {f"{b}-{o}": {**BASE, **bo, **oo}
           for b, bo in BACKBONES.items() for o, oo in OBJECTIVES.items()}
    out["sasrec-basrec-ce"] = {**BASE, **BACKBONES["sasrec"], **OBJECTIVES["basrec"],
                               "loss": "ce"}
    for name, extra in VARIANTS.items():
        out[name] = {**BASE, **extra}
    return out


def write_dataset(path: Path, n_users: int = 64, n_items: int = 80) -> Path:
    """A sequence file whose next item is usually the item after the last one."""
    rng = np.random.default_rng(20240601)
    lines = []
    for user in range(1, n_users + 1):
        length = int(rng.integers(4, 13))
        item = int(rng.integers(1, n_items + 1))
        seq = []
        for _ in range(length):
            seq.append(item)
            step = 1 if rng.random() < 0.8 else int(rng.integers(2, 6))
            item = (item + step - 1) % n_items + 1
        lines.append(" ".join(map(str, [user, *seq])))
    path.write_text("\n".join(lines) + "\n")
    return path


def run_case(overrides: dict[str, Any], data: Path, run_dir: Path) -> dict[str, Any]:
    """Train one case; its validation and test metrics and its last epoch's loss."""
    from basrec import config, train

    torch.set_num_threads(1)
    cfg = config.load([], {**overrides, "dataset": str(data)})
    results = train.run(cfg, run_dir, quiet=True)
    history = [json.loads(line) for line in
               (run_dir / "metrics.jsonl").read_text().splitlines()]
    return {"valid": results["valid"], "test": results["test"],
            "loss": history[-1]["loss"]}


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        data = write_dataset(Path(tmp) / "golden.txt")
        recorded = {name: run_case(over, data, Path(tmp) / name)
                    for name, over in cases().items()}
    METRICS.write_text(json.dumps(recorded, indent=1, sort_keys=True) + "\n")
    MACHINE.write_text(json.dumps(machine(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {METRICS} ({len(recorded)} cases)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
