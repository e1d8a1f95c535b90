"""An experiment's execution: the planned runs trained in order, with locks, failures,
resumption and status.

Execution: a finished run (``results.json``) is skipped; an interrupted one resumes from its
``checkpoint_last.pt`` (``stages.run``); a failing one is logged to ``failures.jsonl`` and the
grid goes on (its dependants are "blocked"). A lock file in the run folder keeps two processes
off the same run. The index ``ROOT/experiments/<name>/experiment.json`` maps labels to runs;
``started.jsonl`` beside it lists the runs this grid has started, so a run whose folder has
gone since is started again with a message saying so. ``run_status`` reads a run's state
(done, running, partial with its last epoch, validations and epochs left: ``progress.py``, not
started) for ``basrec experiment FILE --status``.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from basrec.errors import ConfigError
from basrec.experiments.plan import Plan, PlannedRun, plan, select_runs
from basrec.experiments.progress import read_progress
from basrec.experiments.spec import ExperimentSpec
from basrec.runio import atomic_write_text, read_json, write_json

LOCK_NAME = ".basrec.lock"
#: the holder of a run folder's lock touches it this often (its mtime says it is alive)
LOCK_REFRESH_S = 30.0
OK_STATUSES = ("done", "trained", "resumed")
STARTED_NAME = "started.jsonl"

# -- execution -----------------------------------------------------------------------------


@dataclass
class RunOutcome:
    run: PlannedRun
    status: str  # done, trained, resumed, failed, blocked, busy, unavailable, pending
    message: str = ""
    seconds: float = 0.0


@dataclass
class ExperimentOutcome:
    plan: Plan
    shard: tuple[int, int]
    outcomes: list[RunOutcome]

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)

    @property
    def failed(self) -> list[RunOutcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    def summary(self) -> str:
        parts = [f"{s} {self.count(s)}" for s in
                 ("done", "trained", "resumed", "failed", "blocked", "busy", "unavailable",
                  "pending") if self.count(s)]
        i, n = self.shard
        where = f" (shard {i}/{n})" if n > 1 else ""
        count = len(self.outcomes)
        return (f"{self.plan.spec.name}{where}: {count} run{'' if count == 1 else 's'}: "
                + ", ".join(parts))


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _lock_age_s(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except OSError:
        return 0.0


def acquire_lock(run_dir: Path, stale_after_s: float | None = None) -> bool:
    """Create ``run_dir/.basrec.lock``; a lock left by a dead process on this host is taken
    over, and (``stale_after_s``) one of another host untouched for that long: its holder,
    alive, would have refreshed it (LockRefresher). False when another live process holds it."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_NAME
    me = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            other = _read_lock(run_dir)
            same_host = other.get("host") == me["host"]
            pid = other.get("pid")
            dead_here = same_host and isinstance(pid, int) and (pid == os.getpid() or
                                                                not pid_alive(pid))
            silent_elsewhere = (not same_host and stale_after_s is not None
                                and _lock_age_s(path) > stale_after_s)
            if dead_here or silent_elsewhere:
                path.unlink(missing_ok=True)
                continue
            return False
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(me, fh)
        return True
    return False


class Periodic:
    """A context manager that calls ``action`` every ``every_s`` seconds on a daemon thread
    while its block runs (a missed call is harmless: errors are ignored)."""

    def __init__(self, every_s: float, action: Callable[[], object]) -> None:
        self.every_s = every_s
        self.action = action
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self.stop.wait(self.every_s):
            with contextlib.suppress(Exception):
                self.action()

    def __enter__(self) -> Periodic:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


class LockRefresher(Periodic):
    """While a run trains, touch its lock every LOCK_REFRESH_S seconds, so that a process on
    another machine can tell a live holder from a dead one (``acquire_lock``'s
    ``stale_after_s``)."""

    def __init__(self, run_dir: Path, every_s: float = LOCK_REFRESH_S) -> None:
        self.path = run_dir / LOCK_NAME
        super().__init__(every_s, self._touch)

    def _touch(self) -> None:
        if _read_lock(self.path.parent).get("pid") == os.getpid():
            os.utime(self.path)


