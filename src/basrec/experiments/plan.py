"""An experiment's plan: the grid file expanded into runs, each with its id and folder.

Each run gets an id: a hash of its resolved configuration without execution-only keys
(``progress``, ``device``, ``threads``, ``eval_batch_size``) and without unset values (None or
empty lists, so a new config key with a neutral default does not rename old runs), and a
directory ``ROOT/<dataset>/<model>/<objective>-s<seed>-<id8>``. Runs with the same
configuration are the same run, also across grid files sharing a root. If the planned folder is
missing, a sibling whose ``config.yaml`` resolves to the same configuration is reused.

Two-stage objectives (BASRec) get the cell's plain run (the first ``none`` entry, or an implicit
"Base" one) as ``init_from``: it is trained first, and Base and BASRec share it. A cell is one
(dataset, model, seed); ``--shard i/N`` gives shard i the cells whose hash is i−1 modulo N
(``cell_shard``): whole cells, so dependencies never cross shards; stable when the grid grows,
and the same shard for a cell in every grid file. Shard sizes vary by chance. ``--only
FIELD=VALUE[,VALUE]`` (dataset, model, objective, label, seed; repeatable, all must match) keeps
some runs of the grid, plus the unfinished stage-1 runs they need.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from basrec import config as config_mod
from basrec import identity as identity_mod
from basrec.config import RunConfig
from basrec.errors import BasrecError, ConfigError
from basrec.experiments.spec import ExperimentSpec, ObjectiveEntry, find_file
from basrec.runio import read_json

# -- planning ------------------------------------------------------------------------------


@dataclass
class PlannedRun:
    """One run of the grid (``cfg`` is None for an unavailable objective or a loaded index)."""

    id: str
    label: str
    objective: str
    dataset: str
    model: str
    seed: int
    cell: int
    dir: Path
    stage1: str | None = None
    available: bool = True
    note: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    presets: tuple[str, ...] = ()
    cfg: RunConfig | None = None
    implicit: bool = False

    @property
    def finished(self) -> bool:
        return (self.dir / "results.json").is_file()

    def to_json(self, root: Path) -> dict[str, Any]:
        try:
            rel = str(self.dir.relative_to(root))
        except ValueError:
            rel = str(self.dir)
        return {"id": self.id, "label": self.label, "objective": self.objective,
                "dataset": self.dataset, "model": self.model, "seed": self.seed,
                "cell": self.cell, "dir": rel, "stage1": self.stage1,
                "available": self.available, "note": self.note, "options": self.options,
                "presets": list(self.presets), "implicit": self.implicit}

    @staticmethod
    def from_json(d: dict[str, Any], root: Path) -> PlannedRun:
        p = Path(d["dir"])
        return PlannedRun(id=d["id"], label=d["label"], objective=d["objective"],
                          dataset=d["dataset"], model=d["model"], seed=int(d["seed"]),
                          cell=int(d.get("cell", 0)), dir=p if p.is_absolute() else root / p,
                          stage1=d.get("stage1"), available=bool(d.get("available", True)),
                          note=d.get("note", ""), options=dict(d.get("options") or {}),
                          presets=tuple(d.get("presets") or ()),
                          implicit=bool(d.get("implicit", False)))


@dataclass
class Plan:
    """Every run of a grid, cells in order (plain run first in each cell)."""

    spec: ExperimentSpec
    runs: list[PlannedRun]
    warnings: list[str] = field(default_factory=list)

    @property
    def n_cells(self) -> int:
        return len({r.cell for r in self.runs})

    def shard(self, index: int, count: int) -> list[PlannedRun]:
        """The runs of shard ``index`` (1-based) of ``count``: whole cells (``cell_shard``)."""
        return [r for r in self.runs
                if cell_shard(r.dataset, r.model, r.seed, count) == index - 1]

    def by_id(self) -> dict[str, PlannedRun]:
        return {r.id: r for r in self.runs}

    def index(self) -> dict[str, Any]:
        spec = self.spec
        labels: dict[str, list[str]] = {}
        for r in self.runs:
            labels.setdefault(r.label, []).append(r.to_json(spec.root)["dir"])
        return {"name": spec.name, "description": spec.description, "table": spec.table,
                "source": str(spec.source.resolve()) if spec.source else None,
                "datasets": list(spec.datasets), "models": list(spec.models),
                "seeds": list(spec.seeds),
                "labels_order": unique_in_order([r.label for r in self.runs]),
                "runs": [r.to_json(spec.root) for r in self.runs], "labels": labels}


def unique_in_order(items: Iterable[str]) -> list[str]:
    out: list[str] = []
    for x in items:
        if x not in out:
            out.append(x)
    return out


def cell_shard(dataset: str, model: str, seed: int, count: int) -> int:
    """0-based shard of a (dataset, model, seed) cell: a hash of the cell mod ``count``.

    Stable when the grid changes, and the same in every grid file sharing a root (a cell's
    plain run is trained by the same shard number everywhere)."""
    key = f"{dataset}\0{model}\0{seed}".encode()
    return int(hashlib.sha256(key).hexdigest()[:12], 16) % count


def dataset_slug(dataset: str) -> str:
    """A folder name for a dataset: the catalog name, or a file's stem."""
    name = Path(dataset).stem if ("/" in dataset or os.sep in dataset or "." in dataset) \
        else dataset
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.").lower() or "data"
    return "experiments-data" if slug == "experiments" else slug  # ROOT/experiments: indexes


