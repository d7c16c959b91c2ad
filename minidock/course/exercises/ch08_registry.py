"""Chapter 08's exercises (registries): one checker each.

Both look at the chapter's registry (``$REGISTRY``, its files in the chapter's store) and at the
store's event journal, which has a ``push`` event for each push.  How many layers a push sent is
not taken on trust: a layer the push uploaded is a blob the registry wrote between that push and
the one before it (a blob is written once, when its upload completes; "Layer already exists" and
"Mounted from" write none).  So the answer is held to what the learner's own push did.
"""

from __future__ import annotations

import os
import tarfile
import time

from ...api.client import Client
from ..lang import say
from .checking import NotYet, exercise, need

REGISTRY_DIR = "registry"  # course.registry(client) keeps the registry's files here, in the chapter's store


def registry_tags(client: Client) -> dict[str, object]:
    """``{"repo:tag": Tagged}`` of the chapter's registry (``$REGISTRY``)."""
    from ..viz.registry import registry_contents
    address = os.environ.get("REGISTRY")
    if not address:
        raise NotYet(say("no registry: run `registry = course.registry(client)` first",
                         "还没有注册服务器：先运行 `registry = course.registry(client)`"))
    return {f"{t.repository}:{t.tag}": t for t in registry_contents(address)}


def blob_file(client: Client, digest: str):
    """The file in which the chapter's registry keeps the blob ``digest``."""
    return client.store.root / REGISTRY_DIR / "blobs" / "sha256" / digest.removeprefix("sha256:")


def tagged(name: str) -> str:
    """``repo`` as ``repo:latest`` (a push without a tag pushes latest); ``repo:tag`` as it is."""
    return name if ":" in name.rsplit("/", 1)[-1] else name + ":latest"


def sent_by_last_push(client: Client, name: str, layers: list[str]) -> int | None:
    """How many of ``layers`` the last push of ``name`` (``repo:tag``) uploaded; None if it was never pushed.

    A push's window runs from the push before it (of any name) to its own ``push`` event: the
    blobs the registry wrote in that window are the ones this push sent."""
    pushes = [(e["timeNano"], e["Actor"]["ID"]) for e in client.events(since=0, until=time.time())
              if e["Type"] == "image" and e["Action"] == "push"]
    mine = [i for i, (_, pushed) in enumerate(pushes) if tagged(pushed.split("/", 1)[-1]) == name]
    if not mine:
        return None
    end, start = pushes[mine[-1]][0], pushes[mine[-1] - 1][0] if mine[-1] else 0
    written = [blob_file(client, layer).stat().st_mtime_ns for layer in layers]
    return sum(start < when <= end for when in written)


def layer_names(client: Client, digest: str) -> set[str]:
    """The paths in a layer blob of the registry (an uncompressed tar, as minidock pushes them)."""
    with tarfile.open(blob_file(client, digest)) as tar:
        return {"/" + member.name.lstrip("./") for member in tar.getmembers()}


@exercise("08-registry", 1)
def push_again(client: Client, sent=None) -> str:
    """``ouruser/sinatra:latest`` pushed: the same manifest as v2; how many layers that push sent."""
    tags = registry_tags(client)
    if "ouruser/sinatra:latest" not in tags:
        raise NotYet(say("the registry has no ouruser/sinatra:latest: give $REGISTRY/ouruser/sinatra:v2 that name "
                         "too (tag), and push it",
                         "注册服务器里还没有 ouruser/sinatra:latest：给 $REGISTRY/ouruser/sinatra:v2 再起这个名字（tag），"
                         "然后 push"))
    latest, v2 = tags["ouruser/sinatra:latest"], tags.get("ouruser/sinatra:v2")
    if v2 is None or latest.manifest != v2.manifest:
        raise NotYet(say("latest names another manifest than v2 (`registry_text` above shows both): "
                         "tag the v2 image itself, then push again",
                         "latest 指向的清单（manifest）和 v2 的不同（上面的 `registry_text` 能看到两者）："
                         "给 v2 这个镜像本身打标签，再 push 一次"))
    sent_here = sent_by_last_push(client, "ouruser/sinatra:latest", [d for d, _ in latest.layers])
    if sent_here is None:
        raise NotYet(say("the journal has no push of ouruser/sinatra:latest from this store: push it with minidock",
                         "事件日志里没有从这个存储推送 ouruser/sinatra:latest 的记录：用 minidock push 它"))
    need(sent=sent)
    if sent != sent_here:
        raise NotYet(say(f"sent={sent}: what did your push say about each layer, \"Pushed\" or \"Layer already "
                         "exists\"?",
                         f"sent={sent}：你的 push 对每一层说的是什么，\"Pushed\" 还是 \"Layer already exists\"？"))
    return say(f"{sent_here} layers sent: the same image is the same manifest, and the registry had all its blobs",
               f"发送了 {sent_here} 层：同一个镜像就是同一个清单，注册服务器已经有它的全部 blob")


@exercise("08-registry", 2)
def one_more_layer(client: Client, sent=None) -> str:
    """``ouruser/sinatra:v3``: v2's layers and one more, with ``/v3.txt``, pushed; how many layers it sent."""
    tags = registry_tags(client)
    if "ouruser/sinatra:v3" not in tags:
        raise NotYet(say("the registry has no ouruser/sinatra:v3: commit a container of v2 as "
                         "$REGISTRY/ouruser/sinatra:v3, and push it",
                         "注册服务器里还没有 ouruser/sinatra:v3：把一个 v2 的容器 commit 成 "
                         "$REGISTRY/ouruser/sinatra:v3，再 push"))
    v2 = [d for d, _ in tags["ouruser/sinatra:v2"].layers] if "ouruser/sinatra:v2" in tags else []
    v3 = [d for d, _ in tags["ouruser/sinatra:v3"].layers]
    if v3[:-1] != v2 or len(v3) != len(v2) + 1:
        raise NotYet(say(f"v3 has {len(v3)} layers, and they are not v2's {len(v2)} and one more: commit a "
                         "container of $REGISTRY/ouruser/sinatra:v2, not of busybox",
                         f"v3 有 {len(v3)} 层，但不是 v2 的 {len(v2)} 层再加一层：要 commit 的是 "
                         "$REGISTRY/ouruser/sinatra:v2 的容器，不是 busybox 的"))
    if "/v3.txt" not in layer_names(client, v3[-1]):
        raise NotYet(say("v3's own layer has no /v3.txt: the container should write it before you commit",
                         "v3 自己的那一层里没有 /v3.txt：容器要先写好它，再 commit"))
    sent_here = sent_by_last_push(client, "ouruser/sinatra:v3", v3)
    if sent_here is None:
        raise NotYet(say("the journal has no push of ouruser/sinatra:v3 from this store: push it with minidock",
                         "事件日志里没有从这个存储推送 ouruser/sinatra:v3 的记录：用 minidock push 它"))
    need(sent=sent)
    if sent != sent_here:
        raise NotYet(say(f"sent={sent}: count the \"Pushed\" lines of your last push of v3",
                         f"sent={sent}：数一数你最后一次 push v3 时的 \"Pushed\" 行"))
    return say(f"{sent_here} layer sent, {len(v3) - sent_here} already there: layers travel once",
               f"只发送了 {sent_here} 层，另外 {len(v3) - sent_here} 层已经在那里：每一层只传一次")
