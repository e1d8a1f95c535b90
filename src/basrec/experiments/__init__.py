"""Experiments: a grid file (``spec``) expanded into runs (``plan``), trained in order
(``runner``) and summarised as tables (``report``); ``commands`` holds the CLI handlers of
``basrec experiment`` and ``basrec report``."""
