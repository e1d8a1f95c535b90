"""Backbones. Importing this package registers the built-in ones in ``basrec.registry.MODELS``."""

from basrec.models import sasrec  # noqa: F401
