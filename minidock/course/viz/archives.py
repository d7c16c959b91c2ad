"""What a ``save`` archive holds beside what an ``export`` holds, by kind.

A ``save`` archive describes images: ``manifest.json`` (and the OCI layout's
``index.json``, ``oci-layout`` and manifests) names each image's tags, its
config (history, CMD, ...) and its layer tars, each layer a tar of its own,
whiteouts included.  An ``export`` is one flat tree, the container's file
system as it stood: no manifest, no config, no layers, so ``import`` can only
make a one-layer image with an empty config from it.  Read with ``tarfile``
from the archive itself, as any tool would; nothing is loaded.
"""

from __future__ import annotations

import json
import os
import tarfile
from dataclasses import dataclass

from ...display import human_size
from ..lang import say
from . import dotlang, text as columns

KINDS = ("manifest", "config", "layer tar", "file")
# docker-archive's and the OCI image layout's own files: they say what the archive holds
DESCRIPTORS = ("index.json", "manifest.json", "oci-layout", "repositories")


@dataclass(frozen=True)
class Entry:
    """One thing in an archive; in an export, a top-level directory stands for everything under it."""
    kind: str
    name: str
    size: int
    note: str = ""


@dataclass(frozen=True)
class Archive:
    """An archive's file name and size, whether ``save`` or ``export`` made it, what it holds.

    ``links`` are (from, to, label): ``manifest.json`` names each image's config,
    the config names its layers (its ``rootfs.diff_ids``).
    """
    name: str
    size: int
    made_by: str
    entries: tuple[Entry, ...]
    links: tuple[tuple[str, str, str], ...] = ()


def archive_contents(path: str | os.PathLike) -> Archive:
    """Read the tar at ``path``: a save archive (it has ``manifest.json`` or ``index.json``) or an export."""
    with tarfile.open(path) as tar:
        members = {m.name.removeprefix("./").rstrip("/"): m for m in tar.getmembers() if m.name not in (".", "./")}
        if "manifest.json" in members or "index.json" in members:
            entries, links = _saved(tar, members)
            made_by = "save"
        else:
            entries, links = _exported(members), []
            made_by = "export"
    order = {kind: n for n, kind in enumerate(KINDS)}
    entries.sort(key=lambda e: (order[e.kind], e.name))
    return Archive(os.path.basename(path), os.path.getsize(path), made_by, tuple(entries), tuple(links))


def _saved(tar: tarfile.TarFile, members: dict) -> tuple[list[Entry], list[tuple[str, str, str]]]:
    """A save archive's files by what ``manifest.json`` and ``index.json`` say they are."""
    images = json.load(tar.extractfile(members["manifest.json"])) if "manifest.json" in members else []
    kinds: dict[str, tuple[str, str]] = {name: ("manifest", "") for name in DESCRIPTORS if name in members}
    links = []
    for image in images:
        tags = ", ".join(image.get("RepoTags") or []) or say("no tag", "没有标签")
        kinds[image["Config"]] = ("config", tags)
        links.append(("manifest.json", image["Config"], tags))
        links += [(image["Config"], layer, "") for layer in image["Layers"]]
        for layer in image["Layers"]:
            kinds[layer] = ("layer tar", _layer_note(tar, members[layer]))
    if "index.json" in members:
        for desc in json.load(tar.extractfile(members["index.json"])).get("manifests", []):
            kinds.setdefault("blobs/" + desc["digest"].replace(":", "/"), ("manifest", "OCI manifest"))
    entries = []
    for name, m in members.items():
        if not m.isdir():  # blobs/ and blobs/sha256/ only hold the blobs
            kind, note = kinds.get(name, ("file", ""))
            entries.append(Entry(kind, name, m.size, note))
    return entries, sorted(set(links))


def _layer_note(tar: tarfile.TarFile, member: tarfile.TarInfo) -> str:
    """How many entries a layer tar has, and how many of them are whiteouts (deletions)."""
    with tarfile.open(fileobj=tar.extractfile(member)) as layer:
        names = layer.getnames()
    whiteouts = sum(os.path.basename(n).startswith(".wh.") for n in names)
    return _entries(len(names)) + (say(f", {whiteouts} whiteout{'s' * (whiteouts != 1)}",
                                       f"，其中 {whiteouts} 个 whiteout") if whiteouts else "")


def _entries(count: int) -> str:
    """"N entries": what a layer tar or an exported directory holds."""
    return say(f"{count} entries", f"{count} 个条目")


