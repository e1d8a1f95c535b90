"""Tables from finished runs: mean ± std over seeds, improvement, paired tests, paper layouts.

Input: an experiment YAML file, an experiment folder (``ROOT/experiments/<name>``), a runs root
holding ``experiments/*/experiment.json`` (every experiment is reported), or one finished run
folder (a quick table: the run, and its stage-1 "Base" when it has one).

Statistics (``basrec.stats``):

- mean ± *sample* std (ddof=1) over the seeds that finished; one seed shows the value alone;
- improvement in % of the mean over the base row's mean (the plain run of the same dataset and
  backbone: the stage-1 run BASRec started from);
- ``p (t)``: paired t-test over seeds (pairs = seeds where both finished; n/a below 2);
- ``p (W)``: Wilcoxon signed-rank test over *users* on the per-user metric (NDCG@10 by
  default) from ``per_user_test.npz``: each user's value is first averaged over the seeds both
  runs finished (pooled), then variant vs base is tested over users.

With ``history_mask`` every finished run is scored again under that mask
(``basrec.experiments.rescore``: ``zero`` is the original's scoring) and all of the above is
computed from those ranks.

With ``paper=True`` the paper's numbers (``PAPER``, from its Tables 2, 4 and 5) stand beside
ours as ``ours / paper (Δ% vs paper)``. Cells not measured say "—"; nothing is filled in.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from basrec.errors import BasrecError
from basrec.experiments.plan import PlannedRun, dataset_slug, load_index, plan, unique_in_order
from basrec.experiments.spec import DEFAULT_LABELS, load_spec
from basrec.stats import (
    TestResult,
    improvement,
    mean_std,
    paired_ttest,
    per_user_metric,
    per_user_ranks,
)
from basrec.stats import wilcoxon as wilcoxon_test

METRICS = ("NDCG@10", "HR@10", "NDCG@20", "HR@20")
SHORT = {"NDCG@10": "N@10", "HR@10": "H@10", "NDCG@20": "N@20", "HR@20": "H@20"}
MODEL_NAMES = {"gru4rec": "GRU4Rec", "nextitnet": "NextItNet", "sasrec": "SASRec",
               "fmlprec": "FMLP-Rec"}
DATASET_NAMES = {"beauty": "Beauty", "sports": "Sports", "yelp": "Yelp", "home": "Home"}
PAPER_DATASETS = ("beauty", "sports", "yelp", "home")
PAPER_MODELS = ("gru4rec", "nextitnet", "sasrec", "fmlprec")

# -- the paper's numbers ---------------------------------------------------------------------
# BASRec (Dang et al., AAAI 2025), test split, full ranking. Source: the paper's tables.
# Table 2: (backbone, dataset): base N@10, H@10, N@20, H@20, then "w/ Ours" (BASRec) the same.
# SASRec/Yelp base H@10 is blank in Table 2; 0.0277 is its value in Tables 3–5. FMLP-Rec/Beauty
# base N@10 is garbled; 0.0298 follows from the stated +47.99 % (docs/algorithm.md §6).
_TABLE2 = {
    ("gru4rec", "beauty"): (0.0208, 0.0412, 0.0273, 0.0670, 0.0286, 0.0546, 0.0360, 0.0842),
    ("gru4rec", "sports"): (0.0069, 0.0146, 0.0101, 0.0274, 0.0164, 0.0307, 0.0208, 0.0483),
    ("gru4rec", "yelp"): (0.0084, 0.0174, 0.0121, 0.0325, 0.0140, 0.0289, 0.0194, 0.0502),
    ("gru4rec", "home"): (0.0032, 0.0066, 0.0046, 0.0123, 0.0063, 0.0128, 0.0084, 0.0214),
    ("nextitnet", "beauty"): (0.0163, 0.0326, 0.0210, 0.0511, 0.0202, 0.0365, 0.0253, 0.0589),
    ("nextitnet", "sports"): (0.0077, 0.0154, 0.0106, 0.0272, 0.0091, 0.0193, 0.0128, 0.0320),
    ("nextitnet", "yelp"): (0.0109, 0.0222, 0.0155, 0.0406, 0.0134, 0.0282, 0.0183, 0.0465),
    ("nextitnet", "home"): (0.0033, 0.0070, 0.0046, 0.0125, 0.0040, 0.0087, 0.0063, 0.0162),
    ("sasrec", "beauty"): (0.0338, 0.0639, 0.0413, 0.0935, 0.0455, 0.0810, 0.0539, 0.1145),
    ("sasrec", "sports"): (0.0174, 0.0320, 0.0214, 0.0482, 0.0242, 0.0436, 0.0294, 0.0641),
    ("sasrec", "yelp"): (0.0136, 0.0277, 0.0180, 0.0453, 0.0164, 0.0326, 0.0216, 0.0537),
    ("sasrec", "home"): (0.0078, 0.0149, 0.0100, 0.0239, 0.0128, 0.0223, 0.0154, 0.0327),
    ("fmlprec", "beauty"): (0.0298, 0.0563, 0.0361, 0.0814, 0.0441, 0.0767, 0.0519, 0.1076),
    ("fmlprec", "sports"): (0.0131, 0.0255, 0.0163, 0.0383, 0.0240, 0.0432, 0.0286, 0.0615),
    ("fmlprec", "yelp"): (0.0093, 0.0195, 0.0134, 0.0357, 0.0180, 0.0347, 0.0233, 0.0559),
    ("fmlprec", "home"): (0.0071, 0.0134, 0.0091, 0.0215, 0.0147, 0.0245, 0.0174, 0.0353),
}
# Table 4 (SASRec backbone): N@10, H@10 per dataset (the third row's label is garbled in the
# text; it is CL4SRec, docs/algorithm.md §6). Base and BASRec rows equal Table 2.
_TABLE4 = {
    "ASReP": {"beauty": (0.0351, 0.0664), "sports": (0.0195, 0.0353),
              "yelp": (0.0162, 0.0319), "home": (0.0099, 0.0184)},
    "DiffuASR": {"beauty": (0.0372, 0.0679), "sports": (0.0202, 0.0387),
                 "yelp": (0.0150, 0.0308), "home": (0.0105, 0.0179)},
    "CL4SRec": {"beauty": (0.0366, 0.0686), "sports": (0.0221, 0.0412),
                "yelp": (0.0176, 0.0355), "home": (0.0119, 0.0212)},
}
# Table 5 (SASRec backbone, ablations): N@10, H@10 per dataset. The "w/o NL" row is empty in
# the paper text; Base and BASRec rows equal Table 2.
_TABLE5 = {
    "w/o SA": {"beauty": (0.0415, 0.0734), "sports": (0.0209, 0.0374),
               "yelp": (0.0152, 0.0295), "home": (0.0097, 0.0184)},
    "w/o ALW": {"beauty": (0.0439, 0.0778), "sports": (0.0229, 0.0415),
                "yelp": (0.0146, 0.0297), "home": (0.0113, 0.0201)},
    "w/o CA": {"beauty": (0.0397, 0.0721), "sports": (0.0193, 0.0353),
               "yelp": (0.0145, 0.0290), "home": (0.0098, 0.0170)},
    "w/o Two": {"beauty": (0.0416, 0.0742), "sports": (0.0231, 0.0411),
                "yelp": (0.0151, 0.0304), "home": (0.0117, 0.0207)},
}


def _build_paper() -> dict[tuple[str, str, str], dict[str, float]]:
    out: dict[tuple[str, str, str], dict[str, float]] = {}
    for (model, dataset), v in _TABLE2.items():
        out[(model, dataset, "Base")] = dict(zip(METRICS, v[:4], strict=True))
        out[(model, dataset, "BASRec")] = dict(zip(METRICS, v[4:], strict=True))
    for table in (_TABLE4, _TABLE5):
        for label, per in table.items():
            for dataset, (n10, h10) in per.items():
                out[("sasrec", dataset, label)] = {"NDCG@10": n10, "HR@10": h10}
    return out


#: (backbone, dataset, label) → {metric: value} from the paper's Tables 2, 4 and 5
PAPER: dict[tuple[str, str, str], dict[str, float]] = _build_paper()
PAPER_SOURCE = {"Base": "Table 2", "BASRec": "Table 2", **{k: "Table 4" for k in _TABLE4},
                **{k: "Table 5" for k in _TABLE5}}

LAYOUT_ROWS = {
    "table3": ("Base", "Ran", "SW", "Ran-S", "CMR", "CMRSI", "BASRec"),
    "table4": ("Base", "ASReP", "DiffuASR", "CL4SRec", "BASRec"),
    "table5": ("Base", "w/o SA", "w/o ALW", "w/o CA", "w/o NL", "w/o Two", "BASRec"),
}
LAYOUT_MODELS = {"table3": ("gru4rec", "sasrec"), "table4": ("sasrec",),
                 "table5": ("sasrec",)}
LAYOUT_TITLES = {
    "table2": "Table 2: backbones alone and with BASRec",
    "table3": "Table 3: heuristic augmentation baselines",
    "table4": "Table 4: training-required augmentation baselines",
    "table5": "Table 5: BASRec ablations",
}


def _norm(label: str) -> str:
    return "".join(label.lower().split())


def paper_value(model: str, dataset: str, label: str, metric: str) -> float | None:
    """The paper's number for a (backbone, dataset, row label, metric), if it reports one."""
    ds = dataset_slug(dataset)
    for (m, d, lab), values in PAPER.items():
        if m == model and d == ds and _norm(lab) == _norm(label):
            return values.get(metric)
    return None


