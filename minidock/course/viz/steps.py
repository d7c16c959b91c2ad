"""An image's build steps: which instructions added a filesystem layer, and which only changed the config.

Read from the image's history (what ``minidock history`` prints), oldest
first.  A step that changed files (RUN, COPY, ADD, a WORKDIR that made its
directory, or an import) is a layer and has a size; ``MAINTAINER``, ``ENV``,
``CMD`` and the like, and a RUN that changed nothing, are history entries
marked ``empty_layer`` (Docker's classic builder): the seed's "every
instruction makes a layer" is true of the images, not of the layers.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...display import human_size
from ..lang import say
from . import dotlang, text as columns


@dataclass(frozen=True)
class Step:
    """One history entry: the image it made (short ID or <missing>), what made it, its layer's size."""
    image: str
    created_by: str
    size: int
    layer: bool


def steps_of(image) -> list[Step]:
    """The steps of ``image`` (a ``client.images.get(...)``), oldest first."""
    steps = []
    entries = image.record.config.get("history") or []
    for row, entry in zip(reversed(image.history()), entries):
        short = row["Id"] if row["Id"] == "<missing>" else row["Id"].split(":")[1][:12]
        text = row["CreatedBy"].replace("/bin/sh -c #(nop)  ", "").replace("/bin/sh -c #(nop) ", "")
        steps.append(Step(short, text, row["Size"], not entry.get("empty_layer", False)))
    return steps


def steps_text(steps: list[Step], width: int = 60) -> str:
    """The text twin: one line a step, a layer marked with its size, config-only steps with "-"."""
    lines = []
    for s in steps:
        size = human_size(s.size) if s.layer else "-"
        lines.append(f"{columns.ljust(s.image, 12)}  {columns.rjust(size, 8)}  {columns.cut(s.created_by, width)}")
    layers = sum(s.layer for s in steps)
    lines.append(say(f"{len(steps)} steps, {layers} of them filesystem layers",
                     f"{len(steps)} 步，其中 {layers} 步产生了文件系统层"))
    return "\n".join(lines)


def steps_dot(steps: list[Step], width: int = 48) -> str:
    """A chain from the oldest step down: layers as solid boxes, config-only steps dashed."""
    body = []
    for n, s in enumerate(steps):
        size = human_size(s.size) if s.layer else say("config only", "只改配置")
        label = f"{columns.cut(s.created_by, width)}\n{s.image}  {size}"
        body.append(dotlang.node(f"step{n}", label=label, shape="box",
                                 style="filled" if s.layer else "dashed", fillcolor="lightblue" if s.layer else None))
        if n:
            body.append(dotlang.edge(f"step{n - 1}", f"step{n}"))
    return dotlang.digraph("build steps", body)
