"""Run configuration (config.py): YAML merging, overrides, sections, checks and round trips."""

from __future__ import annotations

from pathlib import Path

import pytest

from basrec import config
from basrec.cli import split_overrides
from basrec.config import RunConfig
from basrec.errors import BasrecError, ConfigError


def write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def test_defaults_follow_the_protocol() -> None:
    cfg = config.load()
    assert isinstance(cfg, RunConfig)
    assert (cfg.model, cfg.objective, cfg.loss) == ("sasrec", "none", "bce")
    assert cfg.history_mask == "exclude" and cfg.construction == "auto"
    assert cfg.max_seq_length == 50 and cfg.patience == 20 and cfg.metric == "NDCG@20"
    assert cfg.topk == (5, 10, 20)
    assert cfg.model_options is not None and cfg.objective_options is not None


def test_files_merge_in_order_and_overrides_win(tmp_path: Path) -> None:
    a = write(tmp_path / "a.yaml", "epochs: 5\nlr: 0.01\nbatch_size: 32\n"
                                   "basrec:\n  alpha: 0.5\n  n_pairs: 2\n")
    b = write(tmp_path / "b.yaml", "epochs: 7\nbasrec:\n  alpha: 0.6\n")
    cfg = config.load([a, b], {"lr": 0.5})
    assert cfg.epochs == 7  # the later file wins
    assert cfg.batch_size == 32  # kept from the first file
    assert cfg.lr == 0.5  # the override wins over both files
    cfg = config.load([a, b], {"objective": "basrec"})
    # sections merge key by key: alpha from b, n_pairs from a
    assert cfg.objective_options.alpha == 0.6 and cfg.objective_options.n_pairs == 2
    cfg = config.load([b, a], {"objective": "basrec", "basrec.n_pairs": 3})
    assert cfg.epochs == 5 and cfg.objective_options.alpha == 0.5
    assert cfg.objective_options.n_pairs == 3  # dotted override into the section


def test_dotted_overrides_reach_model_sections() -> None:
    cfg = config.load([], {"sasrec.ffn_factor": 2, "sasrec.layer_norm_eps": 1e-6})
    assert cfg.model_options.ffn_factor == 2 and cfg.model_options.layer_norm_eps == 1e-6
    assert config.nest_dotted({"a.b.c": 1, "a.b.d": 2, "e": 3}) == {
        "a": {"b": {"c": 1, "d": 2}}, "e": 3}


def test_cli_override_forms() -> None:
    got = split_overrides(["--epochs=3", "--lr", "0.01", "--basrec.alpha=0.4", "--progress",
                           "--topk=[5, 10]", "--max-seq-length", "20", "--dataset", "x.txt"])
    assert got == {"epochs": 3, "lr": 0.01, "basrec.alpha": 0.4, "progress": True,
                   "topk": [5, 10], "max_seq_length": 20, "dataset": "x.txt"}
    cfg = config.load([], {**got, "metric": "NDCG@10"})
    assert cfg.epochs == 3 and cfg.max_seq_length == 20 and cfg.topk == (5, 10)
    with pytest.raises(BasrecError, match="unexpected argument 'epochs=3'"):
        split_overrides(["epochs=3"])  # not an option


def test_a_retired_option_on_the_command_line_says_it_has_no_effect(
        capsys: pytest.CaptureFixture[str]) -> None:
    got = split_overrides(["--cuda-length-groups=2", "--nextitnet.reg_weight=1e-5", "--epochs=3"])
    err = capsys.readouterr().err.splitlines()
    assert err == ["basrec: warning: --cuda_length_groups is retired and has no effect",
                   "basrec: warning: --nextitnet.reg_weight is retired and has no effect"]
    assert config.load([], got).epochs == 3  # the run still loads, the retired keys ignored


def test_numbers_in_exponent_form_are_numbers() -> None:
    """YAML 1.1 reads ``1e-4`` (no dot) as a string; a float key must still accept it."""
    assert config.load([], split_overrides(["--lr=1e-4"])).lr == pytest.approx(1e-4)
    assert config.load([], {"weight_decay": "5e-5"}).weight_decay == pytest.approx(5e-5)
    assert config.load([], {"dropout": 0}).dropout == 0.0  # int → float
    for bad in ("abc", "nan", "inf"):
        with pytest.raises(ConfigError, match="lr"):
            config.load([], {"lr": bad})


