"""Archives: ``save``/``load`` move whole images, ``import`` makes one from a rootfs.

The seed draws the line between them: a *saved image* keeps every layer, the
history and the config (CMD, tags...), while an *exported container snapshot*
is one flat file system that ``import`` turns into a new single-layer image,
forgetting all of that.

``save`` writes what Docker 25+ writes: the classic docker-archive layout
(``manifest.json`` + ``repositories``) and, in the same tar, an OCI image
layout (``oci-layout``, ``index.json``, ``blobs/sha256/...``), both pointing at
one copy of each blob.  ``load`` reads that, podman's docker-archive (layers as
``<diffid>.tar``), and OCI layouts (oci-archive), plain or compressed.
"""

from __future__ import annotations

import io
import json
import os
import re
import tarfile
import time
from collections import namedtuple
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from . import changes as changefmt
from . import compression
from .digest import HashingReader, chain_id, sha256_bytes
from ..display import rfc3339
from ..errors import APIError, DigestMismatch, InvalidArchive
from .image import Images, ImageRecord, StagedLayer, check_depth
from .reference import familiar, parse
from .store import CHUNK
from .tarstream import TarStream

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
BLOB_NAME = re.compile(r"(?:.*/)?blobs/sha256/([a-f0-9]{64})")


# -- save -------------------------------------------------------------------

def oci_manifest(images: Images, rec: ImageRecord) -> bytes:
    """The OCI manifest of an image whose layers are sent uncompressed."""
    layers = [{"mediaType": OCI_LAYER, "digest": d, "size": images.layer_tar_size(c)}
              for d, c in zip(rec.diff_ids, rec.chain_ids)]
    config = {"mediaType": OCI_CONFIG, "digest": rec.id, "size": images.store.blob_path(rec.id).stat().st_size}
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config, "layers": layers}
    return json.dumps(manifest, separators=(",", ":")).encode()


