"""What a registry holds: repositories, their tags, the manifests the tags name, the blobs those name.

Read through the registry's own API (``_catalog``, ``tags/list``,
manifests by tag), as any client would.  Blobs are drawn once however many
manifests name them: that sharing is why a push says "Layer already exists"
and a pull "Already exists".
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from ...display import human_size
from ...api.registry import Registry
from ..lang import say
from . import dotlang, text as columns


@dataclass(frozen=True)
class Tagged:
    """One tag: the manifest it names, and that manifest's config and layers (digest, size)."""

    repository: str
    tag: str
    manifest: str
    config: tuple[str, int]
    layers: tuple[tuple[str, int], ...]


def registry_contents(host: str) -> list[Tagged]:
    """Every tag of every repository of the registry at ``host``, sorted."""
    reg = Registry(host)
    try:
        catalog = json.loads(reg.request("GET", "/v2/_catalog").read()).get("repositories") or []
        found = []
        for repo in sorted(catalog):
            for tag in reg.tags(repo):
                data, _, digest = reg.manifest(repo, tag)
                doc = json.loads(data)
                if "config" not in doc:
                    continue  # an index: drawn by its platforms' manifests, which have tags of their own
                found.append(Tagged(repo, tag, digest, (doc["config"]["digest"], doc["config"]["size"]),
                                    tuple((l["digest"], l["size"]) for l in doc.get("layers", []))))
        return found
    finally:
        reg.close()


def _short(digest: str) -> str:
    return digest.split(":")[-1][:12]


def _blob(kind: str) -> str:
    """"config" or "layer", in the edition's words (``manifest`` stays: Docker's and the spec's own word)."""
    return say(kind, {"config": "配置", "layer": "层"}[kind])


def registry_text(data: list[Tagged]) -> str:
    """The text twin: one block per tag, then how many manifests name each layer."""
    lines = []
    width = max(columns.width(_blob(kind)) for kind in ("config", "layer"))
    for t in data:
        lines.append(f"{t.repository}:{t.tag} -> manifest {_short(t.manifest)}")
        lines.append(f"    {columns.ljust(_blob('config'), width)} {_short(t.config[0])}  {human_size(t.config[1])}")
        lines += [f"    {columns.ljust(_blob('layer'), width)} {_short(d)}  {human_size(size)}" for d, size in t.layers]
    users: dict[str, set[str]] = {}
    for t in data:
        for d, _ in t.layers:
            users.setdefault(d, set()).add(t.manifest)
    shared = sorted(d for d, manifests in users.items() if len(manifests) > 1)
    lines.append(say("layers named by more than one manifest: ", "被不止一个 manifest 引用的层：")
                 + (", ".join(_short(d) for d in shared) or say("none", "没有")))
    gloss = say("", "manifest（清单）：按 digest 列出一个镜像的配置和各层")  # once, for the English word kept
    return "\n".join(lines + ([gloss] if gloss and data else []))


def registry_dot(data: list[Tagged]) -> str:
    """Repositories (boxes of tags) -> manifests -> config and layers, each blob drawn once."""
    body: list[str] = []
    for repo in sorted({t.repository for t in data}):
        tags = [dotlang.node(f"tag {repo}:{t.tag}", label=f":{t.tag}", shape="cds")
                for t in data if t.repository == repo]
        body += dotlang.cluster(repo.replace("/", "_"), repo, tags, style="rounded")
    blobs: dict[str, tuple[str, int]] = {}
    for t in data:
        body.append(dotlang.edge(f"tag {t.repository}:{t.tag}", t.manifest))
        blobs[t.config[0]] = ("config", t.config[1])
        for d, size in t.layers:
            blobs[d] = ("layer", size)
    for manifest in sorted({t.manifest for t in data}):
        body.append(dotlang.node(manifest, label=f"manifest\n{_short(manifest)}", shape="note"))
        t = next(t for t in data if t.manifest == manifest)
        body.append(dotlang.edge(manifest, t.config[0], style="dashed"))
        body += [dotlang.edge(manifest, d) for d, _ in t.layers]
    for digest, (kind, size) in sorted(blobs.items()):
        body.append(dotlang.node(digest, label=f"{_blob(kind)} {_short(digest)}\n{human_size(size)}",
                                 shape="box" if kind == "layer" else "ellipse"))
    return dotlang.digraph("registry", body, rankdir="LR")
