"""Namespaces side by side: which processes share which namespace, like ``lsns``, drawn.

Each of a process's namespaces is a file, ``/proc/PID/ns/TYPE``; two
processes are in the same namespace exactly when those files have the same
inode (``readlink`` shows it: ``net:[4026531840]``).  Grouping processes by
those inodes shows what a container is: ordinary host processes that were
given their own mount, UTS, IPC, network, PID and cgroup namespaces -- and
that still share the host's user namespace (minidock, like docker, does not
make one in root mode).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import groupby

from ...api.system import NAMESPACES, namespaces_of
from ..lang import say
from . import dotlang, text as columns

TYPES = tuple(sorted(NAMESPACES))  # the ones minidock knows (time is left out: no runtime unshares it)


@dataclass(frozen=True)
class Process:
    """One process: who it is, on which side of the picture, and the inode of each namespace."""

    label: str
    side: str
    pid: int
    namespaces: tuple[tuple[str, int], ...]  # (type, inode), sorted by type


@dataclass(frozen=True)
class Namespace:
    """One namespace and its members, in the order the processes were given."""

    type: str
    inode: int
    members: tuple[str, ...]  # process labels

    @property
    def name(self) -> str:
        return f"{self.type}:[{self.inode}]"


@dataclass(frozen=True)
class NamespaceMap:
    sides: tuple[str, ...]
    processes: tuple[Process, ...]
    namespaces: tuple[Namespace, ...]  # by type, then by the first member's place in `processes`

    def side_of(self, ns: Namespace) -> str | None:
        """The one side all members are on; None for a namespace shared across sides."""
        sides = {p.side for p in self.processes if p.label in ns.members}
        return sides.pop() if len(sides) == 1 else None


def namespace_map(sides: dict[str, dict[str, int]], types: tuple[str, ...] = TYPES) -> NamespaceMap:
    """``{"host": {"this notebook": os.getpid()}, "box": {"sh (PID 1)": pid}}`` -> who shares what.

    Reads ``/proc/PID/ns/*`` of each process once (root can read anyone's).
    """
    processes = []
    for side, members in sides.items():
        for label, pid in members.items():
            inodes = namespaces_of(pid)
            processes.append(Process(label, side, pid, tuple((t, inodes[t]) for t in types if t in inodes)))
    return group(tuple(sides), tuple(processes))


def group(sides: tuple[str, ...], processes: tuple[Process, ...]) -> NamespaceMap:
    """Group the processes by the inode of each of their namespaces (labels must differ)."""
    labels = [p.label for p in processes]
    if len(set(labels)) != len(labels):
        raise ValueError(say(f"give every process its own label: {labels}", f"每个进程要有自己的标签：{labels}"))
    members: dict[tuple[str, int], list[str]] = {}
    for p in processes:
        for ns_type, inode in p.namespaces:
            members.setdefault((ns_type, inode), []).append(p.label)
    order = {p.label: i for i, p in enumerate(processes)}
    namespaces = sorted((Namespace(t, ino, tuple(m)) for (t, ino), m in members.items()),
                        key=lambda ns: (ns.type, order[ns.members[0]]))
    return NamespaceMap(sides, processes, tuple(namespaces))


def shared(data: NamespaceMap, a: str, b: str) -> dict[str, bool]:
    """For each type: do processes ``a`` and ``b`` (labels) share that namespace?"""
    found = {p.label: dict(p.namespaces) for p in data.processes}
    return {t: found[a][t] == found[b][t] for t in sorted(set(found[a]) & set(found[b]))}


def namespaces_text(data: NamespaceMap) -> str:
    """The text twin, like ``lsns``: one line per namespace with the processes in it."""
    width = max(columns.width(ns.name) for ns in data.namespaces)
    lines = [f"{columns.ljust('NS', width)}  {say('PROCESSES', '进程')}"]  # NS: lsns's own heading
    lines += [f"{columns.ljust(ns.name, width)}  {say(', '.join(ns.members), '、'.join(ns.members))}"
              for ns in data.namespaces]
    return "\n".join(lines) + "\n"


def namespaces_dot(data: NamespaceMap) -> str:
    """A table: a column per process (grouped by side), a row per namespace type.

    Neighbouring processes in the same namespace share one cell, so what a
    container shares with the host shows as a cell that spans both sides.
    """
    cells = [_row([(side, sum(p.side == side for p in data.processes), "white") for side in data.sides], "", bold=True),
             _row([(p.label, 1, _colour(data, p.side)) for p in data.processes], "")]
    for ns_type in sorted({t for p in data.processes for t, _ in p.namespaces}):
        cells.append(_row(_runs(data, ns_type), ns_type))
    # the legend in words and marks, not colour alone: a shared cell also says "shared"
    cells.append(f'<TR><TD ALIGN="LEFT" COLSPAN="{len(data.processes) + 1}">{dotlang.escape(_legend())}</TD></TR>')
    table = dotlang.Html('<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" CELLPADDING="4">' + "".join(cells)
                         + "</TABLE>")
    return dotlang.digraph("namespaces", [dotlang.node("namespaces", shape="plain", label=table)])


def _runs(data: NamespaceMap, ns_type: str) -> list[tuple[object, int, str]]:
    """(inode, how many neighbouring processes share it, colour) along the row of one type."""
    by_inode = {(ns.type, ns.inode): ns for ns in data.namespaces}
    runs = []
    for inode, run in groupby(data.processes, key=lambda p: dict(p.namespaces).get(ns_type)):
        side = data.side_of(by_inode[ns_type, inode]) if inode else ""
        colour = _colour(data, side) if inode else "white"
        runs.append((f"{inode} {_shared()}" if inode and side is None else inode or "", len(list(run)), colour))
    return runs


def _shared() -> str:
    return say("⇔ shared", "⇔ 共享")


def _legend() -> str:
    return say(f'one cell per namespace; "{_shared()}" (green): one namespace both sides are in; else each side\'s own',
               f"每格一个命名空间；“{_shared()}”（绿色）：两边同在的一个命名空间；其余各归一边")


def _colour(data: NamespaceMap, side: str | None) -> str:
    """The first side blue, the others yellow; a namespace shared across sides green."""
    return "palegreen" if side is None else "lightblue" if side == data.sides[0] else "khaki"


def _row(cells: list[tuple[object, int, str]], title: str, bold: bool = False) -> str:
    """One table row: a title cell, then (text, columns spanned, background) cells."""
    text = (lambda t: f"<B>{dotlang.escape(t)}</B>") if bold else dotlang.escape
    return (f'<TR><TD ALIGN="LEFT">{dotlang.escape(title)}</TD>'
            + "".join(f'<TD COLSPAN="{span}" BGCOLOR="{colour}">{text(t)}</TD>' for t, span, colour in cells)
            + "</TR>")
