"""``client.volumes`` and the ``Volume`` model, as docker-py's ``docker.models.volumes``.

    >>> v = client.volumes.create("data", labels={"course": "07"})
    >>> client.containers.run("busybox", "sh -c 'echo hi > /data/f'", volumes={"data": {"bind": "/data"}})
    b''
    >>> [v.name for v in client.volumes.list()]
    ['data']
"""

from __future__ import annotations

from ..containers.mounts import parse_mount_flag, shown  # noqa: F401  (parse_mount_flag: the CLI's --mount)
from ..containers.volumes import Volumes


class Volume:
    """A volume, as docker-py's ``Volume`` model: ``name``, ``attrs``, ``remove(force)``."""

    def __init__(self, collection: VolumeCollection, name: str):
        self.collection, self.name = collection, name

    def __repr__(self) -> str:
        return f"<Volume: {self.name[:12]}>"

    def __eq__(self, other) -> bool:
        return isinstance(other, Volume) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)

    @property
    def id(self) -> str:
        return self.name

    @property
    def attrs(self) -> dict:
        """What ``docker volume inspect`` prints."""
        return self.collection.volumes.get(self.name)

    def reload(self) -> None:
        """docker-py re-reads attrs; ours are read fresh every time."""

    def remove(self, force: bool = False) -> None:
        self.collection.volumes.remove(self.name, force=force)


class VolumeCollection:
    """``client.volumes``: the volumes of one store."""

    def __init__(self, client):
        self.client = client

    @property
    def volumes(self) -> Volumes:
        return self.client.containers.containers.volumes

    def create(self, name: str | None = None, driver: str | None = None, driver_opts: dict | None = None,
               labels: dict | None = None) -> Volume:
        return Volume(self, self.volumes.create(name, labels, driver or "local", driver_opts)["Name"])

    def get(self, volume_id: str) -> Volume:
        return Volume(self, self.volumes.get(volume_id)["Name"])

    def list(self, filters: dict | None = None) -> list[Volume]:
        """Every volume; ``filters={"dangling": True, "label": "k=v", "name": "..."}`` as docker-py takes them."""
        return [Volume(self, record["Name"]) for record in self.volumes.list(filter_lists(filters))]

    def prune(self, filters: dict | None = None, all: bool = False) -> dict:
        """Remove unused volumes: anonymous ones only unless ``all`` (Docker 23+)."""
        return self.volumes.prune(all, filter_lists(filters))


def filter_lists(filters: dict | None) -> dict[str, list[str]]:
    """docker-py's filters (a value, or a list of them; booleans as "true"/"false") as lists of strings."""
    lists = {}
    for key, value in (filters or {}).items():
        values = value if isinstance(value, list) else [value]
        lists[key] = [str(v).lower() if isinstance(v, bool) else str(v) for v in values]
    return lists


def container_mounts(config: dict) -> list[dict]:
    """A container's ``Mounts``, as inspect and ``ps`` show them (``--tmpfs`` is not among them)."""
    return [shown(m) for m in config.get("Mounts") or [] if m.get("Listed", True)]


def mounts_volume(config: dict, volume: str) -> bool:
    """``ps --filter volume=``: a volume's name, or a mount's destination, as Docker matches it."""
    return any(volume in (m.get("Name"), m["Destination"]) for m in config.get("Mounts") or [])
