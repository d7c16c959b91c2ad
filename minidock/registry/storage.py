"""A registry's storage: blobs stored once for everyone, and what each repository links.

    ROOT/blobs/sha256/<hex>                    every blob and manifest, stored once, by digest
    ROOT/repositories/<name>/_layers/<hex>     (empty) the repository may serve this blob
    ROOT/repositories/<name>/_manifests/<hex>  the repository holds this manifest; holds its media type
    ROOT/repositories/<name>/_tags/<tag>       holds the digest the tag points at
    ROOT/uploads/                              uploads in progress and half-written files; emptied on start

Blobs are shared, but a repository serves only the blobs linked to it, as
distribution does: a blob gets into a second repository by a cross-repository
mount (a new link, no bytes move), and no one reads a layer of a repository
by guessing its digest in another.

Every path is made from a name that came in a URL, so each is first held to
the spec's grammar (``check_name``, ``check_tag``, ``check_digest``).  A name's
components never start with ``.`` or ``_``: a name can neither climb out of
``repositories/`` nor collide with ``_layers``.  Files appear by
``os.replace`` from ``uploads/``, whole or not at all.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import threading
import uuid as uuids
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

# OCI distribution spec, "Pulling manifests": <name> and <reference>.
NAME = re.compile(r"[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*")
TAG = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}")
DIGEST = re.compile(r"sha256:[a-f0-9]{64}")
NAME_MAX = 255  # distribution's limit on a repository name

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
IMAGE_MANIFESTS = (DOCKER_MANIFEST, OCI_MANIFEST)   # point at blobs: a config and layers
INDEXES = (DOCKER_LIST, OCI_INDEX)                  # point at other manifests

# The spec's error codes (and distribution's extras), with distribution's status and message.
ERRORS = {
    "BLOB_UNKNOWN": (404, "blob unknown to registry"),
    "BLOB_UPLOAD_INVALID": (400, "blob upload invalid"),
    "BLOB_UPLOAD_UNKNOWN": (404, "blob upload unknown to registry"),
    "DIGEST_INVALID": (400, "provided digest did not match uploaded content"),
    "MANIFEST_BLOB_UNKNOWN": (400, "blob unknown to registry"),
    "MANIFEST_INVALID": (400, "manifest invalid"),
    "MANIFEST_UNKNOWN": (404, "manifest unknown"),
    "NAME_INVALID": (400, "invalid repository name"),
    "NAME_UNKNOWN": (404, "repository name not known to registry"),
    "PAGINATION_NUMBER_INVALID": (400, "invalid number of results requested"),
    "RANGE_INVALID": (416, "invalid content range"),
    "TAG_INVALID": (400, "manifest tag did not match URI"),
    "UNAUTHORIZED": (401, "authentication required"),
    "UNSUPPORTED": (405, "the operation is unsupported"),
}


class RegistryError(Exception):
    """A request the registry refuses: one of the spec's error codes, and what it was about."""

    def __init__(self, code: str, detail=None, headers: dict | None = None, status: int | None = None):
        self.code, self.detail, self.headers = code, detail, headers or {}
        default_status, self.message = ERRORS[code]
        self.status = status or default_status
        super().__init__(f"{code}: {self.message} ({detail})")

    def body(self) -> dict:
        """The JSON error body of the spec: ``{"errors": [{"code", "message", "detail"}]}``."""
        return {"errors": [{"code": self.code, "message": self.message, "detail": self.detail}]}


def check_name(name: str) -> str:
    if len(name) > NAME_MAX or not NAME.fullmatch(name):
        raise RegistryError("NAME_INVALID", name)
    return name


def check_tag(tag: str) -> str:
    if not TAG.fullmatch(tag):
        raise RegistryError("TAG_INVALID", tag)
    return tag


def check_digest(digest: str) -> str:
    if not DIGEST.fullmatch(digest):
        raise RegistryError("DIGEST_INVALID", f"not a sha256 digest: {digest}")
    return digest


def hex_of(digest: str) -> str:
    return check_digest(digest).split(":", 1)[1]


