"""The command line as a person meets it: help texts, ``basrec config --list``, options given
without a value."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from basrec import config
from basrec.cli import build_parser, main, split_overrides
from basrec.errors import BasrecError
from basrec.registry import MODELS, OBJECTIVES


def help_of(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--help"])
    assert exit_info.value.code == 0
    return " ".join(capsys.readouterr().out.split())  # argparse wraps lines


def one_line_error(rc: int, err: str) -> str:
    assert rc == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("basrec: error: "), err
    return lines[0]


@pytest.mark.parametrize("command", ["train", "evaluate"])
def test_help_mentions_overrides_and_where_keys_are_listed(
        command: str, capsys: pytest.CaptureFixture[str]) -> None:
    text = help_of([command], capsys)
    assert "--key=value" in text
    assert "basrec config --list [--model M] [--objective O]" in text


def test_train_help_lists_the_objectives_the_error_accepts(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = help_of(["train"], capsys)
    m = re.search(r"training objective: none \(default\), basrec, or a baseline \(([^)]*)\)",
                  text)
    assert m, text
    in_help = {"none", "basrec", *m.group(1).split(", ")}
    rc = main(["train", "--dataset", "x.txt", "--out", str(tmp_path / "r"), "--objective=foo"])
    line = one_line_error(rc, capsys.readouterr().err)
    accepted = set(line.split("known: ", 1)[1].split(", "))
    assert in_help == accepted == set(OBJECTIVES.names())
    models = re.search(r"backbone: ([a-z0-9_, ]+) \(default sasrec\)", text)
    assert models and set(models.group(1).split(", ")) == set(MODELS.names())


def test_top_level_description_has_no_markup(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    out = capsys.readouterr().out
    assert "``" not in out and "basrec command line" in out
    assert "``" not in build_parser().format_help()


@pytest.mark.parametrize("argv, shown", [
    (["--epochs"], "--epochs needs a value"),
    (["--epochs", "--lr=0.01"], "--epochs needs a value"),
    (["--max-seq-length"], "--max-seq-length needs a value"),
    (["--basrec.alpha"], "--basrec.alpha needs a value"),
    (["--topk"], "--topk needs a value"),
])
def test_a_key_without_a_value_is_a_one_line_error(
        tiny_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str],
        shown: str) -> None:
    rc = main(["train", "--dataset", str(tiny_data), "--out", str(tmp_path / "r"), *argv])
    assert shown in one_line_error(rc, capsys.readouterr().err)
    assert not (tmp_path / "r").exists()


def test_true_false_keys_alone_still_mean_true(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert split_overrides(["--progress", "--basrec.single", "--nextitnet.embedding_dropout"]) \
        == {"progress": True, "basrec.single": True, "nextitnet.embedding_dropout": True}
    with pytest.raises(BasrecError, match="--epochs needs a value"):
        split_overrides(["--epochs"])
    # an unknown key alone is still named by the config's own error
    rc = main(["train", "--dataset", "x.txt", "--out", str(tmp_path / "r"), "--epochz"])
    assert "unknown config key 'epochz'" in one_line_error(rc, capsys.readouterr().err)


def test_config_list_names_every_key_with_its_default_and_meaning() -> None:
    """Every RunConfig key and every option of every built-in backbone and objective, with
    the default a run gets and a one-line meaning."""
    defaults = config.RunConfig()
    top = [f.name for f in dataclasses.fields(config.RunConfig)
           if f.name not in ("model_options", "objective_options")]
    for model in MODELS.names():
        for objective in OBJECTIVES.names():
            rows = config.describe_keys(model, objective)
            keys = [r[0] for r in rows]
            resolved = config.load([], {"model": model, "objective": objective})
            expected = top + [f"{model}.{f.name}"
                              for f in dataclasses.fields(resolved.model_options)] + [
                f"{objective}.{f.name}" for f in dataclasses.fields(resolved.objective_options)
                if not f.name.startswith("_")]
            assert keys == expected
            for key, default, meaning in rows:
                assert meaning and meaning != "(no description)", key
                assert "\n" not in meaning and len(meaning) <= 120, key
                if "." not in key:
                    assert config.parse_override(f"{key}={default}")[1] == (
                        list(getattr(defaults, key)) if isinstance(getattr(defaults, key),
                                                                   tuple)
                        else getattr(defaults, key)), key
    with pytest.raises(BasrecError, match="unknown objective 'foo'"):
        config.describe_keys(objective="foo")


def test_basrec_config_list_prints_them(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "--list", "--model", "gru4rec", "--objective", "basrec"]) == 0
    out = capsys.readouterr().out
    for key, default, _ in config.describe_keys("gru4rec", "basrec"):
        assert re.search(rf"^{re.escape(key)}\s+{re.escape(default)}\s+\S", out, re.M), key
    assert "--basrec.KEY=VALUE" in out and "--gru4rec.KEY=VALUE" in out
    assert main(["config", "--list"]) == 0
    out = capsys.readouterr().out
    assert "sasrec.layout" in out and "has no options of its own" in out
    rc = main(["config"])
    assert "--list" in one_line_error(rc, capsys.readouterr().err)
    rc = main(["config", "--list", "--model", "nope"])
    assert "unknown model 'nope'" in one_line_error(rc, capsys.readouterr().err)
