"""Helpers for the course's notebooks: a fresh store per chapter, and exercise checks.

Every chapter starts with one visible line::

    client = minidock.course.start("01-images")

which gives the notebook a store of its own (so chapters run alone, in any
order, and never touch the teacher's images), makes the base image in it, and
fixes the clock images are stamped with, so every image ID printed in a
chapter is the same on every machine, run after run.

Each chapter ends with exercises, each checked by one line (``minidock/exercises.py``)::

    course.check("01-images", 3, client)
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from .client import Client
from .exercises import check  # noqa: F401  (the notebooks' checker: course.check(chapter, n, client))

# 2023-11-14T22:13:20Z: the time every image made in a chapter claims
# (reproducible-builds.org's SOURCE_DATE_EPOCH), so IDs do not depend on when
# a notebook ran.
COURSE_EPOCH = 1700000000


def course_root(chapter: str) -> Path:
    """Where a chapter's store lives: under MINIDOCK_COURSE_DIR or the temp dir."""
    base = os.environ.get("MINIDOCK_COURSE_DIR") or os.path.join(tempfile.gettempdir(), "minidock-course")
    return Path(base) / chapter


def start(chapter: str) -> Client:
    """A fresh store for ``chapter`` with ``busybox:latest`` in it; the CLI uses it too."""
    root = course_root(chapter)
    _remove_containers(root)  # a chapter that stopped halfway may have left some running
    shutil.rmtree(root, ignore_errors=True)
    os.environ["MINIDOCK_ROOT"] = str(root)          # for `!minidock ...` cells
    os.environ["SOURCE_DATE_EPOCH"] = str(COURSE_EPOCH)
    client = Client(root)
    client.images.bootstrap()
    return client


def registry(client: Client):
    """Start the chapter's own registry on 127.0.0.1 (a free port), as the course's Docker Hub.

    ``REGISTRY`` (its ``HOST:PORT``) and ``MINIDOCK_REGISTRY_MIRROR`` (so that
    ``pull busybox`` asks it, not Docker Hub) are set for ``!minidock`` cells;
    credentials go to a config dir of the chapter's own.  ``finish`` stops it.
    """
    from .registry.server import RegistryServer
    server = RegistryServer(client.store.root / "registry").start()
    _registries.append(server)
    os.environ["REGISTRY"] = server.address
    os.environ["MINIDOCK_REGISTRY_MIRROR"] = server.url
    os.environ["MINIDOCK_CONFIG"] = str(client.store.root / "config")
    return server


_registries: list = []


def finish(client: Client) -> None:
    """Remove the chapter's containers, registry and store: the course leaves nothing behind."""
    while _registries:
        _registries.pop().stop()
    for name in ("REGISTRY", "MINIDOCK_REGISTRY_MIRROR", "MINIDOCK_CONFIG"):
        os.environ.pop(name, None)
    _remove_containers(client.store.root)
    shutil.rmtree(client.store.root, ignore_errors=True)


def _remove_containers(root: Path) -> None:
    """``rm -f`` every container of the store at ``root``, if there is one."""
    if (root / "containers").is_dir():
        client = Client(root)
        for container in client.containers.list(all=True):
            container.remove(force=True)
