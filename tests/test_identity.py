"""A run's identity (basrec/identity.py): ids of runs already made keep naming them, options
added later are absent at their default, retired options load and hash as they did."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from basrec import config, identity
from basrec.config import RunConfig
from basrec.experiments.plan import run_id
from basrec.registry import MODELS, OBJECTIVES

#: run ids computed by the code before the identity moved into its own module (and before
#: cuda_length_groups and nextitnet.reg_weight were retired): they must not change
FROZEN_IDS: dict[str, tuple[dict[str, Any], str]] = {
    "sasrec-none": ({}, "09e2956cce75"),
    "sasrec-basrec": ({'objective': 'basrec', 'basrec.alpha': 0.4}, "af8bba2adb4b"),
    "gru4rec-basrec": ({'model': 'gru4rec', 'objective': 'basrec'}, "5c8b383977ed"),
    "nextitnet-none": ({'model': 'nextitnet'}, "3b3243e86f32"),
    "fmlprec-none": ({'model': 'fmlprec', 'construction': 'prefix'}, "522916c0d4e9"),
    "sasrec-ce-kang2018": ({'loss': 'ce', 'sasrec.layout': 'kang2018', 'num_heads': 1},
                           "0e7be949cad7"),
    "sasrec-basrec-ce": ({'loss': 'ce', 'objective': 'basrec', 'basrec.ce_negatives': 256},
                         "8cef6a55f0f6"),
    "sasrec-groups3": ({'length_groups': 3}, "781c9700d420"),
}


@pytest.mark.parametrize("case", sorted(FROZEN_IDS))
def test_run_ids_of_earlier_runs_are_unchanged(case: str) -> None:
    overrides, expected = FROZEN_IDS[case]
    assert run_id(config.load([], overrides)) == expected


def _default(dotted: str) -> object:
    section, _, key = dotted.rpartition(".")
    if not section:
        return {f.name: f.default for f in dataclasses.fields(RunConfig)}[key]
    entry = MODELS.get(section) if section in MODELS else OBJECTIVES.get(section)
    return {f.name: f.default for f in dataclasses.fields(entry.options)}[key]


@pytest.mark.parametrize("dotted", sorted(identity.ADDED_AT_DEFAULT))
def test_options_added_later_are_absent_at_their_default_and_present_otherwise(
        dotted: str) -> None:
    """Each entry names a real option at its real default: a default run leaves it out, any
    other value puts it in (a run with it computes something else)."""
    default = identity.ADDED_AT_DEFAULT[dotted]
    assert _default(dotted) == default
    section, _, key = dotted.rpartition(".")
    overrides: dict[str, Any] = {}
    if section in MODELS:
        overrides["model"] = section
    elif section in OBJECTIVES:
        overrides["objective"] = section
    keys = identity.result_keys(config.load([], overrides))
    where = keys if not section else keys[section]
    assert key not in where


def test_a_non_default_value_of_an_added_option_is_part_of_the_identity() -> None:
    base = config.load([], {"objective": "basrec"})
    changed = config.load([], {"objective": "basrec", "basrec.feature_ce": "mixed_target"})
    assert identity.result_keys(changed)["basrec"]["feature_ce"] == "mixed_target"
    assert run_id(base) != run_id(changed)


def test_execution_keys_do_not_change_the_identity() -> None:
    cfg = RunConfig()
    for changes in ({"threads": 2}, {"device": "cuda"}, {"progress": False},
                    {"eval_batch_size": 17}, {"data_dir": "/data/elsewhere"}):
        assert identity.result_keys(cfg.replace(**changes)) == identity.result_keys(cfg)


def test_length_groups_unset_hash_as_the_cpu_default_they_replaced() -> None:
    unset = identity.result_keys(RunConfig())
    assert unset["length_groups"] == 6
    assert identity.result_keys(RunConfig(length_groups=6)) == unset
    assert identity.result_keys(RunConfig(length_groups=4)) != unset


def test_a_run_folder_written_with_retired_keys_still_loads(tmp_path: Path) -> None:
    """Config files of earlier runs name cuda_length_groups and nextitnet.reg_weight:
    they load (the keys are ignored) and resolve to the id those runs were made under."""
    import yaml

    old = config.load([], {"model": "nextitnet"}).to_dict()
    old["cuda_length_groups"] = 1
    old["length_groups"] = 6
    old["nextitnet"]["reg_weight"] = 1e-5
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(old), encoding="utf-8")
    cfg = config.resolve(config.read_yaml(path))
    assert not hasattr(cfg.model_options, "reg_weight")
    assert run_id(cfg) == FROZEN_IDS["nextitnet-none"][1]


def test_retired_keys_are_not_options_any_more() -> None:
    for dotted in config.RETIRED_KEYS:
        with pytest.raises(KeyError):
            _default(dotted)
