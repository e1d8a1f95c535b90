"""PNG figures from runs: training curves, α sensitivity (Figure 3), (a, b) sensitivity (Figure 4).

Usage: python lab/plots.py RUN_DIR... | EXPERIMENT | REPORT.csv | RECORD.json... --out DIR
[--kind auto|curves|alpha|ab|all] [--metric NDCG@10] [--valid-metric METRIC] [--labels "A;B"]

Inputs are run folders, experiment folders / runs roots / experiment YAML files (their
finished runs), or a report CSV (``basrec report --out``: the per-group means; for Figures 3–4
only). matplotlib is imported inside the functions, with the Agg backend.

- ``curves.png``: per epoch, the training loss (left) and the validation metric (right) of each
  given run on one figure (base and BASRec side by side when both are given; a BASRec run's
  stage 1 is drawn dashed when its folder holds one).
- ``alpha.png``: test metric vs ``basrec.alpha``, one line per dataset (mean over seeds).
- ``ab.png``: a heatmap of the test metric over ``basrec.rate_min`` (a) × ``rate_max`` (b),
  one panel per dataset (mean over seeds).
"""

from __future__ import annotations

import csv
import json
import math
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from basrec.errors import BasrecError
from basrec.runio import read_metrics

KINDS = ("auto", "curves", "alpha", "ab", "all")
MAX_AUTO_CURVES = 8


@dataclass
class Point:
    """One run (or one report row) reduced to what the figures need."""

    label: str
    dataset: str
    model: str
    objective: str
    options: dict[str, Any]
    test: dict[str, float]
    run_dir: Path | None = None
    seed: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def option(self, key: str) -> Any:
        return self.options.get(key)


def _read_run(run_dir: Path) -> Point | None:
    import yaml

    if not (run_dir / "results.json").is_file() or not (run_dir / "config.yaml").is_file():
        return None
    cfg = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8")) or {}
    results = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    return _point(cfg, results, run_dir)


def _point(cfg: dict[str, Any], results: dict[str, Any], run_dir: Path | None) -> Point:
    objective = str(cfg.get("objective", "none"))
    opts = {f"{objective}.{k}": v for k, v in (cfg.get(objective) or {}).items()} \
        if isinstance(cfg.get(objective), dict) else {}
    label = "Base" if objective == "none" else ("BASRec" if objective == "basrec" else objective)
    return Point(label, str(cfg.get("dataset")), str(cfg.get("model")), objective, opts,
                 {k: float(v) for k, v in results.get("test", {}).items()}, run_dir,
                 int(cfg.get("seed", 0)))


