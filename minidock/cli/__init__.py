"""The ``minidock`` command: docker's verbs, flags and tables over the Python API.

Thin on purpose: each command parses its flags (``cligrammar``), calls the API
(``client``) and prints what docker prints.  Errors become one line on stderr
and docker's exit code; a traceback here would be a bug.  The commands live in
``images.py`` and ``containers.py``; ``base.py`` is how they are declared.
"""

from __future__ import annotations

import sys

from .. import __version__
from ..cligrammar import HelpShown
from ..client import Client
from ..errors import MinidockError, UsageError
from . import build, containers, distribution, images, registry  # noqa: F401  (they register their commands)
from .base import COMMANDS, PROG, out, parser_for


# -- dispatch -----------------------------------------------------------------

TOP_USAGE = """
Usage:  minidock [OPTIONS] COMMAND

A small but complete container engine, written to be read

Options:
  -v, --version    Print version information and quit

Commands:
"""


def top_help() -> str:
    """``minidock --help``: every command with its one-line description."""
    names = sorted(n for n in COMMANDS if " " not in n)
    return TOP_USAGE + "\n".join(f"  {n:<12}{COMMANDS[n].short}" for n in names) + \
        "\n\nRun 'minidock COMMAND --help' for more information on a command.\n"


def dispatch(client: Client | None, name: str, argv: list[str]) -> int:
    """Parse ``argv`` for command ``name`` and run it; return its exit status."""
    if argv and f"{name} {argv[0]}" in COMMANDS:  # a subcommand ("system df -v") parses its own flags
        name, argv = f"{name} {argv[0]}", argv[1:]
    opts = parser_for(name).parse_args(argv)
    return COMMANDS[name].run(client or Client(), opts) or 0


def exit_code(error: MinidockError, name: str) -> int:
    """Docker's exit status for an error raised by command ``name``."""
    cmd = COMMANDS.get(name)
    if isinstance(error, UsageError) or cmd is None or cmd.error_code is None:
        return error.exit_code
    return cmd.error_code


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``minidock`` command."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        if not argv or argv[0] in ("-h", "--help", "help"):
            sys.stdout.write(top_help())
            return 0
        if argv[0] in ("-v", "--version"):
            out(f"minidock version {__version__}")
            return 0
        if argv[0].startswith("-"):
            raise UsageError(f"unknown flag: {argv[0]}")
        if argv[0] not in COMMANDS:
            raise UsageError(f"'{argv[0]}' is not a minidock command.")
        return dispatch(None, argv[0], argv[1:])
    except HelpShown as shown:
        sys.stdout.write(shown.text)
        return 0
    except MinidockError as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        hint = getattr(e, "hint", None)
        if hint:
            print(hint, file=sys.stderr)
        elif isinstance(e, UsageError) and argv and argv[0] not in COMMANDS:
            print("See 'minidock --help'", file=sys.stderr)
        return exit_code(e, argv[0])
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        return 130
    except OSError as e:  # a file the user named cannot be read or written
        print(f"{PROG}: {e.strerror or e}: {e.filename or ''}".rstrip(": "), file=sys.stderr)
        return exit_code(MinidockError(str(e)), argv[0])
