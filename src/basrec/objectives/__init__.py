"""Training objectives. Importing this package registers the built-in ones."""

from basrec.objectives import (  # noqa: F401
    asrep,
    augmented_sequences,
    basrec,
    cl4srec,
    diffuasr,
    plain,
    pseudo_items,
    slide_windows,
)
