"""An experiment's grid file: datasets × backbones × objectives × seeds from one YAML file,
read and checked (``load_spec``, ``parse_spec``).

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

The runs root: ``--root``, else ``$BASREC_RUNS``, else the file's ``root``, else
``~/basrec-runs`` (``DEFAULT_RUNS_ROOT``). Keep it outside a checkout that may be laid anew.
"""

from __future__ import annotations

import difflib
import itertools
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from basrec import config as config_mod
from basrec.config import RunConfig
from basrec.errors import ConfigError
from basrec.runio import file_above

SPEC_KEYS = ("name", "description", "root", "table", "base", "presets", "grid")
GRID_KEYS = ("datasets", "models", "objectives", "seeds")
#: a run's config keys that the grid's axes set: no entry's options or sweep may set them
AXIS_KEYS = ("dataset", "model", "objective", "seed")
OBJECTIVE_KEYS = ("name", "label", "options", "optional", "sweep")
PRESET_KEYS = ("file", "objectives")
DEFAULT_LABELS = {"none": "Base", "basrec": "BASRec"}
TABLES = ("table2", "table3", "table4", "table5")
#: the runs root when neither ``--root``, ``$BASREC_RUNS`` nor the grid file names one
DEFAULT_RUNS_ROOT = "~/basrec-runs"
RUNS_ROOT_ENV = "BASREC_RUNS"



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


def find_file(text: str, beside: Path | None) -> Path | None:
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
            return _checked_root(str(value))
    return _checked_root(DEFAULT_RUNS_ROOT)


def _checked_root(value: str) -> str:
    """``value``, refused where it or a folder above it is a file (one line, before any
    plan is listed or run)."""
    path = Path(value).expanduser()
    bad = path if path.exists() and not path.is_dir() else file_above(path)
    if bad is not None:
        raise ConfigError(f"runs root {value}: {bad} is a file, not a folder")
    return value


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
        found = find_file(str(f), beside)
        if found is None:
            raise ConfigError(f"{where}: base.config file {f!r} not found")
        base_files.append(found)
    presets_raw = raw.get("presets") or []
    if not isinstance(presets_raw, list):
        raise ConfigError(f"{where}: 'presets' must be a list of file patterns")
    presets = tuple(_preset(x, f"{where}: presets[{i}]") for i, x in enumerate(presets_raw))
    grid = raw.get("grid")
    if not isinstance(grid, dict):
        raise ConfigError(f"{where}: needs 'grid', a mapping of datasets, models, objectives, "
                          f"seeds (an axis left out takes base's value)")
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


