"""``client.images`` and the ``Image`` model, as docker-py's ``docker.models.images``."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator

from ..display import rfc3339
from ..images.digest import short_id
from ..images.image import ImageRecord, Images
from ..images.reference import familiar, parse
from ..errors import UsageError

TYPE_CHECKING = False  # typing's, without importing typing
if TYPE_CHECKING:
    from typing import BinaryIO


class Image:
    """An image, as docker-py's ``Image`` model."""

    def __init__(self, client, record: ImageRecord):
        self.client, self.record = client, record

    def __repr__(self) -> str:
        return f"<Image: '{', '.join(self.tags)}'>"

    def __eq__(self, other) -> bool:
        return isinstance(other, Image) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def short_id(self) -> str:
        """``sha256:`` and 12 hex digits, as docker-py prints it."""
        return "sha256:" + short_id(self.id)

    @property
    def tags(self) -> list[str]:
        return [familiar(t) for t in self.record.tags]

    @property
    def labels(self) -> dict:
        return self.record.config.get("config", {}).get("Labels") or {}

    @property
    def attrs(self) -> dict:
        """What ``docker image inspect`` prints (ImageInspect)."""
        images, rec = self.client.images.images, self.record
        config = rec.config
        return {
            "Id": rec.id,
            "RepoTags": self.tags,
            "RepoDigests": [familiar(d) for d in rec.digests],
            "Parent": rec.parent or "",
            "Comment": config.get("comment", ""),
            "Created": config.get("created", ""),
            "DockerVersion": config.get("docker_version", ""),
            "Author": config.get("author", ""),
            "Config": container_config(config.get("config") or {}),
            "Architecture": config.get("architecture", ""),
            "Os": config.get("os", ""),
            "Size": images.size(rec),
            "GraphDriver": {"Name": "overlay", "Data": {"LowerDir": ":".join(
                str(images.store.layer_dir(c) / "diff") for c in reversed(rec.chain_ids))}},
            "RootFS": {"Type": "layers", "Layers": rec.diff_ids},
            "Metadata": {"LastTagTime": rfc3339(rec.added)},
        }

    def history(self) -> list[dict]:
        """The image's history, newest first, as docker-py's ``image.history()``."""
        return self.client.images.history_of(self.record)

    def tag(self, repository: str, tag: str | None = None, **_ignored) -> bool:
        """Tag the image as ``repository:tag`` (``tag`` defaults to latest)."""
        self.client.images.images.tag(self.id, f"{repository}:{tag}" if tag else repository)
        self.reload()
        return True

    def save(self, chunk_size: int = 2 << 20, named: bool = False) -> Iterator[bytes]:
        """Yield the image as a ``docker save`` tar, chunk by chunk."""
        name = self.tags[0] if named and self.tags else self.id
        return self.client.images.save_chunks([name], chunk_size)

    def reload(self) -> None:
        """Re-read the image from the store."""
        self.record = self.client.images.images.record(self.id)


def container_config(config: dict) -> dict:
    """An image's container config with the keys docker always prints."""
    base = {"Hostname": "", "Domainname": "", "User": "", "AttachStdin": False,
            "AttachStdout": False, "AttachStderr": False, "Tty": False, "OpenStdin": False,
            "StdinOnce": False, "Env": None, "Cmd": None, "Image": "", "Volumes": None,
            "WorkingDir": "", "Entrypoint": None, "OnBuild": None, "Labels": None}
    return base | config