# -- collecting results -----------------------------------------------------------------------


@dataclass
class RunRecord:
    """A planned run and what is on disk for it."""

    run: PlannedRun
    test: dict[str, float] | None = None
    status: str = "missing"  # finished, missing, failed, unavailable
    error: str = ""
    ranks_dir: Path | None = None

    def per_user(self, metric: str) -> tuple[np.ndarray, np.ndarray] | None:
        """(users, per-user metric) from ``per_user_test.npz``; None when absent."""
        if self.ranks_dir is None:
            return None
        path = self.ranks_dir / "per_user_test.npz"
        if not path.is_file():
            return None
        users, ranks = per_user_ranks(path)
        return users, per_user_metric(ranks, metric)


def _read_failures(index_dir: Path | None) -> dict[str, str]:
    out: dict[str, str] = {}
    if index_dir is None or not (index_dir / "failures.jsonl").is_file():
        return out
    for line in (index_dir / "failures.jsonl").read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        out[str(rec.get("id"))] = f"{rec.get('error_type', 'error')}: {rec.get('error', '')}"
    return out


def collect(runs: Iterable[PlannedRun], index_dir: Path | None = None) -> list[RunRecord]:
    """Read ``results.json`` of every run; failures come from ``failures.jsonl``."""
    failures = _read_failures(index_dir)
    out = []
    for run in runs:
        rec = RunRecord(run)
        if not run.available:
            rec.status, rec.error = "unavailable", run.note or "not implemented"
        elif (run.dir / "results.json").is_file():
            try:
                results = json.loads((run.dir / "results.json").read_text(encoding="utf-8"))
                rec.test = {k: float(v) for k, v in results["test"].items()}
                rec.status, rec.ranks_dir = "finished", run.dir
            except (OSError, ValueError, KeyError) as e:
                rec.status, rec.error = "failed", f"unreadable results.json ({e})"
        elif run.id in failures:
            rec.status, rec.error = "failed", failures[run.id]
        out.append(rec)
    return out


