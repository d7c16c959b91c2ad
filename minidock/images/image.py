"""Images: a config (what to run, and how the image was made) over a stack of layers.

An image is immutable.  Its ID is the sha256 of its config JSON, and the config
names its layers by DiffID (the sha256 of each uncompressed layer tar), so the
ID pins every byte of every layer: change one file and every ID above changes.

The image index (``images.json``) adds only what the config cannot say: the
tags that point at an image, the registry digests it was pulled by, and its
local parent (the image it was built on here, which ``history`` shows).
"""

from __future__ import annotations

import functools
import io
import json
import os
import threading
import time
from collections import namedtuple
from collections.abc import Callable
from pathlib import Path

from . import journal
from .digest import HashingWriter, chain_id, chain_ids, resolve_prefix, short_id
from ..errors import APIError, Conflict, Damaged, DigestMismatch, ImageNotFound, InvalidReference
from .reference import Reference, familiar, parse
from .store import Store, remove_tree
from ..runtime import durable

TYPE_CHECKING = False  # typing's, without importing typing: every command would pay for it
if TYPE_CHECKING:
    from typing import BinaryIO

# AUFS, Docker's first storage driver, could stack at most 127 branches, hence
# the book's "an image cannot have more than 127 layers".  (Today's moby caps an
# image at 125 so that a container's init and writable layers still fit.)
MAX_LAYERS = 127

# A file in a layer dir that ``minidock system check`` (images/check.py) writes when the layer's files
# no longer give back its DiffID: from then on the layer is never served as good (run, save, push
# refuse every image that uses it) until the image is removed and pulled or loaded again.
DAMAGED = "damaged"


class ImageRecord(namedtuple("ImageRecord", "id config tags digests parent added")):
    """One image as the store knows it.

    ``id`` and ``config`` (the parsed config JSON); ``tags``: canonical references,
    e.g. docker.io/library/busybox:latest; ``digests``: name@sha256:... it was
    pushed or pulled as; ``parent``: an image ID or None; ``added``: when, in
    seconds since the epoch.  (A namedtuple: every command reads images, and a
    dataclass costs each the import of ``inspect``.)
    """

    __slots__ = ()

    @property
    def diff_ids(self) -> list[str]:
        return list(self.config.get("rootfs", {}).get("diff_ids", []))

    @property
    def chain_ids(self) -> list[str]:
        return chain_ids(self.diff_ids)

    @property
    def short_id(self) -> str:
        return short_id(self.id)

    @property
    def created(self) -> str:
        return self.config.get("created", "")


def check_depth(n_layers: int) -> None:
    """Refuse an image deeper than Docker allows."""
    if n_layers > MAX_LAYERS:
        raise APIError(
            f"max depth exceeded: the image would have {n_layers} layers, more than {MAX_LAYERS}; "
            "the limit comes from AUFS, which could union at most 127 branches"
        )


def did_you_mean(name: str, tags: dict) -> str:
    """A hint naming the closest tag, as in 'No such image: busybx (did you mean "busybox"?)'."""
    import difflib

    names = sorted({familiar(t).removesuffix(":latest") for t in tags})
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.75)
    return f' (did you mean "{close[0]}"?)' if close else ""


def whiteout_format() -> tuple[str, str]:
    """How whiteouts are written into layer dirs (and so which driver can use them).

    As root: overlay's own form, char devices 0/0 and ``trusted.overlay.opaque``.
    Rootless: the same, made inside a user namespace, with ``user.overlay.opaque``
    (overlay's ``userxattr`` option).  Otherwise ``.wh.`` files, which only the
    pure-Python union view understands (the vfs driver flattens them).
    """
    from ..runtime import mode
    run_mode = mode.detect()[0]
    if run_mode == "root":
        return "overlay", "trusted"
    return ("overlay", "user") if run_mode == "rootless" else ("keep", "user")


class StagedLayer:
    """A layer extracted into a temp dir (``diff/``, its tar-split record), not yet in the store."""

    def __init__(self, path: Path, meta: dict, home: str | None = None):
        self.path = path
        self.meta = meta  # diff_id, size, tar_size, moved, whiteouts
        self.home = home  # its ChainID once moved into the store

    @property
    def diff_id(self) -> str:
        return self.meta["diff_id"]


