"""Training objectives. Importing this package registers the built-in ones."""

from basrec.objectives import plain  # noqa: F401
