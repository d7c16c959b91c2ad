"""The container lifecycle: four states and the commands that move a container between them.

This is the state machine of ``container.py`` drawn (docker's, without
``paused``): ``run`` is ``create`` then ``start``; a container is *exited*
when its program ends, whichever way; ``rm`` needs ``-f`` while it runs.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..lang import say
from . import dotlang, text as columns

STATES = ("created", "running", "exited", "removed")
IMAGE = "image"  # where every container starts: not a state of the container

# (from, to, commands), in the order a container usually lives them
TRANSITIONS = (
    (IMAGE, "created", "create"),
    (IMAGE, "running", "run"),
    ("created", "running", "start"),
    ("running", "exited", "stop, kill, the program ends"),
    ("exited", "running", "start, restart"),
    ("running", "running", "restart"),
    ("created", "removed", "rm"),
    ("exited", "removed", "rm"),
    ("running", "removed", "rm -f"),
)


@dataclass(frozen=True)
class Lifecycle:
    """The state machine, and the state one container is in (None: no container in particular)."""

    states: tuple[str, ...]
    transitions: tuple[tuple[str, str, str], ...]
    current: str | None = None


def state_machine(current: str | None = None) -> Lifecycle:
    """The lifecycle with ``current`` highlighted ("created", "running", "exited" or "removed")."""
    if current is not None and current not in STATES:
        raise ValueError(say(f"unknown state {current!r}; the states are {', '.join(STATES)}",
                             f"没有 {current!r} 这个状态；状态有 {', '.join(STATES)}"))
    return Lifecycle(STATES, TRANSITIONS, current)


def lifecycle_of(client, name: str) -> Lifecycle:
    """The lifecycle of the container called ``name``: "removed" once it is gone."""
    from ...errors import NotFound

    try:
        return state_machine(client.containers.get(name).status)
    except NotFound:
        return state_machine("removed")


def _name(state: str) -> str:
    """A state as Docker prints it in both editions; the image, which is not a state, in the edition's words."""
    return say(IMAGE, "镜像") if state == IMAGE else state


def _commands(commands: str) -> str:
    """An edge's label: Docker's commands as they are, "the program ends" in the edition's words."""
    return commands.replace("the program ends", say("the program ends", "程序结束"))


def lifecycle_text(data: Lifecycle) -> str:
    """The text twin: the states (the current one in [brackets]), then one line per edge."""
    states = ", ".join(f"[{s}]" if s == data.current else s for s in data.states)
    width = max(columns.width(_name(a)) for a, _, _ in data.transitions)
    edges = [f"{columns.ljust(_name(a), width)} --{_commands(cmd)}--> {b}" for a, b, cmd in data.transitions]
    return "\n".join([say(f"states: {states}", f"状态：{states}"), *edges]) + "\n"


def lifecycle_dot(data: Lifecycle) -> str:
    """The state machine as a graph, the current state filled."""
    label = _name(IMAGE)
    body = [dotlang.node(IMAGE, shape="box", style="rounded,dashed", label=None if label == IMAGE else label)]
    for state in data.states:
        now = state == data.current
        body.append(dotlang.node(state, shape="doublecircle" if state == "removed" else "ellipse",
                                 style="filled" if now else None, fillcolor="gold" if now else None,
                                 penwidth="2" if now else None))
    for a, b, cmd in data.transitions:
        body.append(dotlang.edge(a, b, label=_commands(cmd)))
    return dotlang.digraph("lifecycle", body, rankdir="LR")
