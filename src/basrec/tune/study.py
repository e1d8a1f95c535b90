"""Running a study: workers, trials as ordinary run folders, pruning, lost trials taken back.

Each trial is one run of ``basrec.stages.run`` in the usual folder
``ROOT/<dataset>/<model>/<objective>-s<seed>-<id8>`` (the id is the hash of the run's
configuration, as for experiment grids): a trial with the same values as an earlier run reuses
it, and a trial taken back after a kill resumes its run from the last finished epoch. A
two-stage objective (BASRec) gets its stage 1 as a run of its own (``init_from``), shared by
every trial whose stage-1 configuration is the same.

The objective is ``results.json["valid"][metric]`` of the trial's run: the validation metric
of its selected epoch. Nothing here reads a test metric. Pruning reads the validation metric
of each validated epoch (``train.fit``'s ``on_epoch``) and never prunes an epoch below the
run's ``min_epochs``.

A worker loops: under the study lock it takes back lost trials (RUNNING ones whose process
is dead on this host, or whose heartbeat is older than ``stale_after_s``: each is marked FAIL
and its values enqueued again, with ``retry_of``), stops when the budget is spent, and asks
for a trial; then it trains that trial without the lock. The budget counts every trial but
those taken back, so a killed study ends with as many trials as asked for.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from basrec.config import RunConfig
from basrec.errors import BasrecError, ConfigError
from basrec.experiments.runner import Periodic
from basrec.runio import atomic_write_text, read_json, read_metrics
from basrec.tune.sampler import PerTrialTPE
from basrec.tune.spec import TuneSpec
from basrec.tune.storage import StudyLock, file_of, open_storage, redact

HEARTBEAT_S = 30.0
WAIT_POLL_S = 2.0  # a trial waiting for a run another process trains looks again this often
Log = Callable[[str], None]


def quiet_optuna() -> None:
    optuna.logging.set_verbosity(optuna.logging.ERROR)


# -- where a trial's runs live ------------------------------------------------------------


@dataclass(frozen=True)
class Placement:
    """A trial's run (configuration, folder, id) and the stage-1 run it starts from."""

    cfg: RunConfig
    dir: Path
    id: str
    stage1_cfg: RunConfig | None = None
    stage1_dir: Path | None = None
    stage1_id: str | None = None
    #: the stage-1 configuration less its seed: runs of one key form one "Base" row
    stage1_key: str | None = None

    def record(self, root: Path) -> dict[str, Any]:
        """The trial attribute ``run``: what the study index and ``--status`` need."""
        return {"dir": _rel(self.dir, root), "id": self.id, "objective": self.cfg.objective,
                "dataset": self.cfg.dataset, "model": self.cfg.model, "seed": self.cfg.seed,
                "metric": self.cfg.metric, "min_epochs": self.cfg.min_epochs,
                "stage1_dir": None if self.stage1_dir is None else _rel(self.stage1_dir, root),
                "stage1_id": self.stage1_id, "stage1_key": self.stage1_key}


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path.resolve())


def _abs(text: str, root: Path) -> Path:
    p = Path(text)
    return p if p.is_absolute() else root / p


def run_folder(root: Path, cfg: RunConfig, rid: str) -> Path:
    """The folder an experiment grid gives the same run (``experiment.plan``)."""
    from basrec.experiments.plan import dataset_slug

    return root / dataset_slug(cfg.dataset) / cfg.model / f"{cfg.objective}-s{cfg.seed}-{rid[:8]}"


def place(root: Path, cfg: RunConfig) -> Placement:
    """Where ``cfg`` runs; a two-stage run without ``init_from`` gets a shared stage-1 run."""
    from basrec.build import stage1_config, two_stage
    from basrec.experiments.plan import run_id

    if two_stage(cfg) and not cfg.init_from:
        s1 = stage1_config(cfg)
        s1_id = run_id(s1)
        s1_dir = run_folder(root, s1, s1_id)
        cfg = cfg.replace(init_from=str(s1_dir.resolve()))
        rid = run_id(cfg, s1_id)
        return Placement(cfg, run_folder(root, cfg, rid), rid, s1, s1_dir, s1_id,
                         run_id(s1.replace(seed=0)))
    rid = run_id(cfg, Path(cfg.init_from).name if cfg.init_from else None)
    return Placement(cfg, run_folder(root, cfg, rid), rid)


