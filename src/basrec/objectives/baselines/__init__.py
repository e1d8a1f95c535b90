"""The paper's baselines (Tables 3 and 4): the heuristic augmentations (Ran, Ran-S, SW, CMR,
CMRSI), ASReP, DiffuASR and CL4SRec. Importing this package registers them."""

from basrec.objectives.baselines import (  # noqa: F401
    asrep,
    augmented_sequences,
    cl4srec,
    diffuasr,
    pseudo_items,
    slide_windows,
)
