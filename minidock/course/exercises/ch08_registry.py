"""Chapter 08's exercises (registries): one checker each."""

from __future__ import annotations

import os

from ...api.client import Client
from .checking import NotYet, exercise, need


def registry_tags(client: Client) -> dict[str, object]:
    """``{"repo:tag": Tagged}`` of the chapter's registry (``$REGISTRY``)."""
    from ..viz.registry import registry_contents
    address = os.environ.get("REGISTRY")
    if not address:
        raise NotYet("no registry: run `registry = course.registry(client)` first")
    return {f"{t.repository}:{t.tag}": t for t in registry_contents(address)}


@exercise("08-registry", 1)
def push_again(client: Client, sent=None) -> str:
    """``ouruser/sinatra:latest`` pushed: the same manifest as v2; how many layers were sent."""
    tags = registry_tags(client)
    if "ouruser/sinatra:latest" not in tags:
        raise NotYet("the registry has no ouruser/sinatra:latest: tag $REGISTRY/ouruser/sinatra:v2 so, and push")
    if tags["ouruser/sinatra:latest"].manifest != tags["ouruser/sinatra:v2"].manifest:
        raise NotYet("latest names another manifest than v2: tag the v2 image, not another")
    need(sent=sent)
    if sent != 0:
        raise NotYet(f"sent={sent}: what did the push say about each layer?")
    return "nothing sent: the same image is the same manifest, and the registry has all its blobs"


@exercise("08-registry", 2)
def one_more_layer(client: Client, sent=None) -> str:
    """``ouruser/sinatra:v3``: v2 and one more layer, pushed; how many layers were sent."""
    tags = registry_tags(client)
    if "ouruser/sinatra:v3" not in tags:
        raise NotYet("the registry has no ouruser/sinatra:v3: commit a container of v2 as $REGISTRY/ouruser/sinatra:v3, push it")
    v2, v3 = tags["ouruser/sinatra:v2"].layers, tags["ouruser/sinatra:v3"].layers
    if v3[:-1] != v2 or len(v3) != len(v2) + 1:
        raise NotYet(f"v3 has {len(v3)} layers: it should be v2's {len(v2)} and one more (commit a container of v2)")
    need(sent=sent)
    if sent != 1:
        raise NotYet(f"sent={sent}: count the 'Pushed' lines")
    return "one layer sent, two already there: layers travel once"
