"""Experiment grids: end to end, skip finished runs, resume, failures, shards, ids, bad input."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import socket
from pathlib import Path
from typing import Any

import pytest
import yaml

from basrec import config, train
from basrec.cli import main
from basrec.errors import BasrecError, ConfigError
from basrec.experiments.plan import only_values, parse_only, parse_shard, plan, run_id
from basrec.experiments.report import write_report
from basrec.experiments.runner import (
    LOCK_NAME,
    acquire_lock,
    lock_holder,
    pid_alive,
    release_lock,
    run_experiment,
)
from basrec.experiments.spec import load_spec, parse_spec

TINY = {"hidden_size": 8, "num_layers": 1, "num_heads": 1, "max_seq_length": 10,
        "batch_size": 32, "eval_batch_size": 64, "epochs": 2, "basrec.stage1_epochs": 2,
        "progress": False}


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # ItemCF tables


def grid(tiny_data: Path, root: Path, **extra: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "name": "tiny", "root": str(root), "base": dict(TINY),
        "grid": {"datasets": [str(tiny_data)], "models": ["sasrec"],
                 "objectives": ["none", "basrec"], "seeds": [1, 2]}}
    raw.update(extra)
    return raw


def write_grid(path: Path, raw: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


class Counter:
    """train.run, counting calls."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, cfg: Any, run_dir: Any, quiet: bool = True) -> dict[str, Any]:
        self.calls.append(str(run_dir))
        return train.run(cfg, run_dir, quiet=quiet)


def test_grid_end_to_end_then_skips_and_reports(tiny_data: Path, tmp_path: Path) -> None:
    spec = parse_spec(grid(tiny_data, tmp_path / "runs"))
    first = Counter()
    out = run_experiment(spec, trainer=first)
    assert [o.status for o in out.outcomes] == ["trained"] * 4
    assert len(first.calls) == 4
    runs = out.plan.runs
    base1, bas1 = runs[0], runs[1]
    assert (base1.label, bas1.label) == ("Base", "BASRec") and bas1.stage1 == base1.id
    # BASRec reused the plain run as its stage 1 instead of training its own
    assert not (bas1.dir / "stage1").exists()
    res = json.loads((bas1.dir / "results.json").read_text())
    base_res = json.loads((base1.dir / "results.json").read_text())
    assert res["stage1"]["test"] == base_res["test"]
    assert yaml.safe_load((bas1.dir / "config.yaml").read_text())["init_from"] == \
        str(base1.dir.resolve())
    index = json.loads(spec.index_path.read_text())
    assert set(index["labels"]) == {"Base", "BASRec"} and len(index["runs"]) == 4
    assert all(not (r.dir / LOCK_NAME).exists() for r in runs)

    # a second invocation trains nothing
    mtimes = {r.id: (r.dir / "results.json").stat().st_mtime_ns for r in runs}
    again = Counter()
    out2 = run_experiment(spec, trainer=again)
    assert again.calls == [] and [o.status for o in out2.outcomes] == ["done"] * 4
    assert {r.id: (r.dir / "results.json").stat().st_mtime_ns for r in runs} == mtimes

    # the report's mean ± std are those of the runs' results
    ((rep, md, files),) = write_report(spec.index_dir, tmp_path / "report")
    with open(tmp_path / "report" / "tiny.csv", encoding="utf-8") as fh:
        rows = {r["label"]: r for r in csv.DictReader(fh)}
    vals = [json.loads((r.dir / "results.json").read_text())["test"]["NDCG@10"]
            for r in runs if r.label == "BASRec"]
    import numpy as np

    assert float(rows["BASRec"]["NDCG@10_mean"]) == pytest.approx(np.mean(vals), rel=1e-5)
    assert float(rows["BASRec"]["NDCG@10_std"]) == pytest.approx(np.std(vals, ddof=1),
                                                                 rel=1e-5)
    assert rows["BASRec"]["n_seeds"] == "2" and rows["BASRec"]["base"] == "Base"
    assert "4 of 4 runs finished" in md


