"""A study file: the base configuration, the search space, the metric and the budget.

Every value of the space is checked against the run configuration before any trial starts
(:func:`check_space`): an unknown key, an empty range or a type the key cannot take is a
one-line ConfigError.
"""

from __future__ import annotations

import contextlib
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from basrec import config as config_mod
from basrec.config import RunConfig
from basrec.errors import BasrecError, ConfigError

SPEC_KEYS = ("name", "description", "root", "base", "search", "metric", "trials", "sampler",
             "pruner", "stale_after_s")
KINDS = ("float", "int", "categorical")
PARAM_KEYS = {"float": ("type", "low", "high", "log", "step"),
              "int": ("type", "low", "high", "log", "step"),
              "categorical": ("type", "choices")}
SAMPLER_KEYS = ("name", "seed", "startup_trials")
PRUNERS = {"none": (), "median": ("startup_trials", "warmup_epochs", "min_trials"),
           "hyperband": ("min_epochs", "max_epochs", "reduction_factor")}
#: seconds without a heartbeat after which a RUNNING trial of another host counts as lost
DEFAULT_STALE_AFTER_S = 600.0
#: a trial beats every 30 s (tune.study.HEARTBEAT_S): silence shorter than two beats is normal
MIN_STALE_AFTER_S = 60.0


