"""A Sphinx directive that draws minidock's layers from the table the architecture test reads.

``{layer-map}`` expands to the map of packages, top to bottom, each with what it is (the first
line of its ``__init__.py`` docstring) and what it may import (``minidock.LAYERS``): the same
table ``tests/test_architecture.py`` holds every import to, so the picture cannot drift.
"""

from __future__ import annotations

import ast
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import Directive


def summary(package: str) -> str:
    """The first paragraph of the package's docstring."""
    import minidock
    init = Path(minidock.__file__).parent / package / "__init__.py"
    doc = ast.get_docstring(ast.parse(init.read_text())) or ""
    return doc.split("\n\n")[0].replace("\n", " ").replace("``", "")


def map_text() -> str:
    """The layers as text, top to bottom, with the flat modules every layer may use."""
    from minidock import FLAT, LAYERS
    width = max(len(p) for p in LAYERS) + 2
    lines = [f"{p + '/':<{width}}-> {', '.join(LAYERS[p]) or 'nothing of minidock'}" for p in LAYERS]
    return "\n".join(lines + ["", f"every package may use: {', '.join(m + '.py' for m in FLAT)}"])


class LayerMap(Directive):
    def run(self):
        from minidock import LAYERS
        table = nodes.table()
        group = nodes.tgroup(cols=3)
        table += group
        for width in (15, 55, 30):
            group += nodes.colspec(colwidth=width)
        head, body = nodes.thead(), nodes.tbody()
        group += head
        group += body
        head += self.row("package", "what it is", "may import")
        for package, below in LAYERS.items():
            body += self.row(f"minidock/{package}/", summary(package), ", ".join(below) or "(only the flat modules)")
        return [nodes.literal_block(text=map_text()), table]

    @staticmethod
    def row(*cells: str):
        row = nodes.row()
        for text in cells:
            entry = nodes.entry()
            entry += nodes.paragraph(text=text)
            row += entry
        return row


def setup(app):
    app.add_directive("layer-map", LayerMap)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