# -- statistics per group ---------------------------------------------------------------------


@dataclass
class GroupStats:
    """One table row: a (dataset, backbone, label) over its seeds."""

    dataset: str
    model: str
    label: str
    objective: str
    planned: int
    seeds: list[int]
    mean: dict[str, float]
    std: dict[str, float]
    base_label: str | None = None
    impr: dict[str, float] = field(default_factory=dict)
    p_t: dict[str, TestResult | None] = field(default_factory=dict)
    p_w: dict[str, TestResult | None] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def measured(self) -> bool:
        return bool(self.seeds)


@dataclass
class Report:
    """Everything the Markdown and CSV writers need."""

    name: str
    table: str | None
    records: list[RecordGroup]
    rows: list[GroupStats]
    metrics: tuple[str, ...] = METRICS
    primary: str = "NDCG@10"
    datasets: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    history_mask: str | None = None  # rescored under this mask (``basrec.experiments.rescore``)

    def row(self, dataset: str, model: str, label: str) -> GroupStats | None:
        for r in self.rows:
            if r.dataset == dataset and r.model == model and _norm(r.label) == _norm(label):
                return r
        return None


@dataclass
class RecordGroup:
    dataset: str
    model: str
    label: str
    records: list[RunRecord]


def _groups(records: list[RunRecord]) -> list[RecordGroup]:
    out: dict[tuple[str, str, str], RecordGroup] = {}
    for rec in records:
        r = rec.run
        key = (r.dataset, r.model, r.label)
        if key not in out:
            out[key] = RecordGroup(r.dataset, r.model, r.label, [])
        out[key].records.append(rec)
    return list(out.values())


