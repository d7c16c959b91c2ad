"""``minidock system check [--repair]``: the whole store checked, and what can be mended, mended.

The container side is checked first (``containers/check.py``): it says which images and layers
containers still need, so that the image side (``images/check.py``) never calls them orphaned.
A read-only check takes the store's lock without sweeping ``tmp/`` (a sweep is a repair), so no
command changes the store under it; a repair holds the lock as every writer does, runs each
problem's repair, and checks again: what is left is what no repair may touch (a damaged layer an
image needs, a container whose layers are gone), each with its advice.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator

from ..containers.check import check_containers, needs
from ..images.check import MAX_AGE, Problem, check_images, check_tmp, problem

TYPE_CHECKING = False  # typing's, without importing typing: every command would pay for it
if TYPE_CHECKING:
    from .client import Client


def problems(client: Client, quick: bool = False, max_age: float = MAX_AGE) -> list[Problem]:
    """Every problem of the store, containers' first (a read-only check: the caller holds the lock)."""
    containers = client.containers.containers
    needed_images, needed_layers = needs(containers)
    found = check_containers(containers)
    found += check_images(containers.images, needed_images, needed_layers, quick, max_age)
    return found + _check_records(client)


def _check_records(client: Client) -> list[Problem]:
    """The records no other check reads, each owned by a layer above the images, must parse: a cache
    can simply go when torn (it is made again), the networks' records cannot (user networks would go)."""
    from ..build.builder import CACHE
    from ..containers.networks import FILE as NETWORKS
    from ..registry.distribution import SOURCES
    found = []
    for name in (CACHE, SOURCES, NETWORKS):
        path = client.store.root / name
        try:
            json.loads(path.read_bytes())
        except FileNotFoundError:
            continue
        except ValueError:
            if name != NETWORKS:
                found.append(problem(name, "torn (not JSON); it is a cache", lambda p=path: p.unlink(missing_ok=True)))
            else:
                found.append(problem(name, "torn (not JSON)", None, "its user networks are lost: remove the file, "
                                     "then create them again and `network connect` their containers"))
    return found


@contextlib.contextmanager
def reading(client: Client) -> Iterator[None]:
    """The store's lock, held to read: no writer changes the store mid-check, and nothing is swept."""
    fd = os.open(client.store.root / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def check(client: Client, repair: bool = False, quick: bool = False,
          max_age: float = MAX_AGE) -> tuple[list[Problem], list[Problem]]:
    """``(repaired, left)``: without ``repair`` nothing is repaired and ``left`` is every problem.
    ``quick`` and ``max_age`` (seconds): podman's ``--quick`` and ``--max``."""
    if not repair:
        with reading(client):
            return [], problems(client, quick, max_age)
    debris = check_tmp(client.store)   # taking the lock sweeps it away: seen first, to be reported
    repaired = []
    with client.store.lock():
        repaired += [p for p in debris if not (client.store.root / p.subject).exists()]
        for found in problems(client, quick, max_age):
            if found.fix is not None:
                try:
                    found.fix()
                except OSError:
                    continue   # still there: the second look reports it
                repaired.append(found)
        return repaired, problems(client, quick, max_age)
