"""What a study shows: ``--status`` lines, ``--report`` (best values, the trials table as
Markdown and CSV, PNG plots) and ``--retrain-best`` (the best values at other seeds, tested).

Tables of trials hold the validation metric only; test metrics appear where the best values
are retrained, after the search has chosen them.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from basrec.errors import BasrecError
from basrec.runio import atomic_write_text
from basrec.tune.spec import TuneSpec
from basrec.tune.study import (
    Log,
    _abs,
    counted,
    place,
    retried,
    train_locked,
    validation_value,
    write_index,
)

STATE_NAMES = {TrialState.COMPLETE: "complete", TrialState.PRUNED: "pruned",
               TrialState.FAIL: "failed", TrialState.RUNNING: "running",
               TrialState.WAITING: "waiting"}
TEST_METRICS = ("NDCG@10", "HR@10", "NDCG@20", "HR@20")


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _run_attr(t: FrozenTrial) -> dict[str, Any]:
    run = t.user_attrs.get("run")
    return run if isinstance(run, dict) else {}


def _note(t: FrozenTrial, again: dict[int, int]) -> str:
    if t.number in again:
        return f"lost; re-run as trial {again[t.number]}"
    if t.state == TrialState.PRUNED:
        epoch = t.user_attrs.get("pruned_epoch")
        return f"pruned at epoch {epoch}" if epoch is not None else "pruned"
    if t.state == TrialState.FAIL:
        return str(t.user_attrs.get("error", "failed"))
    parts = []
    if isinstance(t.user_attrs.get("retry_of"), int):
        parts.append(f"re-runs trial {t.user_attrs['retry_of']}")
    if t.state == TrialState.RUNNING:
        parts.append(f"pid {t.user_attrs.get('pid')} on {t.user_attrs.get('host')}")
    return "; ".join(parts)


def _progress(spec: TuneSpec, t: FrozenTrial) -> str:
    """A running trial's last epoch, validations and epochs left, from its run folder
    (``experiments.progress``)."""
    from basrec.experiments.progress import read_progress

    run = t.user_attrs.get("run")
    if not isinstance(run, dict):
        return "starting"
    progress = read_progress(_abs(str(run["dir"]), spec.root), spec.metric)
    if progress is None:
        s1 = run.get("stage1_dir")
        if s1 and not (_abs(str(s1), spec.root) / "results.json").is_file():
            return f"stage 1 ({_abs(str(s1), spec.root)})"
        return "starting"
    return progress.describe()


def stage1_reference(spec: TuneSpec, trials: list[FrozenTrial]) -> float | None:
    """The validation metric of the one stage-1 run every two-stage trial starts from (the
    value a BASRec trial must beat to help), or None where trials do not share a finished one."""
    folders = {str(_run_attr(t).get("stage1_dir")) for t in trials if _run_attr(t)}
    if len(folders) != 1 or folders == {"None"}:
        return None
    results = _abs(folders.pop(), spec.root) / "results.json"
    try:
        return validation_value(json.loads(results.read_text(encoding="utf-8")), spec.metric)
    except (OSError, ValueError, BasrecError):
        return None


def _state(t: FrozenTrial, again: dict[int, int]) -> str:
    """A trial's state as shown: ``lost`` for one whose values ran again under another
    number (its process was gone, or it was interrupted), else Optuna's state."""
    if t.number in again:
        return "lost"
    return STATE_NAMES.get(t.state, t.state.name.lower())


def _seconds(t: FrozenTrial, again: dict[int, int]) -> int | None:
    """Wall seconds of a trial; a lost one's end is its last heartbeat, not the moment
    another worker noticed it was gone."""
    if t.datetime_start is None:
        return None
    beat = t.user_attrs.get("heartbeat")
    if t.number in again and isinstance(beat, (int, float)):
        return max(0, round(beat - t.datetime_start.timestamp()))
    return round(t.duration.total_seconds()) if t.duration else None