def train_locked(cfg: RunConfig, run_dir: Path, *, quiet: bool, log: Log,
                 on_epoch: Callable[[dict[str, Any]], None] | None = None,
                 stale_after_s: float | None = None) -> dict[str, Any]:
    """``stages.run`` under the run folder's lock (kept fresh while it trains); waits while
    another process trains it, and takes over the lock of another machine silent for
    ``stale_after_s``."""
    from basrec import stages
    from basrec.experiments.runner import LockRefresher, acquire_lock, lock_holder, release_lock

    said = False
    while not acquire_lock(run_dir, stale_after_s):
        if not said:
            holder = lock_holder(run_dir)
            log(f"  waiting for {run_dir} (trained by "
                f"{'pid ' + str(holder) if holder else 'another machine'})")
            said = True
        time.sleep(WAIT_POLL_S)
    try:
        with LockRefresher(run_dir):
            return stages.run(cfg, run_dir, quiet=quiet, on_epoch=on_epoch)
    finally:
        release_lock(run_dir)


def validation_value(results: dict[str, Any], metric: str) -> float:
    """The objective: ``metric`` of the run's validation results (never its test results)."""
    valid = results.get("valid")
    if not isinstance(valid, dict) or metric not in valid:
        raise BasrecError(f"the run's validation results have no {metric}")
    value = float(valid[metric])
    if value != value:
        raise BasrecError(f"the run's validation {metric} is not a number")
    return value


# -- opening a study ----------------------------------------------------------------------


def make_pruner(spec: TuneSpec, base: RunConfig) -> optuna.pruners.BasePruner:
    opts = spec.pruner_options
    if spec.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=opts.get("startup_trials", 3),
                                           n_warmup_steps=opts.get("warmup_epochs", 0),
                                           n_min_trials=max(1, opts.get("min_trials", 1)))
    if spec.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=opts.get("min_epochs", max(1, base.min_epochs)),
            max_resource=opts.get("max_epochs", base.epochs),
            reduction_factor=opts.get("reduction_factor", 3))
    return optuna.pruners.NopPruner()


def open_study(spec: TuneSpec, url: str, *, create: bool = False) -> optuna.Study:
    """Load the study (create it with ``create``); a study made from another search space,
    metric or base configuration is refused."""
    quiet_optuna()
    path = file_of(url)
    if not create and path is not None and not path.exists():  # looking creates no file
        raise BasrecError(f"no study {spec.name!r} in {redact(url)} (run basrec tune FILE "
                          f"first)")
    storage = open_storage(url)
    base = spec.config()
    sampler = PerTrialTPE(spec.sampler_seed, spec.n_startup)
    pruner = make_pruner(spec, base)
    fingerprint = json.loads(json.dumps(spec.fingerprint(), default=str))
    try:
        study = optuna.load_study(study_name=spec.name, storage=storage, sampler=sampler,
                                  pruner=pruner)
    except KeyError:
        if not create:
            raise BasrecError(f"no study {spec.name!r} in {redact(url)} (run basrec tune "
                              f"FILE first)") from None
        study = optuna.create_study(study_name=spec.name, storage=storage, sampler=sampler,
                                    pruner=pruner, direction="maximize", load_if_exists=True)
        if "basrec" not in study.user_attrs:
            study.set_user_attr("basrec", fingerprint)
    recorded = study.user_attrs.get("basrec")
    if recorded is not None and recorded != fingerprint:
        changed = [k for k in fingerprint if fingerprint[k] != recorded.get(k)]
        raise ConfigError(f"study {spec.name!r} in {redact(url)} was made with another "
                          f"{' and '.join(changed)}; give this one another name")
    if study.direction != optuna.study.StudyDirection.MAXIMIZE:
        raise ConfigError(f"study {spec.name!r} does not maximise; give this one another name")
    return study


