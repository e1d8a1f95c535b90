"""How close augmented samples stay to their originals, logged during training.

The paper's Table 6 reports "the average similarity value throughout the training process"
between "the final output representation of the model" for generated and original samples.
Objectives that encode augmented samples return these as ``sim_*`` entries of a step's dict;
the trainer averages them per epoch into ``metrics.jsonl``, and the lab's Table 6 script
(``python lab/similarity.py RUN --over-training``) averages the epochs. The representation is
the output at each sample's final position (the last column of a left-padded batch), with
dropout as in training. Values are cosines in [−1, 1]; nothing here draws random numbers or
carries gradients.
"""

from __future__ import annotations

import torch


def cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Row-wise cosine similarity of (…, D) tensors, clamped to [−1, 1]."""
    return torch.nn.functional.cosine_similarity(a, b, dim=-1, eps=1e-12).clamp(-1.0, 1.0)


@torch.no_grad()
def final_cosine(augmented: torch.Tensor, original: torch.Tensor,
                 at_last: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of augmented and original outputs at each row's final position (the
    paper's Table 6 representation), from a training step's own tensors; (rows,)."""
    return cosine(augmented[at_last], original[at_last])


def similarity_logs(sims: dict[str, list[torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Step means for the training log, one ``sim_<name>`` per non-empty list (BASRec:
    ``sim_single`` = BASRec-I, ``sim_cross`` = BASRec-O) and, where several names are given,
    ``sim_both`` over all samples pooled (BASRec's own row)."""
    out: dict[str, torch.Tensor] = {}
    pooled = []
    for branch, values in sims.items():
        flat = torch.cat(values) if values else torch.empty(0)
        if flat.numel():
            out[f"sim_{branch}"] = flat.mean()
            pooled.append(flat)
    if pooled and len(sims) > 1:
        out["sim_both"] = torch.cat(pooled).mean()
    return out


@torch.no_grad()
def last_column_cosine(augmented: torch.Tensor, original: torch.Tensor,
                       aug_ids: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """Cosine of (B, N, D) outputs at the last column, for the rows where both the augmented
    sample and its original hold an item there; (rows,)."""
    real = (aug_ids[:, -1] > 0) & (ids[:, -1] > 0)  # (B,)
    return cosine(augmented[real, -1], original[real, -1])
