"""``pull`` and ``push``: moving an image between the store and a registry.

An image in a registry is a *manifest* (JSON naming a config blob and the
layer blobs, each by digest) under a tag of a repository.  ``pull`` fetches
the manifest (through an *index* to the linux/amd64 one when the tag names
several platforms), then the config, then each layer the store does not have
yet, verifying every digest while the bytes stream by, and extracting each
layer as it arrives.  ``push`` does the reverse, skipping every blob the
registry has already (``HEAD``), or *mounting* it from another repository of
the same registry instead of sending it again.

References without a registry host mean Docker Hub (``docker.io``), as in
Docker; this machine has no network, so such a pull goes to the mirror set in
``MINIDOCK_REGISTRY_MIRROR`` or the config file's ``registry-mirrors`` (as
Docker's daemon.json), or is refused before any packet leaves.
"""

from __future__ import annotations

import http.client
import json
import os
import urllib.parse
from typing import Callable

from .. import progress
from ..images.digest import HashingReader, chain_id, sha256_bytes
from ..errors import APIError, DigestMismatch, InvalidReference, MinidockError
from ..images.image import Images, check_depth
from ..images.reference import DEFAULT_DOMAIN, Reference, parse
from . import auth
from .client import (DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST, Registry, scheme_for)

DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
LAYER_TYPES = {DOCKER_LAYER, "application/vnd.docker.image.rootfs.diff.tar.gzip",
               "application/vnd.oci.image.layer.v1.tar", "application/vnd.oci.image.layer.v1.tar+gzip"}
MAX_JSON = 16 << 20
CHUNKED_ABOVE = 64 << 20  # blobs larger than this are sent in PATCH chunks of CHUNK bytes
CHUNK = 16 << 20
HUB = "registry-1.docker.io"
SOURCES = "distribution.json"  # which repositories of which registry hold a blob (for mounts)

Say = Callable[[str], None]


def settings() -> dict:
    """The config file's ``registry-mirrors`` and ``insecure-registries`` (daemon.json's keys)."""
    try:
        return json.loads((auth.config_dir() / "config.json").read_text())
    except FileNotFoundError:
        return {}


def endpoint(domain: str, *, pushing: bool = False) -> tuple[str, str]:
    """(host, scheme) to talk to for a reference's registry ``domain``."""
    conf = settings()
    if domain == DEFAULT_DOMAIN:
        mirror = os.environ.get("MINIDOCK_REGISTRY_MIRROR") or next(iter(conf.get("registry-mirrors", [])), "")
        if pushing or not mirror:
            what = "push to" if pushing else "pull from"
            hint = ("tag the image for a registry on this machine, e.g. 127.0.0.1:5000/NAME" if pushing else
                    "set MINIDOCK_REGISTRY_MIRROR to a registry on this machine (e.g. http://127.0.0.1:5000)")
            raise APIError(f"cannot {what} Docker Hub ({HUB}): this machine has no network; {hint}")
        url = urllib.parse.urlsplit(mirror if "://" in mirror else "http://" + mirror)
        return url.netloc, url.scheme
    return domain, scheme_for(domain, conf.get("insecure-registries", []))


def registry_for(ref: Reference, *, pushing: bool = False, trace: list | None = None,
                 credentials: tuple[str, str] | None = None) -> Registry:
    """The registry ``ref`` names; ``credentials`` (a daemon's client sent them) instead of the saved ones."""
    host, scheme = endpoint(ref.domain, pushing=pushing)
    return Registry(host, scheme, trace, credentials)


# -- pull -------------------------------------------------------------------

