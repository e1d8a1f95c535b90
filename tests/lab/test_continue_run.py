"""lab/scripts/continue_run.py: a grid run seeded with a finished run that stopped earlier
equals the grid run trained from scratch; anything but a stopping-field difference is refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from script_loader import load_script

from basrec.errors import BasrecError
from basrec.experiments.plan import plan
from basrec.experiments.runner import run_experiment
from basrec.experiments.spec import parse_spec

TINY = {"hidden_size": 8, "num_layers": 1, "num_heads": 1, "max_seq_length": 10,
        "batch_size": 32, "eval_batch_size": 64, "progress": False, "patience": 1}


def write_grid(path: Path, data: Path, root: Path, objectives: list[Any]) -> Path:
    raw = {"name": path.stem, "root": str(root), "base": dict(TINY),
           "grid": {"datasets": [str(data)], "models": ["sasrec"], "objectives": objectives,
                    "seeds": [3]}}
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def entry(label: str, **options: Any) -> dict[str, Any]:
    return {"name": "none", "label": label, "options": options}


def test_continuation_equals_training_from_scratch(tiny_data: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    # the source stops by patience (1) early; the grid run has more patience and more epochs
    short = entry("short", epochs=8, lr=0.05)
    long = entry("long", epochs=10, lr=0.05, patience=50)
    path = write_grid(tmp_path / "g.yaml", tiny_data, tmp_path / "runs", [short, long])
    scratch_grid = write_grid(tmp_path / "s.yaml", tiny_data, tmp_path / "scratch", [long])
    run_experiment(parse_spec(yaml.safe_load(path.read_text())),
                   only={"label": frozenset({"short"})})
    source, target = plan(parse_spec(yaml.safe_load(path.read_text()))).runs
    stopped = json.loads((source.dir / "results.json").read_text())
    assert stopped["early_stopped"] and stopped["epochs_run"] < 8 and not target.dir.exists()

    load_script("continue_run").continue_run(str(path), source.dir, ["label=long"])
    assert "copied from" in (target.dir / "log.txt").read_text()
    run_experiment(parse_spec(yaml.safe_load(path.read_text())))
    run_experiment(parse_spec(yaml.safe_load(scratch_grid.read_text())))
    (fresh,) = plan(parse_spec(yaml.safe_load(scratch_grid.read_text()))).runs

    def curve(d: Path) -> list[Any]:
        return [(r["epoch"], r["loss"], r["valid"]) for r in
                map(json.loads, (d / "metrics.jsonl").read_text().splitlines())]

    assert len(curve(target.dir)) == 10 and curve(target.dir) == curve(fresh.dir)
    got, want = (json.loads((d / "results.json").read_text()) for d in (target.dir, fresh.dir))
    assert (got["test"], got["best_epoch"]) == (want["test"], want["best_epoch"])


def test_a_later_min_epochs_continues_a_run_stopped_before_it(
        tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    short = entry("short", epochs=8, lr=0.05)  # stops by patience 1
    path = write_grid(tmp_path / "g.yaml", tiny_data, tmp_path / "runs", [short])
    run_experiment(parse_spec(yaml.safe_load(path.read_text())))
    (source,) = plan(parse_spec(yaml.safe_load(path.read_text()))).runs
    stopped = json.loads((source.dir / "results.json").read_text())
    best, ran = stopped["best_epoch"], stopped["epochs_run"]
    assert stopped["early_stopped"] and best < ran - 1
    # selection from epoch `ran`: nothing counted yet, so the run goes on from where it stopped
    later = entry("later", epochs=ran + 3, lr=0.05, min_epochs=ran)
    # selection from best + 1: would select an epoch whose weights the source did not keep
    unkept = entry("unkept", epochs=ran + 3, lr=0.05, min_epochs=best + 1)
    path = write_grid(tmp_path / "g.yaml", tiny_data, tmp_path / "runs", [short, later, unkept])
    scratch_grid = write_grid(tmp_path / "s.yaml", tiny_data, tmp_path / "scratch", [later])
    script = load_script("continue_run")
    with pytest.raises(BasrecError, match="did not keep"):
        script.continue_run(str(path), source.dir, ["label=unkept"])
    script.continue_run(str(path), source.dir, ["label=later"])
    run_experiment(parse_spec(yaml.safe_load(path.read_text())),
                   only={"label": frozenset({"later"})})
    run_experiment(parse_spec(yaml.safe_load(scratch_grid.read_text())))
    target = plan(parse_spec(yaml.safe_load(path.read_text()))).runs[1]
    (fresh,) = plan(parse_spec(yaml.safe_load(scratch_grid.read_text()))).runs
    got, want = (json.loads((d / "results.json").read_text()) for d in (target.dir, fresh.dir))
    assert got["best_epoch"] >= ran
    assert (got["test"], got["best_epoch"], got["epochs_run"]) == \
        (want["test"], want["best_epoch"], want["epochs_run"])


def test_other_differences_and_earlier_stops_are_refused(tiny_data: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    script = load_script("continue_run")
    path = write_grid(tmp_path / "g.yaml", tiny_data, tmp_path / "runs",
                      [entry("short", epochs=3), entry("lr", epochs=6, lr=0.01),
                       entry("fewer", epochs=2)])
    run_experiment(parse_spec(yaml.safe_load(path.read_text())),
                   only={"label": frozenset({"short"})})
    source = plan(parse_spec(yaml.safe_load(path.read_text()))).runs[0]
    with pytest.raises(BasrecError, match=r"they differ in \['epochs', 'lr'\]"):
        script.continue_run(str(path), source.dir, ["label=lr"])
    with pytest.raises(BasrecError, match="more than 2"):
        script.continue_run(str(path), source.dir, ["label=fewer"])
    finished_elsewhere = tmp_path / "copy"  # e.g. carried back from a GPU without it
    shutil.copytree(source.dir, finished_elsewhere)
    (finished_elsewhere / "checkpoint_last.pt").unlink()
    with pytest.raises(BasrecError, match="no checkpoint_last.pt"):
        script.continue_run(str(path), finished_elsewhere, ["label=lr"])


def test_replay_stops_where_the_trainer_would() -> None:
    replay = load_script("continue_run").replay_stopping
    history = [{"epoch": e, "valid": {"m": s}} for e, s in enumerate([1, 3, 2, 2, 4, 1])]
    assert replay(history, "m", 0, 5) == {"best_score": 4, "best_epoch": 4, "bad": 1,
                                          "stopped": False}
    assert replay(history, "m", 2, 5)["best_epoch"] == 4
    assert replay(history[:4], "m", 0, 2)["stopped"]  # stops at the last record: allowed
    with pytest.raises(BasrecError, match="stops at epoch 3"):
        replay(history, "m", 0, 2)
