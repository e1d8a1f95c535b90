"""basrec tune: Optuna studies on SQLite, PostgreSQL and a journal file; workers; a killed
study resumes; pruning; failed trials; the objective never reads a test metric; bad spaces."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

optuna = pytest.importorskip("optuna")

import basrec.tune_commands  # noqa: E402,F401
from basrec import build, stages  # noqa: E402
from basrec.cli import main  # noqa: E402
from basrec.errors import BasrecError  # noqa: E402
from basrec.tune import study as study_mod  # noqa: E402
from basrec.tune.report import best_trial, parse_seeds  # noqa: E402
from basrec.tune.spec import load_spec  # noqa: E402
from basrec.tune.storage import kind, normalise, redact  # noqa: E402
from basrec.tune.study import counted, open_study, stale_reason, take_back_lost  # noqa: E402

TrialState = optuna.trial.TrialState
TINY = {"model": "sasrec", "objective": "none", "hidden_size": 8, "num_layers": 1,
        "num_heads": 1, "max_seq_length": 10, "batch_size": 32, "eval_batch_size": 64,
        "epochs": 2, "basrec.stage1_epochs": 2, "progress": False, "metric": "NDCG@10"}
PG_BIN = Path("/usr/lib/postgresql/15/bin")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # ItemCF tables
    monkeypatch.delenv("BASREC_RUNS", raising=False)


def study_file(tmp_path: Path, data: Path, name: str = "tiny", **extra: Any) -> Path:
    raw: dict[str, Any] = {
        "name": name, "root": str(tmp_path / "runs"),
        "base": {"dataset": str(data), **TINY},
        "search": {"lr": {"type": "float", "low": 1e-3, "high": 1e-2, "log": True},
                   "dropout": [0.0, 0.1, 0.2]},
        "metric": "NDCG@10", "trials": 3, "sampler": {"seed": 3}, "pruner": "none"}
    for key, value in extra.items():
        if key == "base":
            raw["base"] = {**raw["base"], **value}
        else:
            raw[key] = value
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def trials_of(path: Path, storage: str | None = None) -> list[Any]:
    spec = load_spec(path)
    study = open_study(spec, storage or spec.default_storage)
    return study.get_trials(deepcopy=False)


def check_complete_study(path: Path, n: int, storage: str | None = None,
                         workers: int = 1) -> list[Any]:
    """n complete trials, each an ordinary finished run whose validation metric is the value."""
    spec = load_spec(path)
    trials = trials_of(path, storage)
    assert [t.state for t in trials] == [TrialState.COMPLETE] * n
    assert len({json.dumps(t.params, sort_keys=True) for t in trials}) == n  # distinct draws
    assert len({t.user_attrs["pid"] for t in trials}) == workers
    for t in trials:
        run = spec.root / t.user_attrs["run"]["dir"]
        results = json.loads((run / "results.json").read_text())
        assert t.value == results["valid"]["NDCG@10"]
        assert (run / "config.yaml").is_file() and (run / "metrics.jsonl").is_file()
    return trials


# -- studies on the three storages --------------------------------------------------------


def test_sqlite_study_with_two_workers(tiny_data: Path, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    path = study_file(tmp_path, tiny_data, trials=6, base={"epochs": 1})
    assert main(["tune", str(path), "--workers", "2"]) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "runs" / "tiny.db").is_file()  # the default storage
    assert "6 of 6 trials: complete 6" in out and "optuna-dashboard sqlite:///" in out
    check_complete_study(path, 6, workers=2)
    # the trials are ordinary runs: the study index works with basrec report and --status
    index = tmp_path / "runs" / "experiments" / "tiny"
    assert main(["report", str(index)]) == 0
    assert "6 of 6 runs finished" in capsys.readouterr().out
    assert main(["tune", str(path), "--status"]) == 0
    status = capsys.readouterr().out
    assert status.count(": complete — NDCG@10") == 6 and "best: trial" in status
    # a second call finds the budget spent and trains nothing
    assert main(["tune", str(path)]) == 0
    assert len(trials_of(path)) == 6
    assert main(["tune", str(path), "--report", "--out", str(tmp_path / "rep")]) == 0
    capsys.readouterr()
    rep = tmp_path / "rep"
    for name in ("tiny-trials.md", "tiny-trials.csv", "tiny-best.json", "tiny-history.png",
                 "tiny-importances.png", "tiny-epochs.png"):
        assert (rep / name).stat().st_size > 0, name
    assert len((rep / "tiny-trials.csv").read_text().splitlines()) == 7
    best = json.loads((rep / "tiny-best.json").read_text())
    assert set(best["params"]) == {"lr", "dropout"}


def test_a_study_is_looked_at_without_its_data(tiny_data: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """--status and --report read the storage and the run folders only: they work where the
    dataset is not (another machine of the study); training still needs it."""
    import shutil

    data = tmp_path / "data" / "tiny.txt"
    data.parent.mkdir()
    shutil.copy(tiny_data, data)
    path = study_file(tmp_path, data, trials=2, base={"epochs": 1})
    assert main(["tune", str(path)]) == 0
    data.unlink()
    capsys.readouterr()
    assert main(["tune", str(path), "--status"]) == 0
    assert "2 of 2 trials: complete 2" in capsys.readouterr().out
    assert main(["tune", str(path), "--report", "--out", str(tmp_path / "rep")]) == 0
    assert (tmp_path / "rep" / "tiny-trials.md").is_file()
    capsys.readouterr()
    assert main(["tune", str(path), "--trials", "3"]) != 0
    err = capsys.readouterr().err
    assert "tiny.txt" in err and "Traceback" not in err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A PostgreSQL 15 server of its own on a Unix socket in a temporary folder."""
    initdb, pg_ctl = PG_BIN / "initdb", PG_BIN / "pg_ctl"
    if not (initdb.is_file() and pg_ctl.is_file()):
        pytest.skip(f"PostgreSQL 15 server binaries not found in {PG_BIN}")
    pytest.importorskip("psycopg2")
    as_user: list[str] = []
    base = Path(tempfile.mkdtemp(prefix="basrec-pg-"))
    if os.geteuid() == 0:  # the server refuses to run as root
        try:
            pg = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' user to run the server")
        if shutil.which("runuser") is None:
            pytest.skip("running as root without runuser")
        os.chown(base, pg.pw_uid, pg.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    data = base / "data"
    subprocess.run([*as_user, str(initdb), "-D", str(data), "-U", "basrec", "--auth=trust",
                    "--no-sync", "-E", "UTF8"], check=True, capture_output=True)
    options = f"-k {base} -p {port} -c listen_addresses='' -c fsync=off"
    subprocess.run([*as_user, str(pg_ctl), "-D", str(data), "-o", options, "-w", "-l",
                    str(base / "log"), "start"], check=True, capture_output=True)
    try:
        yield f"postgresql://basrec@/postgres?host={base}&port={port}"
    finally:
        subprocess.run([*as_user, str(pg_ctl), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def test_postgresql_study_with_two_workers(tiny_data: Path, tmp_path: Path, postgres_url: str,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    path = study_file(tmp_path, tiny_data, trials=6, name="pg", base={"epochs": 1})
    assert main(["tune", str(path), "--workers", "2", "--storage", postgres_url]) == 0
    assert "6 of 6 trials: complete 6" in capsys.readouterr().out
    assert not (tmp_path / "runs" / "pg.db").exists()
    check_complete_study(path, 6, storage=postgres_url, workers=2)
    assert main(["tune", str(path), "--status", "--storage", postgres_url]) == 0
    assert "6 of 6 trials" in capsys.readouterr().out


def test_journal_file_study_basrec_trials_share_one_stage1(
        tiny_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = study_file(tmp_path, tiny_data, name="journal",
                      base={"objective": "basrec"},
                      search={"basrec.alpha": {"type": "float", "low": 0.2, "high": 0.6},
                              "basrec.rate_min": {"type": "float", "low": 0.1, "high": 0.3,
                                                  "step": 0.1}})
    journal = tmp_path / "shared" / "study.log"
    storage = f"journal:{journal}"
    assert main(["tune", str(path), "--storage", storage]) == 0
    out = capsys.readouterr().out
    assert journal.is_file() and f"optuna-dashboard {journal}" in out
    trials = check_complete_study(path, 3, storage=normalise(storage))
    stage1 = {t.user_attrs["run"]["stage1_dir"] for t in trials}
    assert len(stage1) == 1 and out.count("stage 1 in") == 1  # trained once, shared
    index = json.loads((tmp_path / "runs" / "experiments" / "journal" /
                        "experiment.json").read_text())
    assert index["labels_order"] == ["Base", "trial 0", "trial 1", "trial 2"]
    shared = Path(next(iter(stage1))).name
    for t in trials:
        cfg = yaml.safe_load((tmp_path / "runs" / t.user_attrs["run"]["dir"] /
                              "config.yaml").read_text())
        assert Path(cfg["init_from"]).name == shared
        assert cfg["basrec"]["alpha"] == t.params["basrec.alpha"]
    # the report sets every trial against the stage 1 they share (its own validation value)
    stage1_valid = json.loads((tmp_path / "runs" / next(iter(stage1)) / "results.json")
                              .read_text())["valid"]["NDCG@10"]
    assert main(["tune", str(path), "--storage", storage, "--report",
                 "--out", str(tmp_path / "rep")]) == 0
    assert (f"Stage 1, the run every trial starts from: valid NDCG@10 {stage1_valid:.4f}"
            in capsys.readouterr().out)


# -- a killed study -----------------------------------------------------------------------


def test_killed_study_resumes_with_no_trial_lost(tiny_data: Path, tmp_path: Path) -> None:
    path = study_file(tmp_path, tiny_data, name="killed", trials=2, base={"epochs": 12})
    code = ("import sys, basrec.tune_commands; from basrec.cli import main; "
            "sys.exit(main(sys.argv[1:]))")
    proc = subprocess.Popen([sys.executable, "-c", code, "tune", str(path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    runs = tmp_path / "runs"
    try:
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            found = list(runs.glob("*/sasrec/none-*/metrics.jsonl"))
            if found and found[0].read_text().strip():
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the study ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    before = trials_of(path)
    assert [t.state for t in before] == [TrialState.RUNNING]
    killed_run = runs / before[0].user_attrs["run"]["dir"]
    assert (killed_run / "checkpoint_last.pt").is_file()
    assert not (killed_run / "results.json").exists()
    epoch = [json.loads(x) for x in (killed_run / "metrics.jsonl").read_text().splitlines()][-1]
    status = subprocess.run([sys.executable, "-c", code, "tune", str(path), "--status"],
                            capture_output=True, text=True, check=True).stdout
    assert f"trial 0: running — epoch {epoch['epoch']} of 12, last valid " in status
    left = 11 - epoch["epoch"]  # patience 20 cannot stop 12 epochs early: the limit is all
    assert (f"; {left} epochs left" if left > 1 else f"; {left} epoch left") in status

    assert main(["tune", str(path)]) == 0
    after = trials_of(path)
    assert [t.state for t in after] == [TrialState.FAIL, TrialState.COMPLETE,
                                        TrialState.COMPLETE]
    assert counted(after) == 2  # the budget: the lost trial is not counted twice
    retry = after[1]
    assert retry.user_attrs["retry_of"] == 0 and retry.params == before[0].params
    assert retry.user_attrs["run"]["dir"] == before[0].user_attrs["run"]["dir"]
    assert "resuming from epoch" in (killed_run / "log.txt").read_text()
    assert (killed_run / "results.json").is_file()


# -- pruning and failures (a stand-in trainer) ----------------------------------------------


class FakeTrainer:
    """Calls ``on_epoch`` like ``train.fit``: the first run scores 0.5 per epoch, later runs
    0.1; ``fail_call`` raises on that call."""

    def __init__(self, fail_call: int | None = None, error: BaseException | None = None,
                 sleep: float = 0.0) -> None:
        self.calls = 0
        self.fail_call = fail_call
        self.error = error or RuntimeError("out of memory (a stand-in)")
        self.sleep = sleep
        self.epochs: list[list[int]] = []

    def __call__(self, cfg: Any, run_dir: Any, quiet: bool = False,
                 on_epoch: Any = None) -> dict[str, Any]:
        self.calls += 1
        time.sleep(self.sleep)
        if self.calls == self.fail_call:
            raise self.error
        score = 0.5 if self.calls == 1 else 0.1
        seen: list[int] = []
        self.epochs.append(seen)
        for epoch in range(cfg.epochs):
            seen.append(epoch)
            if on_epoch is not None:
                on_epoch({"epoch": epoch, "loss": 1.0, "valid": {"NDCG@10": score}})
        return {"valid": {"NDCG@10": score}, "test": {"NDCG@10": score}}


def test_a_trial_is_pruned_never_before_min_epochs(tiny_data: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeTrainer()
    monkeypatch.setattr(stages, "run", fake)
    path = study_file(tmp_path, tiny_data, name="pruned", trials=2,
                      base={"epochs": 8, "min_epochs": 3},
                      pruner={"name": "median", "startup_trials": 1})
    assert main(["tune", str(path)]) == 0
    first, second = trials_of(path)
    assert first.state == TrialState.COMPLETE and first.value == 0.5
    assert second.state == TrialState.PRUNED
    # worse than the median from epoch 0 on, but pruned only at min_epochs
    assert second.user_attrs["pruned_epoch"] == 3 and fake.epochs[1] == [0, 1, 2, 3]
    assert sorted(second.intermediate_values) == [0, 1, 2, 3]


def test_a_failed_trial_is_recorded_and_the_study_goes_on(
        tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(stages, "run", FakeTrainer(fail_call=2))
    path = study_file(tmp_path, tiny_data, name="failing", trials=3)
    assert main(["tune", str(path)]) == 0
    assert "failed — RuntimeError: out of memory" in capsys.readouterr().out
    trials = trials_of(path)
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.FAIL,
                                         TrialState.COMPLETE]
    assert trials[1].user_attrs["error"] == "RuntimeError: out of memory (a stand-in)"
    failures = tmp_path / "runs" / "experiments" / "failing" / "failures.jsonl"
    assert json.loads(failures.read_text())["trial"] == 1


def test_an_interrupted_trial_is_given_back(tiny_data: Path, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stages, "run", FakeTrainer(fail_call=1, error=KeyboardInterrupt()))
    path = study_file(tmp_path, tiny_data, name="ctrl-c", trials=2)
    assert main(["tune", str(path)]) == 130
    assert [t.state for t in trials_of(path)] == [TrialState.FAIL, TrialState.WAITING]
    assert main(["tune", str(path)]) == 0
    trials = trials_of(path)
    assert [t.state for t in trials] == [TrialState.FAIL] + [TrialState.COMPLETE] * 2
    assert trials[1].user_attrs["retry_of"] == 0 and trials[1].params == trials[0].params


def test_heartbeat_and_lost_trials(tiny_data: Path, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(study_mod, "HEARTBEAT_S", 0.02)
    monkeypatch.setattr(stages, "run", FakeTrainer(sleep=0.3))
    path = study_file(tmp_path, tiny_data, name="beat", trials=1)
    t0 = time.time()
    assert main(["tune", str(path)]) == 0
    (trial,) = trials_of(path)
    assert trial.user_attrs["heartbeat"] > t0 + 0.1  # written while the trial ran
    here, now = socket.gethostname(), time.time()

    def attrs(**kw: Any) -> Any:
        return type("T", (), {"user_attrs": kw})()

    assert stale_reason(attrs(), now, 60) == "no worker recorded"
    assert stale_reason(attrs(host=here, pid=os.getppid(), heartbeat=0), now, 60) is None
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    assert "is gone" in str(stale_reason(attrs(host=here, pid=dead.pid), now, 60))
    far = {"host": "elsewhere", "pid": 1}
    assert stale_reason(attrs(**far, heartbeat=now - 30), now, 60) is None
    assert "no heartbeat" in str(stale_reason(attrs(**far, heartbeat=now - 90), now, 60))


# -- the objective never reads a test metric ------------------------------------------------


class Poisoned(dict):  # type: ignore[type-arg]
    """results.json whose test metrics must not be touched."""

    def __getitem__(self, key: Any) -> Any:
        assert key != "test", "the objective read a test metric"
        return super().__getitem__(key)

    def get(self, key: Any, default: Any = None) -> Any:
        assert key != "test", "the objective read a test metric"
        return super().get(key, default)


def test_objective_never_reads_test_metrics(tiny_data: Path, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    real = stages.run

    def poisoned_run(cfg: Any, run_dir: Any, quiet: bool = False,
                     on_epoch: Any = None) -> dict[str, Any]:
        def watch(record: dict[str, Any]) -> None:
            assert "test" not in record
            if on_epoch is not None:
                on_epoch(record)

        results = real(cfg, run_dir, quiet=quiet, on_epoch=watch)
        # on disk too: a test metric of 1e9 would win any comparison that read it
        poisoned = {**results, "test": {k: 1e9 for k in results["test"]}}
        (Path(run_dir) / "results.json").write_text(json.dumps(poisoned))
        return Poisoned(poisoned)

    monkeypatch.setattr(stages, "run", poisoned_run)
    path = study_file(tmp_path, tiny_data, name="poison", trials=2)
    assert main(["tune", str(path)]) == 0
    assert main(["tune", str(path), "--status", "--report"]) == 0
    out = capsys.readouterr().out
    assert "1e+09" not in out and "1000000000" not in out
    for t in trials_of(path):
        results = json.loads((tmp_path / "runs" / t.user_attrs["run"]["dir"] /
                              "results.json").read_text())
        assert t.state == TrialState.COMPLETE and 0 < t.value < 1
        assert t.value == results["valid"]["NDCG@10"]


# -- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize(("extra", "message"), [
    ({"search": {"learning_rate": {"type": "float", "low": 0.1, "high": 0.2}}},
     "unknown config key 'learning_rate'"),
    ({"search": {"basrec.alpah": {"type": "float", "low": 0.1, "high": 0.2}}},
     "unknown config key 'basrec.alpah'"),
    ({"search": {"lr": {"type": "float", "low": 0.1, "high": 0.01}}}, "empty range"),
    ({"search": {"dropout": {"type": "categorical", "choices": []}}}, "non-empty list"),
    ({"search": {"patience": {"type": "float", "low": 1, "high": 3}}},
     "expected an integer"),
    ({"search": {"num_layers": [1, 2]}}, "num_layers is both in 'base' and in 'search'"),
    ({"search": {"dropout": ["a", "b"]}}, "expected a number"),
    ({"search": {"dropout": {"type": "float", "low": 0.1, "high": 1.5}}}, "[0, 1)"),
    ({"search": {"lr": {"type": "float", "low": 0, "high": 0.1, "log": True}}},
     "log range needs low > 0"),
    ({"search": {"basrec.alpha": {"type": "float", "low": 0.1, "high": 0.5}}},
     "changes nothing in the run"),
    ({"search": {"lr": {"type": "uniform", "low": 0.1, "high": 0.5}}}, "'type' must be"),
    ({"search": {"lr": {"type": "float", "low": 1e-3, "high": 0.1, "log": True, "step": 1}}},
     "'log' and 'step' cannot go together"),
    ({"pruner": {"name": "hyperband", "min_epochs": 0}}, "pruner.min_epochs must be at least 1"),
    ({"pruner": {"name": "hyperband", "min_epochs": 4, "max_epochs": 2}},
     "pruner.max_epochs must be at least pruner.min_epochs"),
    ({"stale_after_s": 30}, "stale_after_s must be above 60"),
    ({"metric": "test_NDCG@10"}, "validation metric"),
    ({"metric": "NDCG@7"}, "needs K=7 in topk"),
    ({"trials": 0}, "trials: expected an integer >= 1"),
    ({"pruner": {"name": "median", "patience": 3}}, "unknown key 'patience'"),
])
def test_bad_search_space_is_a_one_line_error_before_any_trial(
        tiny_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        extra: dict[str, Any], message: str) -> None:
    path = study_file(tmp_path, tiny_data, name="bad", **extra)
    assert main(["tune", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("basrec: error: ") and err.count("\n") == 1, err
    assert message in err, err
    assert not (tmp_path / "runs").exists()  # no study, no run folder


@pytest.mark.parametrize("flag", ["--status", "--report"])
def test_looking_at_a_study_that_does_not_exist_writes_nothing(
        tiny_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str) -> None:
    path = study_file(tmp_path, tiny_data, name="absent")
    assert main(["tune", str(path), flag]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no study 'absent'" in err, err
    assert not (tmp_path / "runs").exists()  # neither the study's file nor its folder


def test_a_study_reopened_with_another_space_is_refused(
        tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(stages, "run", FakeTrainer())
    path = study_file(tmp_path, tiny_data, name="same", trials=1)
    assert main(["tune", str(path)]) == 0
    study_file(tmp_path, tiny_data, name="same", trials=1,
               search={"lr": {"type": "float", "low": 1e-3, "high": 5e-2}})
    assert main(["tune", str(path)]) == 2
    assert "was made with another search" in capsys.readouterr().err
    study_file(tmp_path, tiny_data, name="same", trials=1)  # more trials is fine
    assert main(["tune", str(path), "--trials", "2", "--status"]) == 0


def test_retrain_best_prints_test_metrics_at_each_seed(
        tiny_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = study_file(tmp_path, tiny_data, name="retrain", trials=1)
    assert main(["tune", str(path)]) == 0
    capsys.readouterr()
    assert main(["tune", str(path), "--retrain-best", "--seeds", "2024,2025",
                 "--best-only"]) == 0
    out = capsys.readouterr().out
    assert "| best (trial 0) | 2024 |" in out and "| best (trial 0) | 2025 |" in out
    assert "best (trial 0): test over 2 seed(s): NDCG@10" in out
    index = json.loads((tmp_path / "runs" / "experiments" / "retrain" /
                        "experiment.json").read_text())
    assert index["labels"]["best (trial 0)"] and len(index["labels"]["best (trial 0)"]) == 2


@pytest.mark.parametrize("study", sorted((ROOT / "configs" / "tune").glob("*.yaml")),
                         ids=lambda p: p.name)
def test_every_study_file_parses(study: Path, tiny_data: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(build, "dataset_path", lambda cfg: tiny_data)  # Beauty may be absent
    spec = load_spec(study)
    assert spec.trials >= 12 and spec.metric.startswith("NDCG")
    assert {p.key for p in spec.params} >= {"basrec.alpha", "basrec.rate_min", "basrec.rate_max"}


def test_storage_strings_and_seeds() -> None:
    assert normalise("postgres://u:pw@h/db") == "postgresql://u:pw@h/db"
    assert redact("postgresql://u:pw@h/db") == "postgresql://u:***@h/db"
    assert kind("sqlite:///x.db") == "sqlite" and kind("journal:/x") == "journal"
    assert normalise("journal:rel.log") == f"journal:{Path('rel.log').resolve()}"
    with pytest.raises(BasrecError, match="not sqlite"):
        kind("redis.example")
    assert parse_seeds("2024-2026") == [2024, 2025, 2026]
    assert parse_seeds("2024, 2026") == [2024, 2026]
    with pytest.raises(BasrecError):
        parse_seeds("x")


@pytest.mark.parametrize("study, grid", [
    ("sasrec_beauty_basrec_ce.yaml", "beauty_sasrec_ce_seeds.yaml"),
    ("sasrec_beauty_basrec.yaml", "table2.yaml"),
    ("fmlprec_beauty_basrec_causal.yaml", "beauty_fmlprec_causal_s2024.yaml"),
])
def test_a_study_starts_from_its_grids_plain_run(study: str, grid: str, tiny_data: Path,
                                                 tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The stage 1 a study's header names is the very run of that grid (same id), so it is
    trained once for both."""
    from basrec.experiments.plan import plan
    from basrec.experiments.spec import load_spec as load_grid
    from basrec.tune.spec import check_space

    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(build, "dataset_path", lambda cfg: tiny_data)
    spec = load_spec(ROOT / "configs" / "tune" / study, root=tmp_path)
    base = check_space(spec)
    stage1_id = study_mod.place(spec.root, base).stage1_id
    runs = plan(load_grid(ROOT / "configs" / "paper" / grid, root=tmp_path)).runs
    wanted = [r.id for r in runs if r.objective == "none" and r.model == base.model
              and r.dataset == "beauty" and r.seed == 2024]
    assert stage1_id in wanted


# -- machines that die, workers taken back, ties --------------------------------------------


def _dead_pid() -> int:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    return dead.pid


def test_values_lost_again_and_again_are_not_run_forever(tiny_data: Path,
                                                          tmp_path: Path) -> None:
    """A trial whose process dies every time (say, killed for memory) runs again at most
    MAX_RETRIES times; then it stays failed, counts in the budget and is in failures.jsonl."""
    spec = load_spec(study_file(tmp_path, tiny_data, name="doomed", trials=5))
    study = open_study(spec, spec.default_storage, create=True)
    here, lines = socket.gethostname(), []
    for _ in range(study_mod.MAX_RETRIES + 1):
        trial = study.ask()
        trial.suggest_float("lr", 1e-3, 1e-2, log=True)
        trial.set_user_attr("host", here)
        trial.set_user_attr("pid", _dead_pid())
        lines += take_back_lost(study, spec)
    trials = study.get_trials(deepcopy=False)
    assert [t.state for t in trials] == [TrialState.FAIL] * (study_mod.MAX_RETRIES + 1)
    assert [t.user_attrs.get("retry_of") for t in trials] == [None, 0, 1]
    assert "not run again" in lines[-1] and all("run again" in x for x in lines)
    assert counted(trials) == 1  # the values, once
    failure = json.loads((spec.index_dir / "failures.jsonl").read_text().splitlines()[-1])
    assert failure["trial"] == 2 and "lost 3 times" in failure["error"]
    # an interruption (Ctrl-C) gives a trial back on purpose: it is not a loss
    by_number = {t.number: t for t in trials}
    assert study_mod.losses(trials[2], by_number) == 2


def test_a_worker_whose_trial_was_taken_back_stops_quietly(
        tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another worker may fail a live trial it believes lost (a long pause): the trial's own
    worker then ends it without a traceback and without a failure record."""
    spec = load_spec(study_file(tmp_path, tiny_data, name="taken", trials=1))
    study = open_study(spec, spec.default_storage, create=True)
    trial = study.ask()

    def taken_back(cfg: Any, run_dir: Any, quiet: bool = False, on_epoch: Any = None) -> Any:
        study.tell(trial.number, state=TrialState.FAIL)  # what take_back_lost does
        on_epoch({"epoch": 0, "loss": 1.0, "valid": {"NDCG@10": 0.2}})
        raise AssertionError("unreachable: reporting to a finished trial raises")

    monkeypatch.setattr(stages, "run", taken_back)
    out = study_mod.run_trial(study, trial, spec, quiet=True, log=lambda _m: None)
    assert out.state == "taken back"
    assert not (spec.index_dir / "failures.jsonl").exists()
    assert not list((tmp_path / "runs").rglob(".basrec.lock"))  # the run folder is free


def test_a_lock_of_a_silent_machine_is_taken_over(tmp_path: Path) -> None:
    from basrec.experiments import runner

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    lock = run_dir / runner.LOCK_NAME
    lock.write_text(json.dumps({"pid": 1, "host": "elsewhere", "since": 0}))
    assert not runner.acquire_lock(run_dir)  # grids never take another host's lock
    assert not runner.acquire_lock(run_dir, stale_after_s=60)  # fresh: its holder is alive
    os.utime(lock, (time.time() - 120, time.time() - 120))
    assert runner.acquire_lock(run_dir, stale_after_s=60)  # silent for 2 min: taken over
    assert json.loads(lock.read_text())["pid"] == os.getpid()
    # the holder keeps its lock fresh while it trains
    os.utime(lock, (time.time() - 120, time.time() - 120))
    with runner.LockRefresher(run_dir, every_s=0.02):
        time.sleep(0.2)
    assert time.time() - lock.stat().st_mtime < 5


def test_best_of_equal_values_is_the_first_trial(tmp_path: Path) -> None:
    study = optuna.create_study(direction="maximize")
    for value in (0.1, 0.3, 0.3, 0.2):
        study.tell(study.ask(), value)
    best = best_trial(study)
    assert best is not None and best.number == 1
