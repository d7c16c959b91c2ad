"""Layers with provenance: which layer supplies each path a container sees, and what is hidden.

The union view of ``unionfs.py`` answers, for every visible path, which layer
supplies it (``lookup``), which lower layers' copies it hides and which
directories merge into it; ``hidden_by`` says what a whiteout or an opaque
directory hides.  This picture lays that out for the paths under one prefix
(``/etc`` keeps it small): one column per path, one row per layer, the
writable upper layer on top and what the container sees above it all, as
overlayfs's own documentation draws it.

Each cell is one of:

* ``top``      this layer supplies what is seen (its directory is the one ``stat`` shows)
* ``opaque``   the same, and the directory is opaque: the merge stops here
* ``merged``   a directory whose entries show through the one above
* ``shadowed`` a copy hidden under a higher layer's copy (copy-up leaves one behind)
* ``hidden``   a copy hidden by a whiteout or an opaque directory above
* ``whiteout`` the marker that deletes the name from every layer below
* ``""``       the layer has nothing there
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from ...api.system import UnionView
from ..lang import say
from . import dotlang, text as columns

COLOUR = {"top": "palegreen", "opaque": "orange", "merged": "honeydew", "shadowed": "lightgrey",
          "hidden": "lightgrey", "whiteout": "salmon", "": "white"}  # cell -> background in the picture


def cell_text(cell: str, kind: str) -> str:
    """What a cell of the picture says; "whiteout" stays as overlayfs and the OCI spec name it."""
    kind = kind_name(kind)
    return {"top": kind, "opaque": say(f"{kind}, opaque", f"{kind}，不透明"),
            "merged": say(f"{kind}, merged", f"{kind}，合并"), "shadowed": say("shadowed", "被遮盖"),
            "hidden": say("hidden", "被隐藏"), "whiteout": "whiteout", "": ""}[cell]


def kind_name(kind: str) -> str:
    """"file", "dir", "symlink" or "other", in the edition's words."""
    return say(kind, {"file": "文件", "dir": "目录", "symlink": "符号链接", "other": "其他"}.get(kind, kind))


@dataclass(frozen=True)
class Row:
    """One path: what is seen there, and what each layer has there (bottom first, like the layers)."""

    path: str
    kind: str                       # "file" | "dir" | "symlink" | "other"; for a hidden path, its lower copy's
    visible: bool
    cells: tuple[str, ...]
    hidden_by: tuple[str, str] | None = None  # ("whiteout" | "opaque", layer name) for a hidden path


@dataclass(frozen=True)
class Union:
    prefix: str
    layers: tuple[tuple[str, str], ...]  # (short name, description), bottom first; the upper last
    rows: tuple[Row, ...]                # depth first, sorted, like ``find``


def union_of(view: UnionView, prefix: str = "/", labels: list[str] | None = None) -> Union:
    """What ``view`` shows under ``prefix``, path by path; ``labels`` describe its layers, bottom first."""
    roots = [*view.layers, *([view.upper] if view.upper else [])]
    names = [str(i) for i in range(len(view.layers))] + (["upper"] if view.upper else [])
    labels = labels if labels is not None and len(labels) == len(roots) else [str(r) for r in roots]
    alone = [UnionView([root]) for root in roots]  # each layer by itself: what it has
    seen = _paths(view, prefix)
    rows = [_visible(view.lookup(path), alone, names) for path in seen]
    gone = sorted({p for layer in alone for p in _paths(layer, prefix)} - set(seen))
    rows += [_hidden(view, path, alone, names) for path in gone if posixpath.dirname(path) in seen]
    opaque = {(posixpath.dirname(r.path), r.hidden_by[1]) for r in rows if r.hidden_by and r.hidden_by[0] == "opaque"}
    rows = [_mark_opaque(r, opaque, names) for r in rows]
    return Union(prefix, tuple(zip(names, labels)), tuple(sorted(rows, key=lambda r: r.path.split("/"))))


def _paths(view: UnionView, path: str) -> list[str]:
    """``path`` and every visible path below it, depth first."""
    found = view.lookup(path)
    if found is None:
        return []
    below = view.listdir(path) if found.kind == "dir" else []
    return [path] + [p for name in below for p in _paths(view, posixpath.join(path, name))]