def _extract(stream: BinaryIO, root: str, mode: str, prefix: str, inline: bool) -> dict:
    """Apply one layer tar to ``root/diff``, recording its tar-split; return its layer.json facts."""
    from . import layer as layerfmt  # here and below, not at the top: ``run`` would pay for tarfile
    from . import tarsplit
    root = Path(root)
    with tarsplit.open_record(root) as out:
        recorder = tarsplit.Recorder(root, out, inline_unreadable=inline)
        size = layerfmt.apply_layer_tar(stream, root / "diff", whiteouts=mode, xattr_prefix=prefix,
                                        split=recorder)
    return {"diff_id": recorder.diff_id, "size": size, "tar_size": recorder.tar_size, "moved": recorder.moved,
            "whiteouts": mode}


class _Nowhere:
    """A sink for bytes that only need hashing."""

    def write(self, data: bytes) -> int:
        return len(data)


class Images:
    """The images in a store: add, look up, tag, remove, prune."""

    def __init__(self, store: Store, in_use: Callable[[str], list[str]] | None = None):
        self.store = store
        # which containers use an image, and which layers they stand on; set by the container layer above us
        self.in_use = in_use or (lambda image_id: [])
        self.layers_in_use = lambda: set()

    # -- the index --------------------------------------------------------

    def _index(self) -> dict:
        idx = self.store.read_json("images.json", {})
        for key in ("images", "tags", "digests"):
            idx.setdefault(key, {})
        return idx

    def _save(self, idx: dict) -> None:
        self.store.write_json("images.json", idx)

    def record(self, image_id: str, idx: dict | None = None) -> ImageRecord:
        """The record of a full image ID known to be present."""
        idx = idx or self._index()
        meta = idx["images"][image_id]
        config = self.store.blob_json(image_id)
        tags = sorted(t for t, i in idx["tags"].items() if i == image_id)
        digests = sorted(d for d, i in idx["digests"].items() if i == image_id)
        return ImageRecord(image_id, config, tags, digests, meta.get("parent"), meta.get("added", 0))

    def list(self, all: bool = False) -> list[ImageRecord]:
        """Images, newest first; without ``all``, untagged parents of other images are hidden."""
        idx = self._index()
        parents = {m.get("parent") for m in idx["images"].values()}
        recs = [rec for rec in map(functools.partial(self._whole_record, idx=idx), idx["images"]) if rec]
        if not all:
            recs = [r for r in recs if r.tags or r.id not in parents]
        return sorted(recs, key=lambda r: (r.created, r.added, r.id), reverse=True)

    def _whole_record(self, image_id: str, idx: dict) -> ImageRecord | None:
        """The record of an image whose config and layer records are whole; None (and a warning) if
        one is damaged: a list never shows an image it could not run or save."""
        try:
            rec = self.record(image_id, idx)
            for chain in rec.chain_ids:
                self.layer_meta(chain)
        except (Damaged, FileNotFoundError) as e:
            if isinstance(e, FileNotFoundError) and image_id not in self._index()["images"]:
                return None   # removed by another command while we listed (readers take no lock): no damage
            durable.warn(e if isinstance(e, Damaged) else f"{e.filename} is missing", f"image {short_id(image_id)}")
            return None
        return rec

    def resolve(self, name: str) -> str:
        """The full ID of the image a reference, full ID or ID prefix names."""
        idx = self._index()
        try:
            ref = parse(name)
        except InvalidReference:
            ref = None
        if ref is not None:
            if ref.digest:
                hit = idx["digests"].get(f"{ref.name}@{ref.digest}")
                if hit:
                    return hit
            elif str(ref) in idx["tags"]:
                return idx["tags"][str(ref)]
        hexpart = name.removeprefix("sha256:")
        if len(hexpart) >= 4 and all(c in "0123456789abcdef" for c in hexpart):
            return resolve_prefix(name, idx["images"], what="image")
        if ref is None and not name.startswith("sha256:"):
            parse(name)  # re-raise the reference error
        raise ImageNotFound(f"No such image: {name}{did_you_mean(name, idx['tags'])}")

    def get(self, name: str) -> ImageRecord:
        """The image a reference or ID names; ``Damaged`` if its config or a layer's record is."""
        rec = self.record(self.resolve(name))
        for chain in rec.chain_ids:
            self.layer_meta(chain)
        return rec

    def refuse_damaged(self, rec: ImageRecord, name: str = "") -> None:
        """Refuse to serve an image ``system check`` found damaged, or whose config no longer hashes to its ID
        (cheap to verify on every use: a config is a few KB)."""
        from .digest import sha256_bytes
        name = name or rec.short_id
        try:
            intact = sha256_bytes(self.store.read_blob(rec.id)) == rec.id
        except OSError:
            intact = False
        if not intact:
            raise APIError(f"image {name} is unusable: its config no longer hashes to its ID {rec.short_id} "
                           "(`minidock system check` lists what else is damaged); "
                           f"remove it with `minidock rmi {name}`, then pull or load it again")
        self.refuse_damaged_layers(rec.chain_ids, f"image {name}", f"minidock rmi {name}")

    def refuse_damaged_layers(self, chains: list[str], what: str, remedy: str) -> None:
        """Refuse ``what`` (an image, a container) if one of its layers carries ``system check``'s mark."""
        for chain in chains:
            try:
                why = (self.store.layer_dir(chain) / DAMAGED).read_text().strip()
            except FileNotFoundError:
                continue
            raise APIError(f"{what} is unusable: `minidock system check` found its layer {chain} damaged ({why}); "
                           f"remove it with `{remedy}`, then pull or load the image again")

    # -- adding -----------------------------------------------------------

    def stage_layer(self, stream: BinaryIO, where: Path) -> StagedLayer:
        """Extract a layer tar (plain or compressed) into the new temp dir ``where``.

        Its DiffID is computed on the way, and a tar-split record kept, so the
        store holds each layer once, as files, and can still give back its tar.
        """
        mode, prefix = whiteout_format()
        (where / "diff").mkdir(parents=True)
        if mode == "overlay" and os.geteuid() != 0:  # rootless: whiteouts can be made in a user namespace
            from ..runtime.userns import run_as_root_inside
            meta = run_as_root_inside(_extract, str(where), mode, prefix, True, feed=stream)
        else:
            meta = _extract(stream, str(where), mode, prefix, mode != "overlay" and os.geteuid() != 0)
        return StagedLayer(where, meta)

    def commit_layer(self, staged: StagedLayer, parent_chain: str | None) -> str:
        """Move a staged layer into the store on top of ``parent_chain``; return its ChainID.

        The layer dir is keyed by ChainID, so two images that share their
        bottom layers share those directories on disk.
        """
        chain = chain_id(staged.diff_id, parent_chain)
        dest = self.store.layer_dir(chain)
        if self.has_layer(chain):
            return chain
        if staged.home is not None:  # already in the store over another parent: extract it again
            with self.open_layer(staged.home) as tar:
                return self.add_layer(tar, parent_chain)
        meta = {**staged.meta, "chain_id": chain, "parent": parent_chain}
        (staged.path / "layer.json").write_text(json.dumps(meta, indent=1, sort_keys=True))
        # Every file of the layer, its tar-split record and layer.json reach the disk before the
        # directory gets its name: one syncfs(2), not an fsync per file (see runtime/durable.py and
        # docs/architecture.md for the measurement); then the rename and the layers/ directory.
        durable.syncfs(staged.path)
        remove_tree(dest)  # a layer dir without a whole layer.json is debris
        durable.rename(staged.path, dest)
        staged.home = chain
        return chain

    def add_layer(self, stream: BinaryIO, parent_chain: str | None, expected: str | None = None) -> str:
        """Extract a layer tar on top of ``parent_chain``; return its ChainID.  ``expected``: its DiffID."""
        with self.store.lock(), self.store.temp_path() as tmp:
            staged = self.stage_layer(stream, tmp)
            if expected is not None and staged.diff_id != expected:
                raise DigestMismatch(f"digest mismatch: layer should have DiffID {expected}, has {staged.diff_id}")
            return self.commit_layer(staged, parent_chain)

    def add_dir_layer(self, src: Path, parent_chain: str | None, **tar_options) -> str:
        """A directory as a layer (``import``, ``commit``); its tar is streamed, never written out.

        A first pass only hashes the tar: when that layer is in the store
        already (a commit of an unchanged container, an import done before),
        nothing more is written, as podman reuses a layer it has.
        """
        from . import layer as layerfmt
        digest = HashingWriter(_Nowhere())
        layerfmt.write_layer_tar(src, digest, **tar_options)
        chain = chain_id(digest.digest, parent_chain)
        if self.has_layer(chain):
            return chain
        r, w = os.pipe()
        failure: list[BaseException] = []

        def write() -> None:
            try:
                with open(w, "wb") as out:
                    layerfmt.write_layer_tar(src, out, **tar_options)
            except BrokenPipeError:
                pass  # the reader gave up; its own error says why
            except BaseException as e:
                failure.append(e)

        writer = threading.Thread(target=write, name="layer-tar")
        writer.start()
        try:
            with open(r, "rb") as tar:
                return self.add_layer(tar, parent_chain, expected=digest.digest)
        except DigestMismatch:
            raise APIError(f"{src} changed while it was being made into a layer; try again") from None
        finally:
            writer.join()
            if failure:
                raise failure[0]

    def layer_meta(self, chain: str) -> dict:
        """What ``layer.json`` says of a layer dir (``Damaged`` if it is empty or torn)."""
        return durable.read_json(self.store.layer_dir(chain) / "layer.json", f"layer {chain}'s record")

    def has_layer(self, chain: str) -> bool:
        """Whether the layer is in the store, whole: its ``layer.json`` (written last) reads.  A damaged
        one is not there: a pull, load or commit extracts the layer again, over it."""
        try:
            self.layer_meta(chain)
        except (FileNotFoundError, Damaged):
            return False
        return True

    def layer_tar_size(self, chain: str) -> int:
        """The size of a layer's tar (what ``open_layer`` gives back)."""
        meta = self.layer_meta(chain)
        if "tar_size" not in meta:  # layer dirs made before tar-split kept their tar as a blob instead
            raise APIError(f"layer {meta['diff_id']} was stored by an older minidock and cannot be exported: "
                           "remove its images and load or import them again")
        return meta["tar_size"]

    def open_layer(self, chain: str) -> BinaryIO:
        """The exact tar of a layer, regenerated from its files (checked against its DiffID as it is read)."""
        from . import tarsplit
        root, size, meta = self.store.layer_dir(chain), self.layer_tar_size(chain), self.layer_meta(chain)
        tar = tarsplit.LayerTar(root, meta["diff_id"], size, meta.get("moved"))
        return io.BufferedReader(tar, tarsplit.CHUNK)

    def add(self, config_bytes: bytes, tags: list[str] = (), parent: str | None = None) -> str:
        """Register an image whose layers are in the store (their layer dirs); return its ID.

        Layers are extracted first and the index written last, so an
        interrupted ``add`` leaves no image behind (only reusable layers).
        """
        config = json.loads(config_bytes)
        diff_ids = config.get("rootfs", {}).get("diff_ids", [])
        check_depth(len(diff_ids))
        with self.store.lock():
            for diff_id, chain in zip(diff_ids, chain_ids(diff_ids)):
                if not self.has_layer(chain):
                    raise APIError(f"layer {diff_id} is missing from the store")
            image_id = self.store.put_blob(config_bytes)
            idx = self._index()
            meta = idx["images"].setdefault(image_id, {"added": time.time()})
            if parent:
                meta["parent"] = parent
            for tag in tags:
                idx["tags"][str(parse(tag))] = image_id
            self._save(idx)
        return image_id

    def forget_layers(self, chains: list[str]) -> None:
        """Undo a failed add: drop the layer dirs among ``chains`` that no image uses."""
        with self.store.lock():
            self._unused_layers(list(chains), self._index())

    # -- tags -------------------------------------------------------------

    def tag(self, name: str, target: str) -> Reference:
        """Point the reference ``target`` at the image ``name`` names."""
        ref = parse(target)
        if ref.digest:
            raise InvalidReference(f"refusing to create a tag with a digest reference: {target}")
        with self.store.lock():
            image_id = self.resolve(name)
            idx = self._index()
            idx["tags"][str(ref)] = image_id
            self._save(idx)
        self.emit("tag", image_id, familiar(str(ref)))
        return ref

    def emit(self, action: str, actor: str, name: str = "") -> None:
        """Journal an image's event (``docker events``): ``actor`` is its ID, or the reference pulled, pushed, loaded."""
        journal.record(self.store.root, "image", action, actor, {"name": name or actor})

    def add_digest(self, image_id: str, name_at_digest: str) -> None:
        """Remember that the image was pushed or pulled as ``name@sha256:...``."""
        with self.store.lock():
            idx = self._index()
            idx["digests"][name_at_digest] = image_id
            self._save(idx)

    # -- removing ---------------------------------------------------------

    def remove(self, name: str, force: bool = False, prune: bool = True) -> list[tuple[str, str]]:
        """``rmi``: untag, then delete when no tag is left, and (``prune``, unless ``--no-prune``) the
        untagged parents nothing else needs; return docker's lines (each one an event too)."""
        with self.store.lock():
            image_id = self.resolve(name)
            parent = self._index()["images"].get(image_id, {}).get("parent")
            lines = self._remove(name, image_id, force)
            deleted = [image_id] if ("Deleted", image_id) in lines else []
            while prune and deleted and parent:
                gone, parent = parent, self._prunable_parent(parent)
                if parent is False:
                    break
                lines += self._delete(gone, self._index())
                deleted.append(gone)
        for what, subject in lines:
            if what == "Untagged":
                self.emit("untag", image_id, subject)
        for gone in deleted:
            self.emit("delete", gone, gone)
        return lines

    def _prunable_parent(self, image_id: str) -> str | None | bool:
        """Docker's ``rmi`` goes on up the parents (a build's steps) while each is untagged, with no other
        child and no container (image_delete.go deletes a parent quietly, or keeps it on any conflict):
        False when ``image_id`` stays, else its own parent (None at the top)."""
        idx = self._index()
        meta = idx["images"].get(image_id)
        if (meta is None or image_id in idx["tags"].values() or image_id in idx["digests"].values()
                or any(m.get("parent") == image_id for m in idx["images"].values()) or self.in_use(image_id)):
            return False
        return meta.get("parent")

    def _remove(self, name: str, image_id: str, force: bool) -> list[tuple[str, str]]:
        """The lines of ``rmi``, worked out and carried out under the lock (Docker's conflict rules)."""
        idx = self._index()
        tags = sorted(t for t, i in idx["tags"].items() if i == image_id)
        named_tag = self._tag_named(name, tags)
        users = self.in_use(image_id)
        # docker (image_delete.go): one of several tags goes even while a container uses the image
        if users and not force and not (named_tag and len(tags) > 1):
            what = f'repository reference "{name}"' if named_tag else f"image {short_id(image_id)}"
            raise Conflict(f"conflict: unable to remove {what} (must force) - container "
                           f"{short_id(users[0])} is using its referenced image {short_id(image_id)}")
        children = [i for i, m in idx["images"].items() if m.get("parent") == image_id]
        # a tag goes alone while another tag or a child image still needs the image
        if named_tag and (len(tags) > 1 or children):
            del idx["tags"][named_tag]
            self._save(idx)
            return [("Untagged", familiar(named_tag))]
        if not named_tag and len(tags) > 1 and not force:
            raise Conflict(f"conflict: unable to delete {short_id(image_id)} (must be forced) "
                           "- image is referenced in multiple repositories")
        if children:
            raise Conflict(f"conflict: unable to delete {short_id(image_id)} (cannot be forced) "
                           "- image has dependent child images")
        return self._delete(image_id, idx)

    @staticmethod
    def _tag_named(name: str, tags: list[str]) -> str | None:
        """The tag ``name`` spells, if it spells one of ``tags``."""
        try:
            canonical = str(parse(name))
        except InvalidReference:
            return None
        return canonical if canonical in tags else None

    def _delete(self, image_id: str, idx: dict) -> list[tuple[str, str]]:
        """Drop an image from the index, then its config and unshared layers."""
        lines = [("Untagged", familiar(t)) for t, i in sorted(idx["tags"].items()) if i == image_id]
        lines += [("Untagged", familiar(d)) for d, i in sorted(idx["digests"].items()) if i == image_id]
        diff_ids = self._diff_ids(image_id)
        idx["tags"] = {t: i for t, i in idx["tags"].items() if i != image_id}
        idx["digests"] = {d: i for d, i in idx["digests"].items() if i != image_id}
        del idx["images"][image_id]
        for child in idx["images"].values():
            if child.get("parent") == image_id:
                child.pop("parent")
        self._save(idx)
        self.store.remove_blob(image_id)
        lines.append(("Deleted", image_id))
        for chain in self._unused_layers(chain_ids(diff_ids), idx):
            lines.append(("Deleted", chain))
        return lines

    def _layer_dirs(self) -> list[str]:
        """The ChainID of every layer dir on disk."""
        return ["sha256:" + name for name in sorted(os.listdir(self.store.layers))]

    def _used_chains(self, idx: dict) -> set[str]:
        """ChainIDs of every layer some image or container still needs."""
        used = set(self.layers_in_use())
        for image_id in idx["images"]:
            used.update(chain_ids(self._diff_ids(image_id)))
        return used

    def _diff_ids(self, image_id: str) -> list[str]:
        """An image's DiffIDs as its config lists them; none if the config is gone or torn (``rmi`` of a
        damaged image still works; ``system check --repair`` removes the layers nothing then needs)."""
        try:
            return list(json.loads(self.store.read_blob(image_id))["rootfs"]["diff_ids"])
        except (OSError, ValueError, KeyError, TypeError):
            return []

    def _unused_layers(self, candidates: list[str], idx: dict) -> list[str]:
        """Remove the layer dirs among ``candidates`` nothing uses."""
        used = self._used_chains(idx)
        gone = []
        for chain in reversed(candidates):
            if chain in used:
                continue
            remove_tree(self.store.layer_dir(chain))
            gone.append(chain)
        return gone

    def prune(self, all: bool = False) -> tuple[list[tuple[str, str]], int]:
        """Remove dangling images (untagged, no children, unused; ``all``: tagged too) and stray layer dirs."""
        lines, gone = [], []
        with self.store.lock():
            before = self.store_size()
            changed = True
            while changed:
                changed = False
                idx = self._index()
                parents = {m.get("parent") for m in idx["images"].values()}
                tagged = set(idx["tags"].values()) | set(idx["digests"].values())
                for image_id in sorted(idx["images"]):
                    if (all or image_id not in tagged) and image_id not in parents and not self.in_use(image_id):
                        deleted = self._delete(image_id, idx)
                        gone.append((image_id, [name for what, name in deleted if what == "Untagged"]))
                        lines += deleted
                        changed = True
                        break
            for chain in self._unused_layers(self._layer_dirs(), self._index()):
                if ("Deleted", chain) not in lines:
                    lines.append(("Deleted", chain))
            self.store.remove_dangling_links()
            reclaimed = before - self.store_size()
        for image_id, names in gone:   # as rmi journals them, so `docker events` sees what prune removed
            for name in names:
                self.emit("untag", image_id, name)
            self.emit("delete", image_id, image_id)
        return lines, reclaimed

    # -- disk usage -------------------------------------------------------

    def layer_size(self, chain: str) -> int:
        """Bytes of one extracted layer, as recorded when it was extracted."""
        try:
            return self.layer_meta(chain)["size"]
        except (FileNotFoundError, KeyError, Damaged):
            return 0

    def size(self, rec: ImageRecord) -> int:
        """An image's size: all of its layers' contents (docker's SIZE column)."""
        return sum(self.layer_size(c) for c in rec.chain_ids)

    def shared_size(self, rec: ImageRecord, counts: dict[str, int]) -> int:
        """The part of an image's size in layers other images use too."""
        return sum(self.layer_size(c) for c in rec.chain_ids if counts.get(c, 0) > 1)

    def layer_counts(self) -> dict[str, int]:
        """How many images use each ChainID."""
        counts: dict[str, int] = {}
        for rec in self.list(all=True):
            for c in set(rec.chain_ids):
                counts[c] = counts.get(c, 0) + 1
        return counts

    def store_size(self) -> int:
        """Bytes used by blobs and layer dirs together."""
        total = 0
        for top in (self.store.blobs, self.store.layers):
            for d, _, files in os.walk(top):
                total += sum(os.lstat(os.path.join(d, f)).st_size for f in files)
        return total
