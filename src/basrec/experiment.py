"""Experiment grids: datasets × backbones × objectives × seeds from one YAML file.

A grid file (see docs/experiments.md)::

    name: table2
    root: ~/basrec-runs           # optional runs folder (see "The runs root" below)
    table: table2                 # optional: the report's paper layout
    base:                         # keys every run shares (dotted keys allowed)
      config: [some/preset.yaml]  # optional preset files, applied first
      threads: 1
    presets:                      # per-(model, dataset) files, applied where they exist
      - configs/backbones/{model}_{dataset}.yaml
      - configs/basrec/{model}_{dataset}.yaml     # only for objective basrec (its folder)
    grid:
      datasets: [beauty, sports]
      models: [sasrec]
      objectives:
        - none                                        # label "Base"
        - basrec                                      # label "BASRec"
        - {name: basrec, label: "w/o SA", options: {basrec.single: false}}
        - {name: cl4srec, label: CL4SRec, optional: true}  # "unavailable" if not registered
        - {name: basrec, label: α, sweep: {basrec.alpha: [0.2, 0.4]}}  # one column per value
      seeds: [2024, 2025]

A run's configuration is merged as: defaults ← ``base.config`` files ← presets (general, then
objective-specific) ← ``base`` keys ← the objective entry's ``options`` ← the grid's dataset,
model, objective and seed. A preset applies to one objective only when its pattern holds
``{objective}`` or a folder named after an objective (``configs/basrec/...``); the mapping form
``{file: PATTERN, objectives: [names]}`` says it explicitly. Relative paths are looked up in the
current directory, then beside the grid file.

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

The runs root: ``--root``, else ``$BASREC_RUNS``, else the file's ``root``, else
``~/basrec-runs`` (``DEFAULT_RUNS_ROOT``). Keep it outside a checkout that may be laid anew.

Execution: a finished run (``results.json``) is skipped; an interrupted one resumes from its
``checkpoint_last.pt`` (``stages.run``); a failing one is logged to ``failures.jsonl`` and the
grid goes on (its dependants are "blocked"). A lock file in the run folder keeps two processes
off the same run. The index ``ROOT/experiments/<name>/experiment.json`` maps labels to runs;
``started.jsonl`` beside it lists the runs this grid has started, so a run whose folder has
gone since is started again with a message saying so. ``run_status`` reads a run's state
(done, running, partial with its last epoch and validation metric, not started) for
``basrec experiment FILE --status``.
"""

from __future__ import annotations

import difflib
import hashlib
import itertools
import json
import os
import re
import socket
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from basrec import config as config_mod
from basrec.config import RunConfig
from basrec.errors import BasrecError, ConfigError
from basrec.runio import atomic_write_text, read_json, write_json

SPEC_KEYS = ("name", "description", "root", "table", "base", "presets", "grid")
GRID_KEYS = ("datasets", "models", "objectives", "seeds")
#: a run's config keys that the grid's axes set: no entry's options or sweep may set them
AXIS_KEYS = ("dataset", "model", "objective", "seed")
OBJECTIVE_KEYS = ("name", "label", "options", "optional", "sweep")
PRESET_KEYS = ("file", "objectives")
DEFAULT_LABELS = {"none": "Base", "basrec": "BASRec"}
TABLES = ("table2", "table3", "table4", "table5")
LOCK_NAME = ".basrec.lock"
OK_STATUSES = ("done", "trained", "resumed")
#: the runs root when neither ``--root``, ``$BASREC_RUNS`` nor the grid file names one
DEFAULT_RUNS_ROOT = "~/basrec-runs"
RUNS_ROOT_ENV = "BASREC_RUNS"
STARTED_NAME = "started.jsonl"


# -- the grid file -------------------------------------------------------------------------


@dataclass(frozen=True)
class ObjectiveEntry:
    """One objective column of the grid: a registered name, a label, config overrides."""

    name: str
    label: str
    options: dict[str, Any] = field(default_factory=dict)
    optional: bool = False


@dataclass(frozen=True)
class Preset:
    """A file pattern with {model}, {dataset}, {objective}; ``objectives`` None = all."""

    pattern: str
    objectives: tuple[str, ...] | None = None