def _drop_unset(d: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in d.items():
        if value is None or (isinstance(value, (list, tuple)) and len(value) == 0):
            continue
        out[key] = _drop_unset(value) if isinstance(value, dict) else value
    return out


def identity(cfg: RunConfig) -> dict[str, Any]:
    """What defines a run's result: :func:`identity.result_keys` less unset keys."""
    return _drop_unset(identity_mod.result_keys(cfg))


def run_id(cfg: RunConfig, stage1: str | None = None) -> str:
    """A 12-hex-digit hash of the run's identity (init_from replaced by its stage-1 run id)."""
    d = identity(cfg)
    d.pop("init_from", None)
    if stage1 is not None:
        d["stage1_run"] = stage1
    text = json.dumps(d, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def _objective_folders(spec: ExperimentSpec) -> set[str]:
    from basrec.registry import OBJECTIVES

    names = set(OBJECTIVES.names()) | {o.name for o in spec.objectives}
    names.discard("none")
    return names


def _presets_for(spec: ExperimentSpec, model: str, dataset: str, objective: str,
                 used: set[str]) -> list[Path]:
    beside = spec.source.parent if spec.source is not None else None
    folders = _objective_folders(spec)
    out = []
    for preset in spec.presets:
        if preset.objectives is not None:
            if objective not in preset.objectives:
                continue
        elif "{objective}" not in preset.pattern:
            parts = set(Path(preset.pattern).parts[:-1])
            owners = parts & folders
            if owners and objective not in owners:
                continue
        try:
            text = preset.pattern.format(model=model, dataset=dataset_slug(dataset),
                                         objective=objective)
        except (KeyError, IndexError, ValueError) as e:
            raise ConfigError(f"presets: bad pattern {preset.pattern!r} ({e}); use {{model}}, "
                              f"{{dataset}}, {{objective}}") from None
        found = find_file(text, beside)
        if found is not None:
            used.add(preset.pattern)
            out.append(found)
    return out


def _raw_config(spec: ExperimentSpec, presets: list[Path], entry: ObjectiveEntry,
                dataset: str, model: str, seed: int) -> dict[str, Any]:
    raw: dict[str, Any] = {}
    for f in [*spec.base_files, *presets]:
        raw = config_mod.merge(raw, config_mod.read_yaml(f))
    raw = config_mod.merge(raw, config_mod.nest_dotted(spec.base))
    raw = config_mod.merge(raw, config_mod.nest_dotted(entry.options))
    return config_mod.merge(raw, {"dataset": dataset, "model": model,
                                  "objective": entry.name, "seed": seed})


def _stage1_mismatch(cfg: RunConfig, plain: RunConfig) -> tuple[str, str] | None:
    """Where a two-stage run's own stage-1 rules differ from the shared plain run's.

    A stage 1 validates on ``basrec.stage1_valid_every`` where it is set, else on the run's
    own ``valid_every``; a difference there is named too."""
    from basrec.build import stage1_rules

    rules = stage1_rules(cfg)
    own = {"valid_every": cfg.valid_every, **rules}
    has = {key: getattr(plain, key) for key in own}
    keys = [key for key in own if own[key] != has[key]]
    if not keys:
        return None
    named = [f"stage1_{key}={own[key]}" if key in rules else f"{key}={own[key]}"
             for key in keys]
    return (", ".join(f"{key} {has[key]}" for key in keys),
            ", ".join(named) + (" is" if len(keys) == 1 else " are"))


def _locate(spec: ExperimentSpec, cfg: RunConfig, rid: str) -> Path:
    """The run's folder: the planned one, or an older sibling holding the same configuration."""
    parent = spec.root / dataset_slug(cfg.dataset) / cfg.model
    planned = parent / f"{cfg.objective}-s{cfg.seed}-{rid[:8]}"
    if planned.exists() or not parent.is_dir():
        return planned
    want = identity(cfg)
    for cand in sorted(parent.glob(f"{cfg.objective}-s{cfg.seed}-*")):
        if not (cand / "config.yaml").is_file():
            continue
        try:
            other = config_mod.resolve(config_mod.read_yaml(cand / "config.yaml"))
        except BasrecError:
            continue
        if identity(other) == want:
            return cand
    return planned


def _import_plugins(spec: ExperimentSpec) -> None:
    plugins = spec.base.get("plugins")
    hook = getattr(config_mod, "import_plugins", None)
    if plugins and callable(hook):
        hook(tuple(plugins) if isinstance(plugins, list) else (str(plugins),))


def plan(spec: ExperimentSpec) -> Plan:
    """Resolve every run's configuration, id, folder and stage-1 dependency.

    Raises ConfigError for a bad key or value anywhere in the grid."""
    from basrec.registry import OBJECTIVES

    _import_plugins(spec)
    runs: list[PlannedRun] = []
    warnings: list[str] = []
    used: set[str] = set()
    cell = 0
    epoch_notes: set[tuple[str, str]] = set()
    for seed in spec.seeds:
        for dataset in spec.datasets:
            for model in spec.models:
                cell_runs: list[PlannedRun] = []
                resolved: list[tuple[ObjectiveEntry, RunConfig | None, list[Path]]] = []
                for entry in spec.objectives:
                    if entry.name not in OBJECTIVES:
                        if entry.optional:
                            resolved.append((entry, None, []))
                            continue
                        OBJECTIVES.get(entry.name)  # raises with a suggestion
                    presets = _presets_for(spec, model, dataset, entry.name, used)
                    raw = _raw_config(spec, presets, entry, dataset, model, seed)
                    try:
                        cfg = config_mod.resolve(raw)
                    except ConfigError as e:
                        raise ConfigError(f"{spec.source or 'experiment'}: {entry.label} "
                                          f"({dataset}, {model}, seed {seed}): {e}") from None
                    resolved.append((entry, cfg, presets))
                needs_stage1 = any(cfg is not None and _two_stage(cfg) and not cfg.init_from
                                   for _, cfg, _ in resolved)
                plain_i = next((i for i, (e, c, _) in enumerate(resolved)
                                if e.name == "none" and c is not None), None)
                if needs_stage1 and plain_i is None:
                    entry = ObjectiveEntry("none", _free_label(spec, "Base"))
                    presets = _presets_for(spec, model, dataset, "none", used)
                    cfg = config_mod.resolve(_raw_config(spec, presets, entry, dataset,
                                                         model, seed))
                    resolved.insert(0, (entry, cfg, presets))
                    plain_i = 0
                    implicit_first = True
                else:
                    implicit_first = False
                order = list(range(len(resolved)))
                if plain_i is not None:
                    order.remove(plain_i)
                    order.insert(0, plain_i)
                plain: PlannedRun | None = None
                for i in order:
                    entry, maybe_cfg, presets = resolved[i]
                    if maybe_cfg is None:
                        fake = f"unavailable:{entry.label}:{dataset}:{model}:{seed}"
                        rid = hashlib.sha256(fake.encode()).hexdigest()[:12]
                        cell_runs.append(PlannedRun(
                            id=rid, label=entry.label, objective=entry.name, dataset=dataset,
                            model=model, seed=seed, cell=cell,
                            dir=spec.root / dataset_slug(dataset) / model
                            / f"{entry.name}-s{seed}-unavailable",
                            available=False, options=entry.options,
                            note=f"objective {entry.name!r} is not implemented yet"))
                        continue
                    cfg = maybe_cfg
                    stage1_id = None
                    if plain is not None and _two_stage(cfg) and not cfg.init_from:
                        stage1_id = plain.id
                        cfg = cfg.replace(init_from=str(plain.dir.resolve()))
                        assert plain.cfg is not None
                        note = _stage1_mismatch(cfg, plain.cfg)
                        if note and (dataset, model) not in epoch_notes:
                            epoch_notes.add((dataset, model))
                            warnings.append(f"{dataset}/{model}: the shared stage-1 run "
                                            f"trains with {note[0]}; {entry.label}'s "
                                            f"{note[1]} not used")
                    rid = run_id(cfg, stage1_id)
                    run = PlannedRun(id=rid, label=entry.label, objective=entry.name,
                                     dataset=dataset, model=model, seed=seed, cell=cell,
                                     dir=_locate(spec, cfg, rid), stage1=stage1_id,
                                     options=entry.options,
                                     presets=tuple(str(p) for p in presets), cfg=cfg,
                                     implicit=implicit_first and i == 0)
                    if i == plain_i:
                        plain = run
                    cell_runs.append(run)
                runs.extend(cell_runs)
                cell += 1
    for preset in spec.presets:
        if preset.pattern not in used:
            warnings.append(f"preset pattern {preset.pattern!r} matched no file")
    return Plan(spec, runs, warnings)


def _two_stage(cfg: RunConfig) -> bool:
    from basrec.build import two_stage

    return two_stage(cfg)


def _free_label(spec: ExperimentSpec, label: str) -> str:
    taken = {o.label for o in spec.objectives}
    out, k = label, 2
    while out in taken:
        out, k = f"{label} ({k})", k + 1
    return out


def parse_shard(text: str | None) -> tuple[int, int]:
    """``"i/N"`` (1 ≤ i ≤ N) → (i, N); None → (1, 1)."""
    if text is None:
        return 1, 1
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not m:
        raise ConfigError(f"--shard: expected i/N such as 1/4, got {text!r}")
    i, n = int(m.group(1)), int(m.group(2))
    if n < 1 or not 1 <= i <= n:
        raise ConfigError(f"--shard: need 1 <= i <= N, got {text!r}")
    return i, n


#: the fields ``--only`` selects on, as PlannedRun attributes
ONLY_FIELDS = ("dataset", "model", "objective", "label", "seed")


def parse_only(items: Sequence[str] | None) -> dict[str, frozenset[str]]:
    """``["seed=2025,2026", "objective=basrec"]`` → {field: values as written}; a field given
    twice keeps the values of both. The comma lists are split by ``select_runs``, which knows
    the grid (a label may itself contain a comma). Unknown fields and items without ``=`` or
    without a value are one-line errors."""
    out: dict[str, set[str]] = {}
    for item in items or ():
        field_name, sep, values = item.partition("=")
        field_name = field_name.strip()
        if not sep or not comma_parts(values):
            raise ConfigError(f"--only: expected FIELD=VALUE[,VALUE...], got {item!r}")
        if field_name not in ONLY_FIELDS:
            raise ConfigError(f"--only: unknown field {field_name!r} "
                              f"(fields: {', '.join(ONLY_FIELDS)})")
        out.setdefault(field_name, set()).add(values.strip())
    return {k: frozenset(v) for k, v in out.items()}


def comma_parts(value: str) -> set[str]:
    """``" a , b,"`` → {"a", "b"}."""
    return {v.strip() for v in value.split(",") if v.strip()}


def only_values(written: frozenset[str], present: set[str]) -> set[str]:
    """The values ``--only`` asks for: a value as written when some run has exactly it (a label
    such as "min_epochs 100, 400 epochs"), else its comma-separated parts."""
    out: set[str] = set()
    for value in written:
        out.update({value} if value in present else comma_parts(value))
    return out


def select_runs(runs: list[PlannedRun], only: dict[str, frozenset[str]],
                by_id: dict[str, PlannedRun]) -> list[PlannedRun]:
    """The runs matching every ``only`` field (any of its values), plus the unfinished stage-1
    runs they need, in grid order; every run when ``only`` is empty."""
    if not only:
        return runs
    grid = by_id.values()  # the whole grid, not this shard: a value means the same in every shard
    wanted = {f: only_values(values, {str(getattr(r, f)) for r in grid})
              for f, values in only.items()}
    chosen = {r.id for r in runs
              if all(str(getattr(r, f)) in values for f, values in wanted.items())}
    needed = {r.stage1 for r in runs if r.id in chosen and r.stage1 is not None
              and not by_id[r.stage1].finished}
    return [r for r in runs if r.id in chosen or r.id in needed]


def load_index(path: str | Path) -> tuple[dict[str, Any], list[PlannedRun], Path]:
    """Read ``experiment.json`` → (its dict, its runs, the runs root)."""
    p = Path(path)
    if p.is_dir():
        p = p / "experiment.json"
    if not p.is_file():
        raise BasrecError(f"{p}: no experiment index here")
    try:
        data = read_json(p)
    except (OSError, ValueError) as e:
        raise BasrecError(f"{p}: unreadable experiment index ({e})") from None
    root = p.parent.parent.parent  # ROOT/experiments/<name>/experiment.json
    return data, [PlannedRun.from_json(d, root) for d in data.get("runs", [])], root