class ImageCollection:
    """``client.images``: the images of one store."""

    def __init__(self, client):
        self.client = client
        self.images = Images(client.store)

    def get(self, name: str) -> Image:
        """The image a tag, ID or ID prefix names; ``ImageNotFound`` otherwise."""
        return Image(self.client, self.images.get(name))

    def list(self, name: str | None = None, all: bool = False) -> list[Image]:
        """Images, newest first; ``name`` keeps only that repository (and tag)."""
        recs = self.images.list(all=all)
        if name:
            ref = parse(name)
            want = (lambda t: t == str(ref)) if ":" in name.rsplit("/", 1)[-1] else (
                lambda t: t.rsplit(":", 1)[0] == ref.name)
            recs = [r for r in recs if any(want(t) for t in r.tags)]
        return [Image(self.client, r) for r in recs]

    def remove(self, image: str, force: bool = False, noprune: bool = False) -> list[tuple[str, str]]:
        """``rmi``: returns docker's ("Untagged"|"Deleted", name) lines; ``noprune`` keeps the untagged
        parents (a build's steps) that Docker deletes with an image."""
        return self.images.remove(image, force=force, prune=not noprune)

    def prune(self, all: bool = False) -> dict:
        """Remove dangling images (``all``: every unused one) and unused layers, as docker-py's ``images.prune()``."""
        lines, reclaimed = self.images.prune(all=all)
        return {"ImagesDeleted": [{k: v} for k, v in lines], "SpaceReclaimed": reclaimed}

    def load(self, data: bytes | BinaryIO) -> list[Image]:
        """Load a ``save`` archive (bytes or a binary stream); return the images in it."""
        from ..images import archive  # here, not at the top: ``run`` and ``ps`` would pay for tarfile
        stream = io.BytesIO(data) if isinstance(data, (bytes, bytearray)) else data
        self.last_load = archive.load(self.images, stream)
        for _, name in self.last_load:
            self.images.emit("load", name)
        return [self.get(name) for _, name in self.last_load]

    def import_image(self, src: str | os.PathLike | BinaryIO, repository: str | None = None,
                     tag: str | None = None, changes: list[str] = (), message: str | None = None) -> Image:
        """``docker import``: a one-layer image from a rootfs tar, stream, or directory."""
        from ..images import archive
        ref = f"{repository}:{tag}" if repository and tag else repository
        options = archive.ImportOptions(ref, changes, message)
        if hasattr(src, "read"):
            image_id = archive.import_rootfs(self.images, "-", src, options)
        elif os.path.isdir(src):
            image_id = archive.import_rootfs(self.images, str(src), None, options)
        else:
            with open(src, "rb") as f:
                image_id = archive.import_rootfs(self.images, str(src), f, options)
        self.images.emit("import", image_id)
        return self.get(image_id)

    def save_to(self, names: list[str], out: BinaryIO) -> None:
        """Write a ``save`` archive of several images to a stream."""
        from ..images import archive
        archive.save(self.images, names, out)
        for name in names:
            self.images.emit("save", name)

    def save_chunks(self, names: list[str], chunk_size: int) -> Iterator[bytes]:
        """The ``save`` archive as chunks (written to a temp file first, then read back)."""
        with self.client.store.temp_path(".tar") as tmp:
            with open(tmp, "wb") as out:
                self.save_to(names, out)
            with open(tmp, "rb") as f:
                while chunk := f.read(chunk_size):
                    yield chunk

    def pull(self, repository: str, tag: str | None = None, all_tags: bool = False, platform: str | None = None,
             say=None, trace: list | None = None, auth_config: dict | None = None) -> Image | list[Image]:
        """``docker pull``: fetch an image from its registry (``tag``, default ``latest``, or ``@digest``).
        ``auth_config`` (docker-py's ``{"username": ..., "password": ...}``): credentials for this pull only."""
        from ..registry import distribution
        say, credentials = say or (lambda line: None), credentials_of(auth_config)
        if all_tags:
            from ..images.reference import parse
            ref = parse(repository)
            reg = distribution.registry_for(ref, trace=trace, credentials=credentials)
            try:
                tags = reg.tags(ref.path)
            finally:
                reg.close()
            return [self.pull(f"{ref.name}:{t}", platform=platform, say=say, trace=trace, auth_config=auth_config)
                    for t in tags]
        name = f"{repository}:{tag}" if tag and not tag.startswith("sha256:") else \
            f"{repository}@{tag}" if tag else repository
        image = self.get(distribution.pull(self.images, name, platform=platform, say=say, trace=trace,
                                           credentials=credentials))
        self.images.emit("pull", name, repository)
        return image

    def push(self, repository: str, tag: str | None = None, all_tags: bool = False, say=None,
             trace: list | None = None, auth_config: dict | None = None) -> list[tuple[str, str]]:
        """``docker push``: send an image (its missing layers, its config, its manifest) to its registry."""
        from ..registry import distribution
        name = f"{repository}:{tag}" if tag else repository
        lines = distribution.push(self.images, name, all_tags=all_tags, say=say or (lambda line: None), trace=trace,
                                  credentials=credentials_of(auth_config))
        self.images.emit("push", name, repository)
        return lines

    def bootstrap(self) -> Image:
        """Make the course's ``busybox:latest`` from the host's busybox-static if missing."""
        from ..images.bootstrap import bootstrap_busybox
        return self.get(bootstrap_busybox(self.images)[0])

    def history_of(self, rec: ImageRecord) -> list[dict]:
        """History entries newest first, each with the local image ID it produced or <missing>."""
        entries = rec.config.get("history") or [{}] * len(rec.diff_ids)
        ancestors = self._ancestors(rec)
        sizes = iter(self.images.layer_size(c) for c in rec.chain_ids)
        rows = []
        for i, entry in enumerate(entries):
            size = 0 if entry.get("empty_layer") else next(sizes, 0)
            owner = next((a for a in reversed(ancestors) if len(a.config.get("history") or []) > i), None)
            rows.append({"Id": owner.id if owner else "<missing>",
                         "Created": entry.get("created", ""), "CreatedBy": entry.get("created_by", ""),
                         "Tags": [familiar(t) for t in owner.tags] if owner else [],
                         "Size": size, "Comment": entry.get("comment", "")})
        for i, row in enumerate(rows):  # only the last entry of each local image shows its ID
            if i + 1 < len(rows) and rows[i + 1]["Id"] == row["Id"]:
                row["Id"], row["Tags"] = "<missing>", []
        return list(reversed(rows))

    def _ancestors(self, rec: ImageRecord) -> list[ImageRecord]:
        """The image and its local parents, nearest first."""
        chain = [rec]
        while chain[-1].parent:
            try:
                chain.append(self.images.record(chain[-1].parent))
            except (KeyError, FileNotFoundError):
                break
        return chain


