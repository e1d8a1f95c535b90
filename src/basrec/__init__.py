"""basrec: balanced data augmentation (BASRec, AAAI 2025) for sequential recommenders.

Importing the package is cheap: torch, pandas and matplotlib are imported by the modules
that use them, not here.
"""

from basrec.registry import MODELS, OBJECTIVES
from basrec.version import __version__ as __version__


def _register_models() -> None:
    import basrec.models  # noqa: F401


def _register_objectives() -> None:
    import basrec.objectives  # noqa: F401


# the built-in backbones and objectives register themselves when a registry is first used
MODELS.set_builtins(_register_models)
OBJECTIVES.set_builtins(_register_objectives)
