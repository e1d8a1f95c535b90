"""Training objectives. Importing this package registers the built-in ones: the plain
objective, BASRec and the paper's baselines (``objectives.baselines``)."""

from basrec.objectives import baselines, basrec, plain  # noqa: F401
