"""Import a file of the lab (lab/*.py, lab/scripts/*.py: not packages) as a module, for the
tests of those scripts."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

LAB = Path(__file__).resolve().parents[1] / "lab"
SCRIPTS = LAB / "scripts"


def load_file(path: Path) -> ModuleType:
    """The file as the module named by its stem (registered in sys.modules: dataclasses need
    it)."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def load_script(name: str) -> ModuleType:
    """lab/scripts/NAME.py as the module NAME."""
    return load_file(SCRIPTS / f"{name}.py")


def load_lab(name: str) -> ModuleType:
    """lab/NAME.py as the module NAME."""
    return load_file(LAB / f"{name}.py")