def _base_labels(records: list[RunRecord]) -> dict[tuple[str, str], str]:
    """Per (dataset, backbone): the label of the plain run BASRec runs start from."""
    by_id = {rec.run.id: rec.run for rec in records}
    out: dict[tuple[str, str], str] = {}
    for rec in records:
        s1 = rec.run.stage1
        if s1 in by_id:
            out.setdefault((rec.run.dataset, rec.run.model), by_id[s1].label)
    for rec in records:
        if rec.run.objective == "none":
            out.setdefault((rec.run.dataset, rec.run.model), rec.run.label)
    return out


def _paired_users(variant: list[RunRecord], base: list[RunRecord], seeds: list[int],
                  metric: str) -> tuple[np.ndarray, np.ndarray] | None:
    """Per-user metric of variant and base, averaged over ``seeds``, on common users."""
    vs, bs = [], []
    for seed in seeds:
        v = next((r for r in variant if r.run.seed == seed), None)
        b = next((r for r in base if r.run.seed == seed), None)
        pv = v.per_user(metric) if v else None
        pb = b.per_user(metric) if b else None
        if pv is None or pb is None:
            continue
        vs.append(pv)
        bs.append(pb)
    if not vs:
        return None
    common = vs[0][0]
    for users, _ in vs + bs:
        common = np.intersect1d(common, users)
    if common.size == 0:
        return None

    def pooled(parts: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        rows = [vals[np.searchsorted(users, common)] for users, vals in parts]
        return np.mean(rows, axis=0)

    return pooled(vs), pooled(bs)


def summarise(groups: list[RecordGroup], base_of: dict[tuple[str, str], str],
              metrics: tuple[str, ...] = METRICS) -> list[GroupStats]:
    """Mean/std, improvement and paired tests for every group."""
    index = {(g.dataset, g.model, g.label): g for g in groups}
    rows = []
    for g in groups:
        done = [r for r in g.records if r.status == "finished" and r.test is not None]
        seeds = sorted(r.run.seed for r in done)
        mean: dict[str, float] = {}
        std: dict[str, float] = {}
        for m in metrics:
            vals = [r.test[m] for r in done if r.test is not None and m in r.test]
            mean[m], std[m] = mean_std(vals)
        first = g.records[0].run
        row = GroupStats(g.dataset, g.model, g.label, first.objective, len(g.records), seeds,
                         mean, std, options=dict(first.options))
        failed = [r for r in g.records if r.status == "failed"]
        unavailable = [r for r in g.records if r.status == "unavailable"]
        if unavailable:
            row.notes.append(unavailable[0].error)
        if failed:
            row.notes.append(f"{len(failed)} failed: {failed[0].error}")
        base_label = base_of.get((g.dataset, g.model))
        base = index.get((g.dataset, g.model, base_label)) if base_label else None
        if base is not None and base_label != g.label and done:
            row.base_label = base_label
            mine = {r.run.seed: r.test for r in done if r.test is not None}
            theirs = {r.run.seed: r.test for r in base.records
                      if r.status == "finished" and r.test is not None}
            paired = [s for s in seeds if s in theirs]
            base_done = [r for r in base.records if r.run.seed in theirs]
            for m in metrics:
                bmean, _ = mean_std([t[m] for t in theirs.values() if m in t])
                row.impr[m] = improvement(mean[m], bmean)
                pairs = [(mine[s][m], theirs[s][m]) for s in paired
                         if m in mine[s] and m in theirs[s]]
                row.p_t[m] = paired_ttest([a for a, _ in pairs], [b for _, b in pairs]) \
                    if len(pairs) >= 2 else None
                pu = _paired_users(done, base_done, paired, m)
                row.p_w[m] = wilcoxon_test(pu[0], pu[1]) if pu is not None else None
        rows.append(row)
    return rows


# -- inputs -----------------------------------------------------------------------------------


@dataclass
class Source:
    """One experiment's runs, ready to report."""

    name: str
    table: str | None
    runs: list[PlannedRun]
    index_dir: Path | None
    datasets: list[str]
    models: list[str]


def _single_run(run_dir: Path) -> Source:
    import yaml

    try:
        cfg = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8")) or {}
        results = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise BasrecError(f"{run_dir}: unreadable run ({e})") from None
    dataset = str(cfg.get("dataset", "?"))
    model = str(cfg.get("model", "?"))
    objective = str(cfg.get("objective", "none"))
    seed = int(cfg.get("seed", 0))
    runs = []
    stage1 = results.get("stage1")
    s1_id = None
    if isinstance(stage1, dict):
        s1_dir = Path(str(stage1.get("run_dir", run_dir / "stage1")))
        if not s1_dir.is_absolute() and not s1_dir.exists():
            s1_dir = run_dir / "stage1"
        s1_id = "stage1"
        runs.append(PlannedRun(id=s1_id, label="Base (stage 1)", objective="none",
                               dataset=dataset, model=model, seed=seed, cell=0, dir=s1_dir))
    label = DEFAULT_LABELS.get(objective, objective)
    runs.append(PlannedRun(id="run", label=label, objective=objective, dataset=dataset,
                           model=model, seed=seed, cell=0, dir=run_dir, stage1=s1_id))
    return Source(run_dir.name, None, runs, None, [dataset], [model])


def _stage1_fallback(records: list[RunRecord], run_dir: Path) -> None:
    """A single run whose stage-1 folder is gone still has stage-1 metrics in results.json."""
    for rec in records:
        if rec.run.id == "stage1" and rec.status != "finished":
            results = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
            rec.test = {k: float(v) for k, v in results["stage1"]["test"].items()}
            rec.status = "finished"


def sources(path: str | Path, root: str | Path | None = None) -> list[Source]:
    """Resolve a report input (YAML, experiment folder, runs root, or one run folder)."""
    p = Path(path)
    if p.is_file() and p.suffix in (".yaml", ".yml"):
        spec = load_spec(p, root)
        the_plan = plan(spec)
        return [Source(spec.name, spec.table, the_plan.runs, spec.index_dir,
                       list(spec.datasets), list(spec.models))]
    if p.is_file() and p.name == "experiment.json":
        p = p.parent
    if p.is_dir() and (p / "experiment.json").is_file():
        data, runs, _ = load_index(p)
        return [Source(str(data.get("name", p.name)), data.get("table"), runs, p,
                       list(data.get("datasets") or []), list(data.get("models") or []))]
    if p.is_dir() and (p / "results.json").is_file():
        return [_single_run(p)]
    if p.is_dir():
        found = sorted((p / "experiments").glob("*/experiment.json"))
        if found:
            return [s for f in found for s in sources(f.parent)]
        if (p / "config.yaml").is_file():
            raise BasrecError(f"{p}: this run has not finished (no results.json)")
        raise BasrecError(f"{p}: not an experiment folder, a runs root or a finished run")
    if not p.exists():
        raise BasrecError(f"{p}: no such file or folder")
    raise BasrecError(f"{p}: expected an experiment YAML file, an experiment folder or a run")


def _rescore(records: list[RunRecord], history_mask: str,
             overrides: dict[str, Any] | None, device: str | None) -> None:
    """Point every finished record at its test metrics and ranks under ``history_mask``."""
    from basrec.experiments.rescore import rescore_run, run_history_mask

    for rec in records:
        if rec.status != "finished":
            continue
        if rec.ranks_dir is None:  # a stage 1 known only from its BASRec run's results.json
            parent = next((r.ranks_dir for r in records if r.run.stage1 == rec.run.id
                           and r.ranks_dir is not None), None)
            if parent is None or run_history_mask(parent) != history_mask:
                rec.status, rec.test = "failed", None
                rec.error = f"no stage-1 folder to score under history_mask={history_mask}"
            continue  # else its metrics were computed under that mask
        rec.test, rec.ranks_dir = rescore_run(rec.ranks_dir, history_mask, overrides, device)


def build(source: Source, metrics: tuple[str, ...] = METRICS,
          primary: str = "NDCG@10", table: str | None = None, *,
          history_mask: str | None = None, data_overrides: dict[str, Any] | None = None,
          device: str | None = "auto") -> Report:
    """Collect and summarise one source; with ``history_mask``, every finished run's test
    split ranked under that mask (``basrec.experiments.rescore``)."""
    if primary not in metrics:
        metrics = (*metrics, primary)
    records = collect(source.runs, source.index_dir)
    if source.index_dir is None and source.runs and source.runs[-1].id == "run":
        _stage1_fallback(records, source.runs[-1].dir)
    if history_mask is not None:
        _rescore(records, history_mask, data_overrides, device)
    groups = _groups(records)
    rows = summarise(groups, _base_labels(records), metrics)
    labels: list[str] = []
    for r in source.runs:
        if r.label not in labels:
            labels.append(r.label)
    datasets = source.datasets or unique_in_order(r.dataset for r in source.runs)
    models = source.models or unique_in_order(r.model for r in source.runs)
    return Report(source.name, table if table is not None else source.table, groups, rows,
                  metrics, primary, datasets, models, labels, history_mask)


# -- formatting -------------------------------------------------------------------------------


def fmt_value(mean: float, std: float) -> str:
    if not math.isfinite(mean):
        return "—"
    return f"{mean:.4f}" if not math.isfinite(std) else f"{mean:.4f} ± {std:.4f}"


def fmt_pct(x: float | None) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x:+.2f}%"