@dataclass(frozen=True)
class ExperimentSpec:
    """A parsed, checked grid file."""

    name: str
    root: Path
    datasets: tuple[str, ...]
    models: tuple[str, ...]
    objectives: tuple[ObjectiveEntry, ...]
    seeds: tuple[int, ...]
    base: dict[str, Any] = field(default_factory=dict)
    base_files: tuple[Path, ...] = ()
    presets: tuple[Preset, ...] = ()
    table: str | None = None
    description: str = ""
    source: Path | None = None

    @property
    def index_dir(self) -> Path:
        return self.root / "experiments" / self.name

    @property
    def index_path(self) -> Path:
        return self.index_dir / "experiment.json"


def _check_keys(values: dict[str, Any], allowed: Iterable[str], where: str) -> None:
    allowed = tuple(allowed)
    for key in values:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"{where}: unknown key {key!r}{hint}; known: {', '.join(allowed)}")


def _str_list(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{where}: expected a non-empty list, got {value!r}")
    out = []
    for v in value:
        if not isinstance(v, (str, int, float)) or isinstance(v, bool):
            raise ConfigError(f"{where}: expected names, got {v!r}")
        out.append(str(v))
    if len(set(out)) != len(out):
        raise ConfigError(f"{where}: repeated entries in {out}")
    return tuple(out)


def _find_file(text: str, beside: Path | None) -> Path | None:
    """A relative path is looked up in the current directory, then beside the grid file."""
    p = Path(text).expanduser()
    if p.is_absolute():
        return p if p.is_file() else None
    if p.is_file():
        return p
    if beside is not None and (beside / p).is_file():
        return beside / p
    return None


def _objective_entries(raw: Any, where: str) -> list[ObjectiveEntry]:
    """One grid entry: a single objective column, or with ``sweep`` (config keys → lists of
    values) one column per combination of the values (their cartesian product), labelled
    ``<label> key=value ...`` with each key's last dotted part."""
    if not isinstance(raw, dict) or "sweep" not in raw:
        return [_objective_entry(raw, where)]
    sweep = raw["sweep"]
    if not isinstance(sweep, dict) or not sweep:
        raise ConfigError(f"{where}: 'sweep' must map config keys to lists of values")
    for key, values in sweep.items():
        if key in AXIS_KEYS:
            raise ConfigError(f"{where}: sweep may not set {key!r} (it is a grid axis)")
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{where}: sweep.{key} must be a non-empty list of values")
        if any(isinstance(v, (dict, list)) for v in values):
            raise ConfigError(f"{where}: sweep.{key} values must be scalars")
    base = _objective_entry({k: v for k, v in raw.items() if k != "sweep"}, where)
    clash = sorted(set(sweep) & set(base.options))
    if clash:
        raise ConfigError(f"{where}: {', '.join(clash)} is both in 'options' and in 'sweep'")
    out = []
    for combo in itertools.product(*sweep.values()):
        chosen = dict(zip(sweep, combo, strict=True))
        tag = " ".join(f"{k.rsplit('.', 1)[-1]}={v}" for k, v in chosen.items())
        out.append(ObjectiveEntry(base.name, f"{base.label} {tag}",
                                  {**base.options, **chosen}, base.optional))
    return out


def _objective_entry(raw: Any, where: str) -> ObjectiveEntry:
    if isinstance(raw, str):
        return ObjectiveEntry(raw, DEFAULT_LABELS.get(raw, raw))
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a name or a mapping with 'name', got {raw!r}")
    _check_keys(raw, OBJECTIVE_KEYS, where)
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{where}: needs 'name' (an objective, e.g. basrec)")
    label = raw.get("label", DEFAULT_LABELS.get(name, name))
    if not isinstance(label, str) or not label.strip():
        raise ConfigError(f"{where}: 'label' must be a non-empty string")
    options = raw.get("options") or {}
    if not isinstance(options, dict):
        raise ConfigError(f"{where}: 'options' must be a mapping of config keys to values")
    for key in AXIS_KEYS:
        if key in options:
            raise ConfigError(f"{where}: options may not set {key!r} (it is a grid axis)")
    optional = raw.get("optional", False)
    if not isinstance(optional, bool):
        raise ConfigError(f"{where}: 'optional' must be true or false")
    return ObjectiveEntry(name, label.strip(), dict(options), optional)


def _preset(raw: Any, where: str) -> Preset:
    if isinstance(raw, str):
        return Preset(raw)
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a file pattern or {{file, objectives}}")
    _check_keys(raw, PRESET_KEYS, where)
    pattern = raw.get("file")
    if not isinstance(pattern, str) or not pattern:
        raise ConfigError(f"{where}: needs 'file' (a pattern like configs/x/{{model}}.yaml)")
    objs = raw.get("objectives")
    return Preset(pattern, None if objs is None else _str_list(objs, f"{where}.objectives"))


def load_spec(path: str | Path, root: str | Path | None = None) -> ExperimentSpec:
    """Read and check a grid file; ``root`` replaces the file's ``root``."""
    p = Path(path)
    if p.is_dir():
        raise ConfigError(f"{p}: is a folder; expected an experiment YAML file")
    raw = config_mod.read_yaml(p)
    return parse_spec(raw, source=p, root=root)


def runs_root(given: str | Path | None, in_file: Any = None) -> str:
    """The runs root: ``given`` (``--root``), else ``$BASREC_RUNS``, else the grid file's
    ``root``, else ``DEFAULT_RUNS_ROOT``; blank values count as unset."""
    for value in (given, os.environ.get(RUNS_ROOT_ENV), in_file):
        if value is not None and str(value).strip():
            return str(value)
    return DEFAULT_RUNS_ROOT


def parse_spec(raw: dict[str, Any], source: Path | None = None,
               root: str | Path | None = None) -> ExperimentSpec:
    """Check a grid mapping (as read from YAML) and return an ExperimentSpec."""
    where = str(source) if source is not None else "experiment"
    _check_keys(raw, SPEC_KEYS, where)
    name = raw.get("name", source.stem if source is not None else None)
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        raise ConfigError(f"{where}: 'name' must be letters, digits, '_', '-' or '.', "
                          f"got {name!r}")
    root_value = runs_root(root, raw.get("root"))
    base = raw.get("base") or {}
    if not isinstance(base, dict):
        raise ConfigError(f"{where}: 'base' must be a mapping of config keys to values")
    base = dict(base)
    beside = source.parent if source is not None else None
    files = base.pop("config", None) or []
    if isinstance(files, str):
        files = [files]
    if not isinstance(files, list):
        raise ConfigError(f"{where}: base.config must be a list of files")
    base_files = []
    for f in files:
        found = _find_file(str(f), beside)
        if found is None:
            raise ConfigError(f"{where}: base.config file {f!r} not found")
        base_files.append(found)
    presets_raw = raw.get("presets") or []
    if not isinstance(presets_raw, list):
        raise ConfigError(f"{where}: 'presets' must be a list of file patterns")
    presets = tuple(_preset(x, f"{where}: presets[{i}]") for i, x in enumerate(presets_raw))
    grid = raw.get("grid")
    if not isinstance(grid, dict):
        raise ConfigError(f"{where}: needs 'grid' with datasets, models, objectives, seeds")
    _check_keys(grid, GRID_KEYS, f"{where}: grid")
    defaults = RunConfig()
    datasets = _str_list(grid.get("datasets", base.get("dataset", defaults.dataset)),
                         f"{where}: grid.datasets")
    models = _str_list(grid.get("models", base.get("model", defaults.model)),
                       f"{where}: grid.models")
    seeds_raw = grid.get("seeds", base.get("seed", defaults.seed))
    seeds_list = seeds_raw if isinstance(seeds_raw, list) else [seeds_raw]
    if not seeds_list or not all(isinstance(s, int) and not isinstance(s, bool)
                                 for s in seeds_list):
        raise ConfigError(f"{where}: grid.seeds must be a list of integers, got {seeds_raw!r}")
    if len(set(seeds_list)) != len(seeds_list):
        raise ConfigError(f"{where}: grid.seeds repeats a seed")
    obj_raw = grid.get("objectives", [base.get("objective", "none")])
    if not isinstance(obj_raw, list) or not obj_raw:
        raise ConfigError(f"{where}: grid.objectives must be a non-empty list")
    objectives = tuple(entry for i, x in enumerate(obj_raw)
                       for entry in _objective_entries(x, f"{where}: grid.objectives[{i}]"))
    labels = [o.label for o in objectives]
    dup = sorted({lab for lab in labels if labels.count(lab) > 1})
    if dup:
        raise ConfigError(f"{where}: objective labels must be unique; repeated: {dup} "
                          f"(give each entry a 'label')")
    if "objective" in base and "objectives" in grid:
        raise ConfigError(f"{where}: base.objective conflicts with grid.objectives")
    table = raw.get("table")
    if table is not None and table not in TABLES:
        raise ConfigError(f"{where}: table {table!r} is not one of {', '.join(TABLES)}")
    desc = raw.get("description", "")
    return ExperimentSpec(name=name, root=Path(str(root_value)).expanduser(),
                          datasets=datasets, models=models, objectives=objectives,
                          seeds=tuple(int(s) for s in seeds_list), base=base,
                          base_files=tuple(base_files), presets=presets, table=table,
                          description=str(desc or ""), source=source)


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
    """What defines a run's result: :func:`config.result_keys` less unset keys."""
    return _drop_unset(config_mod.result_keys(cfg))


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
        found = _find_file(text, beside)
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
    """Where a two-stage run's own stage-1 rules differ from the shared plain run's."""
    from basrec.build import stage1_rules

    own = stage1_rules(cfg)
    has = {key: getattr(plain, key) for key in own}
    keys = [key for key in own if own[key] != has[key]]
    if not keys:
        return None
    return (", ".join(f"{key} {has[key]}" for key in keys),
            ", ".join(f"stage1_{key}={own[key]}" for key in keys)
            + (" is" if len(keys) == 1 else " are"))


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
        return f"{self.plan.spec.name}{where}: {len(self.outcomes)} runs: " + ", ".join(parts)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def acquire_lock(run_dir: Path) -> bool:
    """Create ``run_dir/.basrec.lock``; a lock left by a dead process on this host is taken
    over. False when another live process holds it."""
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
            if same_host and isinstance(pid, int) and (pid == os.getpid() or
                                                        not pid_alive(pid)):
                path.unlink(missing_ok=True)
                continue
            return False
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(me, fh)
        return True
    return False


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


def _last_progress(folder: Path, metric: str) -> tuple[int, float | None] | None:
    """(last epoch, its last validation ``metric`` so far) from ``folder/metrics.jsonl``."""
    from basrec.runio import read_metrics

    try:
        history = read_metrics(folder)
    except BasrecError:
        return None
    if not history:
        return None
    last_valid = next((r["valid"].get(metric) for r in reversed(history)
                       if isinstance(r.get("valid"), dict)), None)
    return int(history[-1].get("epoch", len(history) - 1)), last_valid


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
        progress = _last_progress(folder, metric)
        if progress is not None:
            epoch, value = progress
            last = f"{metric} {value:.4f}" if value is not None else "not validated yet"
            state = "running" if holder is not None else "partial"
            pid = f" (pid {holder})" if holder is not None else ""
            return RunState(state, f"{stage}epoch {epoch}, last valid {last}{pid}")
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
    lines.append(f"{plan_.spec.name}: {len(runs)} runs: "
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
                   only: dict[str, frozenset[str]] | None = None) -> ExperimentOutcome:
    """Plan the grid and train this shard's runs that are not finished (see module doc);
    ``only`` (``parse_only``) keeps the matching runs and the stage-1 runs they need.

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
            out = _train_one(spec, run, trainer, quiet)
        status[run.id] = out.status
        outcomes.append(out)
        if out.status in ("trained", "resumed", "failed", "blocked", "busy") or dry_run:
            say(f"{head}: {out.status}" + (f" — {out.message}" if out.message else ""))
    return ExperimentOutcome(the_plan, shard, outcomes)


def _train_one(spec: ExperimentSpec, run: PlannedRun, trainer: Callable[..., dict[str, Any]],
               quiet: bool) -> RunOutcome:
    assert run.cfg is not None
    if not acquire_lock(run.dir):
        return RunOutcome(run, "busy", f"another process holds {run.dir / LOCK_NAME} "
                                       f"(delete it if that process is gone)")
    resumed = _resumable(run)
    _mark_started(spec, run)
    t0 = time.time()
    try:
        results = trainer(run.cfg, run.dir, quiet=quiet)
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
