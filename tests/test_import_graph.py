"""The package's import graph, read from the source with ``ast``: every ``import basrec.…``
at module level, inside functions and under ``TYPE_CHECKING``, and every
``importlib.import_module("basrec.…")``. It has no cycle, and the lower floors (data, models,
objectives and the small shared modules) import nothing from the floors that use them. The
package never imports the paper lab beside it (``lab/``: figures, Table 6, table scripts,
benchmarks)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
LAB = Path(__file__).resolve().parents[1] / "lab"

#: edges allowed to close a cycle: compatibility re-exports (``train.run`` is ``stages.run``)
ALLOWED_CYCLE_EDGES: set[tuple[str, str]] = {("basrec.train", "basrec.stages")}

#: what the library's building blocks are made of: they must not import the floors above
LOWER = ("basrec.data", "basrec.models", "basrec.objectives", "basrec.registry",
         "basrec.errors", "basrec.runio", "basrec.version", "basrec.metrics", "basrec.memory",
         "basrec.precision", "basrec.distributed", "basrec.stats")
HIGHER = ("basrec.build", "basrec.train", "basrec.evaluate", "basrec.inference", "basrec.cli",
          "basrec.experiment", "basrec.experiments", "basrec.tune",
          "basrec.tune_commands", "basrec.report")


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted((SRC / "basrec").rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _imported(node: ast.AST, package: str) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            parts = package.split(".")[: len(package.split(".")) - node.level + 1]
            base = ".".join(parts + ([node.module] if node.module else []))
        return [base, *(f"{base}.{a.name}" for a in node.names)]
    if (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and getattr(node.func, "attr", getattr(node.func, "id", None)) == "import_module"):
        return [node.args[0].value]
    return []


def graph() -> dict[str, set[str]]:
    """Module → the basrec modules it imports (a name imported from a package counts as its
    submodule where one exists)."""
    mods = modules()
    edges: dict[str, set[str]] = {m: set() for m in mods}
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = _imported(node, package)
            if isinstance(node, ast.ImportFrom):  # from X import Y: the submodule X.Y or X
                subs = [n for n in names[1:] if n in mods]
                names = subs if subs and len(subs) == len(names) - 1 else [names[0], *subs]
            for target in names:
                while target not in mods and "." in target:
                    target = target.rpartition(".")[0]
                if target in mods and target != name:
                    edges[name].add(target)
    return edges


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges[node]):
            if (node, nxt) in ALLOWED_CYCLE_EDGES:
                continue
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state:
            found = visit(start)
            if found:
                return found
    return None


def _within(name: str, roots: tuple[str, ...]) -> bool:
    return any(name == r or name.startswith(r + ".") for r in roots)


def test_the_graph_is_read() -> None:
    edges = graph()
    assert "basrec.build" in edges["basrec.train"]
    assert "basrec.data.commands" in edges["basrec.cli"]  # handlers imported when called
    assert "basrec.models" in edges["basrec"]  # built-ins registered from the package


def test_no_import_cycle() -> None:
    cycle = find_cycle(graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_cycles_are_found() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_lower_floors_import_nothing_above_them() -> None:
    wrong = sorted((m, t) for m, targets in graph().items() if _within(m, LOWER)
                   for t in targets if _within(t, HIGHER))
    assert not wrong, wrong


def test_cli_declares_every_sub_command() -> None:
    from basrec import cli

    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert set(sub.choices) >= {"train", "evaluate", "recommend", "config", "prepare",
                                "data", "experiment", "report", "tune"}
    assert not set(sub.choices) & {"plot", "analyze-similarity"}  # lab commands (lab/)
    assert "importlib" not in (SRC / "basrec" / "cli.py").read_text(encoding="utf-8")


def test_the_package_never_imports_the_lab() -> None:
    """No module of src/basrec imports ``lab`` or a module of it (``lab/*.py``,
    ``lab/scripts``, ``lab/benchmarks``, whose files run as top-level modules), nor loads a
    file from it."""
    lab_names = {"lab", "scripts", "benchmarks"} | {p.stem for p in LAB.rglob("*.py")}
    assert {"plots", "similarity"} <= lab_names
    wrong = []
    for name, path in modules().items():
        text = path.read_text(encoding="utf-8")
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(text)):
            for target in _imported(node, package):
                if target.split(".")[0] in lab_names:
                    wrong.append((name, target))
        if "lab/" in text.replace("lab/LOG.md", "") and "spec_from_file_location" in text:
            wrong.append((name, "lab/"))
    assert not wrong, wrong


def _defined(path: Path) -> list[str]:
    """The public names a module defines at its top level."""
    names = []
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names += [t.id for t in targets if isinstance(t, ast.Name)]
    return [n for n in names if not n.startswith("_")]


def test_the_compatibility_modules_re_export_the_experiments() -> None:
    """``basrec.experiment`` and ``basrec.report`` (imports that predate ``basrec.experiments``)
    name the same objects as the modules they re-export."""
    import importlib

    for old, news in (("experiment", ("spec", "plan", "runner")), ("report", ("report",))):
        compat = importlib.import_module(f"basrec.{old}")
        for new in news:
            module = importlib.import_module(f"basrec.experiments.{new}")
            missing = [n for n in _defined(SRC / "basrec" / "experiments" / f"{new}.py")
                       if getattr(compat, n, None) is not getattr(module, n)]
            assert not missing, (old, new, missing)
