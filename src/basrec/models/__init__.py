"""Backbones. Importing this package registers the built-in ones in ``basrec.registry.MODELS``."""

from basrec.models import fmlprec, gru4rec, nextitnet, sasrec  # noqa: F401