# -- the budget and lost trials -------------------------------------------------------------


def retried(trials: list[FrozenTrial]) -> dict[int, int]:
    """Trial number → the number of the trial that re-runs it (``retry_of``)."""
    out: dict[int, int] = {}
    for t in trials:
        of = t.user_attrs.get("retry_of")
        if isinstance(of, int):
            out[of] = t.number
    return out


#: a trial's values run again at most this many times after their process was lost
MAX_RETRIES = 2


def losses(t: FrozenTrial, by_number: dict[int, FrozenTrial]) -> int:
    """How many earlier trials with ``t``'s values were lost (interruptions, given back on
    purpose, do not count)."""
    n, of = 0, t.user_attrs.get("retry_of")
    while isinstance(of, int) and of in by_number:
        if not by_number[of].user_attrs.get("interrupted"):
            n += 1
        of = by_number[of].user_attrs.get("retry_of")
    return n


def counted(trials: list[FrozenTrial]) -> int:
    """Trials that use the budget: all but those taken back (re-run under another number)."""
    again = retried(trials)
    return sum(1 for t in trials if t.number not in again)


def _pid_alive(pid: int) -> bool:
    from basrec.experiments.runner import pid_alive

    return pid != os.getpid() and pid_alive(pid)


def stale_reason(t: FrozenTrial, now: float, stale_after_s: float) -> str | None:
    """Why a RUNNING trial is lost (None: it is alive as far as one can tell)."""
    host, pid = t.user_attrs.get("host"), t.user_attrs.get("pid")
    if not isinstance(host, str) or not isinstance(pid, int):
        return "no worker recorded"
    if host == socket.gethostname():
        return None if _pid_alive(pid) else f"its process {pid} is gone"
    beat = t.user_attrs.get("heartbeat")
    if not isinstance(beat, (int, float)):
        return None
    if now - beat > stale_after_s:
        return f"no heartbeat from {host} for {now - beat:.0f} s"
    return None


def take_back_lost(study: optuna.Study, spec: TuneSpec) -> list[str]:
    """Mark lost RUNNING trials FAIL and enqueue their values again (hold the study lock)."""
    lines = []
    now = time.time()
    by_number = {t.number: t for t in study.get_trials(deepcopy=False)}
    for t in (t for t in by_number.values() if t.state == TrialState.RUNNING):
        why = stale_reason(t, now, spec.stale_after_s)
        if why is None:
            continue
        lost_before = losses(t, by_number)
        try:
            study.tell(t.number, state=TrialState.FAIL)
        except (RuntimeError, ValueError):  # finished meanwhile by its own worker
            continue
        if lost_before >= MAX_RETRIES:
            err = RuntimeError(f"lost {lost_before + 1} times ({why}); not run again")
            run = t.user_attrs.get("run")
            append_failure(spec, t.number, run if isinstance(run, dict) else None, err)
            lines.append(f"trial {t.number} was lost ({why}), its values {lost_before + 1} "
                         f"times: recorded as failed, not run again")
            continue
        study.enqueue_trial(dict(t.params), user_attrs={"retry_of": t.number})
        lines.append(f"trial {t.number} was lost ({why}); its values run again")
    return lines


# -- one trial ----------------------------------------------------------------------------


@dataclass
class TrialOutcome:
    number: int
    state: str  # complete, pruned, failed, taken back
    value: float | None
    message: str
    seconds: float


class _Heartbeat(Periodic):
    """Writes the trial's ``heartbeat`` attribute every HEARTBEAT_S seconds."""

    def __init__(self, trial: optuna.Trial) -> None:
        super().__init__(HEARTBEAT_S, lambda: trial.set_user_attr("heartbeat", time.time()))


def _params_text(params: dict[str, Any]) -> str:
    def short(v: Any) -> str:
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    return " ".join(f"{k}={short(v)}" for k, v in params.items())