def pull(images: Images, name: str, *, platform: str | None = None, say: Say = lambda line: None,
         trace: list | None = None, credentials: tuple[str, str] | None = None) -> str:
    """Pull ``name`` (tag, or ``@digest``) into the store; return the image ID."""
    ref = parse(name)
    reg = registry_for(ref, trace=trace, credentials=credentials)
    try:
        data, digest = _manifest(reg, ref, ref.digest or ref.tag)
        # after the manifest, as dockerd: an unknown image or a refused login is the answer's error
        # ("Error response from daemon: ..."), not a line in a stream that has begun
        say(f"{ref.tag or ref.digest}: Pulling from {ref.path}")
        manifest = _pick(reg, ref, json.loads(data), platform)
        config_bytes = _config_blob(reg, ref, manifest["config"])
        config = json.loads(config_bytes)
        diff_ids = config.get("rootfs", {}).get("diff_ids", [])
        layers = manifest.get("layers", [])
        check_depth(len(diff_ids))
        if len(diff_ids) != len(layers):
            raise APIError(f"{ref}: the manifest lists {len(layers)} layers, the config {len(diff_ids)}")
        before = _tagged(images, ref)
        with images.store.lock():
            _pull_layers(images, reg, ref, layers, diff_ids, say)
            image_id = images.add(config_bytes, tags=[str(ref)] if ref.tag else [])
            images.add_digest(image_id, f"{ref.name}@{digest}")
    finally:
        reg.close()
    say(f"Digest: {digest}")
    news = "Image is up to date for" if before == image_id else "Downloaded newer image for"
    say(f"Status: {news} {ref.familiar()}")
    return image_id


def _tagged(images: Images, ref: Reference) -> str | None:
    try:
        return images.resolve(str(ref))
    except MinidockError:
        return None


def _manifest(reg: Registry, ref: Reference, reference: str) -> tuple[bytes, str]:
    """A manifest's bytes and digest; fetched by digest, the bytes must hash to it."""
    data, media_type, header = reg.manifest(ref.path, reference)
    digest = sha256_bytes(data)
    if reference.startswith("sha256:") and digest != reference:
        raise DigestMismatch(f"manifest digest mismatch: asked for {reference}, got {digest}")
    if header and header.startswith("sha256:") and header != digest:
        raise DigestMismatch(f"manifest digest mismatch: the registry says {header}, the bytes hash to {digest}")
    return data, digest


def _pick(reg: Registry, ref: Reference, doc: dict, platform: str | None) -> dict:
    """The image manifest itself: through an index, the one for ``platform`` (default linux/amd64)."""
    if doc.get("schemaVersion") == 1:
        raise APIError(f"{ref}: schema 1 manifests are not supported (they predate content-addressed images)")
    if doc.get("mediaType") in (DOCKER_LIST, OCI_INDEX) or "manifests" in doc:
        os_, arch, *variant = (platform or "linux/amd64").split("/")
        for entry in doc.get("manifests", []):
            plat = entry.get("platform", {})
            if (plat.get("os"), plat.get("architecture")) == (os_, arch) and \
                    (not variant or plat.get("variant") == variant[0]):
                data, _ = _manifest(reg, ref, entry["digest"])
                return _pick(reg, ref, json.loads(data), platform)
        raise APIError(f"no matching manifest for {platform or 'linux/amd64'} in the manifest list entries")
    if doc.get("mediaType", OCI_MANIFEST) not in (DOCKER_MANIFEST, OCI_MANIFEST) or "config" not in doc:
        raise APIError(f"{ref}: unsupported manifest type {doc.get('mediaType')!r}")
    return doc


def _config_blob(reg: Registry, ref: Reference, desc: dict) -> bytes:
    """The config blob, read whole and checked against its digest."""
    if desc.get("size", 0) > MAX_JSON:
        raise APIError(f"{ref}: the image config is {desc['size']} bytes, too large to be one")
    resp = reg.blob(ref.path, desc["digest"])
    data = _BlobReader(resp, reg.host, desc["digest"]).read(MAX_JSON + 1)
    if sha256_bytes(data) != desc["digest"]:
        raise DigestMismatch(f"digest mismatch: blob {desc['digest']} hashes to {sha256_bytes(data)}")
    return data


