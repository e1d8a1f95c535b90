"""Run configuration: frozen dataclasses, YAML files and ``--key=value`` overrides.

Keys are checked: an unknown key or a value of the wrong type is a ConfigError naming it
(the opposite of a config object that returns None for a typo). Options that belong to one
backbone or objective live in a section named after it (``--basrec.alpha=0.4``) and are checked
against that component's own options dataclass.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from basrec.errors import ConfigError


@dataclass(frozen=True)
class RunConfig:
    """Everything a training run needs; defaults follow decisions.md and algorithm.md §1.4/§2.1."""

    dataset: str = "beauty"
    data_dir: str | None = None
    model: str = "sasrec"
    objective: str = "none"
    seed: int = 2024
    # optimisation (docs/algorithm.md §1.4)
    epochs: int = 200
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.0
    loss: str = "bce"
    #: negatives shared by a step's positions with ``loss=sampled_ce`` (None: 256)
    ce_negatives: int | None = None
    #: how those negatives are drawn (objectives/class_sampler.py): uniform or popularity
    ce_sampler: str = "uniform"
    #: with ce_sampler=popularity, subtract log(N·q_c) from each class's logit
    ce_logq: bool = True
    patience: int = 20
    metric: str = "NDCG@20"
    min_epochs: int = 0
    valid_every: int = 1
    # shared model sizes (SASRec/Beauty settings of docs/algorithm.md §3.6)
    max_seq_length: int = 50
    hidden_size: int = 64
    num_layers: int = 2
    num_heads: int = 2
    dropout: float = 0.1
    attn_dropout: float = 0.1
    init_range: float = 0.02
    # data and evaluation protocol (docs/decisions.md)
    construction: str = "auto"
    #: a diagnostic only: let ``construction=all`` train a non-causal backbone (its targets
    #: leak into its inputs); such a run's results.json says ``leaky_protocol: true``
    allow_leak: bool = False
    history_mask: str = "exclude"
    eval_batch_size: int = 256
    topk: tuple[int, ...] = (5, 10, 20)
    # execution
    device: str = "cpu"
    threads: int = 0
    #: mixed precision in training steps (basrec/precision.py): None (float32), "bf16" (CPU
    #: and CUDA) or "fp16" (CUDA, with loss scaling); evaluation always runs in float32.
    #: Part of a run's identity: it changes what a run computes
    amp: str | None = None
    #: split each training batch into up to this many length groups and trim their padding;
    #: None: the device's default (6 on the CPU; 1 on a GPU, where kernel launches and cuDNN's
    #: per-shape plans cost more than the trimmed padding saves, docs/performance.md "GPU").
    #: The groups change which dropout draws a run makes, not what it computes in expectation
    length_groups: int | None = None
    init_from: str | None = None
    progress: bool = True
    plugins: tuple[str, ...] = ()  # modules imported first: they may register backbones
    model_options: Any = None
    objective_options: Any = None

    def to_dict(self) -> dict[str, Any]:
        """A plain, YAML-ready dict; component options appear as sections named after them."""
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name in ("model_options", "objective_options"):
                continue
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        if self.model_options is not None:
            out[self.model] = _plain(dataclasses.asdict(self.model_options))
        if self.objective_options is not None:
            out[self.objective] = _plain(dataclasses.asdict(self.objective_options))
        return out

    def replace(self, **changes: Any) -> RunConfig:
        return dataclasses.replace(self, **changes)

    def length_groups_on(self, device: Any) -> int:
        """The length groups a run uses on ``device`` (a ``torch.device`` or its name)."""
        from basrec.models.fast import CPU_LENGTH_GROUPS

        if self.length_groups is not None:
            return self.length_groups
        kind = str(getattr(device, "type", device))
        return 1 if kind.startswith("cuda") else CPU_LENGTH_GROUPS


#: options no preset uses, kept because recorded runs were made with them: how padding columns
#: are computed, for cheaper CPU steps (``basrec config --list`` marks them)
LAB_VARIANTS = ("basrec.cross_padding", "basrec.view_padding", "gru4rec.pad_draws")

#: config keys that no longer exist: accepted in files (older run folders) and ignored;
#: identity.RETIRED_AT keeps the ids of the runs made with them
RETIRED_KEYS = ("cuda_length_groups", "nextitnet.reg_weight")


CHOICES: dict[str, tuple[str, ...]] = {
    "loss": ("bce", "ce", "sampled_ce", "bpr"),
    "ce_sampler": ("uniform", "popularity"),
    "construction": ("auto", "all", "prefix"),
    "history_mask": ("exclude", "zero", "none"),
    "amp": ("bf16", "fp16"),
}


def _plain(d: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


def coerce(value: Any, annotation: Any, key: str) -> Any:
    """Check ``value`` against a type annotation (after YAML parsing), converting int→float."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return coerce(value, arg, key)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if errors else f"{key}: invalid value {value!r}")
    if origin is tuple or origin is list:
        if isinstance(value, (int, float, str)) and not isinstance(value, bool):
            value = [value]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        inner = args[0] if args else Any
        items = [coerce(v, inner, key) for v in value]
        return tuple(items) if origin is tuple else items
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    if annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected an integer, got {value!r}")
    if annotation is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads 1e-4 (no dot) as a string
            try:
                number = float(value)
            except ValueError:
                number = float("nan")
            if math.isfinite(number):
                return number
        raise ConfigError(f"{key}: expected a number, got {value!r}")
    if annotation is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"{key}: expected a string, got {value!r}")
    return value


