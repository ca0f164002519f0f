"""``python -m smoldepot_jupyter.cli``: the same as the ``smoldepot`` command."""

from . import main

raise SystemExit(main())
