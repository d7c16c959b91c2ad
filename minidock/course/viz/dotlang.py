"""The dot language, written as plain text: quoting, nodes, edges, clusters, a whole graph.

Every picture in ``minidock.course.viz`` is a function that returns dot *source*, as
"500 Lines or Less" ``rendering.as_graphviz(graph)`` does: text that is easy to
read, to diff and to test, and that comes out the same for the same data
(callers sort what they draw; attributes are written in sorted order; node
names come from the data, never from ``id()`` or a counter of random order).
``svg(dot)`` turns it into something a notebook shows.
"""

from __future__ import annotations

import html

FONT = "monospace"  # fixed width: a label's size depends only on its length


class Html(str):
    """An HTML-like label (``label=<...>``): written without quotes; build it with ``escape``."""


def escape(text: object) -> str:
    """Text for inside an HTML-like label: ``&``, ``<``, ``>`` and quotes escaped."""
    return html.escape(str(text))


def quote(text: object) -> str:
    """A dot string: in double quotes, with backslashes and quotes escaped and newlines as ``\\n``."""
    body = str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{body}"'


def attributes(attrs: dict) -> str:
    """`` [a="1", b="2"]``, sorted by name and without the ``None`` ones; "" when none are left."""
    items = [f"{key}={f'<{value}>' if isinstance(value, Html) else quote(value)}"
             for key, value in sorted(attrs.items()) if value is not None]
    return f" [{', '.join(items)}]" if items else ""


def node(name: str, **attrs) -> str:
    """One node statement."""
    return f"  {quote(name)}{attributes(attrs)};"


def edge(tail: str, head: str, **attrs) -> str:
    """One edge statement (``tail -> head``)."""
    return f"  {quote(tail)} -> {quote(head)}{attributes(attrs)};"


def cluster(name: str, label: str, body: list[str], **attrs) -> list[str]:
    """A subgraph drawn as a box around its nodes (dot draws it only if its name starts with "cluster")."""
    head = f"  subgraph {quote('cluster_' + name)} {{"
    settings = f"  graph{attributes({'label': label, **attrs})};"
    return [head, "  " + settings, *("  " + line for line in body), "  }"]


def same_rank(names: list[str]) -> str:
    """Keep these nodes on one row (one column with ``rankdir=LR``)."""
    return "  {rank=same; " + " ".join(quote(n) for n in names) + "}"


def digraph(name: str, body: list[str], **attrs) -> str:
    """A whole directed graph: its settings, then ``body`` in the order given."""
    lines = [f"digraph {quote(name)} {{",
             f"  graph{attributes({'fontname': FONT, **attrs})};",
             f"  node{attributes({'fontname': FONT, 'fontsize': '11'})};",
             f"  edge{attributes({'fontname': FONT, 'fontsize': '10'})};",
             *body, "}"]
    return "\n".join(lines) + "\n"


MAX_WIDTH_PX = 1000   # a picture no wider than the page of the notebook or the docs


def fit_width(svg_text: str, max_px: int = MAX_WIDTH_PX) -> str:
    """Scale an SVG wider than ``max_px`` down to it (dot gives its size in points, 3/4 of a CSS px);
    its viewBox keeps the drawing whole, only its displayed size changes."""
    import re
    size = re.search(r'<svg width="([\d.]+)pt" height="([\d.]+)pt"', svg_text)
    if not size:
        return svg_text
    width, height = float(size[1]) * 4 / 3, float(size[2]) * 4 / 3
    if width <= max_px:
        return svg_text
    scaled = f'<svg width="{max_px}px" height="{height * max_px / width:.0f}px"'
    return svg_text[:size.start()] + scaled + svg_text[size.end():]


def svg(dot: str):
    """The picture, for a notebook: a ``graphviz.Source``, which Jupyter shows as SVG.

    Its ``repr`` (the text/plain Jupyter stores beside the SVG) names the graph
    instead of a memory address, so a notebook's stored output is the same every run.
    """
    import graphviz  # only notebooks need it

    class Picture(graphviz.Source):
        def __repr__(self) -> str:
            name = self.source.split('"')[1] if self.source.startswith('digraph "') else "graph"
            return f"<picture: {name}>"

        def _repr_image_svg_xml(self) -> str:
            return fit_width(super()._repr_image_svg_xml())

    return Picture(dot)