def save(images: Images, names: list[str], out: BinaryIO) -> None:
    """Write the images ``names`` (tags or IDs) to ``out`` as one tar."""
    store = images.store
    entries, index, repositories = [], [], {}
    blobs: dict[str, bytes | str] = {}   # digest -> bytes held in memory, or the ChainID of a layer dir
    for name in names:
        rec = images.get(name)
        images.refuse_damaged(rec, name)   # never saved as good once `system check` found it damaged
        # docker saves the tag it was given; an image named by ID is saved untagged
        tags = [str(parse(name))] if _names_tag(name, rec) else []
        manifest = oci_manifest(images, rec)
        blobs[rec.id] = store.read_blob(rec.id)
        blobs.update({d: c for d, c in zip(rec.diff_ids, rec.chain_ids) if d not in blobs})
        blobs[sha256_bytes(manifest)] = manifest
        entries.append({"Config": _blob_name(rec.id), "RepoTags": [familiar(t) for t in tags] or None,
                        "Layers": [_blob_name(d) for d in rec.diff_ids]})
        for tag in tags or [None]:
            desc = {"mediaType": OCI_MANIFEST, "digest": sha256_bytes(manifest), "size": len(manifest)}
            if tag:
                ref = parse(tag)
                desc["annotations"] = {"io.containerd.image.name": str(ref),
                                       "org.opencontainers.image.ref.name": ref.tag}
                repositories.setdefault(ref.familiar_name, {})[ref.tag] = rec.id.split(":")[1]
            if desc not in index:
                index.append(desc)
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        _add_dir(tar, "blobs/")
        _add_dir(tar, "blobs/sha256/")
        for digest in sorted(blobs):
            data = blobs[digest]
            if isinstance(data, str):  # a layer: its tar regenerated from the layer dir
                with images.open_layer(data) as f:
                    _add_file(tar, _blob_name(digest), f, images.layer_tar_size(data))
            else:
                _add_bytes(tar, _blob_name(digest), data)
        _add_bytes(tar, "index.json", _json({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": index}))
        _add_bytes(tar, "manifest.json", _json(entries))
        _add_bytes(tar, "oci-layout", _json({"imageLayoutVersion": "1.0.0"}))
        _add_bytes(tar, "repositories", _json(repositories))


def _names_tag(name: str, rec: ImageRecord) -> bool:
    """Whether the user named the image by one of its tags (rather than by its ID)."""
    try:
        return str(parse(name)) in rec.tags
    except APIError:
        return False


def _blob_name(digest: str) -> str:
    return "blobs/sha256/" + digest.split(":", 1)[1]


def _json(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _tarinfo(name: str, type_: bytes, size: int = 0, mode: int = 0o644) -> tarfile.TarInfo:
    """A member with fixed owner and time, so saving twice gives the same bytes."""
    info = tarfile.TarInfo(name)
    info.type, info.size, info.mode, info.mtime = type_, size, mode, 0
    return info


def _add_dir(tar: tarfile.TarFile, name: str) -> None:
    tar.addfile(_tarinfo(name, tarfile.DIRTYPE, mode=0o755))


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    tar.addfile(_tarinfo(name, tarfile.REGTYPE, len(data)), io.BytesIO(data))


def _add_file(tar: tarfile.TarFile, name: str, f: BinaryIO, size: int) -> None:
    tar.addfile(_tarinfo(name, tarfile.REGTYPE, size), f)


# -- load -------------------------------------------------------------------

@dataclass
class Member:
    """A regular file of the archive: a small file copied into tmp/, or a layer already extracted.

    A member that looks like a tar is extracted as it streams by (into a
    staged layer dir), before the manifest that names it has been read: the
    archive is read once, and a layer is written to disk once.
    """
    digest: str
    size: int
    path: Path | None = None            # the bytes, for a member that is not a layer
    layer: StagedLayer | None = None    # the extracted layer, for one that is
    error: InvalidArchive | None = None  # why it could not be extracted, if it was tried

    def data(self) -> bytes:
        if self.path is None:
            raise InvalidArchive("an image layer stands where the archive should have a JSON file")
        return self.path.read_bytes()


class ArchiveReader:
    """Reads a (possibly unseekable) image archive once, keeping its files by name.

    Member names never become paths on disk: each file is streamed into a
    numbered temp file (or a numbered staged layer dir) while it is hashed.
    Names are only dictionary keys, yet one that points outside the archive
    (``../../etc/passwd``) is refused.
    """

    def __init__(self, stream: BinaryIO, tmpdir: Path, images: Images):
        self.files: dict[str, Member] = {}
        self.links: dict[str, str] = {}
        self.images = images
        try:
            tar = TarStream(compression.decompressed(stream))
            n = 0
            while info := tar.next():
                self._take(tar, info, tmpdir / str(n))
                n += 1
        except (tarfile.TarError, *compression.CORRUPT) as e:
            raise InvalidArchive(f"archive is truncated or corrupt: {e}") from None

    def _take(self, tar: TarStream, info: tarfile.TarInfo, dest: Path) -> None:
        name = _inside(info.name, info.name)
        if info.issym() or info.islnk():
            base = os.path.dirname(name) if info.issym() else ""
            self.links[name] = _inside(os.path.join(base, info.linkname), info.name)
        elif info.isreg():  # (the tar reader itself refuses a member cut short)
            head = bytes(tar.read(512))
            member = Member("", info.size)
            if _looks_like_layer(head):
                self._stage(member, head, tar, dest)
            else:
                src = HashingReader(compression.prefixed(head, tar))
                member.path = dest
                with open(dest, "wb") as out:
                    while chunk := src.read(CHUNK):
                        out.write(chunk)
                member.digest = src.digest
            self.files[name] = member

    def _stage(self, member: Member, head: bytes, tar: TarStream, dest: Path) -> None:
        """Extract a member that looks like a layer while it streams by; note why not if it cannot be."""
        plain = not (head.startswith(compression.ZSTD_MAGIC) or compression.is_compressed(head))
        body = compression.prefixed(head, tar)
        src = body if plain else HashingReader(body)  # a plain tar's digest is its DiffID: no need to hash twice
        try:
            member.layer = self.images.stage_layer(src, dest)
        except InvalidArchive as e:
            member.error = e
        while src.read(CHUNK):
            pass  # what an error left unread
        if not plain:
            member.digest = src.digest
        elif member.layer is not None:
            member.digest = member.layer.diff_id

    def member(self, name: str) -> Member:
        """The file at ``name``, following in-archive links (podman's layer.tar -> ../x.tar).

        A file under ``blobs/sha256/`` is named by its digest (image-spec
        image-layout.md), so whoever reads it, its content must hash to that name.
        """
        for _ in range(8):
            name = os.path.normpath(name).removeprefix("./")
            if name in self.files:
                m, named = self.files[name], BLOB_NAME.fullmatch(name)
                if m.error is not None:
                    raise m.error
                if named and m.digest != "sha256:" + named.group(1):
                    raise DigestMismatch(f"digest mismatch: {name} hashes to {m.digest}")
                return m
            if name not in self.links:
                break
            name = self.links[name]
        raise InvalidArchive(f"archive has no file {name!r}")

    def json(self, name: str):
        """A small JSON member."""
        m = self.member(name)
        if m.size > 16 << 20:
            raise InvalidArchive(f"{name} is too large for a JSON document")
        try:
            return json.loads(m.data())
        except (ValueError, UnicodeDecodeError) as e:
            raise InvalidArchive(f"{name} is not valid JSON: {e}") from None

    def blob(self, prefix: str, digest: str) -> Member:
        """The OCI blob ``digest``; its content must hash to its name."""
        algo, _, hexpart = str(digest).partition(":")
        m = self.member(f"{prefix}blobs/{algo}/{hexpart}")
        if m.digest != digest:
            raise DigestMismatch(f"digest mismatch: blob {digest} hashes to {m.digest}")
        return m


def _looks_like_layer(head: bytes) -> bool:
    """Whether a member starts like a tar (ustar magic at 257, POSIX) or a compressed stream."""
    return head[257:262] == b"ustar" or head.startswith(compression.ZSTD_MAGIC) or compression.is_compressed(head)


def _inside(path: str, member: str) -> str:
    """``path`` relative to the archive's top; refuse one that is absolute or climbs out.

    No image tool writes such names; like docker's load (a "breakout" error),
    minidock takes an archive that has them for hostile and reads none of it.
    """
    clean = os.path.normpath(path)
    if clean.startswith("/") or clean == ".." or clean.startswith("../"):
        raise InvalidArchive(f"archive member {member!r} points outside the archive; refusing it")
    return clean


@dataclass
class LoadedImage:
    """One image found in an archive: config member, layer members, tags."""
    config: Member
    layers: list[Member]
    tags: list[str]


def load(images: Images, stream: BinaryIO) -> list[tuple[str, str]]:
    """Load every image of an archive; return ("Loaded image"|"Loaded image ID", name) lines."""
    store = images.store
    with store.lock(), store.temp_path() as tmp:
        tmp.mkdir()
        reader = ArchiveReader(stream, tmp, images)
        found = _docker_images(reader) if _has(reader, "manifest.json") else _oci_images(reader)
        if not found:
            raise InvalidArchive("archive holds no image: no manifest.json or index.json found")
        staged = [(img, _staged_layers(images, img, tmp)) for img in found]
        made: list[str] = []
        try:
            for img, layers in staged:  # all layers first: a hostile one leaves no image behind
                chain = None
                for layer in layers:
                    before = store.layer_dir(chain_id(layer.diff_id, chain)).exists()
                    chain = images.commit_layer(layer, chain)
                    made += [] if before else [chain]
            lines = []
            for img, _ in staged:
                image_id = images.add(img.config.data(), tags=img.tags)
                lines += [("Loaded image", familiar(t)) for t in img.tags] or [("Loaded image ID", image_id)]
            return lines
        except BaseException:
            images.forget_layers(made)
            raise


def _has(reader: ArchiveReader, name: str) -> bool:
    return name in reader.files or name in reader.links


def _docker_images(reader: ArchiveReader) -> list[LoadedImage]:
    """Images listed by a docker-archive ``manifest.json``."""
    entries = reader.json("manifest.json")
    if not isinstance(entries, list):
        raise InvalidArchive("manifest.json is not a list of images")
    return [LoadedImage(reader.member(e["Config"]), [reader.member(p) for p in e.get("Layers") or []],
                        [str(parse(t)) for t in e.get("RepoTags") or []]) for e in entries]


def _oci_images(reader: ArchiveReader) -> list[LoadedImage]:
    """Images listed by an OCI layout's ``index.json`` (possibly inside a top directory)."""
    tops = sorted(n for n in list(reader.files) + list(reader.links) if n.endswith("index.json"))
    if not tops:
        return []
    prefix = tops[0][: -len("index.json")]
    found = []
    for desc in reader.json(tops[0]).get("manifests", []):
        manifest = _pick_manifest(reader, prefix, desc)
        config = reader.blob(prefix, manifest["config"]["digest"])
        layers = [reader.blob(prefix, l["digest"]) for l in manifest.get("layers", [])]
        found.append(LoadedImage(config, layers, _oci_tags(desc)))
    return found


def _pick_manifest(reader: ArchiveReader, prefix: str, desc: dict) -> dict:
    """Follow an index to the linux/amd64 manifest (image-spec image-index.md)."""
    doc = json.loads(reader.blob(prefix, desc["digest"]).data())
    if "manifests" in doc:
        for sub in doc["manifests"]:
            plat = sub.get("platform", {})
            if plat.get("os", "linux") == "linux" and plat.get("architecture", "amd64") == "amd64":
                return _pick_manifest(reader, prefix, sub)
        raise InvalidArchive("the archive's index has no linux/amd64 image")
    return doc


def _oci_tags(desc: dict) -> list[str]:
    """A tag from the descriptor's annotations; a bare ``ref.name`` like "latest" names none."""
    notes = desc.get("annotations") or {}
    name = notes.get("io.containerd.image.name") or notes.get("org.opencontainers.image.ref.name", "")
    return [str(parse(name))] if (":" in name or "/" in name) else []


def _staged_layers(images: Images, img: LoadedImage, tmp: Path) -> list[StagedLayer]:
    """The image's layers, extracted, with the DiffIDs its config promises."""
    config = json.loads(img.config.data())
    promised = config.get("rootfs", {}).get("diff_ids", [])
    check_depth(len(promised))
    if len(promised) != len(img.layers):
        raise InvalidArchive(f"config lists {len(promised)} layers, the archive has {len(img.layers)}")
    staged = []
    for member, diff_id in zip(img.layers, promised):
        if member.error is not None:
            raise member.error
        if member.layer is None:  # not recognised as a tar while streaming (an old v7 tar?)
            with open(member.path, "rb") as f:
                member.layer = images.stage_layer(f, member.path.with_name(f"{member.path.name}.layer"))
        if member.layer.diff_id != diff_id:
            raise DigestMismatch(f"digest mismatch: layer should have DiffID {diff_id}, has {member.layer.diff_id}")
        staged.append(member.layer)
    return staged


# -- import -----------------------------------------------------------------

# What ``docker import`` is told besides its source (the Engine API's /images/create?fromSrc= with repo,
# tag, changes and message): ``epoch`` (default: ``SOURCE_DATE_EPOCH``) is the image's creation time and
# clamps the mtimes of a directory's files, so the same rootfs gives the same ID; ``owner`` (uid, gid)
# for every file of a directory.
ImportOptions = namedtuple("ImportOptions", "ref changes message epoch owner", defaults=(None, (), None, None, None))


def import_rootfs(images: Images, source: str, stream: BinaryIO | None,
                  options: ImportOptions = ImportOptions()) -> str:
    """Make a one-layer image from a rootfs tar (file, ``-``, or directory); return its ID."""
    ref, changes, message, epoch, owner = options
    tags = [str(parse(ref))] if ref else []
    container_config: dict = {}
    for line in changes:  # a bad reference or change is reported before anything is read
        changefmt.apply_change(container_config, line)
    store = images.store
    epoch = source_date_epoch() if epoch is None else epoch
    with store.lock():
        if stream is None and os.path.isdir(source):
            chain = images.add_dir_layer(Path(source), None, epoch=epoch, owner=owner)
        else:
            chain = images.add_layer(stream, None)
        diff_id = chain  # a bottom layer's ChainID is its DiffID
        created = rfc3339(epoch if epoch is not None else time.time())
        config = {"architecture": "amd64", "os": "linux", "created": created, "config": container_config,
                  "rootfs": {"type": "layers", "diff_ids": [diff_id]},
                  "history": [{"created": created, "comment": message or f"Imported from {source}"}]}
        if message:
            config["comment"] = message
        data = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
        try:
            return images.add(data, tags=tags)
        except BaseException:
            images.forget_layers([chain])
            raise


def source_date_epoch() -> int | None:
    """``SOURCE_DATE_EPOCH`` (reproducible-builds.org): the time every build claims."""
    value = os.environ.get("SOURCE_DATE_EPOCH")
    if not value:
        return None
    if not value.isdigit():
        raise APIError(f"SOURCE_DATE_EPOCH must be a whole number of seconds, not {value!r}")
    return int(value)