def fmt_p(t: TestResult | None) -> str:
    if t is None or not math.isfinite(t.pvalue):
        return "n/a"
    return f"{t.pvalue:.2g}" if t.pvalue >= 1e-4 else f"{t.pvalue:.1e}"


def _name(key: str, names: dict[str, str]) -> str:
    return names.get(dataset_slug(key), names.get(key, key))


def _cell(row: GroupStats | None, metric: str, paper: float | None, show_paper: bool,
          with_impr: bool = False) -> str:
    ours = fmt_value(row.mean[metric], row.std[metric]) if row is not None \
        and row.measured and metric in row.mean else "—"
    if with_impr and row is not None and metric in row.impr and ours != "—":
        ours += f" ({fmt_pct(row.impr[metric])})"
    if not show_paper:
        return ours
    if paper is None:
        return f"{ours} / n.r."
    if row is None or not row.measured or not math.isfinite(row.mean.get(metric, math.nan)):
        return f"— / {paper:.4f}"
    return f"{ours} / {paper:.4f} ({fmt_pct(improvement(row.mean[metric], paper))})"


def _md_table(header: list[str], body: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cells) + " |" for cells in body]
    return lines


def _status_line(report: Report) -> str:
    recs = [r for g in report.records for r in g.records]
    n = len(recs)
    done = sum(r.status == "finished" for r in recs)
    failed = sum(r.status == "failed" for r in recs)
    unav = sum(r.status == "unavailable" for r in recs)
    parts = [f"{done} of {n} runs finished"]
    if failed:
        parts.append(f"{failed} failed")
    if unav:
        parts.append(f"{unav} with an objective not implemented yet")
    if n - done - failed - unav:
        parts.append(f"{n - done - failed - unav} not run yet")
    return "; ".join(parts) + "."