def trial_rows(spec: TuneSpec, study: optuna.Study) -> list[dict[str, Any]]:
    """One row per trial: number, state, validation metric, epochs, values, seconds, note."""
    trials = study.get_trials(deepcopy=False)
    again = retried(trials)
    keys = [p.key for p in spec.params]
    rows = []
    for t in trials:
        run = _run_attr(t)
        steps = sorted(t.intermediate_values)
        row: dict[str, Any] = {
            "trial": t.number, "state": _state(t, again),
            f"valid {spec.metric}": t.value if t.state == TrialState.COMPLETE else None,
            "epochs": steps[-1] + 1 if steps else None}
        for k in keys:
            row[k] = t.params.get(k)
        row["seconds"] = _seconds(t, again)
        row["note"] = _note(t, again)
        row["run"] = run.get("dir", "")
        rows.append(row)
    return rows


def best_trial(study: optuna.Study) -> FrozenTrial | None:
    """The complete trial with the highest value; of equal values, the first (the same
    answer on every storage and machine)."""
    complete = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                if t.value is not None]
    return max(complete, key=lambda t: (t.value, -t.number)) if complete else None


def status_lines(spec: TuneSpec, study: optuna.Study) -> list[str]:
    """``basrec tune FILE --status``: one line per trial, then the counts and the best."""
    lines = []
    trials = study.get_trials(deepcopy=False)
    again = retried(trials)
    counts: dict[str, int] = {}
    for t in trials:
        state = _state(t, again)
        counts[state] = counts.get(state, 0) + 1
        params = " ".join(f"{k}={_fmt(v)}" for k, v in t.params.items())
        detail = f"{spec.metric} {t.value:.4f}" if t.state == TrialState.COMPLETE else ""
        if t.state == TrialState.RUNNING:
            detail = _progress(spec, t)
        note = _note(t, again)
        extra = "; ".join(x for x in (detail, note) if x)
        lines.append(f"trial {t.number}: {state}" + (f" — {extra}" if extra else "")
                     + (f"  [{params}]" if params else ""))
    order = ("complete", "running", "waiting", "pruned", "failed", "lost")
    spent = len(trials) - len(again)
    lines.append(f"{spec.name}: {spent} of {spec.trials} trials: "
                 + ", ".join(f"{s} {counts[s]}" for s in order if s in counts))
    best = best_trial(study)
    if best is not None:
        lines.append(f"best: trial {best.number}, valid {spec.metric} {best.value:.4f}  "
                     f"[{' '.join(f'{k}={_fmt(v)}' for k, v in best.params.items())}]")
    return lines


def markdown_table(rows: list[dict[str, Any]]) -> list[str]:
    if not rows:
        return ["(no trials yet)"]
    header = list(rows[0])
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = ["" if row[h] is None else _fmt(row[h]) for h in header]
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return out


def to_csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    if rows:
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows([{k: "" if v is None else v for k, v in r.items()} for r in rows])
    return buf.getvalue()


