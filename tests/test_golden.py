"""Short runs of every backbone with and without BASRec give exactly the recorded metrics
(tests/golden/metrics.json, written by tests/golden/make_golden.py): on the machine that wrote
them (tests/golden/machine.json) a refactoring that changes a result by one bit fails here;
elsewhere the last epoch's loss may differ in its last bits (relative 1e-6), the metrics not."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

GOLDEN = Path(__file__).resolve().parent / "golden"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_golden", GOLDEN / "make_golden.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


make_golden = _load()
RECORDED: dict[str, Any] = json.loads((GOLDEN / "metrics.json").read_text())
SAME_MACHINE = json.loads((GOLDEN / "machine.json").read_text()) == make_golden.machine()


def test_every_case_is_recorded() -> None:
    assert sorted(RECORDED) == sorted(make_golden.cases())


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_golden.write_dataset(tmp_path_factory.mktemp("golden") / "golden.txt")


@pytest.mark.parametrize("name", sorted(make_golden.cases()))
def test_same_metrics_as_recorded(name: str, dataset: Path, tmp_path: Path) -> None:
    got = make_golden.run_case(make_golden.cases()[name], dataset, tmp_path / name)
    want = RECORDED[name]
    assert got["loss"] == (want["loss"] if SAME_MACHINE else pytest.approx(want["loss"], rel=1e-6))
    assert got["valid"] == want["valid"]
    assert got["test"] == want["test"]