def _visible(found, alone: list[UnionView], names: list[str]) -> Row:
    top = len(names) - 1 if found.in_upper else found.layer
    cells = ["" for _ in names]
    for i, layer in enumerate(alone):
        if layer.lookup(found.path) is not None:
            cells[i] = "top" if i == top else "merged" if i in found.merged else "shadowed"
    return Row(found.path, found.kind, True, tuple(cells))


def _hidden(view: UnionView, path: str, alone: list[UnionView], names: list[str]) -> Row:
    why, where = view.hidden_by(path) or ("shadowed", None)
    by = len(names) - 1 if where is None else where
    copies = [layer.lookup(path) for layer in alone]
    cells = ["hidden" if c is not None else "" for c in copies]
    if why == "whiteout":
        cells[by] = "whiteout"
    kind = next(c.kind for c in copies if c is not None)
    return Row(path, kind, False, tuple(cells), (why, names[by]))


def _mark_opaque(row: Row, opaque: set[tuple[str, str]], names: list[str]) -> Row:
    """Mark the layer whose opaque directory hid something as such."""
    cells = tuple("opaque" if c == "top" and (row.path, names[i]) in opaque else c for i, c in enumerate(row.cells))
    return Row(row.path, row.kind, row.visible, cells, row.hidden_by)


# -- the views of images and containers ------------------------------------------

def image_union(image, prefix: str = "/") -> Union:
    """The layers of ``image`` (a ``client.images`` Image), read-only, under ``prefix``."""
    store = image.client.store
    view = UnionView([store.layer_dir(c) / "diff" for c in image.record.chain_ids])
    return union_of(view, prefix, layer_labels(image))


def container_union(container, prefix: str = "/") -> Union:
    """A container's file system: its image's layers, the init layer and its writable upper layer."""
    view = container.client.containers.containers.view(container.id)
    labels = layer_labels(container.image)
    if len(view.layers) == len(labels) + 1:
        labels += [say("init: empty /etc/hosts, /etc/hostname, ... to mount over",
                       "init 层：空的 /etc/hosts、/etc/hostname 等，留给挂载覆盖")]
    return union_of(view, prefix, labels + [say("the container's writable layer", "容器的可写层")])


def layer_labels(image) -> list[str]:
    """One line per layer, bottom first: its DiffID, short, and the step that made it (from the history)."""
    history = image.record.config.get("history") or []
    steps = [h.get("created_by") or h.get("comment") or "" for h in history if not h.get("empty_layer")]
    diff_ids = image.record.diff_ids
    steps = steps if len(steps) == len(diff_ids) else [""] * len(diff_ids)
    return [f"{d.removeprefix('sha256:')[:12]}  {columns.cut(s, 44)}".rstrip() for d, s in zip(diff_ids, steps)]


# -- the two renderings ---------------------------------------------------------

def layers_text(data: Union) -> str:
    """The text twin: the layers, top first, then a tree of the paths and where each comes from."""
    width = max(columns.width(name) for name, _ in data.layers)
    lines = [say("layers, top first:", "各层，从上到下：")]
    lines += [f"  {columns.ljust(name, width)}  {label}" for name, label in reversed(data.layers)]
    tree = _tree(data) or [(data.prefix, say("nothing here in any layer", "哪一层在这里都没有东西"))]
    column = max(columns.width(branch) for branch, _ in tree) + 2
    lines += [""] + [f"{columns.ljust(branch, column)}{what}" for branch, what in tree]
    return "\n".join(lines + _legend(data)) + "\n"


def _legend(data: Union) -> list[str]:
    """The Chinese edition names overlayfs's terms once, beside the English ones it keeps (none in English)."""
    cells = {c for row in data.rows for c in row.cells}
    legend = [say("", "whiteout（白障）：上层删除下层文件时留下的标记")] if "whiteout" in cells else []
    legend += [say("", "opaque（不透明）目录：下层同名目录的内容不再透出")] if "opaque" in cells else []
    return [""] + legend if any(legend) else []