def manifest_references(data: bytes, media_type: str) -> tuple[str, list[str], list[str]]:
    """(media type, blob digests, manifest digests) a manifest names; MANIFEST_INVALID if it is no manifest.

    The media type is the request's Content-Type, else the manifest's own
    ``mediaType`` field; the two must agree when both are given.
    """
    try:
        manifest = json.loads(data)
        own_type = manifest.get("mediaType")
        media_type = media_type or own_type
        if manifest.get("schemaVersion") != 2 or (own_type and own_type != media_type):
            raise ValueError("schemaVersion 2 and a mediaType that agrees with Content-Type")
        if media_type in IMAGE_MANIFESTS:
            blobs = [manifest["config"]] + [layer for layer in manifest["layers"] if not layer.get("urls")]
            return media_type, [check_digest(b["digest"]) for b in blobs], []
        if media_type in INDEXES:
            return media_type, [], [check_digest(m["digest"]) for m in manifest["manifests"]]
        raise ValueError(f"unsupported media type {media_type!r}")
    except (ValueError, KeyError, TypeError, AttributeError, RegistryError) as e:
        raise RegistryError("MANIFEST_INVALID", str(e)) from None


@dataclass
class Upload:
    """An upload session: the bytes received so far, hashed as they arrive."""
    name: str
    uuid: str
    path: Path
    hash: "hashlib._Hash" = field(default_factory=hashlib.sha256)
    size: int = 0

    def append(self, chunks: Iterable[bytes]) -> None:
        """Add a chunk's bytes to the end of the upload."""
        with open(self.path, "ab") as f:
            for chunk in chunks:
                f.write(chunk)
                self.hash.update(chunk)
                self.size += len(chunk)

    @property
    def digest(self) -> str:
        return "sha256:" + self.hash.hexdigest()


