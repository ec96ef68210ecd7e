"""``python -m bots``: the same as the ``venice-bots`` command."""

from bots.cli import main

raise SystemExit(main())