def _tree(data: Union) -> list[tuple[str, str]]:
    """(tree-drawn name, where it comes from) for each row, like ``tree``'s lines."""
    out = []
    for row in data.rows:
        depth = row.path.count("/") - data.prefix.rstrip("/").count("/")
        if depth == 0:
            out.append((row.path, _where(row, data)))
            continue
        siblings = [r.path for r in data.rows if posixpath.dirname(r.path) == posixpath.dirname(row.path)]
        ancestors = [posixpath.dirname(row.path)]
        while len(ancestors) < depth:
            ancestors.insert(0, posixpath.dirname(ancestors[0]))
        lead = "".join("    " if _is_last(a, data) else "│   " for a in ancestors[1:])
        out.append((lead + ("└── " if siblings[-1] == row.path else "├── ") + posixpath.basename(row.path),
                    _where(row, data)))
    return out


def _is_last(path: str, data: Union) -> bool:
    siblings = [r.path for r in data.rows if posixpath.dirname(r.path) == posixpath.dirname(path)]
    return siblings[-1] == path


def _where(row: Row, data: Union) -> str:
    names = [name for name, _ in data.layers]
    having = {state: [n for n, c in zip(names, row.cells) if c == state] for state in set(row.cells)}
    if not row.visible:
        why, by = row.hidden_by
        hid, hid_zh = ", ".join(having.get("hidden", [])), "、".join(having.get("hidden", []))
        text = {"whiteout": say(f"whiteout in {by} hides {hid}", f"层 {by} 的 whiteout 遮住 {hid_zh}"),
                "opaque": say(f"opaque directory in {by} hides {hid}", f"层 {by} 的 opaque 目录遮住 {hid_zh}")}
        return "✗ " + text.get(why, say(f"covered in {by} hides {hid}", f"层 {by} 的同名文件遮住 {hid_zh}"))
    top = (having.get("top") or having.get("opaque"))[0]
    text = columns.ljust(kind_name(row.kind), 4) + say(f" {top}", f" 来自 {top}")
    text += say(" (opaque)", "（opaque）") if "opaque" in having else ""
    if "merged" in having:
        text += say(f", merged with {', '.join(reversed(having['merged']))}",
                    f"，与 {'、'.join(reversed(having['merged']))} 合并")
    if "shadowed" in having:
        text += say(f", hides {', '.join(reversed(having['shadowed']))}",
                    f"，遮住 {'、'.join(reversed(having['shadowed']))}")
    return text


def layers_dot(data: Union) -> str:
    """One table: a column per path, a row per layer (top first), what the container sees on top."""
    rel = [posixpath.relpath(r.path, data.prefix) if r.path != data.prefix else r.path for r in data.rows]
    head = "<TR><TD></TD>" + "".join(f"<TD><B>{dotlang.escape(p)}</B></TD>" for p in rel) + "</TR>"
    seen = f"<TR><TD ALIGN=\"LEFT\"><B>{dotlang.escape(say('what is seen', '看到的是'))}</B></TD>" + "".join(
        _cell(kind_name(r.kind) if r.visible else say("(gone)", "（已不见）"), "palegreen" if r.visible else "white")
        for r in data.rows) + "</TR>"
    rows = [head, seen]
    for i in reversed(range(len(data.layers))):
        name, label = data.layers[i]
        title = f"<TD ALIGN=\"LEFT\" BALIGN=\"LEFT\">{dotlang.escape(name)}<BR/>" \
                f"<FONT POINT-SIZE=\"8\">{dotlang.escape(label)}</FONT></TD>"
        rows.append("<TR>" + title + "".join(_cell(*_style(r, i)) for r in data.rows) + "</TR>")
    table = dotlang.Html('<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" CELLPADDING="4">' + "".join(rows) + "</TABLE>")
    return dotlang.digraph("layers", [dotlang.node("union", shape="plain", label=table)],
                           label=say(f"{data.prefix} through the layers", f"{data.prefix} 在各层中"), labelloc="t")


def _style(row: Row, i: int) -> tuple[str, str]:
    return cell_text(row.cells[i], row.kind), COLOUR[row.cells[i]]


def _cell(text: str, colour: str) -> str:
    return f'<TD BGCOLOR="{colour}">{dotlang.escape(text)}</TD>'