def _reporter(trial: optuna.Trial, metric: str, min_epochs: int
              ) -> Callable[[dict[str, Any]], None]:
    def on_epoch(record: dict[str, Any]) -> None:
        valid = record.get("valid")
        if not isinstance(valid, dict) or metric not in valid:
            return
        epoch = int(record["epoch"])
        value = float(valid[metric])
        trial.report(value, epoch)
        if epoch >= min_epochs and trial.should_prune():
            trial.set_user_attr("pruned_epoch", epoch)
            raise optuna.TrialPruned(f"pruned at epoch {epoch} ({metric} {value:.4f})")

    return on_epoch


def _replay(trial: optuna.Trial, run_dir: Path, metric: str) -> None:
    """Report the validated epochs a resumed run already has (no pruning on them)."""
    try:
        history = read_metrics(run_dir)
    except BasrecError:
        return
    for record in history:
        valid = record.get("valid")
        if isinstance(valid, dict) and metric in valid:
            trial.report(float(valid[metric]), int(record["epoch"]))


def append_failure(spec: TuneSpec, number: int, run: dict[str, Any] | None,
                   err: BaseException) -> None:
    """A failed trial's line in ``failures.jsonl`` (read by ``basrec report``)."""
    spec.index_dir.mkdir(parents=True, exist_ok=True)
    tb = traceback.format_exception(type(err), err, err.__traceback__)
    record = {"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "trial": number,
              "id": (run or {}).get("id"), "dir": (run or {}).get("dir"),
              "error_type": type(err).__name__, "error": _one_line(err),
              "traceback": "".join(tb[-3:])[-2000:]}
    with open(spec.index_dir / "failures.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record) + "\n")


def _one_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return lines[0] if lines else type(err).__name__


def run_trial(study: optuna.Study, trial: optuna.Trial, spec: TuneSpec, *, quiet: bool,
              log: Log, single_thread: bool = False,
              lock: StudyLock | None = None) -> TrialOutcome:
    """Train one asked trial and tell the study how it ended (see the module doc)."""
    t0 = time.time()
    number = trial.number
    values: dict[str, Any] = {}
    run: dict[str, Any] | None = None
    try:
        with _Heartbeat(trial):
            values = {p.key: p.suggest(trial) for p in spec.params}
            log(f"trial {number}: {_params_text(values)}")
            cfg = spec.config(values)
            if single_thread and cfg.threads == 0:
                cfg = cfg.replace(threads=1)
            where = place(spec.root, cfg)
            run = where.record(spec.root)
            trial.set_user_attr("run", run)
            if where.stage1_cfg is not None and where.stage1_dir is not None:
                if not (where.stage1_dir / "results.json").is_file():
                    log(f"trial {number}: stage 1 in {where.stage1_dir}")
                train_locked(where.stage1_cfg, where.stage1_dir, quiet=quiet, log=log,
                             stale_after_s=spec.stale_after_s)
            _replay(trial, where.dir, spec.metric)
            results = train_locked(where.cfg, where.dir, quiet=quiet, log=log,
                                   on_epoch=_reporter(trial, spec.metric, where.cfg.min_epochs),
                                   stale_after_s=spec.stale_after_s)
            value = validation_value(results, spec.metric)
    except optuna.TrialPruned as e:
        study.tell(trial, state=TrialState.PRUNED, skip_if_finished=True)
        return TrialOutcome(number, "pruned", None, str(e), time.time() - t0)
    except KeyboardInterrupt:
        _give_back(study, trial, values, lock)
        raise
    except optuna.exceptions.UpdateFinishedTrialError:
        # another worker took this trial back as lost (a long pause, a clock far off): its
        # values run again under another number, which resumes this run folder
        return TrialOutcome(number, "taken back", None, "another worker took this trial back; "
                            "its values run again", time.time() - t0)
    except Exception as e:  # noqa: BLE001 - a failed trial is recorded, the study goes on
        with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):
            trial.set_user_attr("error", f"{type(e).__name__}: {_one_line(e)}")
        study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
        append_failure(spec, number, run, e)
        return TrialOutcome(number, "failed", None, f"{type(e).__name__}: {_one_line(e)}",
                            time.time() - t0)
    study.tell(trial, value, skip_if_finished=True)
    return TrialOutcome(number, "complete", value, f"{spec.metric} {value:.4f}",
                        time.time() - t0)


