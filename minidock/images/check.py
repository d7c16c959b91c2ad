"""Checking the image side of a store: what "consistent" means, said one rule at a time.

``minidock system check`` (podman's ``system check`` is the model; Docker has none) holds the store
to the promises the other modules make, and names each one broken in one line:

* a blob's name is the sha256 of its bytes (content addressing: a name is a promise about bytes);
* every blob is the config of an image in ``images.json`` (configs are the only blobs kept);
* ``images.json`` parses, each image's config is there and hashes to its ID, each layer of its
  chain has its layer dir, and every tag or digest points at an image that is there;
* a layer dir holds ``layer.json`` (it is written last, so one without it is a torn extraction),
  its ChainID is its name, some image or container needs it, and its files still give back the
  exact tar its DiffID names (``tarsplit.py`` regenerates it and hashes it as it goes);
* every short link in ``l/`` leads somewhere, and ``tmp/`` holds nothing of a process that is gone.

Each problem carries its repair, or none: what is orphaned or torn can go, since nothing needs
it; what an image or a container needs never goes.  A layer whose files were changed cannot be
mended (its true bytes are lost): the check marks it ``damaged`` (``image.DAMAGED``), so ``run``,
``save`` and ``push`` refuse its images from then on, and says to ``rmi`` and pull or load again.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections import namedtuple
from collections.abc import Callable

from .digest import chain_id, chain_ids, sha256_bytes, short_id
from ..errors import MinidockError
from .image import DAMAGED, Images
from .store import remove_tree

HEX64 = re.compile(r"[0-9a-f]{64}")
MAX_AGE = 24 * 3600   # podman's default --max: an unused layer younger than this may be a pull's under way
CONFIG_ADVICE = "its images are unusable: remove them with `minidock rmi`, then pull or load them again"


class Problem(namedtuple("Problem", "subject text fix advice")):
    """One broken promise: ``subject`` ("blob sha256:…", "layer …", "container …") and what is
    wrong with it; ``fix``, a function that repairs it (None: nothing may be removed safely);
    ``advice``, what the user can do instead."""

    __slots__ = ()

    def line(self) -> str:
        return f"{self.subject}: {self.text}" + (f"; {self.advice}" if self.advice else "")


def problem(subject: str, text: str, fix: Callable[[], None] | None = None, advice: str = "") -> Problem:
    return Problem(subject, text, fix, advice)


def check_images(images: Images, needed_images: set[str], needed_layers: set[str],
                 quick: bool = False, max_age: float = MAX_AGE) -> list[Problem]:
    """Every problem of the image side.  ``needed_*``: what containers use (never removed);
    ``quick``: skip hashing blobs and regenerating layer tars (podman's ``--quick``); ``max_age``:
    seconds an unused layer dir may be the work of a pull or load still under way (podman's ``--max``)."""
    store = images.store
    idx, found = read_index(images)
    for image_id in sorted(idx["images"]):
        found += _check_image(images, idx, image_id, needed_images)
    found += _check_references(images, idx)
    configs = {i: _config(images, i, strict=False) for i in idx["images"] if HEX64.fullmatch(i[7:])}
    # (not strict: the layers of an image whose config was changed are still not orphans)
    chains = set(needed_layers)
    for config in configs.values():
        chains.update(chain_ids((config or {}).get("rootfs", {}).get("diff_ids", [])))
    found += _check_blobs(store, set(idx["images"]), quick)
    for name in sorted(os.listdir(store.layers)):
        found += _check_layer(images, name, (chains, configs), quick, max_age)
    found += _check_links(store) + check_tmp(store)
    return found


# -- images.json ------------------------------------------------------------

def read_index(images: Images) -> tuple[dict, list[Problem]]:
    """``images.json`` as it is; a torn one (empty, not JSON, the wrong shape) is reported, and stood
    in for by the index its configs rebuild, so nothing an image needs looks orphaned."""
    path = images.store.root / "images.json"
    try:
        idx = json.loads(path.read_bytes())
        if isinstance(idx, dict) and all(isinstance(idx.get(k, {}), dict) for k in ("images", "tags", "digests")):
            return {k: dict(idx.get(k, {})) for k in ("images", "tags", "digests")}, []
    except FileNotFoundError:
        return {"images": {}, "tags": {}, "digests": {}}, []
    except (ValueError, UnicodeDecodeError):
        pass
    rebuilt = rebuilt_index(images)

    def rebuild() -> None:
        images.store.write_json("images.json", rebuilt)

    return rebuilt, [problem("images.json", "torn (not the image index's JSON)", rebuild,
                             f"--repair rebuilds it from the image configs in blobs/ ({len(rebuilt['images'])} found; "
                             "their tags are lost: tag them again)")]


def rebuilt_index(images: Images) -> dict:
    """An index of every blob that is an intact image config whose layers are all in the store (no tags)."""
    store, found = images.store, {}
    for digest in store.blob_digests():
        config = _config(images, digest) if HEX64.fullmatch(digest[7:]) else None
        diff_ids = (config or {}).get("rootfs", {}).get("diff_ids")
        chains = chain_ids(diff_ids) if isinstance(diff_ids, list) else None
        if chains is not None and all((store.layer_dir(c) / "layer.json").exists() for c in chains):
            found[digest] = {"added": os.stat(store.blob_path(digest)).st_mtime}
    return {"images": found, "tags": {}, "digests": {}}


def _config(images: Images, image_id: str, strict: bool = True) -> dict | None:
    """An image's config if its blob is there, parses and (``strict``) hashes to its ID; else None."""
    try:
        data = images.store.read_blob(image_id)
        config = json.loads(data) if not strict or sha256_bytes(data) == image_id else None
    except (OSError, ValueError, MinidockError):
        return None
    return config if isinstance(config, dict) and isinstance(config.get("rootfs"), dict) else None


def _check_image(images: Images, idx: dict, image_id: str, needed: set[str]) -> list[Problem]:
    """One image: its config blob, its layers, its parent."""
    if not (image_id.startswith("sha256:") and HEX64.fullmatch(image_id[7:])):
        return [problem(f"image {image_id!r}", "not an image ID", lambda: _forget_image(images, image_id))]
    subject = f"image {short_id(image_id)}"
    if not images.store.has_blob(image_id):
        if image_id in needed:
            return [problem(subject, "its config blob is missing", None,
                            "containers use it: remove them with `minidock rm`, then pull or load the image again")]
        return [problem(subject, "its config blob is missing", lambda: _forget_image(images, image_id),
                        "--repair removes the image from the index; pull or load it again")]
    config = _config(images, image_id)
    if config is None:
        return [problem(subject, "its config no longer hashes to its ID", None,
                        f"the image is unusable: remove it with `minidock rmi {short_id(image_id)}`, "
                        "then pull or load it again")]
    found = []
    for diff_id, chain in zip(config["rootfs"].get("diff_ids", []), chain_ids(config["rootfs"].get("diff_ids", []))):
        if not (images.store.layer_dir(chain) / "layer.json").exists():
            found.append(problem(subject, f"its layer {diff_id} is missing", None, CONFIG_ADVICE))
    parent = idx["images"][image_id].get("parent") if isinstance(idx["images"][image_id], dict) else None
    if parent and parent not in idx["images"]:
        found.append(problem(subject, f"its parent {short_id(parent)} is gone",
                             lambda: _edit_index(images, lambda i: i["images"][image_id].pop("parent", None))))
    return found


def _check_references(images: Images, idx: dict) -> list[Problem]:
    """Tags and digests must point at images that are there."""
    found = []
    for table, what in (("tags", "tag"), ("digests", "digest")):
        for name, image_id in sorted(idx[table].items()):
            if image_id not in idx["images"]:
                found.append(problem(f"{what} {name}", f"points at image {short_id(str(image_id))}, which is gone",
                                     lambda t=table, n=name: _edit_index(images, lambda i: i[t].pop(n, None))))
    return found


def _edit_index(images: Images, change: Callable[[dict], object]) -> None:
    """Apply ``change`` to the index and write it back (the caller holds the lock)."""
    idx = images._index()
    change(idx)
    images._save(idx)


def _forget_image(images: Images, image_id: str) -> None:
    """Drop an image whose config is gone from the index, with its tags and digests."""
    def change(idx: dict) -> None:
        idx["images"].pop(image_id, None)
        for table in ("tags", "digests"):
            idx[table] = {k: v for k, v in idx[table].items() if v != image_id}
    _edit_index(images, change)


# -- blobs ------------------------------------------------------------------

def _check_blobs(store, image_ids: set[str], quick: bool) -> list[Problem]:
    """Each blob: named by the sha256 of its bytes, and the config of some image."""
    found = []
    for name in sorted(os.listdir(store.blobs)):
        path = store.blobs / name
        subject = f"blob sha256:{name}"
        if not HEX64.fullmatch(name):
            found.append(problem(f"blob {name}", "not named by a digest", lambda p=path: remove_tree(p)))
        elif "sha256:" + name in image_ids:
            continue  # an image's config: _check_image verified it
        elif not quick and path.is_file() and sha256_bytes(path.read_bytes()) != "sha256:" + name:
            found.append(problem(subject, "torn (its bytes no longer hash to its name) and no image uses it",
                                 lambda p=path: remove_tree(p)))
        else:
            found.append(problem(subject, "no image uses it (orphaned)", lambda p=path: remove_tree(p)))
    return found


# -- layer dirs -------------------------------------------------------------

def _check_layer(images: Images, name: str, users: tuple[set[str], dict], quick: bool,
                 max_age: float) -> list[Problem]:
    """One layer dir: whole, needed (``users``: the ChainIDs needed, and the images' configs), and its
    files still its DiffID's tar."""
    needed, configs = users
    path = images.store.layers / name
    chain = "sha256:" + name
    subject = f"layer {chain}"

    def remove() -> None:
        remove_tree(path)

    if not HEX64.fullmatch(name):
        return [problem(f"layer {name}", "not named by a ChainID", remove)]
    try:
        meta = json.loads((path / "layer.json").read_text())
        intact = chain_id(meta["diff_id"], meta.get("parent")) == chain
    except (OSError, ValueError, KeyError, TypeError):
        intact = False
    if chain not in needed:
        # a pull or a load commits its layers one by one and names its image last: a young unused
        # layer may be one of those, a torn one never is (a layer dir moves in whole, layer.json in it)
        if intact and time.time() - os.lstat(path).st_mtime <= max_age:
            return []
        return [problem(subject, "no image or container uses it (orphaned)" if intact else
                        "torn (no readable layer.json) and nothing uses it", remove)]
    users = _users(chain, configs)
    if not intact:
        return [problem(subject, "torn (no readable layer.json, or it names another ChainID)", None,
                        f"{users} unusable: remove {_them(users)} with `minidock rmi`, then pull or load again")]
    if quick:
        return []
    why = _tampered(images, chain, meta)
    mark = path / DAMAGED
    if why is None:
        return [problem(subject, "marked damaged, but its files match its DiffID again",
                        lambda: mark.unlink(missing_ok=True))] if mark.exists() else []
    mark.write_text(why + "\n")   # even a read-only check: a damaged layer must never be served as good
    return [problem(subject, f"its files no longer give back its DiffID ({why})", None,
                    f"{users} unusable: remove {_them(users)} with `minidock rmi`, then pull or load again")]


def _users(chain: str, configs: dict) -> str:
    """Which images use a layer, for the advice: "images 7b3c52d10d08, 1f2e…" (or "its containers")."""
    ids = [short_id(i) for i, c in sorted(configs.items())
           if c and chain in chain_ids(c["rootfs"].get("diff_ids", []))]
    if not ids:
        return "the containers on it are"
    return f"images {', '.join(ids)} are" if len(ids) > 1 else f"image {ids[0]} is"


def _them(users: str) -> str:
    return "it" if users.startswith("image ") else "them"


def _tampered(images: Images, chain: str, meta: dict) -> str | None:
    """Why a layer's files no longer give back its tar, or None if they do: the tar is regenerated
    from the tar-split record and hashed (a file edited, resized or deleted), and its names read on
    the way, so that a file added to the layer dir, which no record names, is found too."""
    import tarfile
    from ..errors import InvalidArchive
    try:
        with images.open_layer(chain) as stream:
            named = _names(tarfile.open(fileobj=stream, mode="r|"), meta.get("whiteouts"))
            while stream.read(1 << 20):   # the end-of-archive blocks: hashed too
                pass
    except (InvalidArchive, MinidockError, OSError, EOFError, tarfile.TarError) as e:
        text = str(e).split(": the store was changed")[0].replace(f"{images.store.layer_dir(chain)}/", "")
        return "the content of a file changed" if "no longer matches its files" in text else text
    added = sorted(_on_disk(images.store.layer_dir(chain) / "diff") - named)
    return f"layer file diff/{added[0]} is in no tar-split record: it was added" if added else None


def _names(tar, whiteouts: str | None) -> set[str]:
    """The paths a layer tar puts on disk that are not directories: a whiteout ``.wh.NAME`` is the char
    device ``NAME`` in overlay's form; the opaque marker and aufs' ``.wh..wh.*`` are no file at all."""
    names = set()
    for member in tar:
        path = os.path.normpath(member.name.lstrip("/"))
        top, base = os.path.split(path)
        if member.isdir() or path == ".":
            continue
        if whiteouts != "keep" and base.startswith(".wh."):
            if base.startswith(".wh..wh."):
                continue
            path = os.path.join(top, base[len(".wh."):])
        names.add(path)
    return names


def _on_disk(diff) -> set[str]:
    """Every path below ``diff`` that is not a directory (a symlink to one included)."""
    found = set()
    for top, dirs, files in os.walk(diff):
        rel = os.path.relpath(top, diff)
        for name in files + [d for d in dirs if os.path.islink(os.path.join(top, d))]:
            found.add(os.path.normpath(os.path.join(rel, name)))
    return found


# -- short links and tmp/ ---------------------------------------------------

def _check_links(store) -> list[Problem]:
    """``l/``'s short links (overlay's options for deep images) must lead to a layer or container dir."""
    try:
        links = sorted(store.links.iterdir())
    except FileNotFoundError:
        return []
    return [problem(f"link l/{link.name}", f"dangling (its target {os.readlink(link)} is gone)",
                    lambda p=link: p.unlink(missing_ok=True))
            for link in links if link.is_symlink() and not link.exists()]


def check_tmp(store) -> list[Problem]:
    """``tmp/`` holds what a living command is writing; what a dead one left is debris
    (``Store._sweep_tmp``'s rule: every temp name starts with its maker's PID)."""
    found = []
    for entry in sorted(store.tmp.iterdir()):
        pid = entry.name.split("-", 1)[0]
        if not (pid.isdigit() and os.path.exists(f"/proc/{pid}")):
            found.append(problem(f"tmp/{entry.name}", "debris of a command that ended mid-write",
                                 lambda p=entry: remove_tree(p)))
    return found
