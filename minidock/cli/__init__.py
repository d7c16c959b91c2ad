"""The ``minidock`` command: docker's verbs, flags and tables over the Python API.

Thin on purpose: each command parses its flags (``grammar.py``, docker's
command-line grammar), calls the API and prints what docker prints (tables,
``--format`` templates: ``template.py``).  Errors become one line on stderr and
docker's exit code; a traceback here would be a bug.  The commands live in
``images.py``, ``containers.py``, ``build.py``, ``distribution.py``,
``registry.py``, ``volumes.py`` and ``course.py`` (the course's progress files);
``base.py`` is how they are declared.

May use: ``api``, ``course`` (``minidock course progress``) and the flat modules.
"""

from __future__ import annotations

import importlib
import sys

from .. import __version__
from .grammar import HelpShown
from ..errors import MinidockError, UsageError
from .base import COMMANDS, PROG, Command, out, parser_for

TYPE_CHECKING = False  # typing's, without importing typing: every command would pay for it
if TYPE_CHECKING:
    from ..api.client import Client


# -- which module declares each command -----------------------------------------

# A command runs with only its own module imported: importing all six would
# make every command pay for all of them.  A subcommand ("system df") lives
# with its parent.  tests/test_cli.py checks this table against what the
# modules register, so it cannot drift.
DECLARED_IN = {
    "build": ("build",),
    "daemon": ("daemon",),
    "course": ("course",),
    "containers": ("run", "create", "start", "stop", "restart", "kill", "rm", "wait", "rename", "ps", "logs",
                   "attach", "exec", "top", "port", "stats", "diff", "commit", "export", "nsenter", "container",
                   "pause", "unpause", "update", "cp"),
    "distribution": ("pull", "push", "login", "logout"),
    "images": ("images", "tag", "rmi", "history", "inspect", "save", "load", "import", "bootstrap", "version",
               "info", "system", "image", "events"),
    "networks": ("network",),
    "registry": ("registry",),
    "volumes": ("volume",),
}
MODULE_OF = {name: module for module, names in DECLARED_IN.items() for name in names}


def load(name: str) -> None:
    """Register command ``name`` (and its subcommands) by importing the module that declares it."""
    importlib.import_module(f"{__name__}.{MODULE_OF[name.split()[0]]}")


def load_all() -> dict[str, Command]:
    """Every command, registered (``--help`` and the docs list them all)."""
    for module in DECLARED_IN:
        importlib.import_module(f"{__name__}.{module}")
    return COMMANDS


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
    load_all()
    names = sorted(n for n in COMMANDS if " " not in n)
    return TOP_USAGE + "\n".join(f"  {n:<12}{COMMANDS[n].short}" for n in names) + \
        "\n\nRun 'minidock COMMAND --help' for more information on a command.\n"


def dispatch(client: Client | None, name: str, argv: list[str]) -> int:
    """Parse ``argv`` for command ``name`` and run it; return its exit status."""
    load(name)
    if argv and f"{name} {argv[0]}" in COMMANDS:  # a subcommand ("system df -v") parses its own flags
        name, argv = f"{name} {argv[0]}", argv[1:]
    opts = parser_for(name).parse_args(argv)
    if client is None:
        from ..api.client import Client  # here, not at the top: --help and -v need no engine
        client = Client()
    return COMMANDS[name].run(client, opts) or 0


def exit_code(error: MinidockError, name: str) -> int:
    """Docker's exit status for an error raised by command ``name``."""
    cmd = COMMANDS.get(name)
    if isinstance(error, UsageError) or cmd is None or cmd.error_code is None:
        return error.exit_code
    return cmd.error_code


def program() -> None:
    """The ``minidock`` program (and ``python -m minidock``): :func:`main`, and its status as the exit status."""
    code = main()
    try:
        sys.stdout.flush()
    except BrokenPipeError:  # ``minidock images | head -1``: the reader has what it wanted
        # Python's own flush at exit would complain again: stdout goes nowhere from here on
        # (the recipe of the signal module's docs, "Note on SIGPIPE")
        import os
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    sys.exit(code)


def main(argv: list[str] | None = None) -> int:
    """The ``minidock`` command's work: run ``argv``; return the exit status."""
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
        if argv[0] not in MODULE_OF:
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
        elif isinstance(e, UsageError) and argv and argv[0] not in MODULE_OF:
            print("See 'minidock --help'", file=sys.stderr)
        return exit_code(e, argv[0])
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        return 130
    except OSError as e:  # a file the user named cannot be read or written
        print(f"{PROG}: {e.strerror or e}: {e.filename or ''}".rstrip(": "), file=sys.stderr)
        return exit_code(MinidockError(str(e)), argv[0])
