"""Training objectives. Importing this package registers the built-in ones."""

from basrec.objectives import basrec, plain  # noqa: F401
