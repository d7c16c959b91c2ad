"""The bundle: what an engine hands a runtime to run, shaped after the OCI runtime spec.

An engine makes a bundle, a runtime runs it: Docker's daemon prepares a
directory with a root file system and a ``config.json`` (the OCI runtime
spec), and runc runs what it says.  minidock's container layer writes
``spec.json`` into the container's directory (``config.json`` there is the
engine's own record, as in Docker's ``/var/lib/docker/containers/ID/``), and
the shim reads only that: the runtime knows nothing of images or containers.

The spec's fields are OCI's where OCI has them::

    process    terminal, args, env, cwd, user ({"username": ...}: looked up in the
               container's /etc/passwd by the runtime, where OCI wants numeric ids),
               capabilities ({"bounding", "effective", "permitted"}: CAP_ names), noNewPrivileges
    root       path (relative to the bundle: "merged", or "rootfs" for a copied tree), readonly
    hostname
    mounts     [{"destination", "type": "bind", "source"}]: /etc/hosts, hostname, resolv.conf;
               then volumes and binds ({"type": "bind", "source": an absolute host path,
               "options": ["rbind", "ro"|"rw"], "copyUp": fill an empty source from the
               image first}) and tmpfs ({"type": "tmpfs", "options": mount(8)'s and tmpfs(5)'s})
    linux      resources: memory.limit, pids.limit, cpu.quota/period (0: no limit), cpu.shares (0: the default), cpu.cpus (``--cpuset-cpus``: "" for all);
               seccomp (defaultAction, defaultErrnoRet, architectures, syscalls: the filter to load, left
               out for none: ``runtime/seccomp.py``), maskedPaths, readonlyPaths (left out: Docker's lists)

and minidock's own under ``"minidock"``, for what OCI leaves to the engine
(containerd mounts the root file system before runc starts; minidock's first
process mounts it, inside its own mount namespace): the overlay's layers
(``lowerdir`` topmost first, ``links``: where short links to deep stacks go),
the network (``mode``: bridge, slirp4netns, none or host; ``options`` of slirp4netns (``runtime/slirp.py``:
``allow_host_loopback``, ``mtu``); published ``ports``; ``pool``: the
directory whose network settings and leases are the container's, the engine's
root), ``stdin``
(kept open or not), ``init``, and ``share``: the namespaces it shares with the host instead of
having its own (``pid``, ``uts``: ``--pid host``, ``--uts host``; OCI says this by leaving them
out of ``linux.namespaces``), and ``privileged`` (``--privileged``: the host's devices and a writable
``/sys``, which OCI would spell out device by device), ``seccompCache`` (the store's ``seccomp/``: the
BPF programs libseccomp made of each set of rules, kept by their hash).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

FILE = "spec.json"
CPU_PERIOD = 100_000   # microseconds: a quota of CPU_PERIOD is one whole CPU (CFS bandwidth control)


def write(bundle: Path, spec: dict) -> None:
    """Write the bundle's spec (renamed into place: a reader sees the old one or the new one).  Not
    fsync'ed: it is written again at every start, before the shim reads it."""
    tmp = bundle / f".{FILE}.{os.getpid()}"
    tmp.write_text(json.dumps(spec, indent=1))
    os.replace(tmp, bundle / FILE)


def read(bundle: Path) -> dict:
    return json.loads((bundle / FILE).read_text())


def cpus(spec: dict) -> float | None:
    """The CPU limit as a number of CPUs (1.5), or None."""
    cpu = spec["linux"]["resources"].get("cpu") or {}
    return cpu["quota"] / cpu["period"] if cpu.get("quota") else None
