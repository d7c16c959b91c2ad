"""Chapter 06's exercises (export/import versus save/load): one checker each.

They look at the images in the store (their layers by DiffID, their configs), the containers run
from them (what they printed), and the archives in the chapter's working directory.
"""

from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path

from ...api.client import Client
from ..lang import say
from .checking import NotYet, containers_where, exercise, image_or_hint, need

SNAPSHOT = "snapshot.tar"   # the chapter's `minidock export test > snapshot.tar`


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return "sha256:" + digest.hexdigest()


@exercise("06-export-import-vs-save-load", 1)
def import_with_changes(client: Client) -> str:
    """``mine:flat``: snapshot.tar imported (its one layer is the tar itself) with a CMD that prints
    /hello.txt and ``GREETING=hi``; and a container of it that printed ``hello`` by itself."""
    image = image_or_hint(client, "mine:flat", say("import snapshot.tar as mine:flat",
                                                   "把 snapshot.tar 导入为 mine:flat"))
    if not Path(SNAPSHOT).is_file():
        raise NotYet(say(f"there is no {SNAPSHOT} here to compare with: run the chapter's export cell again",
                         f"这里没有 {SNAPSHOT} 可以比对：请重新运行本章导出（export）的那个单元格"))
    layers = image.attrs["RootFS"]["Layers"]
    # import keeps the tar byte for byte as the image's one layer: its DiffID is the tar's sha256
    if layers != [_sha256(Path(SNAPSHOT))]:
        raise NotYet(say(f"mine:flat has {len(layers)} layer(s), not the one layer that is {SNAPSHOT}: "
                         "import the export (commit and build stack a layer on busybox's)",
                         f"mine:flat 有 {len(layers)} 层，而不是 {SNAPSHOT} 本身那一层：请导入（import）"
                         "导出的快照（commit 和 build 会在 busybox 的层上再叠一层）"))
    config = image.attrs["Config"]
    if "GREETING=hi" not in (config["Env"] or []):
        raise NotYet(say(f"mine:flat's Env is {config['Env']}: give it GREETING=hi as you import (-c 'ENV ...')",
                         f"mine:flat 的 Env 是 {config['Env']}：导入时用 -c 'ENV ...' 加上 GREETING=hi"))
    if not config["Cmd"] and not config["Entrypoint"]:
        raise NotYet(say("mine:flat has no CMD: a container of it would not know what to run (-c 'CMD ...')",
                         "mine:flat 没有 CMD：它的容器不知道该运行什么（-c 'CMD ...'）"))
    ran = containers_where(client, lambda a: a["Config"]["Image"] in ("mine:flat", image.id)
                           and a["Config"]["Cmd"] == config["Cmd"] and not a["State"]["Running"])
    if not any(c.logs().strip() == b"hello" for c in ran):
        raise NotYet(say("no container of mine:flat has printed hello by itself yet: run one with no command "
                         "(and no --rm, so that the check sees it)",
                         "还没有哪个 mine:flat 的容器自己打印出 hello：不带命令运行一个"
                         "（不要 --rm，好让检查看得到）"))
    return say(f"one layer, {SNAPSHOT} itself; a CMD and an ENV given back by -c: what import can restore, "
               "it restores this way",
               f"只有一层，就是 {SNAPSHOT} 本身；CMD 和 ENV 由 -c 补回：import 能补回的元数据，就是这样补回的")


@exercise("06-export-import-vs-save-load", 2)
def what_save_holds(client: Client, layers=None, archive="hello.tar") -> str:
    """``hello.tar``: a save of busybox:hello alone, loaded back into a store without busybox; how many
    layer tars it holds (the learner's own archive says)."""
    if not Path(archive).is_file():
        raise NotYet(say(f"there is no {archive} here: save busybox:hello alone into it",
                         f"这里还没有 {archive}：把 busybox:hello 单独存出（save）到这个文件"))
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
    if [m["RepoTags"] for m in manifest] != [["busybox:hello"]]:
        raise NotYet(say(f"{archive} holds {[m['RepoTags'] for m in manifest]}: save busybox:hello alone",
                         f"{archive} 里有 {[m['RepoTags'] for m in manifest]}：只存出 busybox:hello 一个镜像"))
    need(layers=layers)
    count = len(manifest[0]["Layers"])
    if layers != count:
        raise NotYet(say(f"layers={layers}: not what {archive} holds; an image is every layer below it too: "
                         "count the Layers of its manifest.json",
                         f"layers={layers}：和 {archive} 里的不符；一个镜像也包括它下面的每一层："
                         "数一数 manifest.json 里的 Layers"))
    hello = image_or_hint(client, "busybox:hello", say(f"load {archive}", f"载入（load）{archive}"))
    base = hello.attrs["RootFS"]["Layers"][:1]
    kept = [i for i in client.images.list(all=True) if i.attrs["RootFS"]["Layers"] == base]
    if kept:
        raise NotYet(say(f"busybox's own image ({kept[0].short_id}) is still in the store, so it proves nothing: "
                         f"remove busybox:hello and busybox, then load {archive} alone",
                         f"busybox 自己的镜像（{kept[0].short_id}）还在本地镜像库里，这说明不了什么："
                         f"先删除 busybox:hello 和 busybox，再单独载入 {archive}"))
    return say(f"{count} layers, busybox's included: busybox:hello came back from {archive} where busybox is not",
               f"{count} 层，包括 busybox 的那一层：在没有 busybox 的地方，busybox:hello 也能从 {archive} 完整载入")