def build_options(cls: type, values: dict[str, Any], section: str) -> Any:
    """Instantiate a component's frozen options dataclass, refusing unknown keys."""
    hints = typing.get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    kwargs = {}
    for key, value in values.items():
        if key not in known:
            raise ConfigError(_unknown(f"{section}.{key}", key, known, prefix=f"{section}."))
        kwargs[key] = coerce(value, hints[key], f"{section}.{key}")
    try:
        opts = cls(**kwargs)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{section}: {e}") from None
    validate = getattr(opts, "validate", None)
    if callable(validate):
        validate()
    return opts


def _unknown(full: str, key: str, known: set[str], prefix: str = "") -> str:
    close = difflib.get_close_matches(key, sorted(known), n=1)
    hint = f" (did you mean {prefix + close[0]!r}?)" if close else ""
    return f"unknown config key {full!r}{hint}"


def parse_override(text: str) -> tuple[str, Any]:
    """Parse ``key=value`` (``--`` already stripped); the value is read as YAML."""
    import yaml

    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like --key=value")
    key, raw = text.split("=", 1)
    key = key.strip().replace("-", "_")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    return key, value


def read_yaml(path: str | Path) -> dict[str, Any]:
    import yaml

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: config file not found")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{p}{line}: invalid YAML") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: a config file must be a mapping of keys to values")
    return data


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """Merge nested dicts (sections merge key by key; other values replace)."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def nest_dotted(flat: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in flat.items():
        if "." in key:
            section, sub = key.split(".", 1)
            out = merge(out, {section: nest_dotted({sub: value})})
        else:
            out = merge(out, {key: value})
    return out


def resolve(raw: dict[str, Any]) -> RunConfig:
    """Turn merged YAML/CLI values into a checked RunConfig with component options filled in."""
    from basrec.registry import MODELS, OBJECTIVES

    hints = typing.get_type_hints(RunConfig)
    top = {f.name for f in fields(RunConfig)} - {"model_options", "objective_options"}
    import_plugins(coerce(raw.get("plugins", ()), hints["plugins"], "plugins"))
    kwargs: dict[str, Any] = {}
    sections: dict[str, dict[str, Any]] = {}
    for key, value in raw.items():
        if key in RETIRED_KEYS:
            continue
        if key in top:
            kwargs[key] = coerce(value, hints[key], key)
        elif isinstance(value, dict) and (key in MODELS or key in OBJECTIVES):
            sections[key] = value
        elif key in MODELS or key in OBJECTIVES:
            raise ConfigError(f"{key}: options for {key!r} must be a mapping of keys to values")
        else:
            known = top | set(MODELS.names()) | set(OBJECTIVES.names())
            raise ConfigError(_unknown(key, key, known))
    for key, allowed in CHOICES.items():
        if key in kwargs and kwargs[key] is not None and kwargs[key] not in allowed:
            raise ConfigError(f"{key}: {kwargs[key]!r} is not one of {', '.join(allowed)}")
    cfg = RunConfig(**kwargs)
    model = MODELS.get(cfg.model)
    objective = OBJECTIVES.get(cfg.objective)
    # every section is checked, also those of components not used by this run (typos matter)
    options: dict[str, Any] = {}
    for name, values in sections.items():
        entry = MODELS.get(name) if name in MODELS else OBJECTIVES.get(name)
        values = {k: v for k, v in values.items() if f"{name}.{k}" not in RETIRED_KEYS}
        options[name] = build_options(entry.options, values, name)
    model_opts = options.get(cfg.model) or build_options(model.options, {}, cfg.model)
    objective_opts = options.get(cfg.objective) or build_options(
        objective.options, {}, cfg.objective
    )
    cfg = cfg.replace(model_options=model_opts, objective_options=objective_opts)
    check(cfg)
    return cfg


def import_plugins(modules: tuple[str, ...]) -> None:
    """Import user modules (from the working directory too) so their components register."""
    import importlib
    import os
    import sys

    if modules and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as e:
            raise ConfigError(f"plugins: cannot import {name!r} ({e})") from None


def check(cfg: RunConfig) -> None:
    """Reject impossible settings with a one-line message."""
    positive = ("epochs", "batch_size", "max_seq_length", "hidden_size", "num_layers",
                "num_heads", "eval_batch_size", "valid_every", "length_groups")
    for key in positive:
        value = getattr(cfg, key)
        if value is not None and value < 1:  # None: unset (length_groups: the device's)
            raise ConfigError(f"{key}: must be at least 1, got {value}")
    if cfg.patience < 0 or cfg.min_epochs < 0 or cfg.threads < 0:
        raise ConfigError("patience, min_epochs and threads must not be negative")
    for key in ("seed", "weight_decay", "init_range"):
        if getattr(cfg, key) < 0:
            raise ConfigError(f"{key}: must not be negative, got {getattr(cfg, key)}")
    if cfg.lr <= 0:
        raise ConfigError(f"lr: must be positive, got {cfg.lr}")
    if cfg.ce_negatives is not None and cfg.ce_negatives < 1:
        raise ConfigError(f"ce_negatives: must be at least 1, got {cfg.ce_negatives}")
    if cfg.ce_sampler != "uniform" and cfg.loss != "sampled_ce" \
            and getattr(cfg.objective_options, "ce_negatives", None) is None:
        raise ConfigError(f"ce_sampler={cfg.ce_sampler} draws sampled negatives: it needs "
                          f"loss=sampled_ce or basrec.ce_negatives")
    for key in ("dropout", "attn_dropout"):
        if not 0.0 <= getattr(cfg, key) < 1.0:
            raise ConfigError(f"{key}: must lie in [0, 1), got {getattr(cfg, key)}")
    if cfg.hidden_size % cfg.num_heads:
        raise ConfigError(
            f"hidden_size ({cfg.hidden_size}) must be divisible by num_heads ({cfg.num_heads})"
        )
    name, _, k = cfg.metric.partition("@")
    if name not in ("HR", "NDCG", "MRR") or (name != "MRR" and (not k.isdigit() or int(k) < 1)):
        raise ConfigError(f"metric: {cfg.metric!r} must be HR@K, NDCG@K or MRR")
    if name != "MRR" and int(k) not in cfg.topk:
        raise ConfigError(f"metric: {cfg.metric} needs K={k} in topk {list(cfg.topk)}")
    if not cfg.topk or min(cfg.topk) < 1:
        raise ConfigError("topk: needs at least one positive K")
    if cfg.device not in ("cpu", "auto") and not cfg.device.startswith(("cuda", "mps")):
        raise ConfigError(f"device: {cfg.device!r} is not cpu, auto, cuda or cuda:N")
    if cfg.amp == "fp16" and not cfg.device.startswith(("cuda", "auto")):
        raise ConfigError(f"amp: fp16 needs a CUDA device (device is {cfg.device}); "
                          "use --amp=bf16")


def load(files: list[str] | None = None, overrides: dict[str, Any] | None = None) -> RunConfig:
    """Defaults ← each YAML file in order ← overrides (dotted keys allowed)."""
    raw: dict[str, Any] = {}
    for path in files or []:
        raw = merge(raw, read_yaml(path))
    raw = merge(raw, nest_dotted(overrides or {}))
    return resolve(raw)


def save(cfg: RunConfig, path: str | Path) -> None:
    import yaml

    from basrec.runio import atomic_write_text

    atomic_write_text(path, yaml.safe_dump(cfg.to_dict(), sort_keys=False))


@dataclass(frozen=True)
class NoOptions:
    """Options of a component that has none."""

    _unused: tuple[int, ...] = field(default=(), repr=False)


#: what each RunConfig key means, one line each (``basrec config --list``); a test checks that
#: every key has a line
_KEY_MEANINGS: dict[str, str] = {
    "dataset": "catalog name (beauty, sports, yelp, home) or a sequence file (basrec prepare)",
    "data_dir": "folder searched for dataset names and relative files",
    "model": "backbone (basrec config --list --model M lists its options)",
    "objective": "training objective: none, basrec or a baseline (--objective O lists its "
                 "options)",
    "seed": "seed of the initial weights and of every epoch's random draws",
    "epochs": "epochs at most",
    "batch_size": "training samples per step",
    "lr": "Adam's learning rate",
    "weight_decay": "Adam's weight decay",
    "loss": "next-item loss: bce (one sampled negative), ce (full softmax), sampled_ce, bpr",
    "ce_negatives": "negatives shared by a step's positions with loss=sampled_ce (null: 256)",
    "ce_sampler": "how sampled negatives are drawn: uniform, or popularity (training counts)",
    "ce_logq": "with ce_sampler=popularity: correct each class's logit by -log(N*q)",
    "patience": "validations without a new best before training stops (0: never stop early)",
    "metric": "validation metric that selects the best epoch (HR@K, NDCG@K or MRR)",
    "min_epochs": "no model selection before this epoch",
    "valid_every": "validate every this many epochs (and after the last)",
    "max_seq_length": "the most recent items a model sees per sequence",
    "hidden_size": "embedding and hidden size",
    "num_layers": "blocks of the backbone",
    "num_heads": "attention heads (SASRec)",
    "dropout": "hidden dropout rate",
    "attn_dropout": "attention dropout rate",
    "init_range": "standard deviation of the initial weights",
    "construction": "training samples: all (loss at every position), prefix (every prefix "
                    "a sample), auto (all if causal)",
    "allow_leak": "diagnostic only: construction=all for a non-causal backbone (its targets "
                  "leak; results.json flags it)",
    "history_mask": "evaluation: the user's history items get -inf (exclude), 0 (zero) or "
                    "their score (none)",
    "eval_batch_size": "users per evaluation batch",
    "topk": "the K of HR@K and NDCG@K",
    "device": "cpu, cuda, cuda:N, mps or auto (cuda if available)",
    "threads": "torch threads (0: torch's default)",
    "amp": "mixed precision in training steps: null (float32), bf16 or fp16 (CUDA)",
    "length_groups": "length groups per batch, their padding trimmed (null: 6 on the CPU, "
                     "1 on a GPU)",
    "init_from": "a finished stage-1 run to start stage 2 from (two-stage objectives)",
    "progress": "a progress bar per epoch where stderr is a terminal",
    "plugins": "modules imported first (they may register backbones or objectives)",
}

#: meanings of the built-in components' options that carry no comment in their dataclass
#: (or a comment too long for one line)
_OPTION_MEANINGS: dict[str, str] = {
    "sasrec.layer_norm_eps": "LayerNorm epsilon",
    "sasrec.ffn_factor": "feed-forward width as a multiple of hidden_size",
    "sasrec.layout": "block layout: coserec (the BASRec/CoSeRec code's post-LN blocks) or "
                     "kang2018 (the original SASRec code's)",
    "sasrec.mask_padding_keys": "attention masks padding keys (false: kang2018 layout only)",
    "fmlprec.layer_norm_eps": "LayerNorm epsilon",
    "fmlprec.ffn_factor": "feed-forward width as a multiple of hidden_size",
    "fmlprec.filter_init": "standard deviation of the initial frequency filters",
    "fmlprec.filter": "circular (the original's, not causal) or causal (non-negative lags "
                      "only: trains at every position)",
    "gru4rec.gru_hidden": "GRU hidden size",
    "gru4rec.gru_layers": "GRU layers",
    "gru4rec.pad_steps": "left padding: feed (the PAD vector runs through the GRU, the "
                         "original) or skip (zero input: state stays 0)",
    "gru4rec.pad_draws": "0: every row draws its own PAD-step dropout; P > 0: P shared draws "
                         "(faster, docs/backbones.md)",
    "nextitnet.kernel_size": "convolution kernel size",
    "nextitnet.block_num": "times the dilation list is repeated",
    "nextitnet.dilations": "dilations of one repetition of residual blocks",
    "nextitnet.layer_norm_eps": "LayerNorm epsilon",
    "nextitnet.pad_steps": "padding columns: skip (zeroed, as RecBole computes) or feed (the "
                           "PAD embedding runs through the blocks)",
    "nextitnet.embedding_dropout": "dropout (rate: dropout) on the embeddings",
    "basrec.alpha": "Beta(α, α) of the mixup weights λ and Λ (the code's beta)",
    "basrec.rate_min": "a of Eq. 4: an operator's rate is drawn from [rate_min, rate_max)",
    "basrec.rate_max": "b of Eq. 4 (the code's default)",
    "basrec.mixup": "nonlinear (item- and feature-wise mixup) or linear (one λ per sequence: "
                    "w/o NL)",
    "basrec.single": "single-sequence augmentation (false: w/o SA)",
    "basrec.cross": "cross-sequence augmentation (false: w/o CA)",
    "basrec.training": "two_stage (stage 1 alone, then BASRec) or joint (w/o Two)",
    "basrec.ssa_weighting": "single-sequence loss weights ω: batch_scalar, per_sequence or none "
                            "(w/o ALW)",
    "basrec.operator_choice": "single-sequence operator: random, both, reorder or substitute",
    "basrec.substitute_source": "M-Substitute's neighbours: itemcf (ItemCF-IUF) or embedding "
                                "(stage-1 item embeddings)",
    "basrec.cross_padding": "a mixup partner's padding columns: encoder (its encoder output, "
                            "the original's) or zero (faster on the CPU)",
    "basrec.view_padding": "views' padding columns: own (the original's) or shared (carried "
                           "over from the original row; faster GRU4Rec feed)",
    "basrec.loss_form": "augmentation losses: bce (Eq. 13-15), ce (softmax), auto (ce where "
                        "loss is ce or sampled_ce)",
    "basrec.feature_ce": "CE form of the feature-wise mixup: soft_labels or mixed_target",
    "basrec.ce_negatives": "CE form's classes: null (the run's softmax) or N shared negatives",
    "basrec.stage1_epochs": "epochs of a stage 1 the run trains itself",
    "basrec.stage1_patience": "stage 1's patience (null: patience)",
    "basrec.stage1_valid_every": "validate stage 1 every N epochs (null: valid_every)",
    "basrec.stage1_min_epochs": "no stage-1 model selection before this epoch (null: 0)",
    "basrec.rec_weight": "weight of the main loss",
    "basrec.ssa_weight": "weight of the single-sequence augmentation loss",
    "basrec.csa_weight": "weight of the cross-sequence augmentation loss",
    "cl4srec.cl_weight": "weight λ of the contrastive loss",
    "cl4srec.tau": "InfoNCE temperature",
    "cl4srec.similarity": "InfoNCE similarity: dot or cosine",
    "cl4srec.cl_repr": "sequence representation: flatten (CoSeRec) or last (RecBole)",
    "cmr.tau": "InfoNCE temperature",
    "cmrsi.tau": "InfoNCE temperature",
    "diffuasr.steps": "diffusion steps T",
    "diffuasr.patience": "diffusion epochs without a lower training loss before it stops",
    "diffuasr.beta_start": "noise schedule's first β",
    "diffuasr.beta_end": "noise schedule's last β",
    "diffuasr.batch_size": "diffusion model's batch size",
    "diffuasr.lr": "diffusion model's learning rate",
    "diffuasr.uncond_prob": "probability of training without the guide (classifier-free)",
    "sw.width": "window width w = L + T (Caser's L 5, T 3)",
}


def _field_comments(cls: type) -> dict[str, str]:
    """Each dataclass field's comment in the source: on its line, or the comment lines right
    above it (``#:`` or ``#``); base classes too. Empty where the source is unavailable."""
    import ast
    import inspect
    import io
    import textwrap
    import tokenize

    out: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            source = textwrap.dedent(inspect.getsource(klass))
            tree = ast.parse(source)
            comments = {tok.start[0]: tok.string
                        for tok in tokenize.generate_tokens(io.StringIO(source).readline)
                        if tok.type == tokenize.COMMENT}
        except (OSError, TypeError, SyntaxError, tokenize.TokenError):
            continue
        lines = source.splitlines()
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for node in body:
            if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
                continue
            text = [comments[n] for n in range(node.lineno, (node.end_lineno or node.lineno) + 1)
                    if n in comments]
            if not text:
                n = node.lineno - 1
                while n >= 1 and lines[n - 1].lstrip().startswith("#"):
                    text.insert(0, lines[n - 1].strip())
                    n -= 1
            words = " ".join(t.lstrip("#:").strip() for t in text).replace("``", "").split()
            if words:
                out[node.target.id] = " ".join(words)
    return out


def _one_line(text: str, limit: int = 110) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0].rstrip(",;:(")
    return cut + " ..."