class Storage:
    """The registry's files under one root (see the module's docstring for the layout)."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.blobs = self.root / "blobs" / "sha256"
        self.repositories = self.root / "repositories"
        self.uploads = self.root / "uploads"
        shutil.rmtree(self.uploads, ignore_errors=True)  # sessions live in memory: a restart ends them
        for d in (self.blobs, self.repositories, self.uploads):
            d.mkdir(parents=True, exist_ok=True)
        self._sessions: dict[str, Upload] = {}
        self._lock = threading.Lock()  # manifests and tags change together (DELETE by digest drops tags)

    def repository(self, name: str, must_exist: bool = False) -> Path:
        path = self.repositories / check_name(name)
        if must_exist and not path.is_dir():
            raise RegistryError("NAME_UNKNOWN", name)
        return path

    def _write(self, dest: Path, data: bytes) -> None:
        """Write a small file so readers see all of it or none."""
        tmp = self.uploads / f"write-{uuids.uuid4()}"
        tmp.write_bytes(data)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, dest)

    # -- blobs ------------------------------------------------------------

    def blob(self, name: str, digest: str) -> Path:
        """The file of a blob the repository may serve; BLOB_UNKNOWN otherwise."""
        path = self.blobs / hex_of(digest)
        if not (self.repository(name) / "_layers" / path.name).exists() or not path.is_file():
            raise RegistryError("BLOB_UNKNOWN", digest)
        return path

    def link_blob(self, name: str, digest: str) -> None:
        self._write(self.repository(name) / "_layers" / hex_of(digest), b"")

    def mount_blob(self, name: str, digest: str, source: str) -> bool:
        """Link a blob of repository ``source`` into ``name``; False if ``source`` does not have it."""
        try:
            self.blob(source, digest)
        except RegistryError:
            return False
        self.link_blob(name, digest)
        return True

    def delete_blob(self, name: str, digest: str) -> None:
        """Unlink a blob from the repository (its bytes stay for the others)."""
        self.blob(name, digest)
        (self.repository(name) / "_layers" / hex_of(digest)).unlink(missing_ok=True)

    # -- uploads ----------------------------------------------------------

    def start_upload(self, name: str) -> Upload:
        check_name(name)
        upload_id = str(uuids.uuid4())
        upload = Upload(name, upload_id, self.uploads / upload_id)
        upload.path.touch()
        self._sessions[upload_id] = upload
        return upload

    def upload(self, name: str, upload_id: str) -> Upload:
        """The session ``upload_id`` of repository ``name``; BLOB_UPLOAD_UNKNOWN otherwise."""
        upload = self._sessions.get(upload_id)
        if upload is None or upload.name != check_name(name):
            raise RegistryError("BLOB_UPLOAD_UNKNOWN", upload_id)
        return upload

    def cancel_upload(self, upload: Upload) -> None:
        self._sessions.pop(upload.uuid, None)
        upload.path.unlink(missing_ok=True)

    def finish_upload(self, upload: Upload, digest: str) -> None:
        """Store the upload as the blob ``digest``, if that is what its bytes hash to; end the session.

        DIGEST_INVALID on a mismatch, and nothing is stored: a blob's name is a
        promise about its bytes.
        """
        self._sessions.pop(upload.uuid, None)  # the session ends either way
        if not DIGEST.fullmatch(digest) or upload.digest != digest:
            upload.path.unlink(missing_ok=True)
            raise RegistryError("DIGEST_INVALID", f"expected {digest}, got {upload.digest}")
        os.replace(upload.path, self.blobs / hex_of(digest))
        self.link_blob(upload.name, digest)

    # -- manifests and tags -------------------------------------------------

    def put_manifest(self, name: str, reference: str, data: bytes, media_type: str) -> str:
        """Store a manifest's exact bytes under ``reference`` (a tag or its digest); return its digest.

        Like distribution, refuse a manifest whose blobs (or, for an index,
        manifests) the repository does not have: MANIFEST_BLOB_UNKNOWN.
        """
        repo = self.repository(name)
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if DIGEST.fullmatch(reference):
            if reference != digest:
                raise RegistryError("DIGEST_INVALID", f"expected {reference}, got {digest}")
        else:
            check_tag(reference)
        media_type, blobs, manifests = manifest_references(data, media_type)
        for blob in blobs:
            if not (repo / "_layers" / hex_of(blob)).exists():
                raise RegistryError("MANIFEST_BLOB_UNKNOWN", blob)
        for child in manifests:
            if not (repo / "_manifests" / hex_of(child)).exists():
                raise RegistryError("MANIFEST_BLOB_UNKNOWN", child)
        with self._lock:
            self._write(self.blobs / hex_of(digest), data)
            self._write(repo / "_manifests" / hex_of(digest), media_type.encode())
            if reference != digest:
                self._write(repo / "_tags" / reference, digest.encode())
        return digest

    def resolve(self, name: str, reference: str) -> str:
        """The digest a tag or digest names in the repository; MANIFEST_UNKNOWN if none."""
        repo = self.repository(name, must_exist=True)
        if DIGEST.fullmatch(reference):
            if (repo / "_manifests" / hex_of(reference)).exists():
                return reference
        elif (repo / "_tags" / check_tag(reference)).exists():
            return (repo / "_tags" / reference).read_text()
        raise RegistryError("MANIFEST_UNKNOWN", reference)

    def manifest(self, name: str, reference: str) -> tuple[str, str, Path]:
        """(digest, media type, file) of the manifest ``reference`` names."""
        digest = self.resolve(name, reference)
        media_type = (self.repository(name) / "_manifests" / hex_of(digest)).read_text()
        return digest, media_type, self.blobs / hex_of(digest)

    def delete_manifest(self, name: str, reference: str) -> None:
        """A tag: untag.  A digest: the manifest leaves the repository, with every tag on it."""
        repo = self.repository(name)
        with self._lock:
            digest = self.resolve(name, reference)
            if reference != digest:
                (repo / "_tags" / reference).unlink()
                return
            for tag in self.tags(name):
                if (repo / "_tags" / tag).read_text() == digest:
                    (repo / "_tags" / tag).unlink()
            (repo / "_manifests" / hex_of(digest)).unlink()

    def tags(self, name: str) -> list[str]:
        tags = self.repository(name, must_exist=True) / "_tags"
        return sorted(p.name for p in tags.iterdir()) if tags.is_dir() else []

    def catalog(self) -> list[str]:
        """Every repository name, sorted: directories that hold ``_layers`` or ``_manifests``."""
        names = []
        for path, dirs, _ in os.walk(self.repositories):
            if "_layers" in dirs or "_manifests" in dirs:
                names.append(os.path.relpath(path, self.repositories))
            dirs[:] = [d for d in dirs if not d.startswith("_")]
        return sorted(names)
