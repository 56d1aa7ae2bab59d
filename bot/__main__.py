"""``python -m bot`` is the ``sanad`` command line."""

from .cli import main

raise SystemExit(main())