def _shown(value: Any) -> str:
    """A default as it would be written on the command line (YAML)."""
    import json

    if isinstance(value, str):
        return value
    return json.dumps(list(value) if isinstance(value, tuple) else value)


def describe_keys(model: str | None = None,
                  objective: str | None = None) -> list[tuple[str, str, str]]:
    """(key, default, meaning) for every RunConfig key, then every option of ``model`` and
    ``objective`` (default: RunConfig's) as ``section.key``: what ``basrec config --list``
    prints. Meanings come from a table for RunConfig and from the options dataclasses'
    comments (or the table) for components; an unknown name is a ConfigError."""
    from basrec.registry import MODELS, OBJECTIVES

    defaults = RunConfig()
    rows = [(f.name, _shown(getattr(defaults, f.name)),
             _KEY_MEANINGS.get(f.name, "(no description)"))
            for f in fields(RunConfig) if f.name not in ("model_options", "objective_options")]
    for registry, name in ((MODELS, model or defaults.model),
                           (OBJECTIVES, objective or defaults.objective)):
        options = registry.get(name).options
        comments = _field_comments(options)
        instance = build_options(options, {}, name)
        for f in fields(options):
            if f.name.startswith("_"):
                continue
            key = f"{name}.{f.name}"
            meaning = _OPTION_MEANINGS.get(key) or comments.get(f.name) or "(no description)"
            if key in LAB_VARIANTS:
                meaning = "(lab variant) " + meaning
            rows.append((key, _shown(getattr(instance, f.name)), _one_line(meaning)))
    return rows