def _pull_layers(images: Images, reg: Registry, ref: Reference, layers: list[dict], diff_ids: list[str],
                 say: Say) -> None:
    """Fetch and extract every layer the store lacks, bottom first.

    Each layer goes into the store as soon as it is verified, so a pull
    interrupted (ctrl-c) and run again fetches only what is missing.  A
    failure (a wrong digest, a registry error) removes what this pull added.
    """
    chain, made = None, []
    try:
        for desc, diff_id in zip(layers, diff_ids):
            short = desc["digest"].split(":")[-1][:12]
            wanted = chain_id(diff_id, chain)
            if (images.store.layer_dir(wanted) / "layer.json").exists():
                say(f"{short}: Already exists")
                chain = wanted
                continue
            if desc.get("mediaType", DOCKER_LAYER) not in LAYER_TYPES:
                raise APIError(f"{ref}: layer {short} has media type {desc.get('mediaType')!r}, "
                               "which minidock cannot extract")
            say(f"{short}: Pulling fs layer")
            chain = _pull_layer(images, reg, ref, desc, diff_id, chain, say)
            made.append(chain)
            say(f"{short}: Pull complete")
    except MinidockError:
        images.forget_layers(made)
        raise


def _pull_layer(images: Images, reg: Registry, ref: Reference, desc: dict, diff_id: str,
                parent: str | None, say: Say) -> str:
    """One layer: streamed from the registry into extraction, both of its digests checked."""
    short = desc["digest"].split(":")[-1][:12]
    resp = reg.blob(ref.path, desc["digest"])
    size = desc.get("size") or resp.length
    with images.store.temp_path() as tmp, \
            progress.metered(_BlobReader(resp, reg.host, desc["digest"]), f"{short}: Downloading", size) as body:
        src = HashingReader(body)
        staged = images.stage_layer(src, tmp)
        while src.read(CHUNK):
            pass  # what follows the tar's end, if anything: it is part of the blob's digest
        say(f"{short}: Verifying Checksum")
        if src.digest != desc["digest"]:
            raise DigestMismatch(f"digest mismatch: blob {desc['digest']} hashes to {src.digest}")
        if staged.diff_id != diff_id:
            raise DigestMismatch(f"digest mismatch: layer should have DiffID {diff_id}, has {staged.diff_id}")
        say(f"{short}: Download complete")
        return images.commit_layer(staged, parent)


class _BlobReader:
    """A blob's HTTP body; a connection that ends early is one clear error, not a traceback."""

    def __init__(self, resp: http.client.HTTPResponse, host: str, digest: str):
        self.resp, self.host, self.digest = resp, host, digest

    def read(self, n: int = -1) -> bytes:
        try:
            data = self.resp.read(n if n >= 0 else None)
        except (http.client.HTTPException, OSError) as e:
            raise APIError(f"{self.host} broke off blob {self.digest[:19]}: "
                           f"{type(e).__name__} {e}".strip()) from None
        if not data and n != 0 and self.resp.length:  # http.client returns b"" at a premature end
            raise APIError(f"{self.host} broke off blob {self.digest[:19]}: "
                           f"{self.resp.length} of the bytes its Content-Length announced never came")
        return data


# -- push -------------------------------------------------------------------

