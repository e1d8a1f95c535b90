"""Run-directory files: atomic writes (mode from the umask), output-path checks, checkpoints
read back, JSON, the environment."""

from __future__ import annotations

import json
import os
import platform
import secrets
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from basrec.errors import BasrecError

if TYPE_CHECKING:
    import torch


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over ``path``.

    The file is created with mode ``0o666`` less the umask, as ``open`` would create it."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temporary(p)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, p)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _create_temporary(p: Path) -> tuple[int, str]:
    """A new, exclusively created ``.NAME.XXXX.tmp`` beside ``p``: (descriptor, path). Unlike
    ``tempfile.mkstemp`` (always 0600) the kernel applies the umask to mode 0666."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | \
        getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = str(p.parent / f".{p.name}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"{p.parent}: no free temporary file name for {p.name}")


#: the files of a run folder that no output of another command may replace
RUN_FILES = ("config.yaml", "env.json", "dataset.json", "metrics.jsonl", "results.json",
             "log.txt", "per_user_test.npz")


def file_above(p: Path) -> Path | None:
    """The nearest existing ancestor of ``p`` where that is not a folder (else None)."""
    for parent in p.parents:
        if os.path.lexists(parent):
            return None if parent.is_dir() else parent
    return None


def check_out_dir(path: str | Path) -> None:
    """Refuse a run folder ``path`` that cannot be one: an existing file (or link to one), or
    a path under a file. Nothing is created or written."""
    p = Path(path)
    if os.path.lexists(p) and not p.is_dir():
        raise BasrecError(f"{p}: exists and is not a folder")
    above = file_above(p)
    if above is not None:
        raise BasrecError(f"{p}: a parent, {above}, is a file")


def check_out_file(path: str | Path, replace: bool = True) -> None:
    """Refuse an output file ``path`` that is an existing folder or lies under a file, that is
    one of a run folder's own files (never replaced), or, unless ``replace``, that exists.
    Nothing is created or written."""
    p = Path(path)
    if p.is_dir():
        raise BasrecError(f"{p}: is a folder; expected a file name")
    above = file_above(p)
    if above is not None:
        raise BasrecError(f"{p}: a parent, {above}, is a file")
    if p.exists() and (p.parent / "config.yaml").is_file() and (
            p.name in RUN_FILES or p.name.startswith("checkpoint_")):
        raise BasrecError(f"{p}: a file of the run in {p.parent}; choose another file name")
    if p.exists() and not replace:
        raise BasrecError(f"{p}: already exists; pass --force to replace it")


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def read_metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    """A run's ``metrics.jsonl``, one record per epoch ([] where the file does not exist);
    a line that is not JSON is a one-line error naming the file and line."""
    from basrec.errors import BasrecError

    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        return []
    records = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise BasrecError(f"{path}:{n}: not JSON ({exc.msg})") from None
    return records


def atomic_torch_save(obj: Any, path: str | Path) -> None:
    import io

    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path: str | Path, map_location: Any = "cpu",
                    keys: tuple[str, ...] = ("model",)) -> dict[str, Any]:
    """A checkpoint written by :func:`atomic_torch_save`, read with ``weights_only``. A missing,
    truncated or foreign file (one without ``keys``) is a :class:`BasrecError` naming it."""
    import pickle

    import torch

    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise BasrecError(f"{path}: no such checkpoint") from None
    except (RuntimeError, KeyError, EOFError, ValueError, OSError,
            pickle.UnpicklingError) as e:
        raise BasrecError(f"{path}: unreadable checkpoint ({_first_line(e)})") from None
    missing = [k for k in keys if not isinstance(obj, dict) or k not in obj]
    if missing:
        raise BasrecError(f"{path}: unreadable checkpoint (not a basrec checkpoint: "
                          f"no {', '.join(missing)})")
    return obj


def load_weights(model: torch.nn.Module, path: str | Path, map_location: Any = "cpu",
                 keys: tuple[str, ...] = ("model",)) -> dict[str, Any]:
    """:func:`load_checkpoint`, then its ``model`` weights into ``model``; weights of another
    model or size are a :class:`BasrecError` naming ``path``. Returns the checkpoint."""
    ckpt = load_checkpoint(path, map_location, keys)
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError as e:
        detail = [ln.strip() for ln in str(e).splitlines()[1:] if ln.strip()]
        reason = detail[0] if detail else _first_line(e)
        raise BasrecError(f"{path}: unreadable checkpoint (weights of another model: "
                          f"{reason[:160]})") from None
    return ckpt


def _first_line(error: BaseException) -> str:
    return next((ln for ln in str(error).splitlines() if ln.strip()), type(error).__name__)


def git_commit() -> str | None:
    """HEAD of the checkout the code runs from, or ``BASREC_GIT_COMMIT`` where that is set (a
    copy of the working tree on another machine can carry a stale ``.git``)."""
    if os.environ.get("BASREC_GIT_COMMIT"):
        return os.environ["BASREC_GIT_COMMIT"]
    try:
        here = Path(__file__).resolve().parent
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5
        )
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def environment(device: str) -> dict[str, Any]:
    """Versions, threads, device and git commit, recorded beside every run and timing."""
    import numpy
    import torch

    from basrec.version import __version__

    info: dict[str, Any] = {
        "basrec": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": device,
        "git_commit": git_commit(),
    }
    if device.startswith("cuda") and torch.cuda.is_available():
        info["cuda_device"] = torch.cuda.get_device_name(0)
    return info


@dataclass
class Logger:
    """Appends each message to a run's log file and echoes it to stderr."""

    path: Path
    echo: bool = True
    enabled: bool = True  # only rank 0 of a distributed job writes

    def __call__(self, message: str) -> None:
        if not self.enabled:
            return
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(message + "\n")
        if self.echo:
            print(message, file=sys.stderr, flush=True)
