"""``python -m minidock`` is the ``minidock`` command."""

from .cli import main

raise SystemExit(main())
