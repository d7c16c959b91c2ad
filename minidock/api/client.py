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

import itertools
import os
import time
from pathlib import Path

from .. import __version__
from .containers import ContainerCollection
from .images import ImageCollection
from .networks import NetworkCollection
from .volumes import VolumeCollection
from ..images.reference import familiar
from ..images.store import Store


class Client:
    """A minidock engine on one store (``docker.DockerClient``'s shape)."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.store = Store(root)
        self.images = ImageCollection(self)
        self.containers = ContainerCollection(self)
        self.networks = NetworkCollection(self)
        self.volumes = VolumeCollection(self)

    def version(self) -> dict:
        """Like ``docker version``'s server part."""
        import platform  # here, not at the top: every command would pay for it
        return {"Version": __version__, "ApiVersion": "1.43", "Os": "linux",
                "Arch": platform.machine(), "KernelVersion": platform.release(),
                "PythonVersion": platform.python_version()}

    def info(self) -> dict:
        """Like ``docker info``: what the engine has and where, and which run mode is in force."""
        import platform
        from ..runtime import cgroups, mode
        run_mode, why = mode.detect()
        from .containers import status_word
        states = [status_word(self.containers.containers.state(c)) for c in self.containers.containers.ids()]
        return {"RunMode": run_mode, "RunModeReason": why, "Isolation": mode.ISOLATES[run_mode],
                "Network": mode.network(run_mode),
                "SecurityOptions": mode.SECURITY_OPTIONS[run_mode],
                "Containers": len(states), "ContainersRunning": states.count("running"),
                "ContainersPaused": states.count("paused"),
                "ContainersStopped": states.count("exited"),
                "CgroupVersion": cgroups.cgroup_version(),
                "Images": len(self.images.images.list(all=True)),
                "ServerVersion": __version__, "DockerRootDir": str(self.store.root),
                "Driver": "overlay" if os.geteuid() == 0 else "vfs",
                "KernelVersion": platform.release(), "OperatingSystem": _os_name(),
                "OSType": "linux", "Architecture": platform.machine(),
                "NCPU": os.cpu_count(), "MemTotal": _mem_total()}

    def events(self, since: float | None = None, until: float | None = None, filters: dict | None = None,
               stopped=lambda: False):
        """Like docker-py's ``client.events(decode=True)``: the events (dicts) from ``since`` (Unix
        seconds; None: from now on, even with ``until``) to ``until`` (None: follow until ``stopped()``).
        ``filters``: Docker's, ``{"type": ["container"], "event": ["die"]}``."""
        from ..images import journal
        root = self.store.root
        since_ns = None if since is None else int(since * 10**9)
        until_ns = None if until is None else int(until * 10**9)
        if since_ns is not None:      # without since, only what comes from now on (Docker's rule)
            old, position = journal.past(root)
            old = [e for e in old if since_ns <= e["timeNano"]]
        else:
            old, position = [], journal.now(root)

        def over() -> bool:
            return until_ns is not None and time.time_ns() > until_ns or stopped()

        for e in itertools.chain(old, journal.follow(root, position, over)):
            if journal.matches(e, filters or {}) and (until_ns is None or e["timeNano"] <= until_ns):
                yield e

    def df(self) -> dict:
        """Like ``docker system df -v``: sizes of images (shared and unique, and how many containers
        use each), of the containers' writable layers and of the volumes."""
        from .containers import status_text
        images, containers = self.images.images, self.containers.containers
        counts = images.layer_counts()
        configs = {cid: containers.config(cid) for cid in containers.ids()}
        image_rows = []
        for rec in images.list(all=True):
            size, shared = images.size(rec), images.shared_size(rec, counts)
            image_rows.append({"Id": rec.id, "RepoTags": [familiar(t) for t in rec.tags],
                               "Size": size, "SharedSize": shared, "UniqueSize": size - shared,
                               "Created": rec.created,
                               "Containers": sum(config["Image"] == rec.id for config in configs.values())})
        layers = sum(images.layer_size(c) for c in counts)
        container_rows = []
        for cid, config in configs.items():
            state = containers.state(cid)
            container_rows.append({"Id": cid, "Names": [config["Name"]], "Image": config["ImageName"],
                                   "ImageID": config["Image"], "Command": " ".join([config["Path"], *config["Args"]]),
                                   "Created": config["Created"], "SizeRw": containers.size_rw(cid),
                                   "State": state["Status"], "Status": status_text(state)})
        volumes = containers.volumes
        volume_rows = [record | {"UsageData": {"Size": volumes.size(record["Name"]),
                                               "RefCount": len(volumes.in_use(record["Name"]))}}
                       for record in volumes.list()]
        return {"Images": image_rows, "LayersSize": layers, "Containers": container_rows, "Volumes": volume_rows}


def _os_name() -> str:
    import platform
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
