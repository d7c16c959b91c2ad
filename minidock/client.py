"""The Python API, shaped like the Docker SDK for Python (docker-py).

    >>> import minidock
    >>> client = minidock.from_env()
    >>> [img.tags for img in client.images.list()]
    [['busybox:latest']]

What a student learns here transfers: ``docker.from_env()``,
``client.images.get/list/load/remove``, ``image.tag()``, ``image.save()``,
``image.attrs`` and the errors ``ImageNotFound`` and ``APIError``.  The command
line (``cli.py``) is a thin layer over this module and nothing else.
"""

from __future__ import annotations

import io
import os
import platform
from pathlib import Path
from typing import BinaryIO, Iterator

from . import __version__, archive
from .bootstrap import bootstrap_busybox
from .digest import short_id
from .display import rfc3339
from .image import ImageRecord, Images
from .reference import familiar, parse
from .store import Store


class Image:
    """An image, as docker-py's ``Image`` model."""

    def __init__(self, client: "Client", record: ImageRecord):
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

    def __init__(self, client: "Client"):
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

    def remove(self, image: str, force: bool = False) -> list[tuple[str, str]]:
        """``rmi``: returns docker's ("Untagged"|"Deleted", name) lines."""
        return self.images.remove(image, force=force)

    def prune(self, all: bool = False) -> dict:
        """Remove dangling images (``all``: every unused one) and unused layers, as docker-py's ``images.prune()``."""
        lines, reclaimed = self.images.prune(all=all)
        return {"ImagesDeleted": [{k: v} for k, v in lines], "SpaceReclaimed": reclaimed}

    def load(self, data: bytes | BinaryIO) -> list[Image]:
        """Load a ``save`` archive (bytes or a binary stream); return the images in it."""
        stream = io.BytesIO(data) if isinstance(data, (bytes, bytearray)) else data
        self.last_load = archive.load(self.images, stream)
        return [self.get(name) for _, name in self.last_load]

    def import_image(self, src: str | os.PathLike | BinaryIO, repository: str | None = None,
                     tag: str | None = None, changes: list[str] = (), message: str | None = None) -> Image:
        """``docker import``: a one-layer image from a rootfs tar, stream, or directory."""
        ref = f"{repository}:{tag}" if repository and tag else repository
        if hasattr(src, "read"):
            image_id = archive.import_rootfs(self.images, "-", src, ref, changes, message)
        elif os.path.isdir(src):
            image_id = archive.import_rootfs(self.images, str(src), None, ref, changes, message)
        else:
            with open(src, "rb") as f:
                image_id = archive.import_rootfs(self.images, str(src), f, ref, changes, message)
        return self.get(image_id)

    def save_to(self, names: list[str], out: BinaryIO) -> None:
        """Write a ``save`` archive of several images to a stream."""
        archive.save(self.images, names, out)

    def save_chunks(self, names: list[str], chunk_size: int) -> Iterator[bytes]:
        """The ``save`` archive as chunks (written to a temp file first, then read back)."""
        with self.client.store.temp_path(".tar") as tmp:
            with open(tmp, "wb") as out:
                self.save_to(names, out)
            with open(tmp, "rb") as f:
                while chunk := f.read(chunk_size):
                    yield chunk

    def bootstrap(self) -> Image:
        """Make the course's ``busybox:latest`` from the host's busybox-static if missing."""
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


class Client:
    """A minidock engine on one store (``docker.DockerClient``'s shape)."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.store = Store(root)
        self.images = ImageCollection(self)

    def version(self) -> dict:
        """Like ``docker version``'s server part."""
        return {"Version": __version__, "ApiVersion": "1.43", "Os": "linux",
                "Arch": platform.machine(), "KernelVersion": platform.release(),
                "PythonVersion": platform.python_version()}

    def info(self) -> dict:
        """Like ``docker info``: what the engine has and where."""
        return {"Images": len(self.images.images.list(all=True)),
                "ServerVersion": __version__, "DockerRootDir": str(self.store.root),
                "Driver": "overlay" if os.geteuid() == 0 else "vfs",
                "KernelVersion": platform.release(), "OperatingSystem": _os_name(),
                "OSType": "linux", "Architecture": platform.machine(),
                "NCPU": os.cpu_count(), "MemTotal": _mem_total()}

    def df(self) -> dict:
        """Like ``docker system df -v``: sizes of images, shared and unique."""
        images = self.images.images
        counts = images.layer_counts()
        rows = []
        for rec in images.list(all=True):
            size, shared = images.size(rec), images.shared_size(rec, counts)
            rows.append({"Id": rec.id, "RepoTags": [familiar(t) for t in rec.tags],
                         "Size": size, "SharedSize": shared, "UniqueSize": size - shared,
                         "Created": rec.created})
        layers = sum(images.layer_size(c) for c in counts)
        return {"Images": rows, "LayersSize": layers}


def _os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return platform.system()


def _mem_total() -> int:
    try:
        kb = Path("/proc/meminfo").read_text().split("\n")[0].split()[1]
        return int(kb) * 1024
    except (OSError, IndexError, ValueError):
        return 0


def from_env() -> Client:
    """A client on the store ``MINIDOCK_ROOT`` names (or the default), like ``docker.from_env()``."""
    return Client()
