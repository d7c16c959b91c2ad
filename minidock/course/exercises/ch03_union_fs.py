"""Chapter 03's exercises (union fs): one checker each."""

from __future__ import annotations

import os
from pathlib import Path

from ...api.client import Client
from .checking import (NotYet, container_or_hint, containers_where, exercise, image_or_hint, names, need,
                       same_digest)


@exercise("03-union-fs", 1)
def whiteout_of_your_own(client: Client) -> str:
    """``/etc/skel/.shrc`` deleted in ``box``: a whiteout in its upper layer."""
    box = container_or_hint(client, "box", "run the chapter from the top")
    if {"Path": "/etc/skel/.shrc", "Kind": 2} not in box.diff():
        raise NotYet("`minidock diff box` has no D /etc/skel/.shrc: delete it inside box with exec")
    return "D /etc/skel/.shrc: a whiteout in box's upper layer hides layer 2's file"


@exercise("03-union-fs", 2)
def price_of_copy_up(client: Client, upper_mb=None) -> str:
    """A container that appended to a 20 MB file of its image: its upper layer's size."""
    def appended(attrs):
        big = Path(attrs["GraphDriver"]["Data"]["UpperDir"]) / "big"
        return big.is_file() and big.stat().st_size > 20 << 20
    found = containers_where(client, appended)
    if not found:
        raise NotYet("no container has a changed /big in its upper layer: commit an image with a 20 MB /big, "
                     "then append a byte to it in a new container")
    need(upper_mb=upper_mb)
    upper = Path(found[0].attrs["GraphDriver"]["Data"]["UpperDir"])
    size = sum(p.lstat().st_size for p in upper.rglob("*")) / (1 << 20)
    if abs(upper_mb - size) > max(2, size / 10):
        raise NotYet(f"upper_mb={upper_mb}: measure it (du -sm on UpperDir, or `minidock ps -s`)")
    return f"{size:.0f} MB for one byte: copy-up copies the whole file (metacopy would copy its metadata only)"


@exercise("03-union-fs", 3)
def opaque_by_hand(client: Client, with_xattr=None, without_xattr=None) -> str:
    """What ``ls merged/docs`` showed with an opaque upper ``docs``, and without."""
    if not Path("cd/docs").is_dir():
        raise NotYet("there is no cd/docs in the scratch directory: make it with two files, as section 1")
    need(with_xattr=with_xattr, without_xattr=without_xattr)
    lower = set(os.listdir("cd/docs"))
    if names(with_xattr):
        raise NotYet(f"with_xattr={with_xattr}: an opaque directory hides every name of the layers below")
    if names(without_xattr) != lower:
        raise NotYet(f"without_xattr={without_xattr}: without the xattr, directories merge: cd/docs holds {sorted(lower)}")
    return "opaque: nothing from below; plain: the lower files merged in"


@exercise("03-union-fs", 4)
def which_layer_deleted(client: Client, diff_id=None) -> str:
    """The DiffID of the layer of ``demo:2`` whose whiteout hides ``/etc/demo.conf``."""
    from ...api.system import UnionView
    demo = image_or_hint(client, "demo:2", "run the chapter from the top")
    need(diff_id=diff_id)
    view = UnionView([client.store.layer_dir(c) / "diff" for c in demo.record.chain_ids])
    kind, layer = view.hidden_by("/etc/demo.conf")
    wanted = demo.attrs["RootFS"]["Layers"][layer]
    if not same_digest(diff_id, wanted):
        raise NotYet(f"{str(diff_id)[:19]} did not delete /etc/demo.conf: look for the {kind} with "
                     "UnionView.hidden_by, then the layer's DiffID in RootFS.Layers")
    return f"layer {layer}, {wanted[:19]}: its {kind} hides the file of the layer below"