def _give_back(study: optuna.Study, trial: optuna.Trial, values: dict[str, Any],
               lock: StudyLock | None) -> None:
    """An interrupted trial: FAIL, and its values enqueued again for the next run."""
    try:
        with lock.hold() if lock is not None else _nothing():
            trial.set_user_attr("interrupted", True)
            study.tell(trial, state=TrialState.FAIL)
            study.enqueue_trial(dict(trial.params) or values,
                                user_attrs={"retry_of": trial.number})
    except Exception:  # noqa: BLE001 - left RUNNING, it is taken back as a lost trial
        pass


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


# -- workers ------------------------------------------------------------------------------


def work(spec: TuneSpec, url: str, *, quiet: bool = True, log: Log | None = None,
         single_thread: bool = False) -> list[TrialOutcome]:
    """One worker: take trials until the study's budget is spent (see the module doc)."""
    say = log or (lambda _m: None)
    study = open_study(spec, url)
    lock = StudyLock(url, spec.name)
    outcomes: list[TrialOutcome] = []
    me = {"host": socket.gethostname(), "pid": os.getpid()}
    while True:
        with lock.hold():
            for line in take_back_lost(study, spec):
                say(line)
            trials = study.get_trials(deepcopy=False)
            waiting = any(t.state == TrialState.WAITING for t in trials)
            if not waiting and counted(trials) >= spec.trials:
                break
            trial = study.ask()
            for key, value in {**me, "heartbeat": time.time()}.items():
                trial.set_user_attr(key, value)
        out = run_trial(study, trial, spec, quiet=quiet, log=say, single_thread=single_thread,
                        lock=lock)
        outcomes.append(out)
        say(f"trial {out.number}: {out.state} — {out.message} ({out.seconds:.1f} s)")
        try:
            write_index(spec, study)
        except OSError as e:
            say(f"warning: study index not written ({e})")
    return outcomes