@dataclass(frozen=True)
class Param:
    """One dimension of the search space: a config key (dotted for sections) and its range."""

    key: str
    kind: str
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None
    choices: tuple[Any, ...] = ()

    def suggest(self, trial: Any) -> Any:
        """The trial's value for this key (``trial``: an optuna Trial)."""
        if self.kind == "float":
            assert self.low is not None and self.high is not None
            return trial.suggest_float(self.key, float(self.low), float(self.high),
                                       log=self.log,
                                       step=None if self.step is None else float(self.step))
        if self.kind == "int":
            assert self.low is not None and self.high is not None
            return trial.suggest_int(self.key, int(self.low), int(self.high), log=self.log,
                                     step=1 if self.step is None else int(self.step))
        return trial.suggest_categorical(self.key, list(self.choices))

    def probe_values(self) -> list[Any]:
        """Values that stand for the whole range in the checks: both ends and an inner point
        (one that is not a whole number for a float range), or every choice."""
        if self.kind == "categorical":
            return list(self.choices)
        assert self.low is not None and self.high is not None
        lo, hi = self.low, self.high
        if self.kind == "int":
            return sorted({int(lo), int(hi), (int(lo) + int(hi)) // 2})
        if self.log:
            inner = math.exp(math.log(lo) + 0.37 * (math.log(hi) - math.log(lo)))
        else:
            inner = lo + 0.37 * (hi - lo)
        if self.step is not None:
            inner = lo + math.floor((inner - lo) / self.step) * self.step
        return sorted({float(lo), float(hi), float(inner)})

    def to_json(self) -> dict[str, Any]:
        if self.kind == "categorical":
            return {"key": self.key, "type": self.kind, "choices": list(self.choices)}
        return {"key": self.key, "type": self.kind, "low": self.low, "high": self.high,
                "log": self.log, "step": self.step}


@dataclass(frozen=True)
class TuneSpec:
    """A parsed, checked study file."""

    name: str
    root: Path
    params: tuple[Param, ...]
    metric: str
    trials: int
    base: dict[str, Any] = field(default_factory=dict)
    base_files: tuple[Path, ...] = ()
    sampler_seed: int = 0
    startup_trials: int | None = None
    pruner: str = "median"
    pruner_options: dict[str, int] = field(default_factory=dict)
    stale_after_s: float = DEFAULT_STALE_AFTER_S
    description: str = ""
    source: Path | None = None

    @property
    def index_dir(self) -> Path:
        """``ROOT/experiments/<name>``: the study's index, failures and report."""
        return self.root / "experiments" / self.name

    @property
    def default_storage(self) -> str:
        return f"sqlite:///{(self.root / self.name).resolve()}.db"

    @property
    def n_startup(self) -> int:
        """TPE's random first trials: as given, else a third of the budget (1 to 10)."""
        if self.startup_trials is not None:
            return self.startup_trials
        return max(1, min(10, self.trials // 3))

    def raw_config(self, values: dict[str, Any] | None = None) -> dict[str, Any]:
        raw: dict[str, Any] = {}
        for f in self.base_files:
            raw = config_mod.merge(raw, config_mod.read_yaml(f))
        raw = config_mod.merge(raw, config_mod.nest_dotted(self.base))
        return config_mod.merge(raw, config_mod.nest_dotted(values or {}))

    def config(self, values: dict[str, Any] | None = None) -> RunConfig:
        """The run configuration of one point of the space (the base alone for ``None``)."""
        return config_mod.resolve(self.raw_config(values))

    def fingerprint(self) -> dict[str, Any]:
        """What a study's trials depend on: a study reopened with another one is refused."""
        from basrec.experiments.plan import identity

        return {"search": [p.to_json() for p in self.params], "metric": self.metric,
                "base": identity(self.config())}


def _where(source: Path | None) -> str:
    return str(source) if source is not None else "study"


def _check_keys(values: dict[str, Any], allowed: tuple[str, ...], where: str) -> None:
    import difflib

    for key in values:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"{where}: unknown key {key!r}{hint}; known: {', '.join(allowed)}")


def _number(value: Any, where: str, integer: bool = False) -> float | int:
    if isinstance(value, str):  # YAML 1.1 reads 1e-4 (no dot) as a string
        with contextlib.suppress(ValueError):
            value = float(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value):
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    if integer:
        if isinstance(value, float) and not value.is_integer():
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return int(value)
    return value


def _count(raw: Any, where: str, minimum: int) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < minimum:
        raise ConfigError(f"{where}: expected an integer >= {minimum}, got {raw!r}")
    return raw


def parse_param(key: Any, raw: Any, where: str) -> Param:
    """One entry of ``search``: ``{type: float|int, low, high[, log][, step]}``,
    ``{type: categorical, choices: [...]}`` or a plain list of choices."""
    w = f"{where}: search.{key}"
    if not isinstance(key, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", key):
        raise ConfigError(f"{where}: search key {key!r} is not a config key")
    if isinstance(raw, list):
        raw = {"type": "categorical", "choices": raw}
    if not isinstance(raw, dict):
        raise ConfigError(f"{w}: expected {{type: float|int|categorical, ...}} or a list of "
                          f"choices, got {raw!r}")
    kind = raw.get("type")
    if kind not in KINDS:
        raise ConfigError(f"{w}: 'type' must be one of {', '.join(KINDS)}, got {kind!r}")
    _check_keys(raw, PARAM_KEYS[kind], w)
    if kind == "categorical":
        choices = raw.get("choices")
        if not isinstance(choices, list) or not choices:
            raise ConfigError(f"{w}: 'choices' must be a non-empty list (empty space)")
        for c in choices:
            if c is not None and not isinstance(c, (bool, int, float, str)):
                raise ConfigError(f"{w}: choices must be scalars, got {c!r}")
        if len({repr(c) for c in choices}) != len(choices):
            raise ConfigError(f"{w}: repeated choices in {choices}")
        return Param(key, kind, choices=tuple(choices))
    integer = kind == "int"
    for end in ("low", "high"):
        if end not in raw:
            raise ConfigError(f"{w}: needs 'low' and 'high'")
    low = _number(raw["low"], f"{w}.low", integer)
    high = _number(raw["high"], f"{w}.high", integer)
    if low > high:
        raise ConfigError(f"{w}: empty range (low {low} > high {high})")
    log = raw.get("log", False)
    if not isinstance(log, bool):
        raise ConfigError(f"{w}.log: expected true or false, got {log!r}")
    step = raw.get("step")
    if step is not None:
        step = _number(step, f"{w}.step", integer)
        if step <= 0:
            raise ConfigError(f"{w}.step: must be positive, got {step}")
        if log and (step != 1 or not integer):
            raise ConfigError(f"{w}: 'log' and 'step' cannot go together")
    if log and low <= 0:
        raise ConfigError(f"{w}: a log range needs low > 0, got {low}")
    return Param(key, kind, low=low, high=high, log=log, step=step)


def _flat(d: dict[str, Any], prefix: str = "") -> list[str]:
    out: list[str] = []
    for key, value in d.items():
        out += _flat(value, f"{prefix}{key}.") if isinstance(value, dict) else [prefix + key]
    return out


def _find_file(text: str, beside: Path | None) -> Path | None:
    """A relative path is looked up in the current directory, then beside the study file."""
    p = Path(text).expanduser()
    if p.is_file():
        return p
    if not p.is_absolute() and beside is not None and (beside / p).is_file():
        return beside / p
    return None


def load_spec(path: str | Path, root: str | Path | None = None,
              trials: int | None = None, need_data: bool = True) -> TuneSpec:
    """Read and check a study file; ``root`` and ``trials`` replace the file's values.
    ``need_data=False`` (looking at a study, not training): the dataset need not be here."""
    p = Path(path)
    if p.is_dir():
        raise ConfigError(f"{p}: is a folder; expected a study YAML file")
    return parse_spec(config_mod.read_yaml(p), source=p, root=root, trials=trials,
                      need_data=need_data)


def parse_spec(raw: dict[str, Any], source: Path | None = None,
               root: str | Path | None = None, trials: int | None = None,
               need_data: bool = True) -> TuneSpec:
    """Check a study mapping (as read from YAML), its space included; return a TuneSpec."""
    from basrec.experiments.spec import runs_root

    where = _where(source)
    _check_keys(raw, SPEC_KEYS, where)
    name = raw.get("name", source.stem if source is not None else None)
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        raise ConfigError(f"{where}: 'name' must be letters, digits, '_', '-' or '.', "
                          f"got {name!r}")
    base = raw.get("base") or {}
    if not isinstance(base, dict):
        raise ConfigError(f"{where}: 'base' must be a mapping of config keys to values")
    base = dict(base)
    files = base.pop("config", None) or []
    if isinstance(files, str):
        files = [files]
    if not isinstance(files, list):
        raise ConfigError(f"{where}: base.config must be a list of files")
    base_files = []
    for f in files:
        found = _find_file(str(f), source.parent if source is not None else None)
        if found is None:
            raise ConfigError(f"{where}: base.config file {f!r} not found")
        base_files.append(found)
    search = raw.get("search")
    if not isinstance(search, dict) or not search:
        raise ConfigError(f"{where}: needs 'search': config keys mapped to their ranges")
    params = tuple(parse_param(k, v, where) for k, v in search.items())
    clash = sorted(set(search) & set(_flat(config_mod.nest_dotted(base))))
    if clash:
        raise ConfigError(f"{where}: {', '.join(clash)} is both in 'base' and in 'search'")
    metric = raw.get("metric", "NDCG@10")
    if not isinstance(metric, str) or not re.fullmatch(r"(HR|NDCG)@[1-9][0-9]*|MRR", metric):
        raise ConfigError(f"{where}: metric must be a validation metric HR@K, NDCG@K or MRR, "
                          f"got {metric!r}")
    n_trials = _count(trials if trials is not None else raw.get("trials", 20),
                      "--trials" if trials is not None else f"{where}: trials", 1)
    sampler = raw.get("sampler") or {}
    if not isinstance(sampler, dict):
        raise ConfigError(f"{where}: 'sampler' must be a mapping (seed, startup_trials)")
    _check_keys(sampler, SAMPLER_KEYS, f"{where}: sampler")
    if sampler.get("name", "tpe") != "tpe":
        raise ConfigError(f"{where}: sampler.name: only 'tpe' is offered")
    seed = _count(sampler.get("seed", 0), f"{where}: sampler.seed", 0)
    startup = sampler.get("startup_trials")
    if startup is not None:
        startup = _count(startup, f"{where}: sampler.startup_trials", 0)
    pruner_raw = raw.get("pruner", "median")
    if isinstance(pruner_raw, str):
        pruner_raw = {"name": pruner_raw}
    if not isinstance(pruner_raw, dict):
        raise ConfigError(f"{where}: 'pruner' must be a name or a mapping with 'name'")
    pruner = pruner_raw.get("name", "median")
    if pruner not in PRUNERS:
        raise ConfigError(f"{where}: pruner.name must be one of {', '.join(PRUNERS)}, "
                          f"got {pruner!r}")
    _check_keys(pruner_raw, ("name", *PRUNERS[pruner]), f"{where}: pruner")
    pruner_options = {k: _count(v, f"{where}: pruner.{k}", 1 if k == "reduction_factor" else 0)
                      for k, v in pruner_raw.items() if k != "name"}
    if pruner_options.get("reduction_factor", 2) < 2:
        raise ConfigError(f"{where}: pruner.reduction_factor must be at least 2")
    if pruner_options.get("min_epochs", 1) < 1:
        raise ConfigError(f"{where}: pruner.min_epochs must be at least 1")
    if pruner_options.get("max_epochs", pruner_options.get("min_epochs", 1)) < \
            pruner_options.get("min_epochs", 1):
        raise ConfigError(f"{where}: pruner.max_epochs must be at least pruner.min_epochs")
    stale = raw.get("stale_after_s", DEFAULT_STALE_AFTER_S)
    stale = _number(stale, f"{where}: stale_after_s")
    if stale <= MIN_STALE_AFTER_S:
        raise ConfigError(f"{where}: stale_after_s must be above {MIN_STALE_AFTER_S:.0f} "
                          f"(two heartbeats), got {stale}")
    spec = TuneSpec(name=name, root=Path(runs_root(root, raw.get("root"))).expanduser(),
                    params=params, metric=metric, trials=n_trials, base=base,
                    base_files=tuple(base_files), sampler_seed=seed, startup_trials=startup,
                    pruner=pruner, pruner_options=pruner_options, stale_after_s=float(stale),
                    description=str(raw.get("description") or ""), source=source)
    check_space(spec, need_data)
    return spec


def check_space(spec: TuneSpec, need_data: bool = True) -> RunConfig:
    """Resolve the base and every probe value of every key; return the base configuration.

    Raises a one-line ConfigError for an unknown key, a value the key cannot take, a key
    that changes nothing in the run (an option of an objective the run does not use), a
    metric the run does not compute, or (``need_data``) a dataset that cannot be found."""
    from basrec.experiments.plan import identity

    where = _where(spec.source)
    try:
        base = spec.config()
    except ConfigError as e:
        raise ConfigError(f"{where}: base: {e}") from None
    for p in spec.params:
        seen = []
        for value in p.probe_values():
            try:
                cfg = spec.config({p.key: value})
            except ConfigError as e:
                raise ConfigError(f"{where}: search.{p.key} = {value!r}: {e}") from None
            seen.append(identity(cfg))
        if len(set(map(repr, p.probe_values()))) > 1 and all(s == seen[0] for s in seen):
            raise ConfigError(f"{where}: search.{p.key} changes nothing in the run "
                              f"(objective {base.objective!r}: is it the right key?)")
    name, _, k = spec.metric.partition("@")
    if name != "MRR" and int(k) not in base.topk:
        raise ConfigError(f"{where}: metric {spec.metric} needs K={k} in topk "
                          f"{list(base.topk)}")
    from basrec.build import dataset_path

    if not need_data:
        return base
    try:
        dataset_path(base)
    except BasrecError as e:
        raise BasrecError(f"{where}: {e}") from None
    return base