@pytest.mark.parametrize("overrides, match", [
    ({"epochz": 3}, r"unknown config key 'epochz' \(did you mean 'epochs'\?\)"),
    ({"epochs": "abc"}, "epochs: expected an integer"),
    ({"epochs": 2.5}, "epochs: expected an integer"),
    ({"epochs": 0}, "epochs: must be at least 1"),
    ({"progress": "maybe"}, "progress: expected true or false"),
    ({"dropout": 1.5}, "dropout: must lie in"),
    ({"loss": "foo"}, "loss: 'foo' is not one of bce, ce, sampled_ce, bpr"),
    ({"history_mask": "drop"}, "history_mask"),
    ({"construction": "windows"}, "construction"),
    ({"model": "sasrek"}, "unknown model 'sasrek' .*did you mean 'sasrec'"),
    ({"objective": "bassrec"}, "unknown objective 'bassrec'"),
    ({"basrec.alphaa": 1}, r"unknown config key 'basrec.alphaa' \(did you mean 'basrec.alpha'"),
    ({"sasrec.heads": 1}, "sasrec.heads"),
    ({"basrec.alpha": "x"}, "basrec.alpha: expected a number"),
    ({"basrec": 3}, "must be a mapping"),
    ({"metric": "NDCG@50"}, "needs K=50"),
    ({"metric": "AUC"}, "metric"),
    ({"hidden_size": 10, "num_heads": 3}, "divisible"),
    ({"lr": 0}, "lr: must be positive"),
    ({"seed": -1}, "seed: must not be negative"),
    ({"weight_decay": -0.1}, "weight_decay: must not be negative"),
    ({"init_range": -1.0}, "init_range: must not be negative"),
    ({"device": "tpu"}, "device"),
    ({"topk": [0, 20]}, "topk"),
])
def test_bad_values_are_one_line_config_errors(overrides: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match) as info:
        config.load([], overrides)
    assert "\n" not in str(info.value)


def test_unused_component_sections_are_still_checked() -> None:
    """A typo in the options of a backbone this run does not use is still an error."""
    with pytest.raises(ConfigError, match="gru4rec"):
        config.load([], {"model": "sasrec", "gru4rec.no_such_option": 1})


def test_yaml_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        config.read_yaml(tmp_path / "missing.yaml")
    bad = write(tmp_path / "bad.yaml", "epochs: 3\nlr: [1,\n")
    with pytest.raises(ConfigError, match=r"bad.yaml:\d+: invalid YAML"):
        config.read_yaml(bad)
    listing = write(tmp_path / "list.yaml", "- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        config.read_yaml(listing)
    assert config.read_yaml(write(tmp_path / "empty.yaml", "")) == {}


@pytest.mark.parametrize("overrides", [
    {},
    {"objective": "basrec", "basrec.alpha": 0.45, "basrec.training": "joint", "lr": 1e-4,
     "topk": [1, 20], "data_dir": "somewhere", "init_range": 0.05, "device": "auto",
     "sasrec.ffn_factor": 2},
    {"model": "gru4rec", "construction": "prefix", "history_mask": "zero", "loss": "ce",
     "metric": "MRR", "progress": False, "init_from": None},
])
def test_resolved_config_round_trips_through_yaml(tmp_path: Path, overrides: dict) -> None:
    cfg = config.load([], overrides)
    path = tmp_path / "config.yaml"
    config.save(cfg, path)
    raw = config.read_yaml(path)
    # fully resolved: every top-level key and the sections of the components in use
    assert set(raw) >= {f for f in RunConfig.__dataclass_fields__
                        if f not in ("model_options", "objective_options")}
    assert cfg.model in raw and cfg.objective in raw
    again = config.resolve(raw)
    assert again == cfg
    assert again.to_dict() == cfg.to_dict()
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically, no leftovers


def test_import_basrec_is_light() -> None:
    """``import basrec`` loads neither torch, pandas, scipy nor matplotlib."""
    import subprocess
    import sys

    code = ("import sys, basrec, basrec.config, basrec.errors; "
            "print([m for m in ('torch', 'pandas', 'scipy', 'matplotlib') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_length_groups_follow_the_device() -> None:
    """Unset, the groups are the device's default (6 on the CPU, 1 on a GPU); set, they hold
    on every device."""
    import torch

    cfg = RunConfig()
    assert cfg.length_groups is None
    assert cfg.length_groups_on("cpu") == cfg.length_groups_on(torch.device("cpu")) == 6
    assert cfg.length_groups_on("cuda:1") == cfg.length_groups_on(torch.device("cuda")) == 1
    assert RunConfig(length_groups=2).length_groups_on("cuda") == 2
    with pytest.raises(ConfigError, match="length_groups"):
        config.load([], {"length_groups": 0})


def test_lab_variants_are_real_options_no_preset_uses_and_the_listing_marks() -> None:
    """``cross_padding``, ``view_padding`` and ``pad_draws`` stay for recorded runs only."""
    import yaml

    root = Path(__file__).resolve().parents[1] / "configs"
    rows = {key: meaning for key, _, meaning in config.describe_keys("gru4rec", "basrec")}
    for dotted in config.LAB_VARIANTS:
        assert rows[dotted].startswith("(lab variant) ")
        section, key = dotted.split(".")
        for preset in [*root.glob("backbones/*.yaml"), *root.glob("basrec/*.yaml")]:
            data = yaml.safe_load(preset.read_text(encoding="utf-8")) or {}
            assert key not in (data.get(section) or {}), (preset.name, dotted)
    assert not any(m.startswith("(lab variant)") for k, m in rows.items()
                   if k not in config.LAB_VARIANTS)