def _exported(members: dict) -> list[Entry]:
    """An export's flat tree, one entry per top-level name: how many entries, how many bytes of files."""
    tops: dict[str, list[tarfile.TarInfo]] = {}
    for name, m in members.items():
        top = name.split("/")[0]
        tops.setdefault(top + "/" if ("/" in name or m.isdir()) else top, []).append(m)
    return [Entry("file", top, sum(m.size for m in ms if m.isreg()),
                  _entries(len(ms)) if len(ms) > 1 else "")
            for top, ms in tops.items()]


def _shown(name: str) -> str:
    """A blob's name shortened as docker shortens IDs, to a few hex digits."""
    return name[: len("blobs/sha256/") + 8] + "…" if name.startswith("blobs/sha256/") else name


def _column(entries: list[Entry]) -> list[str]:
    return [f"{columns.ljust(_shown(e.name), 23)}{columns.rjust(human_size(e.size), 7)}  {e.note}".rstrip()
            for e in entries] or ["-"]


def kind_name(kind: str) -> str:
    """One of ``KINDS`` in the edition's words ("manifest" stays: Docker's and the spec's own word)."""
    return say(kind, {"manifest": "manifest", "config": "配置", "layer tar": "层 tar", "file": "文件"}[kind])


def archives_text(a: Archive, b: Archive) -> str:
    """The text twin: the two archives side by side, one band of rows per kind, "-" where one has none."""
    bands = [(kind_name(kind), _column([e for e in a.entries if e.kind == kind]),
              _column([e for e in b.entries if e.kind == kind])) for kind in KINDS]
    titles = [f"{x.name} ({x.made_by}, {human_size(x.size)})" for x in (a, b)]
    width = max(columns.width(cell) for cell in [titles[0], *(c for _, left, _ in bands for c in left)]) + 4
    lines = [f"{'':<11}{columns.ljust(titles[0], width)}{titles[1]}"]
    for kind, left, right in bands:
        for n in range(max(len(left), len(right))):
            cells = (left[n] if n < len(left) else "", right[n] if n < len(right) else "")
            lines.append(f"{columns.ljust(kind if n == 0 else '', 11)}{columns.ljust(cells[0], width)}{cells[1]}"
                         .rstrip())
    gloss = say("", "whiteout（白障）：层 tar 里名为 .wh.NAME 的空文件，表示删除下面各层的 NAME")
    if gloss and any("whiteout" in e.note for x in (a, b) for e in x.entries):
        lines += ["", gloss]  # once, for the English word the Chinese edition keeps
    return "\n".join(lines)


def _label(e: Entry) -> str:
    size = human_size(e.size) if e.size or not e.name.endswith("/") else ""
    return "\n".join(filter(None, [_shown(e.name), e.note, size]))


def _cluster(archive: Archive, key: str) -> tuple[list[str], str, str]:
    """One archive as a box (manifests as notes, configs as ellipses, tars as boxes), its first and last node."""
    shapes = {"manifest": "note", "config": "ellipse", "layer tar": "box3d", "file": "folder"}
    names = [f"{key}:{e.name}" for e in archive.entries]
    body = [dotlang.node(name, label=_label(e), shape=shapes[e.kind]) for name, e in zip(names, archive.entries)]
    if archive.made_by == "export":  # one tree from /, nothing else
        names.insert(0, f"{key}:/")
        body.append(dotlang.node(names[0], label="/", shape="folder"))
        body += [dotlang.edge(names[0], name) for name in names[1:]]
    body += [dotlang.edge(f"{key}:{tail}", f"{key}:{head}", label=label or None,
                          style="dashed" if tail != "manifest.json" else None)
             for tail, head, label in archive.links]
    title = f"{archive.name}: {archive.made_by}, {human_size(archive.size)}"
    return dotlang.cluster(key, title, body, style="rounded"), names[0], names[-1]


def archives_dot(a: Archive, b: Archive) -> str:
    """Two boxes, ``a`` left of ``b``: a save's manifest -> configs -> layers, an export's / -> its tree."""
    left, _, last = _cluster(a, "a")
    right, first, _ = _cluster(b, "b")
    # an invisible edge ranks b after a, so the boxes stand side by side rather than one above the other
    return dotlang.digraph("archives", left + right + [dotlang.edge(last, first, style="invis")], rankdir="LR")
