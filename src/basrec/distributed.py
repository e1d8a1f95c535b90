"""Data-parallel training on torch.distributed, launched by ``torchrun`` (the env:// contract).

``torchrun --nproc_per_node=N -m basrec train ...`` (or several machines with ``--nnodes``)
starts N processes; each takes its share of every training batch (rows rank, rank + N, ...),
computes the objective on it, and the gradients are averaged over processes before each Adam
step, so all replicas stay identical. Evaluation splits the users over processes and gathers
the ranks, so every process takes the same early-stopping decisions. Only rank 0 writes files;
the run directory must be on a file system every process can read (for resume and the final
checkpoint). Backend: NCCL on CUDA, gloo on CPU. Objectives need no change: gradients are
averaged after ``backward`` instead of through a DDP wrapper, so objectives may keep calling
``embed`` and ``encode`` directly.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Dist:
    """This process's place in the job (rank 0 of 1 when not distributed)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    launched: bool = False  # started by torchrun: join the process group even when world is 1

    @property
    def enabled(self) -> bool:
        return self.world > 1 or self.launched

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def from_environment() -> Dist:
    """Read torchrun's RANK / WORLD_SIZE / LOCAL_RANK (absent: a single process).

    A job torchrun started with one process still joins the process group, so that
    ``--nproc_per_node=1`` runs the collective (NCCL or gloo) path on one device."""
    if "WORLD_SIZE" not in os.environ:
        return Dist()
    return Dist(int(os.environ.get("RANK", "0")), int(os.environ["WORLD_SIZE"]),
                int(os.environ.get("LOCAL_RANK", "0")), launched=True)


def setup_process(dist_info: Dist, device: torch.device) -> torch.device:
    """Join the process group (once) and return this process's device (cuda:LOCAL_RANK)."""
    if not dist_info.enabled:
        return device
    import torch.distributed as tdist

    if device.type == "cuda":
        device = torch.device("cuda", dist_info.local_rank)
        torch.cuda.set_device(device)
    if not tdist.is_initialized():
        # torch._dynamo is imported lazily by the first optimizer; imported after the group
        # exists, its torch.distributed modules keep references to the default group, so
        # destroy_process_group cannot free it, its gloo threads outlive the interpreter and
        # one of them aborts the process at exit ("terminate called without an active
        # exception"; 1 run in 14 to 40 under load here). Imported first, it holds none.
        importlib.import_module("torch._dynamo")
        tdist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return device


def average_gradients(model: torch.nn.Module, dist_info: Dist) -> None:
    """All-reduce the gradients (one flat buffer) and divide by the number of processes."""
    if not dist_info.enabled:
        return
    import torch.distributed as tdist

    params = [p for p in model.parameters() if p.requires_grad]
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])  # (P,)
    tdist.all_reduce(flat)
    flat /= dist_info.world
    offset = 0
    for p in params:
        n = p.numel()
        p.grad = flat[offset : offset + n].view_as(p).clone()
        offset += n


def broadcast_parameters(model: torch.nn.Module, dist_info: Dist) -> None:
    """Make every replica start from rank 0's weights."""
    if not dist_info.enabled:
        return
    import torch.distributed as tdist

    with torch.no_grad():
        for t in list(model.parameters()) + list(model.buffers()):
            tdist.broadcast(t, src=0)


def gather_ranks(users: np.ndarray, ranks: np.ndarray, dist_info: Dist
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate every process's (users, ranks), ordered by user row."""
    if not dist_info.enabled:
        return users, ranks
    import torch.distributed as tdist

    parts: list[object] = [None] * dist_info.world
    tdist.all_gather_object(parts, (users, ranks))
    all_users = np.concatenate([p[0] for p in parts])  # type: ignore[index]
    all_ranks = np.concatenate([p[1] for p in parts])  # type: ignore[index]
    order = np.argsort(all_users, kind="stable")
    return all_users[order], all_ranks[order]


def barrier(dist_info: Dist) -> None:
    if dist_info.enabled:
        import torch.distributed as tdist

        tdist.barrier()


def shutdown() -> None:
    """Leave the process group (a gloo group left open aborts the process at exit)."""
    import sys

    if "torch.distributed" not in sys.modules:
        return
    import torch.distributed as tdist

    if tdist.is_available() and tdist.is_initialized():
        tdist.barrier()
        tdist.destroy_process_group()