def build(client, context, dockerfile: str, name: str, say=print, built=None, **options) -> str:
    """``docker build``: Docker's classic builder (``build/builder.py``) over ``client``'s store; the image ID.

    ``options``: ``tags``, ``build_args``, ``no_cache``, ``target``, ``labels``, ``network_mode``,
    ``extra_hosts``, ``cache_from`` (``BuildOptions``); ``built(image_id)`` is told the ID before "Successfully built" is said.
    """
    from ..build import builder  # only a build pays for importing the builder
    images = client.images.images
    image_id = builder.build(images, client.containers.containers, context, dockerfile, name,
                             builder.BuildOptions(**options), say)
    if built:
        built(image_id)
    builder.tag_built(images, image_id, options.get("tags", ()), say)
    return image_id


def credentials_of(auth_config: dict | None) -> tuple[str, str] | None:
    """docker-py's ``auth_config`` (or the docker CLI's ``X-Registry-Auth``): ``username`` and ``password``,
    or ``auth``, base64 of ``user:password`` as in config.json; None when it names nobody."""
    if not auth_config:
        return None
    if auth_config.get("username"):
        return str(auth_config["username"]), str(auth_config.get("password") or "")
    if auth_config.get("auth"):
        import base64
        import binascii
        try:
            user, _, password = base64.b64decode(auth_config["auth"], validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise UsageError("the credentials' auth is not base64 of user:password") from None
        return user, password
    return None