def _read_lock(run_dir: Path) -> dict[str, Any]:
    """The lock file's record; {} when it is missing, unreadable or not a JSON object."""
    try:
        record = json.loads((run_dir / LOCK_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def lock_holder(run_dir: Path) -> int | None:
    """The pid of the live process on this host that holds ``run_dir``'s lock, else None."""
    other = _read_lock(run_dir)
    pid = other.get("pid")
    if other.get("host") == socket.gethostname() and isinstance(pid, int) and pid_alive(pid):
        return pid
    return None


def release_lock(run_dir: Path) -> None:
    (run_dir / LOCK_NAME).unlink(missing_ok=True)


def _append_failure(spec: ExperimentSpec, run: PlannedRun, err: BaseException) -> None:
    spec.index_dir.mkdir(parents=True, exist_ok=True)
    tb = traceback.format_exception(type(err), err, err.__traceback__)
    record = {"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "id": run.id, "label": run.label,
              "dataset": run.dataset, "model": run.model, "seed": run.seed,
              "dir": str(run.dir), "error_type": type(err).__name__,
              "error": str(err).splitlines()[0] if str(err) else type(err).__name__,
              "traceback": "".join(tb[-3:])[-2000:]}
    with open(spec.index_dir / "failures.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record) + "\n")


def _resumable(run: PlannedRun) -> bool:
    return (run.dir / "checkpoint_last.pt").is_file() or \
        (run.dir / "stage1" / "checkpoint_last.pt").is_file()


def _started_path(spec: ExperimentSpec) -> Path:
    return spec.index_dir / STARTED_NAME


def started_ids(spec: ExperimentSpec) -> set[str]:
    """Ids of the runs this grid has started (``started.jsonl``); unreadable lines are
    skipped."""
    path = _started_path(spec)
    if not path.is_file():
        return set()
    ids = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            ids.add(str(json.loads(line)["id"]))
        except (ValueError, KeyError, TypeError):
            continue
    return ids


def _mark_started(spec: ExperimentSpec, run: PlannedRun) -> None:
    if run.id in started_ids(spec):
        return
    spec.index_dir.mkdir(parents=True, exist_ok=True)
    with open(_started_path(spec), "a", encoding="utf-8") as fh:
        fh.write(json.dumps({"id": run.id, "dir": str(run.dir),
                             "time": time.strftime("%Y-%m-%dT%H:%M:%S")}) + "\n")


@dataclass(frozen=True)
class RunState:
    """Where one planned run stands: ``done``, ``partial`` (``running`` while a live process
    holds its lock) or ``not started``; ``detail`` says more in one line."""

    state: str
    detail: str


def run_status(run: PlannedRun) -> RunState:
    """The state of ``run`` read from its folder (nothing is trained or written)."""
    if not run.available:
        return RunState("unavailable", run.note)
    metric = run.cfg.metric if run.cfg is not None else "NDCG@20"
    if run.finished:
        try:
            test = read_json(run.dir / "results.json").get("test", {})
        except (OSError, ValueError):
            test = {}
        score = ", ".join(f"test {k} {test[k]:.4f}" for k in ("NDCG@10", "HR@10") if k in test)
        return RunState("done", score or str(run.dir))
    holder = lock_holder(run.dir) if run.dir.is_dir() else None
    for folder, stage in ((run.dir, ""), (run.dir / "stage1", "stage 1, ")):
        progress = read_progress(folder, metric)
        if progress is not None:
            state = "running" if holder is not None else "partial"
            pid = f" (pid {holder})" if holder is not None else ""
            return RunState(state, f"{stage}{progress.describe()}{pid}")
    if holder is not None:
        return RunState("running", f"starting (pid {holder})")
    return RunState("not started", "")


def status_lines(plan_: Plan, runs: Sequence[PlannedRun]) -> list[str]:
    """One line per run for ``--status``, then the counts."""
    lines: list[str] = []
    counts: dict[str, int] = {}
    for k, run in enumerate(runs, 1):
        st = run_status(run)
        counts[st.state] = counts.get(st.state, 0) + 1
        lines.append(f"[{k}/{len(runs)}] {run.dataset} {run.model} {run.label} seed {run.seed}: "
                     f"{st.state}" + (f" — {st.detail}" if st.detail else "")
                     + f"  ({run.dir})")
    order = ("done", "running", "partial", "not started", "unavailable")
    lines.append(f"{plan_.spec.name}: {len(runs)} run{'' if len(runs) == 1 else 's'}: "
                 + ", ".join(f"{s} {counts[s]}" for s in order if s in counts))
    return lines


def write_index(plan: Plan) -> Path:
    """Write ``ROOT/experiments/<name>/experiment.json`` (identical from every shard)."""
    path = plan.spec.index_path
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(plan.index(), indent=2) + "\n")
    return path


def run_experiment(spec: ExperimentSpec, *, shard: tuple[int, int] = (1, 1),
                   dry_run: bool = False, quiet: bool = True,
                   log: Callable[[str], None] | None = None,
                   trainer: Callable[..., dict[str, Any]] | None = None,
                   only: dict[str, frozenset[str]] | None = None,
                   threads: int | None = None) -> ExperimentOutcome:
    """Plan the grid and train this shard's runs that are not finished (see module doc);
    ``only`` (``parse_only``) keeps the matching runs and the stage-1 runs they need;
    ``threads`` replaces every trained run's ``threads`` (an execution setting, outside run ids).

    ``trainer`` defaults to ``basrec.stages.run``; exceptions from it are recorded as failures
    (KeyboardInterrupt stops the grid; a rerun resumes)."""
    say = log or (lambda _m: None)
    the_plan = plan(spec)
    for w in the_plan.warnings:
        say(f"warning: {w}")
    by_id = the_plan.by_id()
    todo = select_runs(the_plan.shard(*shard), only or {}, by_id)
    if not todo and only:
        raise ConfigError("--only selects no run of this grid"
                          + (f" (shard {shard[0]}/{shard[1]})" if shard[1] > 1 else ""))
    if not dry_run:
        write_index(the_plan)
    if trainer is None:
        from basrec import stages

        trainer = stages.run
    outcomes: list[RunOutcome] = []
    status: dict[str, str] = {}
    started = started_ids(spec)
    for k, run in enumerate(todo, 1):
        head = f"[{k}/{len(todo)}] {run.dataset} {run.model} {run.label} seed {run.seed}"
        if not run.available:
            out = RunOutcome(run, "unavailable", run.note)
        elif run.finished:
            out = RunOutcome(run, "done", str(run.dir))
        elif run.stage1 is not None and status.get(run.stage1) not in OK_STATUSES \
                and not by_id[run.stage1].finished:
            why = status.get(run.stage1, "pending")
            out = RunOutcome(run, "pending" if dry_run else "blocked",
                             f"waits for its stage-1 run ({why}): {by_id[run.stage1].dir}")
        elif dry_run:
            holder = lock_holder(run.dir)
            state = (f"running (pid {holder}): " if holder is not None
                     else "resumable: " if _resumable(run) else "")
            out = RunOutcome(run, "pending", state + str(run.dir))
        else:
            if run.id in started and not run.dir.exists():
                say(f"{head}: its folder {run.dir} is gone; starting it again")
            out = _train_one(spec, run, trainer, quiet, threads)
        status[run.id] = out.status
        outcomes.append(out)
        if out.status in ("trained", "resumed", "failed", "blocked", "busy") or dry_run:
            say(f"{head}: {out.status}" + (f" — {out.message}" if out.message else ""))
    return ExperimentOutcome(the_plan, shard, outcomes)


def _train_one(spec: ExperimentSpec, run: PlannedRun, trainer: Callable[..., dict[str, Any]],
               quiet: bool, threads: int | None = None) -> RunOutcome:
    assert run.cfg is not None
    cfg = run.cfg if threads is None else run.cfg.replace(threads=threads)
    if not acquire_lock(run.dir):
        return RunOutcome(run, "busy", f"another process holds {run.dir / LOCK_NAME} "
                                       f"(delete it if that process is gone)")
    resumed = _resumable(run)
    _mark_started(spec, run)
    t0 = time.time()
    try:
        with LockRefresher(run.dir):
            results = trainer(cfg, run.dir, quiet=quiet)
    except Exception as e:  # noqa: BLE001 - a failed run is reported, the grid goes on
        _append_failure(spec, run, e)
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        return RunOutcome(run, "failed", f"{type(e).__name__}: {msg}", time.time() - t0)
    finally:
        release_lock(run.dir)
    test = results.get("test", {})
    score = ", ".join(f"{k} {test[k]:.4f}" for k in ("NDCG@10", "HR@10") if k in test)
    return RunOutcome(run, "resumed" if resumed else "trained",
                      f"{time.time() - t0:.1f} s; test {score}", time.time() - t0)


def describe(outcome: ExperimentOutcome) -> list[str]:
    """Summary lines: counts, then one line per failure."""
    lines = [outcome.summary()]
    for o in outcome.failed:
        lines.append(f"  failed: {o.run.label} {o.run.dataset}/{o.run.model} seed "
                     f"{o.run.seed}: {o.message}")
    if outcome.failed:
        lines.append(f"  details: {outcome.plan.spec.index_dir / 'failures.jsonl'}")
    return lines


def save_summary(outcome: ExperimentOutcome) -> None:
    """Record this invocation's statuses beside the index (one file per shard)."""
    i, n = outcome.shard
    path = outcome.plan.spec.index_dir / f"status-{i}-of-{n}.json"
    write_json(path, {"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "shard": [i, n],
                      "runs": [{"id": o.run.id, "label": o.run.label, "status": o.status,
                                "message": o.message} for o in outcome.outcomes]})