def push(images: Images, name: str, *, all_tags: bool = False, say: Say = lambda line: None,
         trace: list | None = None, credentials: tuple[str, str] | None = None) -> list[tuple[str, str]]:
    """Push the image(s) ``name`` names; return (tag, manifest digest) for each."""
    ref = parse(name)
    if ref.digest:
        raise InvalidReference(f"cannot push a digest reference: {name}")
    tags = _tags_of(images, ref) if all_tags else [ref]
    reg = registry_for(ref, pushing=True, trace=trace, credentials=credentials)
    say(f"The push refers to repository [{ref.familiar_name}]")
    pushed = []
    try:
        for tag_ref in tags:
            rec = images.get(str(tag_ref))
            images.refuse_damaged(rec, tag_ref.familiar())   # never pushed as good once `system check` found it damaged
            for diff_id, chain in reversed(list(zip(rec.diff_ids, rec.chain_ids))):
                _push_layer(images, reg, ref, diff_id, chain, say)
            config = images.store.read_blob(rec.id)
            if not reg.has_blob(ref.path, rec.id):
                reg.upload(ref.path, rec.id, _Bytes(config), len(config))
            manifest = _docker_manifest(images, rec, config)
            digest = sha256_bytes(manifest)
            answered = reg.put_manifest(ref.path, tag_ref.tag, manifest, DOCKER_MANIFEST)
            if answered and answered != digest:
                raise DigestMismatch(f"the registry stored the manifest as {answered}, not {digest}")
            images.add_digest(rec.id, f"{ref.name}@{digest}")
            say(f"{tag_ref.tag}: digest: {digest} size: {len(manifest)}")
            pushed.append((tag_ref.tag, digest))
    finally:
        reg.close()
    return pushed


def _tags_of(images: Images, ref: Reference) -> list[Reference]:
    """``push -a``: every tag of the repository."""
    tags = sorted({t for r in images.list(all=True) for t in r.tags if parse(t).name == ref.name})
    if not tags:
        raise APIError(f"An image does not exist locally with the tag: {ref.familiar_name}")
    return [parse(t) for t in tags]


def _push_layer(images: Images, reg: Registry, ref: Reference, diff_id: str, chain: str, say: Say) -> None:
    """One layer: skipped if the registry has it, mounted if another repository there has it, else sent."""
    short = diff_id.split(":")[-1][:12]
    host_sources = images.store.read_json(SOURCES, {}).get(reg.host, {})
    if reg.has_blob(ref.path, diff_id):
        say(f"{short}: Layer already exists")
    elif mounted_from := next((src for src in host_sources.get(diff_id, [])
                               if src != ref.path and reg.mount(ref.path, diff_id, src)), None):
        say(f"{short}: Mounted from {mounted_from}")
    else:
        size = images.layer_tar_size(chain)
        with images.open_layer(chain) as tar, progress.metered(tar, f"{short}: Pushing", size) as body:
            reg.upload(ref.path, diff_id, body, size, chunk=CHUNK if size > CHUNKED_ABOVE else None)
        say(f"{short}: Pushed")
    _remember(images, reg.host, diff_id, ref.path)


def _remember(images: Images, host: str, digest: str, repo: str) -> None:
    """Note that ``repo`` on ``host`` holds blob ``digest`` (docker keeps the same, for mounts)."""
    with images.store.lock():
        sources = images.store.read_json(SOURCES, {})
        repos = sources.setdefault(host, {}).setdefault(digest, [])
        if repo not in repos:
            repos.append(repo)
            images.store.write_json(SOURCES, sources)


def _docker_manifest(images: Images, rec, config: bytes) -> bytes:
    """Docker's image manifest v2 schema 2, layers sent uncompressed (podman and skopeo take them)."""
    layers = [{"mediaType": DOCKER_LAYER, "size": images.layer_tar_size(c), "digest": d}
              for d, c in zip(rec.diff_ids, rec.chain_ids)]
    manifest = {"schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
                "config": {"mediaType": DOCKER_CONFIG, "size": len(config), "digest": rec.id},
                "layers": layers}
    return json.dumps(manifest, indent=3).encode()


class _Bytes:
    """Bytes as a readable stream (http.client sends file-likes in blocks)."""

    def __init__(self, data: bytes):
        self.data, self.at = data, 0

    def read(self, n: int = -1) -> bytes:
        end = len(self.data) if n < 0 else self.at + n
        chunk, self.at = self.data[self.at:end], min(end, len(self.data))
        return chunk
