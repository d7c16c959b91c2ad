"""How a command is declared: a registry of subcommands, their flags, and output helpers."""

from __future__ import annotations

from collections.abc import Callable

from .grammar import CommandParser
from ..display import tabwrite
from ..errors import UsageError

PROG = "minidock"


class Command:
    """One subcommand: how to parse it and what to run.

    ``error_code`` is the exit status when the engine refuses the request:
    docker's CLI exits 1 after "Error response from daemon" for most commands,
    while ``run``-like commands keep 125/126/127 apart (None: the error's own code).
    Usage errors are 125 everywhere.

    A plain class, not a dataclass: ``dataclasses`` imports ``inspect``, which
    ``minidock -v`` and ``--help`` would pay for.
    """

    def __init__(self, run: Callable, usage: str, short: str, flags: list, counts: tuple,
                 error_code: int | None = 1, interspersed: bool = True):
        self.run, self.usage, self.short, self.flags, self.counts = run, usage, short, flags, counts
        self.error_code = error_code
        self.interspersed = interspersed  # False: stop at the first positional (``run IMAGE CMD -la``)


COMMANDS: dict[str, Command] = {}


def command(name: str, usage: str, short: str, *flags, counts=(0, None), error_code: int | None = 1,
            interspersed: bool = True):
    """Register ``run(client, opts)`` as ``minidock NAME``; flags are (names, kwargs) pairs."""
    def register(run):
        COMMANDS[name] = Command(run, usage, short, list(flags), counts, error_code, interspersed)
        return run
    return register


def flag(*names: str, **kwargs) -> tuple:
    """A flag declaration for :func:`command`, as ``add_argument`` takes it."""
    return names, kwargs


def parser_for(name: str) -> CommandParser:
    """The CommandParser of one registered command."""
    cmd = COMMANDS[name]
    p = CommandParser(f"{PROG} {name}", cmd.usage, cmd.short, min_args=cmd.counts[0], max_args=cmd.counts[1],
                      interspersed=cmd.interspersed)
    for names, kwargs in cmd.flags:
        p.add_argument(*names, **kwargs)
    return p


def filters(values: list[str], known: tuple[str, ...]) -> dict[str, list[str]]:
    """``-f KEY=VALUE`` flags as docker reads them: a key may repeat (any of its values matches),
    different keys must all match."""
    found: dict[str, list[str]] = {}
    for item in values:
        key, eq, value = item.partition("=")
        if not eq:
            raise UsageError(f"bad format of filter (expected name=value): {item}")
        if key not in known:
            raise UsageError(f"invalid filter '{key}' (minidock knows {', '.join(known)})")
        found.setdefault(key, []).append(value)
    return found


def out(text: str = "") -> None:
    print(text, flush=True)


def each_named(names: list[str], action) -> int:
    """Apply ``action(name)`` to every name, printing each done like docker, each refused on stderr; 1 if any was."""
    import sys
    from ..errors import MinidockError
    status = 0
    for name in names:
        try:
            action(name)
            out(name)
        except MinidockError as e:
            print(f"Error response from daemon: {e}", file=sys.stderr)
            status = 1
    return status


def confirmed(warning: str) -> bool:
    """docker's prompt before a prune; only "y" or "yes" goes on."""
    import sys
    sys.stdout.write(f"WARNING! This will remove {warning}.\nAre you sure you want to continue? [y/N] ")
    sys.stdout.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def inspect_each(names: list[str], get, fmt: str | None, error) -> int:
    """``network inspect``, ``volume inspect``: the objects found printed together; ``error(name, e)``
    the line for one that is not there (exit status 1, as docker's)."""
    import sys
    from ..errors import MinidockError
    found, status = [], 0
    for name in names:
        try:
            found.append(get(name).attrs)
        except MinidockError as e:
            print(error(name, e), file=sys.stderr)
            status = 1
    print_inspected(found, fmt)
    return status


def print_inspected(found: list[dict], fmt: str | None) -> None:
    """``inspect``'s answer: each object through ``--format``, or all as docker's indented JSON array."""
    if fmt:
        from . import template  # only --format needs it
        for attrs in found:
            out(template.render(fmt, attrs, missing_key="error"))
    else:
        import json
        out(json.dumps(found, indent=4, ensure_ascii=False))


def formatted(fmt: str, items: list[dict], headers: dict[str, str]) -> str:
    """Render a list command's ``--format`` per item; ``table`` adds docker's header row."""
    from . import template  # only list commands with --format need it
    body = template.strip_table(fmt)  # docker pre-formats every list format: \t, \n, "table"
    rows = [template.render(body, item) for item in items]
    if not template.is_table(fmt):
        return "\n".join(rows)
    header = template.render(body, headers, functions=template.HEADER_FUNCTIONS)
    return tabwrite("\n".join([header] + rows))


def label_pairs(items: list[str]) -> dict:
    """``--label k=v`` (a bare ``k`` is ``k=""``), as docker reads them."""
    return {key: value for key, _, value in (item.partition("=") for item in items)}
