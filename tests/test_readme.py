"""The README is executable: its set-up commands are what CI runs, its quick start command
trains for real (on tiny data here), and its custom-backbone example works with BASRec."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, synthetic_lines

README = (ROOT / "README.md").read_text(encoding="utf-8")
DOCS = {path.name: path.read_text(encoding="utf-8")
        for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]}


def setup_command(marker: str) -> str:
    match = re.search(rf"<!-- setup:{marker} -->\s*```bash\n(.+?)\n```", README, re.S)
    assert match, f"README lacks the setup:{marker} block"
    return match.group(1).strip()


def test_ci_runs_the_readme_commands() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert "setup:install" in ci and "setup:test" in ci
    assert "pip install" in setup_command("install") and "constraints.txt" in setup_command(
        "install")
    assert "pytest" in setup_command("test")


def run_basrec(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "basrec", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_quick_start_command_runs(tmp_path: Path) -> None:
    """The README's train command, with its dataset swapped for tiny data and fewer epochs."""
    command = setup_command("install").split("&&")[-1].strip()
    args = shlex.split(command)
    assert args[:2] == ["basrec", "train"]
    args = args[1:]
    data = tmp_path / "tiny.txt"
    data.write_text("\n".join(synthetic_lines()) + "\n")
    swap = {"--dataset": str(data), "--out": str(tmp_path / "run")}
    for i, token in enumerate(args):
        if token in swap:
            args[i + 1] = swap[token]
    args = [a for a in args if not a.startswith(("--epochs=", "--basrec.stage1_epochs="))]
    args += ["--epochs=1", "--basrec.stage1_epochs=1", "--hidden_size=8", "--num_layers=1"]
    out = run_basrec(args, tmp_path)
    assert out.returncode == 0, out.stderr
    assert "base (stage 1)" in out.stdout and "NDCG@10" in out.stdout
    assert (tmp_path / "run" / "results.json").exists()


def test_custom_backbone_example_trains_with_basrec(tmp_path: Path) -> None:
    """The my_models.py example of the docs (README.md or docs/*.md) and its train command."""
    for text in DOCS.values():
        code = re.search(r"```python\n(# my_models\.py\n.+?)```", text, re.S)
        if code:
            break
    assert code, "no page of the docs holds the my_models.py example"
    (tmp_path / "my_models.py").write_text(code.group(1))
    command = re.search(r"```bash\n(basrec train --plugins my_models[^\n]+)\n```", text)
    assert command, "the page with the my_models.py example lacks its train command"
    args = shlex.split(command.group(1))[1:]
    data = tmp_path / "tiny.txt"
    data.write_text("\n".join(synthetic_lines()) + "\n")
    args[args.index("--dataset") + 1] = str(data)
    args += ["--epochs=1", "--basrec.stage1_epochs=1", "--hidden_size=8"]
    out = run_basrec(args, tmp_path)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "runs" / "meanpool" / "results.json").exists()
    # evaluate and recommend find the plugin again through config.yaml
    again = run_basrec(["evaluate", "runs/meanpool"], tmp_path)
    assert again.returncode == 0, again.stderr


def test_every_yaml_block_in_the_docs_parses() -> None:
    """A reader copies the docs' YAML examples as they are: each one must be valid YAML."""
    import yaml

    blocks = [(path.name, m.group(1))
              for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
              for m in re.finditer(r"```ya?ml\n(.*?)```", path.read_text(encoding="utf-8"),
                                   re.S)]
    assert blocks, "no YAML example found in the docs"
    for name, text in blocks:
        try:
            yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise AssertionError(f"{name}: invalid YAML example: {exc}") from exc
