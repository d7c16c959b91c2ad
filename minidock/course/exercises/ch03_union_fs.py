"""Chapter 03's exercises (union fs): one checker each, reading containers' upper layers, image layers
and the directories the learner mounted in the working directory."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ...api.client import Client
from ..lang import say
from .checking import (NotYet, container_or_hint, containers_where, exercise, image_or_hint, names, need,
                       same_digest)

OPAQUE = "trusted.overlay.opaque"


@exercise("03-union-fs", 1)
def whiteout_of_your_own(client: Client) -> str:
    """``/etc/skel/.shrc`` deleted in ``box``: in its diff, and a whiteout in its upper layer."""
    box = container_or_hint(client, "box", say("run the chapter from the top", "从头运行本章"))
    if {"Path": "/etc/skel/.shrc", "Kind": 2} not in box.diff():
        raise NotYet(say("`minidock diff box` has no D /etc/skel/.shrc: delete it inside box itself, with exec "
                         "(a new container has an upper layer of its own)",
                         "`minidock diff box` 里没有 D /etc/skel/.shrc：要用 exec 在 box 自己里面删除它"
                         "（新容器有它自己的上层）"))
    driver = box.attrs["GraphDriver"]
    if driver["Name"] == "overlay":
        marker = os.lstat(Path(driver["Data"]["UpperDir"]) / "etc/skel/.shrc")
        if not (stat.S_ISCHR(marker.st_mode) and marker.st_rdev == 0):
            raise NotYet(say("box's upper layer has etc/skel/.shrc, but not as a whiteout (a character device 0/0)",
                             "box 的上层里有 etc/skel/.shrc，但它不是 whiteout 文件（0/0 字符设备）"))
    return say("D /etc/skel/.shrc: a whiteout (character device 0/0) in box's upper layer hides layer 2's file",
               "D /etc/skel/.shrc：box 上层里的 whiteout 文件（0/0 字符设备）遮住了第 2 层的文件")


def _has_big(client: Client, attrs: dict) -> bool:
    """Whether the container's upper layer holds a /big grown past its image's 20 MB one."""
    upper = attrs["GraphDriver"]["Data"].get("UpperDir")
    if not upper or not (Path(upper) / "big").is_file():
        return False
    image = client.images.get(attrs["Image"])
    below = [client.store.layer_dir(c) / "diff" / "big" for c in image.record.chain_ids]
    return any(p.is_file() and p.stat().st_size >= 20 << 20 for p in below) and \
        (Path(upper) / "big").stat().st_size > max(p.stat().st_size for p in below if p.is_file())


@exercise("03-union-fs", 2)
def price_of_copy_up(client: Client, upper_mb=None) -> str:
    """A container that appended to its image's 20 MB /big: its upper layer's size."""
    found = containers_where(client, lambda attrs: _has_big(client, attrs))
    if not found:
        raise NotYet(say("no container has appended to an image's 20 MB /big: commit an image with a 20 MB /big, "
                         "then append a byte to it in a new container of that image",
                         "还没有容器往镜像里 20 MB 的 /big 追加内容：先提交一个带 20 MB /big 的镜像，"
                         "再在这个镜像的新容器里往 /big 追加一个字节"))
    need(upper_mb=upper_mb)
    upper = Path(found[0].attrs["GraphDriver"]["Data"]["UpperDir"])
    size = sum(p.lstat().st_size for p in upper.rglob("*")) / (1 << 20)
    if abs(float(upper_mb) - size) > max(2, size / 10):
        raise NotYet(say(f"upper_mb={upper_mb}: measure it (du -sm on the container's UpperDir, or `minidock ps -s`)",
                         f"upper_mb={upper_mb}：量一量（对容器的 UpperDir 运行 du -sm，或用 `minidock ps -s`）"))
    return say(f"{size:.0f} MB for one byte: copy-up copies the whole file (metacopy would copy its metadata only, "
               "until the data is written)",
               f"为一个字节付出 {size:.0f} MB：copy-up（向上复制）会复制整个文件（metacopy 只复制元数据，直到写入数据）")


def _upper_docs(name: str, opaque: bool) -> set[str]:
    """The names in ``NAME/docs`` (an upper dir of the learner's), checked for the opaque xattr and mine.txt."""
    docs = Path(name) / "docs"
    if not docs.is_dir():
        raise NotYet(say(f"there is no {docs} in the working directory: make {name}/docs, empty, as an upper "
                         "directory", f"工作目录里没有 {docs}：建一个空的 {name}/docs 作为上层目录"))
    try:
        marked = os.getxattr(docs, OPAQUE) == b"y"
    except OSError:
        marked = False
    if marked != opaque:
        raise NotYet(say(f"{docs} {'has no' if opaque else 'has the'} xattr {OPAQUE}=y: "
                         f"{'set it with os.setxattr before you mount' if opaque else 'leave this one plain'}",
                         f"{docs} {'没有' if opaque else '有'}扩展属性 {OPAQUE}=y："
                         f"{'挂载之前用 os.setxattr 设置它' if opaque else '这一个保持普通目录'}"))
    found = set(os.listdir(docs))
    if "mine.txt" not in found:
        raise NotYet(say(f"{docs} has no mine.txt: mount it over cd and write merged/docs/mine.txt",
                         f"{docs} 里没有 mine.txt：把它挂载在 cd 之上，然后写 merged/docs/mine.txt"))
    return found


@exercise("03-union-fs", 3)
def opaque_by_hand(client: Client, with_xattr=None, without_xattr=None) -> str:
    """``cd/docs`` below ``opaque/docs`` and below ``plain/docs``: what ``ls merged/docs`` showed over each."""
    lower = Path("cd/docs")
    if not lower.is_dir() or len(os.listdir(lower)) < 2:
        raise NotYet(say("there is no cd/docs with two files in the working directory: make it, as section 1 "
                         "made cd", "工作目录里没有装着两个文件的 cd/docs：像第 1 节做 cd 那样建好它"))
    opaque, plain = _upper_docs("opaque", True), _upper_docs("plain", False)
    need(with_xattr=with_xattr, without_xattr=without_xattr)
    if names(with_xattr) != opaque:
        raise NotYet(say(f"with_xattr={with_xattr}: an opaque directory hides every name of the layers below; "
                         "only what the upper docs holds is seen",
                         f"with_xattr={with_xattr}：不透明目录会遮住下层的所有名字；只看得见上层 docs 里的内容"))
    merged = set(os.listdir(lower)) | plain
    if names(without_xattr) != merged:
        raise NotYet(say(f"without_xattr={without_xattr}: without the xattr, directories merge: the names of "
                         "cd/docs and of plain/docs together",
                         f"without_xattr={without_xattr}：没有这个扩展属性时目录会合并：cd/docs 和 plain/docs 的名字合在一起"))
    return say(f"opaque: {sorted(opaque)} only; plain: {sorted(merged)}, the lower files merged in",
               f"不透明：只有 {sorted(opaque)}；普通：{sorted(merged)}，下层文件合并进来")


@exercise("03-union-fs", 4)
def which_layer_deleted(client: Client, diff_id=None) -> str:
    """The DiffID of the layer of ``demo:3`` (box committed) whose whiteout hides ``/etc/issue``."""
    from ...api.system import UnionView
    demo = image_or_hint(client, "demo:3", say("commit box as demo:3", "把 box 提交为 demo:3"))
    view = UnionView([client.store.layer_dir(c) / "diff" for c in demo.record.chain_ids])
    hidden = view.hidden_by("/etc/issue")
    if hidden is None:
        raise NotYet(say("nothing in demo:3 hides /etc/issue: commit box after section 5 deleted it",
                         "demo:3 里没有东西遮住 /etc/issue：在第 5 节删掉它之后再提交 box"))
    need(diff_id=diff_id)
    kind, layer = hidden
    wanted = demo.attrs["RootFS"]["Layers"][layer]
    if same_digest(diff_id, demo.id):
        raise NotYet(say(f"{str(diff_id)[:19]} is demo:3's image ID (the hash of its config), not a layer's DiffID: "
                         "look in RootFS.Layers",
                         f"{str(diff_id)[:19]} 是 demo:3 的镜像 ID（配置的哈希），不是某一层的 DiffID：到 RootFS.Layers 里找"))
    if not same_digest(diff_id, wanted):
        raise NotYet(say(f"{str(diff_id)[:19]} did not delete /etc/issue in demo:3: look for the {kind} with "
                         "UnionView.hidden_by, then the layer's DiffID in RootFS.Layers",
                         f"{str(diff_id)[:19]} 没有删除 demo:3 里的 /etc/issue：用 UnionView.hidden_by 找到那个"
                         f"{' whiteout 文件' if kind == 'whiteout' else '不透明目录'}，再到 RootFS.Layers 里取那一层的 DiffID"))
    return say(f"layer {layer}, {wanted[:19]}: box's own layer, whose {kind} hides layer 1's file",
               f"第 {layer} 层，{wanted[:19]}：box 自己的那一层，它的{' whiteout 文件' if kind == 'whiteout' else '不透明目录'}"
               "遮住了第 1 层的文件")