def flat_markdown(report: Report, paper: bool = False) -> list[str]:
    """Every (dataset, backbone, label) row with all metrics and both tests."""
    p = report.primary
    header = ["dataset", "backbone", "method", "seeds", *report.metrics,
              f"p (t, seeds) {SHORT.get(p, p)}", f"p (W, users) {SHORT.get(p, p)}"]
    body = []
    for row in report.rows:
        planned = f"{len(row.seeds)}/{row.planned}"
        cells = [_cell(row, m, paper_value(row.model, row.dataset, row.label, m), paper,
                       with_impr=True) for m in report.metrics]
        body.append([_name(row.dataset, DATASET_NAMES), _name(row.model, MODEL_NAMES),
                     row.label + (" ¹" if row.notes else ""), planned, *cells,
                     fmt_p(row.p_t.get(p)), fmt_p(row.p_w.get(p))])
    lines = _md_table(header, body)
    notes = [f"{r.label} ({r.dataset}, {r.model}): {'; '.join(r.notes)}"
             for r in report.rows if r.notes]
    if notes:
        lines += ["", "¹ " + "<br>".join(notes)]
    return lines


def table2_markdown(report: Report, paper: bool = False) -> list[str]:
    """The paper's Table 2: per dataset, each backbone's Base, w/ BASRec and Improve rows."""
    datasets = _layout_list(report.datasets, PAPER_DATASETS, paper)
    models = _layout_list(report.models, PAPER_MODELS, paper)
    lines: list[str] = []
    for ds in datasets:
        lines += ["", f"**{_name(ds, DATASET_NAMES)}**", ""]
        body = []
        for model in models:
            base = report.row(ds, model, "Base")
            ours = report.row(ds, model, "BASRec")
            mname = _name(model, MODEL_NAMES)
            body.append([mname, *[_cell(base, m, paper_value(model, ds, "Base", m), paper)
                                  for m in METRICS]])
            body.append(["w/ BASRec", *[_cell(ours, m, paper_value(model, ds, "BASRec", m),
                                              paper) for m in METRICS]])
            imp = []
            for m in METRICS:
                mine = improvement(ours.mean[m], base.mean[m]) if ours and base \
                    and ours.measured and base.measured else math.nan
                cell = fmt_pct(mine) if math.isfinite(mine) else "—"
                pb, po = paper_value(model, ds, "Base", m), paper_value(model, ds, "BASRec", m)
                if paper:
                    cell += f" / {fmt_pct(improvement(po, pb))}" if pb and po else " / n.r."
                imp.append(cell)
            body.append(["Improve", *imp])
        lines += _md_table(["method", *[SHORT[m] for m in METRICS]], body)
    return lines


