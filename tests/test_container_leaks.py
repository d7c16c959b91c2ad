"""50 container lives, then the host must look exactly as before.

The cycles mix what leaves things behind when it goes wrong: ``run --rm``
(the command removes the container once the shim reports the exit), a
container whose shim removes it (``--rm -d``), ``run -d`` then ``rm -f``
(SIGKILL while it runs), and a shim killed with SIGKILL (the next look at the
container reconciles: it reads as exited and its resources are freed).
Before and after we count what a container could leak: mounts of the store,
veth links, network namespaces, minidock cgroups of the containers made here,
and processes of the store (``store_processes`` in test_containers).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess

import pytest

import test_containers
from conftest import run_cli
from minidock.runtime import cgroups, network
from test_containers import eventually, mounts_of, shim_pid, store_processes

pytestmark = pytest.mark.root
engine, subnet = test_containers.engine, test_containers.subnet  # the fixtures, shared
CYCLES = 50


def veth_links() -> set[str]:
    """The names of the host's veth links (``ip -o link``)."""
    text = subprocess.run(["ip", "-o", "link", "show", "type", "veth"], capture_output=True, text=True).stdout
    return set(re.findall(r"^\d+: ([^:@]+)", text, re.M))


def named_netns() -> list[str]:
    return subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()


def net_namespaces_of(pids) -> set[int]:
    """The network namespaces these processes are in."""
    found = set()
    for pid in pids:
        try:
            found.add(os.stat(f"/proc/{pid}/ns/net").st_ino)
        except OSError:
            pass  # it ended meanwhile
    return found


def census(root, ids: list[str]) -> dict:
    """What the store's containers could leave behind on the host, counted."""
    processes = store_processes(root)
    return {"mounts": len(mounts_of(root)),
            "veths": len(veth_links() & {network.veth_names(cid)[0] for cid in ids}),
            "named netns": len(named_netns()),
            "netns of the store's processes": len(net_namespaces_of(processes) - net_namespaces_of(["self"])),
            "cgroups": len([name for name in cgroups.all_names() if name[:12] in {cid[:12] for cid in ids}]),
            "processes": len(processes)}


def hostname_run(*args: str) -> str:
    """``minidock run --rm busybox hostname``: the container's short ID, which its hostname is."""
    proc = run_cli("run", "--rm", *args, "busybox", "hostname")
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.decode().strip()


def test_fifty_lives_leave_nothing(engine, root):
    before = census(root, [])
    ids = []
    c = engine.containers.containers
    for i in range(CYCLES):
        kind = i % 5
        if kind == 0:  # the CLI's run --rm
            ids.append(hostname_run())
        elif kind == 1:  # the API's run(remove=True)
            ids.append(engine.containers.run("busybox", "hostname", remove=True).decode().strip())
        elif kind == 2:  # the shim removes it (--rm with -d)
            container = engine.containers.create("busybox", "true", auto_remove=True)
            ids.append(container.id)
            container.start()
            assert eventually(lambda: container.id not in c.ids())
        elif kind == 3:  # run -d, then rm -f
            container = engine.containers.run("busybox", "sleep 30", detach=True)
            ids.append(container.id)
            container.remove(force=True)
        else:  # run -d, kill -9 its shim, look (ps), rm
            container = engine.containers.run("busybox", "sleep 30", detach=True)
            ids.append(container.id)
            os.kill(shim_pid(root, container.id), signal.SIGKILL)
            assert eventually(lambda: container.status == "exited")
            container.remove()
    assert len(set(ids)) == CYCLES and c.ids() == []
    assert network.leases(engine.store.root) == {}
    assert eventually(lambda: census(root, ids) == before), census(root, ids)
