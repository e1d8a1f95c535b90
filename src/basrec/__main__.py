"""`python -m basrec` is the same as the `basrec` command."""

from basrec.cli import main

raise SystemExit(main())