def test_failure_is_reported_grid_goes_on_and_a_rerun_resumes(
        tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = parse_spec(grid(tiny_data, tmp_path / "runs"))
    real_evaluate = train.evaluate
    calls = {"n": 0}

    def flaky(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:  # the first run dies in epoch 1, after epoch 0's checkpoint
            raise RuntimeError("simulated crash")
        return real_evaluate(*args, **kwargs)

    monkeypatch.setattr(train, "evaluate", flaky)
    out = run_experiment(spec)
    statuses = [o.status for o in out.outcomes]
    assert statuses == ["failed", "blocked", "trained", "trained"]
    assert "simulated crash" in out.failed[0].message
    lines = (spec.index_dir / "failures.jsonl").read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["id"] == out.plan.runs[0].id
    crashed = out.plan.runs[0].dir
    assert (crashed / "checkpoint_last.pt").exists() and not (crashed / "results.json").exists()
    assert not (crashed / LOCK_NAME).exists()

    monkeypatch.setattr(train, "evaluate", real_evaluate)
    out2 = run_experiment(spec)
    assert [o.status for o in out2.outcomes] == ["resumed", "trained", "done", "done"]
    assert "resuming from epoch 1" in (crashed / "log.txt").read_text()
    history = (crashed / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["epoch"] for x in history] == [0, 1]


def test_shards_partition_the_grid_by_cell(tiny_data: Path, tmp_path: Path) -> None:
    raw = grid(tiny_data, tmp_path / "runs")
    raw["grid"].update(models=["sasrec", "gru4rec"], seeds=[1, 2, 3],
                       objectives=["none", "basrec",
                                   {"name": "basrec", "label": "w/o CA",
                                    "options": {"basrec.cross": False}}])
    the_plan = plan(parse_spec(raw))
    all_ids = [r.id for r in the_plan.runs]
    assert len(all_ids) == len(set(all_ids)) == 2 * 3 * 3
    for n in (1, 2, 4, 5):
        shards = [{r.id for r in the_plan.shard(i, n)} for i in range(1, n + 1)]
        assert set().union(*shards) == set(all_ids)
        assert sum(len(s) for s in shards) == len(all_ids)  # pairwise disjoint
        for s in shards:  # every run's stage-1 run is in its shard
            assert all(the_plan.by_id()[rid].stage1 in (None, *s) for rid in s)
    # deterministic, and a grown grid leaves the existing cells where they were
    raw["grid"]["seeds"] = [1, 2, 3, 4]
    grown = plan(parse_spec(raw))
    for i in range(1, 4):
        old = {r.id for r in the_plan.shard(i, 3)}
        assert old <= {r.id for r in grown.shard(i, 3)}


def test_only_keeps_matching_runs_and_the_stage1_they_need(tiny_data: Path,
                                                           tmp_path: Path) -> None:
    raw = grid(tiny_data, tmp_path / "runs")
    raw["grid"].update(seeds=[1, 2, 3])
    spec = parse_spec(raw)
    by_seed_label = {(r.seed, r.label): r.id for r in plan(spec).runs}
    # BASRec at seed 2 alone: its unfinished stage 1 comes along, first
    calls = Counter()
    out = run_experiment(spec, trainer=calls, only=parse_only(["seed=2", "objective=basrec"]))
    assert [(o.run.seed, o.run.label, o.status) for o in out.outcomes] == [
        (2, "Base", "trained"), (2, "BASRec", "trained")]
    assert len(calls.calls) == 2
    # once that stage 1 is finished it is no longer needed; values are ORed, fields ANDed
    out = run_experiment(spec, trainer=Counter(), dry_run=True,
                         only=parse_only(["label=BASRec", "seed=2,3"]))
    assert [(o.run.id, o.status) for o in out.outcomes] == [
        (by_seed_label[2, "BASRec"], "done"), (by_seed_label[3, "Base"], "pending"),
        (by_seed_label[3, "BASRec"], "pending")]
    out = run_experiment(spec, trainer=Counter(), dry_run=True,
                         only=parse_only(["model=sasrec", "label=Base"]))
    assert [o.run.seed for o in out.outcomes] == [1, 2, 3]
    assert all(o.run.label == "Base" for o in out.outcomes)
    with pytest.raises(ConfigError, match="selects no run"):
        run_experiment(spec, dry_run=True, only=parse_only(["seed=9"]))


def test_only_takes_a_label_with_a_comma_whole(tiny_data: Path, tmp_path: Path) -> None:
    """A label that contains a comma is one value when some run has it exactly; otherwise the
    commas separate values."""
    raw = grid(tiny_data, tmp_path / "runs")
    raw["grid"]["objectives"] = [
        {"name": "none", "label": "a"}, {"name": "none", "label": "a, b",
                                         "options": {"epochs": 1}},
        {"name": "none", "label": "c", "options": {"epochs": 3}}]
    spec = parse_spec(raw)

    def labels(value: str) -> list[str]:
        out = run_experiment(spec, dry_run=True, only=parse_only([f"label={value}"]))
        return sorted({o.run.label for o in out.outcomes})

    assert labels("a, b") == ["a, b"]
    assert labels("a,c") == ["a", "c"]
    assert labels("a, b,c") == ["a", "c"]  # not a label: split ("b" names nothing)


@pytest.mark.parametrize("items, message", [
    (["seed"], "expected FIELD=VALUE"), (["seed="], "expected FIELD=VALUE"),
    (["speed=1"], "unknown field 'speed'"), ([" seed = 1 , 2 ", "seed=3"], None)])
def test_parse_only(items: list[str], message: str | None) -> None:
    if message is None:
        assert parse_only(items) == {"seed": frozenset({"1 , 2", "3"})}
        assert only_values(parse_only(items)["seed"], {"1", "2", "3", "4"}) == {"1", "2", "3"}
    else:
        with pytest.raises(ConfigError, match=message):
            parse_only(items)


def test_run_ids_ignore_execution_keys_and_follow_the_config(tiny_data: Path,
                                                            tmp_path: Path) -> None:
    ids = [r.id for r in plan(parse_spec(grid(tiny_data, tmp_path))).runs]
    raw = grid(tiny_data, tmp_path)
    raw["base"].update(threads=1, progress=True, eval_batch_size=7, device="cpu")
    assert [r.id for r in plan(parse_spec(raw)).runs] == ids
    raw["base"]["lr"] = 0.002
    changed = [r.id for r in plan(parse_spec(raw)).runs]
    assert all(a != b for a, b in zip(changed, ids, strict=True))
    cfg = config.load([], {"dataset": str(tiny_data), **TINY})
    assert run_id(cfg) == run_id(cfg.replace(threads=3)) != run_id(cfg.replace(seed=9))


def test_stage1_rules_are_not_part_of_a_run_given_its_stage1(tiny_data: Path,
                                                             tmp_path: Path) -> None:
    raw = grid(tiny_data, tmp_path / "runs")
    ids = [r.id for r in plan(parse_spec(raw)).runs]
    raw["base"].update({"basrec.stage1_epochs": 7, "basrec.stage1_patience": 3,
                        "basrec.stage1_min_epochs": 1})
    p = plan(parse_spec(raw))
    # the BASRec runs start from the grid's plain run: its stopping rules decide stage 1
    assert [r.id for r in p.runs] == ids
    assert any("the shared stage-1 run trains with epochs 2, patience 20, min_epochs 0"
               in w and "stage1_epochs=7, stage1_patience=3, stage1_min_epochs=1 are not used"
               in w for w in p.warnings), p.warnings
    # a run that trains its own stage 1 is identified by those rules
    cfg = config.load([], {"dataset": str(tiny_data), **TINY, "objective": "basrec"})
    assert run_id(cfg) != run_id(cfg.replace(objective_options=dataclasses.replace(
        cfg.objective_options, stage1_patience=3)))
    given = cfg.replace(init_from="somewhere")
    assert run_id(given) == run_id(given.replace(objective_options=dataclasses.replace(
        cfg.objective_options, stage1_patience=3, stage1_epochs=9)))


def test_presets_apply_per_model_dataset_and_objective(tiny_data: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "configs" / "backbones").mkdir(parents=True)
    (tmp_path / "configs" / "basrec").mkdir(parents=True)
    (tmp_path / "configs" / "backbones" / "sasrec_tiny.yaml").write_text("lr: 0.003\n")
    (tmp_path / "configs" / "basrec" / "sasrec_tiny.yaml").write_text(
        "min_epochs: 1\nbasrec:\n  alpha: 0.45\n")
    raw = grid(tiny_data, tmp_path / "runs", presets=[
        "configs/backbones/{model}_{dataset}.yaml", "configs/basrec/{model}_{dataset}.yaml",
        "configs/missing/{model}.yaml"])
    p = plan(parse_spec(raw))
    base, bas = p.runs[0].cfg, p.runs[1].cfg
    assert base is not None and bas is not None
    assert base.lr == bas.lr == 0.003
    assert base.min_epochs == 0 and bas.min_epochs == 1  # objective presets skip the plain run
    assert bas.objective_options.alpha == 0.45
    assert any("configs/missing" in w for w in p.warnings)
    # base keys win over presets
    raw["base"]["lr"] = 0.005
    assert plan(parse_spec(raw)).runs[0].cfg.lr == 0.005  # type: ignore[union-attr]


def test_optional_objectives_and_implicit_base(tiny_data: Path, tmp_path: Path) -> None:
    raw = grid(tiny_data, tmp_path / "runs")
    raw["grid"]["objectives"] = [
        {"name": "basrec", "label": "w/o SA", "options": {"basrec.single": False}},
        {"name": "not_there_yet", "label": "Later", "optional": True}]
    raw["grid"]["seeds"] = [1]
    out = run_experiment(parse_spec(raw), dry_run=True)
    labels = [(o.run.label, o.status) for o in out.outcomes]
    assert labels == [("Base", "pending"), ("w/o SA", "pending"), ("Later", "unavailable")]
    assert out.plan.runs[0].implicit and out.plan.runs[1].stage1 == out.plan.runs[0].id
    assert not (tmp_path / "runs").exists()  # a dry run writes nothing


def test_finished_run_is_found_under_another_name(tiny_data: Path, tmp_path: Path) -> None:
    spec = parse_spec(grid(tiny_data, tmp_path / "runs"))
    run0 = plan(spec).runs[0]
    assert run0.cfg is not None
    config.save(run0.cfg, run0.dir / "config.yaml")
    (run0.dir / "results.json").write_text("{}")
    renamed = run0.dir.with_name("none-s1-oldname")
    run0.dir.rename(renamed)
    again = plan(spec).runs
    assert again[0].dir == renamed and again[0].finished
    assert again[1].cfg is not None and again[1].cfg.init_from == str(renamed.resolve())


@pytest.mark.parametrize("change, match", [
    ({"colour": 1}, "unknown key 'colour'"),
    ({"grid": {"datasets": ["x"], "model": ["sasrec"]}}, "did you mean 'models'"),
    ({"base": {"hidden_sise": 8}}, "hidden_sise"),
    ({"grid": {"objectives": [{"name": "basrec", "options": {"basrec.alpah": 0.1}}]}},
     "alpah"),
    ({"grid": {"objectives": ["cl4srecc"]}}, "unknown objective"),
    ({"grid": {"objectives": ["none", {"name": "none"}]}}, "labels must be unique"),
    ({"grid": {"seeds": [1, "two"]}}, "seeds"),
    ({"base": {"config": ["no/such/file.yaml"]}}, "not found"),
    ({"name": "bad name!"}, "name"),
    ({"table": "table9"}, "table9"),
])
def test_bad_experiment_files_are_refused(tiny_data: Path, tmp_path: Path,
                                          change: dict[str, Any], match: str) -> None:
    raw = grid(tiny_data, tmp_path)
    for key, value in change.items():
        if isinstance(value, dict) and isinstance(raw.get(key), dict) and key != "base":
            raw[key] = {**raw[key], **value}
        elif key == "base":
            raw["base"] = {**raw["base"], **value}
        else:
            raw[key] = value
    with pytest.raises(ConfigError, match=match):
        plan(parse_spec(raw))


def test_missing_file_and_bad_shard(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_spec(tmp_path / "nope.yaml")
    for bad in ("0/2", "3/2", "1/0", "a/b", "1", "1/2/3"):
        with pytest.raises(ConfigError):
            parse_shard(bad)
    assert parse_shard("2/3") == (2, 3) and parse_shard(None) == (1, 1)


def test_cli_one_line_errors_and_dry_run(tiny_data: Path, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    path = write_grid(tmp_path / "g.yaml", grid(tiny_data, tmp_path / "runs"))
    assert main(["experiment", str(path), "--shard", "3/2"]) == 2
    assert main(["experiment", str(tmp_path / "missing.yaml")]) == 2
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert main(["experiment", str(path), "--dry-run", "--only", "colour=red"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 4 and all(line.startswith("basrec: error:") for line in err)
    assert main(["experiment", str(path), "--dry-run", "--only", "seed=2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("] ")[1].split(":")[0] for line in lines if line.startswith("[")] == [
        f"{tiny_data} sasrec Base seed 2", f"{tiny_data} sasrec BASRec seed 2"]
    seen = []
    for shard in ("1/2", "2/2"):
        assert main(["experiment", str(path), "--dry-run", "--shard", shard]) == 0
        out = capsys.readouterr().out
        seen += [line.split(" seed ")[1].split(":")[0] for line in out.splitlines()
                 if "Base seed" in line and "pending" in line]
    assert sorted(seen) == ["1", "2"]  # each cell's plain run in exactly one shard
    assert not (tmp_path / "runs").exists()


def test_lock_keeps_a_second_process_off(tiny_data: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "r"
    assert acquire_lock(run_dir)
    assert acquire_lock(run_dir)  # our own stale lock (same pid) is taken over
    release_lock(run_dir)
    other = {"pid": 1, "host": socket.gethostname() + "-elsewhere", "since": 0}
    run_dir.mkdir(exist_ok=True)
    (run_dir / LOCK_NAME).write_text(json.dumps(other))
    assert not acquire_lock(run_dir)
    dead_pid = 2**22 + 12345
    dead = {"pid": dead_pid, "host": socket.gethostname(), "since": 0}
    (run_dir / LOCK_NAME).write_text(json.dumps(dead))
    if not pid_alive(dead_pid):
        assert acquire_lock(run_dir)  # a dead process's lock is stale
    # a grid run whose folder is locked elsewhere is reported busy, not trained
    spec = parse_spec(grid(tiny_data, tmp_path / "runs", grid={
        "datasets": [str(tiny_data)], "models": ["sasrec"], "objectives": ["none"],
        "seeds": [1]}))
    target = plan(spec).runs[0].dir
    target.mkdir(parents=True)
    (target / LOCK_NAME).write_text(json.dumps(other))
    out = run_experiment(spec, trainer=Counter())
    assert [o.status for o in out.outcomes] == ["busy"]




def test_report_of_a_single_run_folder(tiny_data: Path, tmp_path: Path) -> None:
    cfg = config.load([], {"dataset": str(tiny_data), "objective": "basrec", **TINY})
    train.run(cfg, tmp_path / "one", quiet=True)
    ((rep, md, _),) = write_report(tmp_path / "one")
    assert [r.label for r in rep.rows] == ["Base (stage 1)", "BASRec"]
    assert rep.rows[1].base_label == "Base (stage 1)" and "1/1" in md
    with pytest.raises(BasrecError, match="not an experiment"):
        write_report(tmp_path)


def test_dry_run_names_the_live_process_that_holds_a_run(tiny_data: Path,
                                                          tmp_path: Path) -> None:
    spec = parse_spec(grid(tiny_data, tmp_path / "runs", grid={
        "datasets": [str(tiny_data)], "models": ["sasrec"], "objectives": ["none"],
        "seeds": [1]}))
    target = plan(spec).runs[0].dir
    assert lock_holder(target) is None  # no folder, no lock
    target.mkdir(parents=True)
    (target / LOCK_NAME).write_text("[1]")  # JSON, but not a lock record
    assert lock_holder(target) is None and not acquire_lock(target)
    (target / LOCK_NAME).unlink()
    assert acquire_lock(target)  # held by this (live) process
    assert lock_holder(target) == os.getpid()
    lines: list[str] = []
    run_experiment(spec, dry_run=True, log=lines.append)
    assert f"running (pid {os.getpid()})" in lines[0]
    release_lock(target)
    lines.clear()
    run_experiment(spec, dry_run=True, log=lines.append)
    assert "running" not in lines[0] and "pending" in lines[0]


def test_sweep_expands_to_one_column_per_combination(tiny_data: Path, tmp_path: Path) -> None:
    """``sweep`` is the cartesian product of its value lists; each column is the run an
    explicit entry with the same options would be (same ids), labelled key=value."""
    swept = grid(tiny_data, tmp_path)
    swept["grid"]["objectives"] = ["none", {
        "name": "basrec", "label": "ab", "options": {"basrec.n_pairs": 2},
        "sweep": {"basrec.rate_min": [0.1, 0.2], "basrec.rate_max": [0.6, 0.7, 0.8]}}]
    spec = parse_spec(swept)
    labels = [o.label for o in spec.objectives]
    assert labels[0] == "Base" and len(labels) == 7
    assert "ab rate_min=0.2 rate_max=0.7" in labels
    explicit = grid(tiny_data, tmp_path)
    explicit["grid"]["objectives"] = ["none", {
        "name": "basrec", "label": "x",
        "options": {"basrec.n_pairs": 2, "basrec.rate_min": 0.2, "basrec.rate_max": 0.7}}]
    by_label = {r.label: r.id for r in plan(spec).runs if r.seed == 1}
    want = next(r.id for r in plan(parse_spec(explicit)).runs if r.seed == 1 and r.label == "x")
    assert by_label["ab rate_min=0.2 rate_max=0.7"] == want
    assert len(set(by_label.values())) == 7


@pytest.mark.parametrize("sweep, match", [
    ({}, "must map config keys"),
    ({"basrec.alpha": []}, "non-empty list"),
    ({"seed": [1, 2]}, "grid axis"),
    ({"basrec.alpha": [[0.2]]}, "scalars"),
    ({"basrec.n_pairs": [1, 2]}, "both in 'options' and in 'sweep'"),
    ({"basrec.no_such_key": [1]}, "no_such_key"),
])
def test_bad_sweeps_are_refused(tiny_data: Path, tmp_path: Path, sweep: dict[str, Any],
                                match: str) -> None:
    raw = grid(tiny_data, tmp_path)
    raw["grid"]["objectives"] = [{"name": "basrec", "options": {"basrec.n_pairs": 2},
                                  "sweep": sweep}]
    with pytest.raises(ConfigError, match=match):
        plan(parse_spec(raw))


@pytest.mark.parametrize("grid", sorted((Path(__file__).resolve().parents[2] / "configs" / "paper")
                                        .glob("*.yaml")), ids=lambda p: p.name)
def test_every_paper_grid_plans(grid: Path, tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    """Each experiment file of configs/paper parses and resolves every run (no data read)."""
    assert main(["experiment", str(grid), "--dry-run", "--root", str(tmp_path)]) == 0
    assert "pending" in capsys.readouterr().out


def test_a_stage1_validation_cadence_the_shared_run_does_not_follow_is_named(
        tiny_data: Path, tmp_path: Path) -> None:
    raw = grid(tiny_data, tmp_path / "runs")
    assert not any("valid_every" in w for w in plan(parse_spec(raw)).warnings)
    options: dict[str, Any] = {"valid_every": 2}
    raw["grid"]["objectives"] = ["none", {"name": "basrec", "label": "B", "options": options}]
    warnings = plan(parse_spec(raw)).warnings
    assert any("trains with valid_every 1" in w and "B's valid_every=2 is not used" in w
               for w in warnings), warnings
    options["basrec.stage1_valid_every"] = 1
    assert not any("valid_every" in w for w in plan(parse_spec(raw)).warnings)


def test_threads_option_sets_every_trained_run_and_keeps_its_id(
        tiny_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--threads N`` trains each run with N torch threads; ids, folders and skipping are the
    file's whatever the count, and a run resumes under another count."""
    raw = grid(tiny_data, tmp_path / "runs")
    raw["base"]["threads"] = 1
    raw["grid"]["seeds"] = [1]
    path = write_grid(tmp_path / "g.yaml", raw)
    assert main(["experiment", str(path), "--threads", "two"]) == 2
    assert "--threads 'two'" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()  # refused before anything is written
    folders = [run.dir for run in plan(load_spec(path)).runs]
    assert [f.name.split("-")[0] for f in folders] == ["none", "basrec"]
    assert main(["experiment", str(path), "--threads", "2"]) == 0
    capsys.readouterr()
    for folder in folders:  # BASRec's stage 1 is the grid's Base run, trained first
        assert yaml.safe_load((folder / "config.yaml").read_text())["threads"] == 2
        assert json.loads((folder / "env.json").read_text())["torch_threads"] == 2
    assert main(["experiment", str(path)]) == 0  # finished under 2 threads: skipped under 1
    assert "trained" not in capsys.readouterr().out
    (folders[1] / "results.json").unlink()  # as if killed after its last epoch
    assert main(["experiment", str(path)]) == 0
    assert "BASRec seed 1: resumed" in capsys.readouterr().out
    assert yaml.safe_load((folders[1] / "config.yaml").read_text())["threads"] == 1
