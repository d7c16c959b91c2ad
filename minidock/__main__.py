"""``python -m minidock`` is the ``minidock`` command."""

from .cli import program

program()