def _layout_list(ours: list[str], paper_keys: tuple[str, ...], paper: bool) -> list[str]:
    """Our datasets/backbones; with the paper's, all of the paper's first, in its order."""
    if not paper:
        return list(ours)
    slug = {dataset_slug(x): x for x in ours}
    return [slug.get(k, k) for k in paper_keys] + [x for x in ours
                                                  if dataset_slug(x) not in paper_keys]


def rows_layout_markdown(report: Report, layout: str, paper: bool = False) -> list[str]:
    """Tables 3–5: method rows × (dataset × N@10, H@10) columns, one block per backbone."""
    datasets = _layout_list(report.datasets, PAPER_DATASETS, paper)
    models = [m for m in LAYOUT_MODELS[layout] if m in report.models or paper] or \
        list(report.models)
    labels = list(LAYOUT_ROWS[layout])
    labels += [lab for lab in report.labels if _norm(lab) not in {_norm(x) for x in labels}]
    metrics = ("NDCG@10", "HR@10")
    lines: list[str] = []
    for model in models:
        lines += ["", f"**{_name(model, MODEL_NAMES)}**", ""]
        header = ["method"] + [f"{_name(ds, DATASET_NAMES)} {SHORT[m]}" for ds in datasets
                               for m in metrics]
        body = []
        for label in labels:
            body.append([label] + [_cell(report.row(ds, model, label), m,
                                         paper_value(model, ds, label, m), paper)
                                   for ds in datasets for m in metrics])
        lines += _md_table(header, body)
    return lines


def markdown(report: Report, paper: bool = False) -> str:
    """The whole report: status, the flat table, the paper layout if any, notes."""
    lines = [f"# {report.name}", "", _status_line(report), ""]
    if report.history_mask is not None:
        lines += [f"Scored with `history_mask={report.history_mask}`: a run trained under "
                  "another mask had its best checkpoint rank the test split again under this "
                  f"one (kept in `RUN/rescored/history_mask-{report.history_mask}/`).", ""]
    if report.table in LAYOUT_TITLES:
        lines += [f"## {LAYOUT_TITLES[report.table]}"]
        if report.table == "table2":
            lines += table2_markdown(report, paper)
        else:
            lines += rows_layout_markdown(report, report.table, paper)
        lines += [""]
    lines += ["## All rows", ""]
    lines += flat_markdown(report, paper)
    lines += ["", "Notes:", "",
              "- Values: mean ± sample std (ddof=1) over the seeds that finished (`seeds`: "
              "finished/planned); a single seed shows its value alone.",
              "- In parentheses: improvement of the mean over the base row (the plain run of "
              "the same dataset and backbone, the stage-1 run BASRec starts from).",
              f"- p (t): paired t-test over seeds (n/a below 2 pairs). p (W): Wilcoxon "
              f"signed-rank over users on per-user {report.primary}, each user's value "
              f"averaged over the paired seeds first.",
              "- —: not measured yet (no finished run); nothing is filled in."]
    if paper:
        lines += ["- `ours / paper (Δ%)`: the paper's value (BASRec, AAAI 2025: Tables 2, 4, "
                  "5) and our mean's difference from it in %; n.r.: the paper reports none "
                  "(Table 3's method rows and Table 5's w/o NL row are garbled or empty in "
                  "the paper text, docs/algorithm.md §6)."]
    return "\n".join(lines) + "\n"