def _title(ax: Any, text: str) -> None:
    """Centre ``text`` ("study: what") on the plot, on two lines where one would overflow it."""
    for loc in ("left", "right"):  # optuna puts its own titles on the left
        ax.set_title("", loc=loc)
    ax.set_title(text if len(text) <= 48 else text.replace(": ", "\n", 1))


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.set_size_inches(7.0, 4.2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plots(spec: TuneSpec, study: optuna.Study, out: Path) -> tuple[list[Path], list[str]]:
    """``NAME-history.png``, ``NAME-importances.png`` and ``NAME-epochs.png`` (validation
    metric per epoch of every trial: where pruning cut); notes on the plots left out."""
    written: list[Path] = []
    notes: list[str] = []
    try:
        import matplotlib
    except ImportError:
        return written, ["plots: need matplotlib (pip install 'basrec[plot]')"]
    matplotlib.use("Agg")
    from optuna.visualization import matplotlib as ovm

    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    target = f"valid {spec.metric}"
    reference = stage1_reference(spec, trials)

    def mark_stage1(ax: Any) -> None:
        if reference is not None:
            ax.axhline(reference, color="0.35", linestyle="--", linewidth=1.2,
                       label=f"stage 1 ({reference:.4f})")
            ax.legend(loc="lower right", fontsize="small")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if complete:
            ax = ovm.plot_optimization_history(study, target_name=target)
            _title(ax, f"{spec.name}: optimisation history")
            mark_stage1(ax)
            written.append(_save(ax.figure, out / f"{spec.name}-history.png"))
        else:
            notes.append("history: no complete trial yet")
        if len(complete) >= 2:
            try:
                ax = ovm.plot_param_importances(study, target_name=target)
                _title(ax, f"{spec.name}: parameter importances (fANOVA)")
                written.append(_save(ax.figure, out / f"{spec.name}-importances.png"))
            except (RuntimeError, ValueError, ZeroDivisionError) as e:
                notes.append(f"importances: {e}")
        else:
            notes.append("importances: need two complete trials")
        if any(t.intermediate_values for t in trials):
            ax = ovm.plot_intermediate_values(study)
            _title(ax, f"{spec.name}: {target} per epoch")
            ax.set_xlabel("epoch")
            ax.set_ylabel(target)
            legend = ax.get_legend()
            if legend is not None and len(trials) > 12:
                legend.remove()
                for line in ax.get_lines():  # keep only the stage-1 line's entry
                    line.set_label(f"_{line.get_label()}")
            mark_stage1(ax)
            written.append(_save(ax.figure, out / f"{spec.name}-epochs.png"))
    return written, notes


def write_study_report(spec: TuneSpec, study: optuna.Study, out: Path | None = None
                       ) -> tuple[list[str], list[Path]]:
    """Best values, the trials table (``NAME-trials.md``/``.csv``), ``NAME-best.json`` and
    the plots in ``out`` (default ``ROOT/experiments/<name>/report``); returns the Markdown
    lines and the files written."""
    folder = out if out is not None else spec.index_dir / "report"
    folder.mkdir(parents=True, exist_ok=True)
    rows = trial_rows(spec, study)
    best = best_trial(study)
    md = [f"# Study {spec.name}", ""]
    if spec.description:
        md += [spec.description.strip(), ""]
    trials = study.get_trials(deepcopy=False)
    lost = len(retried(trials))
    md += [f"Maximising the validation {spec.metric}; {counted(trials)} of {spec.trials} trials"
           + (f" ({lost} lost and run again under another number)" if lost else "") + ".", ""]
    files: list[Path] = []
    if best is not None:
        run = _run_attr(best)
        md += [f"Best: trial {best.number}, valid {spec.metric} {best.value:.4f}", ""]
        md += [f"- `{k}`: {_fmt(v)}" for k, v in best.params.items()]
        md.append("")
        reference = stage1_reference(spec, study.get_trials(deepcopy=False))
        if reference is not None and best.value is not None:
            md += [f"Stage 1, the run every trial starts from: valid {spec.metric} "
                   f"{reference:.4f} (best trial {best.value - reference:+.4f})", ""]
        best_json = {"trial": best.number, "metric": spec.metric, "valid": best.value,
                     "params": best.params, "run": run.get("dir")}
        atomic_write_text(folder / f"{spec.name}-best.json", json.dumps(best_json, indent=2)
                          + "\n")
        files.append(folder / f"{spec.name}-best.json")
    else:
        md += ["No complete trial yet.", ""]
    md += markdown_table(rows)
    pngs, notes = plots(spec, study, folder)
    if pngs:
        md += [""] + [f"![{p.stem}]({p.name})" for p in pngs]
    if notes:
        md += [""] + [f"- {n}" for n in notes]
    atomic_write_text(folder / f"{spec.name}-trials.md", "\n".join(md) + "\n")
    atomic_write_text(folder / f"{spec.name}-trials.csv", to_csv(rows))
    files += [folder / f"{spec.name}-trials.md", folder / f"{spec.name}-trials.csv", *pngs]
    return md, files


# -- retraining the best values ---------------------------------------------------------------


def parse_seeds(text: str) -> list[int]:
    """``"2024,2025,2026"`` or ``"2024-2026"`` (or both mixed) → [2024, 2025, 2026]."""
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        m = re.fullmatch(r"(\d+)(?:\s*-\s*(\d+))?", part)
        if not m:
            raise BasrecError(f"--seeds: expected seeds such as 2024,2025 or 2024-2026, "
                              f"got {text!r}")
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        if hi < lo:
            raise BasrecError(f"--seeds: empty range {part!r}")
        seeds += [s for s in range(lo, hi + 1) if s not in seeds]
    return seeds


@dataclass
class Retrained:
    label: str
    seed: int
    dir: Path
    valid: float | None = None
    test: dict[str, float] = field(default_factory=dict)
    error: str = ""


def _remember(study: optuna.Study, record: dict[str, Any]) -> None:
    kept = [r for r in study.user_attrs.get("retrain", [])
            if (r.get("label"), r.get("seed")) != (record["label"], record["seed"])]
    study.set_user_attr("retrain", [*kept, record])


def retrain_best(spec: TuneSpec, study: optuna.Study, seeds: list[int], *,
                 preset: bool = True, quiet: bool = True, log: Log | None = None
                 ) -> list[Retrained]:
    """Train the best trial's values at ``seeds`` (and the base configuration, "preset",
    beside them) as ordinary runs, listed in the study index; return their results."""
    say = log or (lambda _m: None)
    best = best_trial(study)
    if best is None:
        raise BasrecError(f"study {spec.name!r} has no complete trial to retrain")
    jobs: list[tuple[str, dict[str, Any]]] = [(f"best (trial {best.number})", dict(best.params))]
    if preset:
        jobs.append(("preset", {}))
    out = []
    for label, values in jobs:
        for seed in seeds:
            cfg = spec.config({**values, "seed": seed})
            where = place(spec.root, cfg)
            _remember(study, {**where.record(spec.root), "label": label, "params": values})
            write_index(spec, study)
            item = Retrained(label, seed, where.dir)
            say(f"{label} seed {seed}: {where.dir}")
            try:
                if where.stage1_cfg is not None and where.stage1_dir is not None:
                    train_locked(where.stage1_cfg, where.stage1_dir, quiet=quiet, log=say,
                                 stale_after_s=spec.stale_after_s)
                results = train_locked(where.cfg, where.dir, quiet=quiet, log=say,
                                       stale_after_s=spec.stale_after_s)
                item.valid = validation_value(results, spec.metric)
                item.test = {k: float(v) for k, v in results["test"].items()
                             if k in TEST_METRICS}
            except BasrecError as e:
                item.error = str(e).splitlines()[0] if str(e) else type(e).__name__
            out.append(item)
    return out


def retrain_lines(spec: TuneSpec, items: list[Retrained]) -> list[str]:
    """A Markdown table of the retrained runs, then mean ± std over seeds per label."""
    metrics = [m for m in TEST_METRICS if any(m in i.test for i in items)]
    header = ["label", "seed", f"valid {spec.metric}", *[f"test {m}" for m in metrics]]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for i in items:
        if i.error:
            lines.append(f"| {i.label} | {i.seed} | failed: {i.error} |" + " |" * len(metrics))
            continue
        cells = [i.label, str(i.seed), "" if i.valid is None else f"{i.valid:.4f}",
                 *[f"{i.test[m]:.4f}" if m in i.test else "" for m in metrics]]
        lines.append("| " + " | ".join(cells) + " |")
    for label in dict.fromkeys(i.label for i in items):
        done = [i for i in items if i.label == label and not i.error]
        if not done:
            continue
        parts = []
        for m in metrics:
            vals = [i.test[m] for i in done if m in i.test]
            mean = sum(vals) / len(vals)
            std = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1)) \
                if len(vals) > 1 else 0.0
            parts.append(f"{m} {mean:.4f} ± {std:.4f}")
        lines.append(f"{label}: test over {len(done)} seed(s): " + ", ".join(parts))
    return lines