def _from_record(path: Path) -> Point:
    """A run's committed record (``lab/scripts/collect_run.py``: its config and results)."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        where = f":{e.lineno}" if isinstance(e, json.JSONDecodeError) else ""
        raise BasrecError(f"{path}{where}: not a run record (not JSON: {e})") from None
    if not isinstance(record, dict) or "config" not in record or "results" not in record:
        raise BasrecError(f"{path}: not a run record (needs config and results)")
    return _point(record["config"], record["results"], None)


def _from_csv(path: Path) -> list[Point]:
    out = []
    with open(path, encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            if "options" not in row or "label" not in row:
                raise BasrecError(f"{path}: not a report CSV (needs label and options columns)")
            test = {k[: -len("_mean")]: float(v) for k, v in row.items()
                    if k.endswith("_mean") and v not in ("", None)}
            opts = json.loads(row["options"] or "{}")
            out.append(Point(row["label"], row["dataset"], row["model"],
                             row.get("objective", ""), opts, test))
    return out


def load_points(inputs: Iterable[str | Path]) -> tuple[list[Point], list[Path]]:
    """(finished runs or report rows, the run folders given directly)."""
    from basrec.experiments.report import sources

    points: list[Point] = []
    direct: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_file() and p.suffix == ".csv":
            points += _from_csv(p)
            continue
        if p.is_file() and p.suffix == ".json":
            points.append(_from_record(p))
            continue
        if p.is_dir() and (p / "results.json").is_file():
            pt = _read_run(p)
            if pt is not None:
                points.append(pt)
                direct.append(p)
            continue
        for src in sources(p):
            for run in src.runs:
                pt = _read_run(run.dir)
                if pt is None:
                    continue
                pt.label = run.label
                # grid options override what the run's own section says (same values)
                pt.options = {**pt.options, **run.options}
                points.append(pt)
    return points, direct


def _figure(ncols: int, nrows: int = 1, size: tuple[float, float] = (5.0, 3.6)) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(nrows, ncols, figsize=(size[0] * ncols, size[1] * nrows),
                             squeeze=False)
    return plt, fig, axes


def _save(plt: Any, fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def curve_names(run_dirs: list[Path], labels: Sequence[str] | None = None) -> list[str]:
    """The legend name of each run's curve: ``labels`` in order where given, else the run's
    objective and folder name."""
    if labels is not None:
        if len(labels) != len(run_dirs):
            raise BasrecError(f"plot curves: {len(labels)} labels for {len(run_dirs)} runs")
        return list(labels)
    names = []
    for run in run_dirs:
        pt = _read_run(run)
        names.append(run.name if pt is None else f"{pt.label} ({run.name})")
    return names


def plot_curves(run_dirs: list[Path], out: Path, metric: str = "NDCG@20",
                labels: Sequence[str] | None = None) -> Path:
    """``curves.png``: training loss and validation ``metric`` per epoch of each run."""
    if not run_dirs:
        raise BasrecError("plot curves: no run folders given")
    names = curve_names(run_dirs, labels)
    plt, fig, axes = _figure(2)
    ax_loss, ax_val = axes[0]
    for run, name in zip(run_dirs, names):
        stage1 = run / "stage1"
        parts = [(stage1, f"{name} stage 1", "--")] if (stage1 / "metrics.jsonl").is_file() \
            else []
        parts.append((run, name, "-"))
        for folder, label, style in parts:
            hist = read_metrics(folder)
            if not hist:
                continue
            epochs = [r["epoch"] for r in hist]
            ax_loss.plot(epochs, [r.get("loss", math.nan) for r in hist], style, label=label)
            val = [(r["epoch"], r["valid"][metric]) for r in hist
                   if isinstance(r.get("valid"), dict) and metric in r["valid"]]
            if val:
                ax_val.plot([e for e, _ in val], [v for _, v in val], style, marker=".",
                            label=label)
    ax_loss.set(xlabel="epoch", ylabel="training loss", title="loss")
    ax_val.set(xlabel="epoch", ylabel=f"validation {metric}", title=f"validation {metric}")
    for ax in (ax_loss, ax_val):
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    return _save(plt, fig, out / "curves.png")


def _grouped(points: list[Point], key: Any, metric: str) -> dict[str, dict[Any, float]]:
    """dataset → {key value: mean metric over the points sharing it}."""
    acc: dict[str, dict[Any, list[float]]] = {}
    for p in points:
        k = key(p)
        if k is None or metric not in p.test:
            continue
        acc.setdefault(p.dataset, {}).setdefault(k, []).append(p.test[metric])
    return {ds: {k: sum(v) / len(v) for k, v in d.items()} for ds, d in acc.items()}


def _alpha(p: Point) -> float | None:
    if p.objective not in ("basrec", ""):
        return None
    v = p.option("basrec.alpha")
    return float(v) if v is not None else None


def _ab(p: Point) -> tuple[float, float] | None:
    if p.objective not in ("basrec", ""):
        return None
    a, b = p.option("basrec.rate_min"), p.option("basrec.rate_max")
    return (float(a), float(b)) if a is not None and b is not None else None


def _varies(points: list[Point], key: Any) -> bool:
    """True when some dataset has runs at two or more values of ``key``."""
    seen: dict[str, set[Any]] = {}
    for p in points:
        k = key(p)
        if k is not None:
            seen.setdefault(p.dataset, set()).add(k)
    return any(len(v) >= 2 for v in seen.values())


def _dataset_name(ds: str) -> str:
    from basrec.experiments.plan import dataset_slug
    from basrec.experiments.report import DATASET_NAMES

    return DATASET_NAMES.get(dataset_slug(ds), ds)


def plot_alpha(points: list[Point], out: Path, metric: str = "NDCG@10") -> Path:
    """``alpha.png`` (Figure 3): test ``metric`` vs ``basrec.alpha``, a line per dataset."""
    data = _grouped(points, _alpha, metric)
    if not data:
        raise BasrecError("plot alpha: no BASRec runs with basrec.alpha and a test "
                          f"{metric}")
    plt, fig, axes = _figure(1)
    ax = axes[0][0]
    for ds, values in sorted(data.items()):
        xs = sorted(values)
        ax.plot(xs, [values[x] for x in xs], marker="o", label=_dataset_name(ds))
    ax.set(xlabel="α", ylabel=f"test {metric}", title="sensitivity to α")
    ax.legend(fontsize=8)
    return _save(plt, fig, out / "alpha.png")


def plot_ab(points: list[Point], out: Path, metric: str = "NDCG@10") -> Path:
    """``ab.png`` (Figure 4): heatmap of test ``metric`` over rate_min (a) × rate_max (b)."""
    import numpy as np

    data = _grouped(points, _ab, metric)
    if not data:
        raise BasrecError("plot ab: no BASRec runs with basrec.rate_min/rate_max and a test "
                          f"{metric}")
    plt, fig, axes = _figure(len(data))
    for ax, (ds, values) in zip(axes[0], sorted(data.items()), strict=True):
        a_vals = sorted({a for a, _ in values})
        b_vals = sorted({b for _, b in values})
        grid = np.full((len(a_vals), len(b_vals)), np.nan)
        for (a, b), v in values.items():
            grid[a_vals.index(a), b_vals.index(b)] = v
        im = ax.imshow(grid, cmap="viridis", origin="lower", aspect="auto")
        ax.set_xticks(range(len(b_vals)), [f"{b:g}" for b in b_vals])
        ax.set_yticks(range(len(a_vals)), [f"{a:g}" for a in a_vals])
        ax.set(xlabel="b (rate_max)", ylabel="a (rate_min)", title=_dataset_name(ds))
        best = np.unravel_index(np.nanargmax(grid), grid.shape)
        for i in range(len(a_vals)):
            for j in range(len(b_vals)):
                if np.isfinite(grid[i, j]):
                    ax.text(j, i, f"{grid[i, j]:.4f}", ha="center", va="center", fontsize=7,
                            color="red" if (i, j) == tuple(best) else "white")
        fig.colorbar(im, ax=ax, label=f"test {metric}")
    return _save(plt, fig, out / "ab.png")


def plot(inputs: list[str | Path], out: str | Path, kind: str = "auto",
         metric: str = "NDCG@10", curve_metric: str | None = None,
         labels: Sequence[str] | None = None) -> list[Path]:
    """Draw the figures ``kind`` asks for (auto: whatever the inputs support); their paths."""
    if kind not in KINDS:
        raise BasrecError(f"--kind: {kind!r} is not one of {', '.join(KINDS)}")
    if not inputs:
        raise BasrecError("plot: give at least one run folder, experiment or report CSV")
    for item in inputs:
        if not Path(item).exists():
            raise BasrecError(f"{item}: no such file or folder")
    o = Path(out)
    points, direct = load_points(inputs)
    made: list[Path] = []
    want_all = kind == "all"
    curve_dirs = direct or [p.run_dir for p in points if p.run_dir is not None]
    draw_curves = kind == "curves" or want_all or (kind == "auto" and bool(direct)
                                                   and len(direct) <= MAX_AUTO_CURVES)
    if labels is not None and not draw_curves:
        raise BasrecError("--labels names curves: give run folders with --kind curves")
    if draw_curves:
        made.append(plot_curves([d for d in curve_dirs if d is not None], o,
                                curve_metric or _valid_metric(curve_dirs), labels))
    if kind == "alpha" or (kind in ("auto", "all") and _varies(points, _alpha)):
        made.append(plot_alpha(points, o, metric))
    if kind == "ab" or (kind in ("auto", "all") and _varies(points, _ab)):
        made.append(plot_ab(points, o, metric))
    if not made:
        raise BasrecError("plot: nothing to draw (give run folders for curves, or runs that "
                          "vary basrec.alpha / rate_min and rate_max); see --kind")
    return made


def _valid_metric(run_dirs: Sequence[Path | None]) -> str:
    import yaml

    for d in run_dirs:
        if d is not None and (d / "config.yaml").is_file():
            cfg = yaml.safe_load((d / "config.yaml").read_text(encoding="utf-8")) or {}
            return str(cfg.get("metric", "NDCG@20"))
    return "NDCG@20"


def main(argv: Sequence[str] | None = None) -> int:
    from basrec.cli import Parser

    parser = Parser(prog="plots", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("inputs", nargs="+",
                        help="run folders, experiments, a report CSV or run records "
                             "(docs/results)")
    parser.add_argument("--out", required=True, help="folder for the PNG files")
    parser.add_argument("--kind", choices=KINDS, default="auto",
                        help="which figures (default auto: what the inputs allow)")
    parser.add_argument("--metric", default="NDCG@10", help="test metric of Figures 3-4")
    parser.add_argument("--valid-metric", dest="valid_metric",
                        help="validation metric of the curves (default: the run's)")
    parser.add_argument("--labels", help="legend names of the curves, one per run folder "
                                         "in order, separated by ';'")
    try:
        args = parser.parse_args(list(argv) if argv is not None else None)
        labels = None if args.labels is None else [s.strip() for s in args.labels.split(";")]
        for path in plot(args.inputs, args.out, kind=args.kind, metric=args.metric,
                         curve_metric=args.valid_metric, labels=labels):
            print(f"wrote {path}")
    except BasrecError as e:
        print(f"plots: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