def csv_rows(report: Report, paper: bool = False) -> list[dict[str, Any]]:
    """One dict per row: means, stds, improvements, p-values (and the paper's numbers)."""
    out = []
    for row in report.rows:
        d: dict[str, Any] = {"dataset": row.dataset, "model": row.model, "label": row.label,
                             "objective": row.objective, "n_seeds": len(row.seeds),
                             "n_planned": row.planned,
                             "seeds": " ".join(map(str, row.seeds)),
                             "base": row.base_label or "",
                             "options": json.dumps(row.options, sort_keys=True),
                             "history_mask": report.history_mask or ""}
        for m in report.metrics:
            d[f"{m}_mean"] = _num(row.mean.get(m))
            d[f"{m}_std"] = _num(row.std.get(m))
            d[f"{m}_impr_pct"] = _num(row.impr.get(m))
            t, w = row.p_t.get(m), row.p_w.get(m)
            d[f"{m}_p_ttest"] = _num(t.pvalue if t else None)
            d[f"{m}_p_wilcoxon"] = _num(w.pvalue if w else None)
            if paper:
                pv = paper_value(row.model, row.dataset, row.label, m)
                d[f"{m}_paper"] = _num(pv)
                d[f"{m}_diff_pct"] = _num(improvement(row.mean.get(m, math.nan), pv)
                                          if pv is not None else None)
        d["notes"] = "; ".join(row.notes)
        out.append(d)
    return out


def runs_csv_rows(report: Report) -> list[dict[str, Any]]:
    """One dict per run: its status, folder and test metrics."""
    out = []
    for g in report.records:
        for rec in g.records:
            r = rec.run
            d: dict[str, Any] = {"dataset": r.dataset, "model": r.model, "label": r.label,
                                 "objective": r.objective, "seed": r.seed, "id": r.id,
                                 "status": rec.status, "dir": str(r.dir),
                                 "options": json.dumps(r.options, sort_keys=True),
                                 "history_mask": report.history_mask or ""}
            for m in report.metrics:
                d[m] = _num((rec.test or {}).get(m))
            d["error"] = rec.error
            out.append(d)
    return out


def _num(x: float | None) -> str:
    return "" if x is None or not math.isfinite(x) else f"{x:.6g}"


def to_csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    if rows:
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return buf.getvalue()


def write_report(path: str | Path, out: str | Path | None = None, *, paper: bool = False,
                 layout: str | None = None, primary: str = "NDCG@10",
                 root: str | Path | None = None, history_mask: str | None = None,
                 data_overrides: dict[str, Any] | None = None, device: str | None = "auto"
                 ) -> list[tuple[Report, str, list[Path]]]:
    """Build the report(s) of ``path``; write ``NAME.md``, ``NAME.csv``, ``NAME-runs.csv``
    to ``out`` when given, once every report is built. Returns (report, markdown, written
    files) per experiment. ``history_mask``: score every finished run under that mask, on
    ``device`` (``build``)."""
    from basrec.experiments.rescore import check_history_mask
    from basrec.runio import atomic_write_text

    if layout is not None and layout not in LAYOUT_TITLES and layout != "none":
        raise BasrecError(f"--layout: {layout!r} is not one of none, "
                          f"{', '.join(LAYOUT_TITLES)}")
    if history_mask is not None:
        check_history_mask(history_mask)
    built = []
    for source in sources(path, root):
        rep = build(source, primary=primary, table=layout, history_mask=history_mask,
                    data_overrides=data_overrides, device=device)
        if layout == "none":
            rep.table = None
        built.append((rep, markdown(rep, paper)))
    done = []
    for rep, md in built:
        files: list[Path] = []
        if out is not None:
            o = Path(out)
            o.mkdir(parents=True, exist_ok=True)
            for fname, text in ((f"{rep.name}.md", md),
                                (f"{rep.name}.csv", to_csv(csv_rows(rep, paper))),
                                (f"{rep.name}-runs.csv", to_csv(runs_csv_rows(rep)))):
                atomic_write_text(o / fname, text)
                files.append(o / fname)
        done.append((rep, md, files))
    return done