def _worker_main(spec: TuneSpec, url: str, quiet: bool, index: int, env: dict[str, str],
                 cwd: str) -> None:
    """Entry of a ``--workers`` process: the parent's environment and folder, one torch
    thread, SIGTERM as an interrupt."""
    import signal

    import torch

    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)

    def interrupt(*_a: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    torch.set_num_threads(1)

    def log(message: str) -> None:
        print(f"[worker {index}] {message}", flush=True)

    try:
        work(spec, url, quiet=quiet, log=log, single_thread=True)
    except BasrecError as e:
        print(f"basrec: error: [worker {index}] {e}", flush=True)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None


#: imported once by the fork server, so that workers start without importing torch again
WORKER_PRELOAD = ["torch", "torch._dynamo", "optuna", "basrec.train", "basrec.stages",
                  "basrec.tune.study", "basrec.models", "basrec.objectives"]


def _process_context() -> Any:
    """A fork server where there is one (a clean process that only imported WORKER_PRELOAD:
    workers start in a moment, and safely), else spawn."""
    import multiprocessing

    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(WORKER_PRELOAD)
        return ctx
    return multiprocessing.get_context("spawn")


def optimize(spec: TuneSpec, url: str, *, workers: int = 1, quiet: bool = True,
             log: Log | None = None) -> optuna.Study:
    """Create or open the study and run ``workers`` local workers until its budget is spent."""
    say = log or (lambda _m: None)
    if workers < 1:
        raise BasrecError(f"--workers: must be at least 1, got {workers}")
    check_index_dir(spec)
    study = open_study(spec, url, create=True)
    write_index(spec, study)
    say(f"study {spec.name}: {spec.trials} trials, storage {redact(url)}, "
        f"{workers} worker{'s' if workers > 1 else ''}")
    if workers == 1:
        work(spec, url, quiet=quiet, log=say)
    else:
        ctx = _process_context()
        env, cwd = dict(os.environ), os.getcwd()
        procs = [ctx.Process(target=_worker_main, args=(spec, url, quiet, k + 1, env, cwd))
                 for k in range(workers)]
        try:
            for p in procs:
                p.start()
            for p in procs:
                p.join()
        finally:
            for p in procs:
                if p.is_alive():
                    p.terminate()
                    p.join()
        bad = [str(p.exitcode) for p in procs if p.exitcode not in (0, None)]
        if bad:
            say(f"warning: {len(bad)} worker(s) ended with exit code {', '.join(bad)}")
    study = open_study(spec, url)
    write_index(spec, study)
    return study


# -- the study index (basrec report) ----------------------------------------------------------


def check_index_dir(spec: TuneSpec) -> None:
    """``ROOT/experiments/<name>`` must not be an experiment grid's folder."""
    path = spec.index_dir / "experiment.json"
    if path.is_file():
        try:
            data = read_json(path)
        except (OSError, ValueError):
            data = {}
        if not data.get("tune"):
            raise ConfigError(f"{spec.index_dir} belongs to the experiment grid {spec.name!r}; "
                              f"give the study another name")


def _planned(run: dict[str, Any], label: str, root: Path, stage1: bool = False) -> Any:
    from basrec.experiments.plan import PlannedRun

    if stage1:
        return PlannedRun(id=str(run["stage1_id"]), label=label, objective="none",
                          dataset=str(run["dataset"]), model=str(run["model"]),
                          seed=int(run["seed"]), cell=0, dir=_abs(str(run["stage1_dir"]), root))
    return PlannedRun(id=str(run["id"]), label=label, objective=str(run["objective"]),
                      dataset=str(run["dataset"]), model=str(run["model"]),
                      seed=int(run["seed"]), cell=0, dir=_abs(str(run["dir"]), root),
                      stage1=run.get("stage1_id"), options=dict(run.get("params") or {}))


def index_runs(spec: TuneSpec, study: optuna.Study) -> list[Any]:
    """PlannedRuns of the study: stage-1 runs ("Base"), trials that were not pruned or taken
    back ("trial N"), and ``--retrain-best`` runs (their own labels)."""
    trials = study.get_trials(deepcopy=False)
    again = retried(trials)
    entries: list[tuple[dict[str, Any], str]] = []
    for t in trials:
        run = t.user_attrs.get("run")
        if not isinstance(run, dict) or t.number in again or t.state == TrialState.PRUNED:
            continue
        entries.append(({**run, "params": dict(t.params)}, f"trial {t.number}"))
    for run in study.user_attrs.get("retrain", []):
        entries.append((run, str(run.get("label", "retrained"))))
    out: list[Any] = []
    seen_stage1: set[str] = set()
    base_labels: dict[str, str] = {}  # one "Base" row per stage-1 configuration
    for run, _ in entries:
        s1 = run.get("stage1_id")
        if s1 and s1 not in seen_stage1 and run.get("stage1_dir"):
            seen_stage1.add(s1)
            key = str(run.get("stage1_key") or s1)
            n = len(base_labels) + 1
            label = base_labels.setdefault(key, "Base" if n == 1 else f"Base {n}")
            out.append(_planned(run, label, spec.root, stage1=True))
    out += [_planned(run, label, spec.root) for run, label in entries]
    return out


def write_index(spec: TuneSpec, study: optuna.Study) -> Path:
    """``ROOT/experiments/<name>/experiment.json``: the study's runs for ``basrec report``."""
    from basrec.experiments.plan import unique_in_order

    runs = index_runs(spec, study)
    root = spec.root
    labels: dict[str, list[str]] = {}
    for r in runs:
        labels.setdefault(r.label, []).append(r.to_json(root)["dir"])
    data = {"name": spec.name, "tune": True, "description": spec.description, "table": None,
            "source": str(spec.source.resolve()) if spec.source else None,
            "metric": spec.metric,
            "datasets": unique_in_order(r.dataset for r in runs),
            "models": unique_in_order(r.model for r in runs),
            "seeds": sorted({r.seed for r in runs}),
            "labels_order": unique_in_order(r.label for r in runs),
            "runs": [r.to_json(root) for r in runs], "labels": labels}
    path = spec.index_dir / "experiment.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(data, indent=2) + "\n")
    return path
