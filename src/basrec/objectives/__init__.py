"""Training objectives. Importing this package registers the built-in ones."""

from basrec.objectives import augmented_sequences, basrec, cl4srec, plain  # noqa: F401
