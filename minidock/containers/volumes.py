"""Volumes: directories in the store that outlive containers (Docker's ``local`` volume driver).

A volume is ``ROOT/volumes/NAME/_data`` (what containers mount) beside ``volume.json`` (its
record: Name, Driver, Mountpoint, CreatedAt, Labels, Scope, Options), as Docker keeps
``/var/lib/docker/volumes/NAME/_data``.  A volume is made whole in ``tmp/`` and renamed into
place, so a crash leaves none half-made.  An anonymous volume (``-v /data``) has a random 64-hex
name and the label ``com.docker.volume.anonymous`` (Docker 23+): ``docker rm -v`` and ``--rm``
remove it with its container, and ``volume prune`` removes only those unless ``all``.

A volume in use by a container, running or not, is not removed (409, "volume is in use") unless
forced; which containers use it the container layer says (``in_use``).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from ..display import rfc3339
from ..errors import Conflict, Damaged, InvalidParameter, NotFound
from ..images import journal
from ..images.store import Store, tree_size
from ..runtime import durable
from .mounts import check_volume_name

ANONYMOUS = "com.docker.volume.anonymous"
LIST_FILTERS = ("dangling", "name", "label", "driver")


class Volumes:
    """The volumes of one store."""

    def __init__(self, store: Store):
        self.store = store
        self.root = store.root / "volumes"
        self.root.mkdir(exist_ok=True)
        self.in_use = lambda name: []   # the container layer's: IDs of the containers that use a volume

    def names(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if (p / "volume.json").exists())

    def data_dir(self, name: str) -> Path:
        return self.root / name / "_data"

    def get(self, name: str) -> dict:
        """A volume's record (``docker volume inspect``); 404 "no such volume"."""
        if not isinstance(name, str) or not name or "/" in name or name in (".", ".."):
            raise NotFound(f"get {name}: no such volume")
        try:
            return durable.read_json(self.root / name / "volume.json", f"volume {name}'s record")
        except FileNotFoundError:
            raise NotFound(f"get {name}: no such volume") from None

    def create(self, name: str | None = None, labels: dict | None = None, driver: str = "local",
               options: dict | None = None) -> dict:
        """A new volume (anonymous without a name); an existing one of that name is answered as is, as Docker does."""
        if driver not in ("local", "", None):
            raise NotFound(f"create {name}: error looking up volume plugin {driver}: plugin \"{driver}\" not found")
        if options:
            raise InvalidParameter(f"create {name}: minidock's local driver takes no options (given {options})")
        labels = dict(labels or {})
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
            raise InvalidParameter("volume labels must be strings")
        if not name:
            name, labels = os.urandom(32).hex(), labels | {ANONYMOUS: ""}
        check_volume_name(name)
        with self.store.lock():
            if (self.root / name / "volume.json").exists():
                return self.get(name)
            record = {"CreatedAt": rfc3339(time.time()), "Driver": "local", "Labels": labels,
                      "Mountpoint": str(self.data_dir(name)), "Name": name, "Options": None, "Scope": "local"}
            with self.store.temp_path() as tmp:
                (tmp / "_data").mkdir(parents=True)
                (tmp / "volume.json").write_text(json.dumps(record, indent=1))
                durable.fsync_file(tmp / "volume.json")   # the record is on the disk before its name
                durable.rename(tmp, self.root / name)
        journal.record(self.store.root, "volume", "create", name, {"driver": "local"})
        return record

    def list(self, filters: dict | None = None) -> list[dict]:
        """Every volume's record, by name; ``filters`` as ``docker volume ls -f`` (dangling, name, label, driver)."""
        filters = filters or {}
        unknown = sorted(set(filters) - set(LIST_FILTERS))
        if unknown:
            raise InvalidParameter(f"invalid filter '{unknown[0]}'")
        found = []
        for name in self.names():
            with_record = self._maybe(name)
            if with_record is not None and self._matches(with_record, filters):
                found.append(with_record)
        return found

    def _maybe(self, name: str) -> dict | None:
        try:
            return self.get(name)
        except NotFound:
            return None   # removed while we looked
        except Damaged as e:
            durable.warn(e, f"volume {name}")
            return None

    def _matches(self, record: dict, filters: dict) -> bool:
        def label(spec: str) -> bool:
            key, eq, value = spec.partition("=")
            return key in record["Labels"] and (not eq or record["Labels"][key] == value)
        dangling = filters.get("dangling")
        if dangling and any(v not in ("true", "false", "1", "0") for v in dangling):
            raise InvalidParameter(f"invalid filter 'dangling={dangling[0]}'")
        return ((not dangling or (dangling[-1] in ("true", "1")) == (not self.in_use(record["Name"])))
                and (not filters.get("name") or any(n in record["Name"] for n in filters["name"]))
                and all(label(s) for s in filters.get("label", []))
                and (not filters.get("driver") or record["Driver"] in filters["driver"]))

    def remove(self, name: str, force: bool = False) -> None:
        """``docker volume rm``: 409 while a container uses it; ``force`` passes over a missing one quietly
        (not one in use)."""
        with self.store.lock():
            try:
                self.get(name)
            except NotFound:
                if force:
                    return
                raise NotFound(f"get {name}: no such volume") from None
            users = self.in_use(name)
            if users:
                raise Conflict(f"remove {name}: volume is in use - [{', '.join(users)}]")
            self._delete(name)

    def _delete(self, name: str) -> None:
        """Rename the volume out of sight first: a reader never sees one half removed."""
        with self.store.temp_path() as tmp:
            os.replace(self.root / name, tmp)
        journal.record(self.store.root, "volume", "destroy", name, {"driver": "local"})

    def prune(self, all: bool = False, filters: dict | None = None) -> dict:
        """Remove the volumes no container uses: anonymous ones only unless ``all`` (API 1.42+)."""
        deleted, reclaimed = [], 0
        labels = (filters or {}).get("label", [])
        with self.store.lock():
            for record in self.list({"label": labels} if labels else None):
                if not all and ANONYMOUS not in record["Labels"] or self.in_use(record["Name"]):
                    continue
                reclaimed += self.size(record["Name"])
                self._delete(record["Name"])
                deleted.append(record["Name"])
        return {"VolumesDeleted": deleted, "SpaceReclaimed": reclaimed}

    def size(self, name: str) -> int:
        """Bytes of the files in the volume (``docker system df -v``'s Size)."""
        return tree_size(self.data_dir(name))

    def remove_anonymous(self, names: list[str]) -> None:
        """What ``rm -v`` and ``--rm`` do after the container is gone: its anonymous volumes, unless
        another container uses them."""
        for name in names:
            record = self._maybe(name)
            if record is not None and ANONYMOUS in record["Labels"]:
                try:
                    self.remove(name)
                except Conflict:
                    continue
