"""basrec: balanced data augmentation (BASRec, AAAI 2025) for sequential recommenders.

Importing the package is cheap: torch, pandas and matplotlib are imported by the modules
that use them, not here.
"""

__version__ = "0.1.0"
