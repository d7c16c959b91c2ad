"""Each learner's sandbox: a network namespace and a cgroup of their own, made and removed by root.

A classroom runs every learner's Jupyter server (and the rootless containers it
starts, which are its children) inside one sandbox:

* **network** -- a named network namespace, ``/run/netns/mdclass-LEARNER`` (as
  ``ip netns add`` makes them), and a veth pair.  The learner's end is ``eth0``
  in there, with the learner's address/32, a route to ``HUB_ADDRESS`` on the
  link and *no default route*: the only address outside it can reach is the
  hub's.  The host's end, ``mdcINDEX``, has no address, only a /32 route to
  the learner's, whose source is ``HUB_ADDRESS``: what the host opens there
  (the hub's proxy, to the learner's server) comes from the one address the
  learner can answer.  ``HUB_ADDRESS`` sits on a dummy link, ``mdclass0``, and the
  host answers ARP for any of its addresses on any link (ip-sysctl.txt,
  ``arp_ignore`` 0), so every learner reaches the services bound to it (the
  hub's API, the class registry) and nothing else: no route leads to another
  learner, and a learner is not root in their namespace, so cannot add one.
  A published port (``-p 127.0.0.1:PORT:80``) listens on the loopback of the
  learner's own namespace: two learners may publish the same port.  IPv6 is
  off on both ends (its link-local addresses would reach the host's ``[::]``).
* **limits** -- a cgroup ``classroom-LEARNER`` (``runtime/cgroups.py``: v1,
  hybrid or v2, whatever the host has) with memory, pids and CPU limits, and no
  swap beyond the memory limit, so a memory hog is OOM-killed inside its own
  learner's limit.  Rootless containers make no cgroups of their own: they stay
  in their learner's.

Addresses: learner ``index`` (1..16382) gets ``10.213.0.0 + 4 * index + 2``, the
third address of the index-th block of four in 10.213.0.0/16 (1 -> 10.213.0.6,
2 -> 10.213.0.10, 16382 -> 10.213.255.250), as a /30 point-to-point link would
number it; block 0 holds the hub (10.213.0.1), so no learner is ever .0.0 or .0.1.

Only ``enter`` runs in the learner's forked child: plain file writes and one
``setns`` (ctypes), no threads, no netlink.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import os
import re
import socket
import threading
from dataclasses import dataclass
from pathlib import Path

from ..errors import APIError, InvalidParameter, NotFound
from ..runtime import cgroups, network
from ..runtime.rtnl import Rtnl
from ..runtime.syscalls import (CLONE_NEWNET, CLONE_NEWNS, MNT_DETACH, MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_REC,
                                MS_SHARED, MS_SLAVE, mount, setns, umount2, unshare)

HUB_ADDRESS = "10.213.0.1"           # the host side every learner reaches (the hub's API, the class registry)
NETWORK = "10.213.0.0/16"
HUB_LINK = "mdclass0"
NETNS_DIR = Path("/run/netns")       # where iproute2 keeps named network namespaces
NETNS_PREFIX, LINK_PREFIX, CGROUP_PREFIX = "mdclass-", "mdc", "classroom-"
LAST_INDEX = 16382                   # 4 * 16382 + 2 = 65530: the last block of four but one


@dataclass(frozen=True)
class Limits:
    """A learner's limits, as ``docker run`` takes them: ``memory`` in bytes, ``cpus`` (1.5), ``pids``."""

    memory: int | None = None
    cpus: float | None = None
    pids: int | None = None

    def __post_init__(self):
        for name, value in (("memory", self.memory), ("cpus", self.cpus), ("pids", self.pids)):
            if value is not None and not value > 0:
                raise InvalidParameter(f"invalid {name} limit {value!r}: give a positive number, or None for none")
        if self.memory is not None and self.memory < 6 * 1024 * 1024:  # Docker's minimum for --memory
            raise InvalidParameter("minimum memory limit allowed is 6MB")


def address_of(index: int) -> str:
    """The learner address of ``index`` (see the module docstring for the rule)."""
    if not isinstance(index, int) or not 1 <= index <= LAST_INDEX:
        raise InvalidParameter(f"invalid learner index {index!r}: give 1..{LAST_INDEX}")
    return str(ipaddress.IPv4Network(NETWORK)[4 * index + 2])


# -- the hub's side ---------------------------------------------------------------------------

def hub_interface_up() -> None:
    """``ip link add mdclass0 type dummy; ip addr add 10.213.0.1/32 dev mdclass0; ip link set mdclass0 up``;
    fine if done already (each step ignores EEXIST).

    A kernel built without the dummy driver (EOPNOTSUPP: "Unknown device type")
    gets a bridge without ports instead: it holds an address as well, and
    nothing is ever plugged into it.
    """
    with Rtnl() as nl:
        try:
            _unless_done(nl.add_link, HUB_LINK, "dummy")
        except OSError as e:
            if e.errno != errno.EOPNOTSUPP:
                raise
            _unless_done(nl.add_link, HUB_LINK, "bridge")
        index = socket.if_nametoindex(HUB_LINK)
        _unless_done(nl.add_address, index, HUB_ADDRESS, 32)
        nl.set_link(index, up=True)


def _unless_done(request, *args) -> None:
    """Send a netlink request; EEXIST (done before, or by a hub starting at the same time) is fine."""
    try:
        request(*args)
    except OSError as e:
        if e.errno != errno.EEXIST:
            raise


def hub_interface_down() -> None:
    """Delete ``mdclass0`` (its address goes with it), and nothing else: take it down when no sandbox is
    up, for the host's routes to the learners speak from its address, and the kernel deletes a route
    whose source address goes away."""
    network.delete_link(HUB_LINK)


# -- a learner's sandbox ----------------------------------------------------------------------

class Sandbox:
    """One learner's network namespace, veth pair and cgroup."""

    def __init__(self, learner: str, index: int):
        if not re.fullmatch(r"[a-z_][a-z0-9_-]{0,31}", learner or ""):  # useradd's rule, less "$" and "."
            raise InvalidParameter(f"invalid learner name {learner!r}")
        self.learner, self.index = learner, index
        self.address = address_of(index)
        self.netns = NETNS_PREFIX + learner
        self.host_link = f"{LINK_PREFIX}{index}"
        self.cgroup = CGROUP_PREFIX + learner

    def __repr__(self) -> str:
        return f"Sandbox({self.learner!r}, {self.index}, address={self.address!r})"

    def netns_path(self) -> Path:
        """``/run/netns/mdclass-LEARNER``: open it and ``setns`` to join the namespace."""
        return NETNS_DIR / self.netns

    def create(self, limits: Limits) -> "Sandbox":
        """Make the cgroup, the namespace and the cabling; a leftover of this learner (a killed hub) goes
        first, and on any failure everything made so far goes too."""
        self.destroy()
        hub_interface_up()  # the host's route to the learner speaks from HUB_ADDRESS: it must be there
        try:
            cgroup = cgroups.Cgroup.create(self.cgroup, memory=limits.memory, pids=limits.pids, cpus=limits.cpus)
            _no_swap(cgroup, limits.memory)
            _add_netns(self.netns_path())
            self._cable()
        except BaseException:
            self.destroy()
            raise
        return self

    def _cable(self) -> None:
        """The veth pair, born with its learner end as ``eth0`` inside the namespace; then each side's setup."""
        with Rtnl() as nl, open(self.netns_path()) as ns:
            try:
                nl.add_veth(self.host_link, "eth0", peer_netns_fd=ns.fileno())
            except OSError as e:
                raise APIError(f"cannot make {self.host_link} for learner {self.learner}: {e.strerror}") from None
            host = socket.if_nametoindex(self.host_link)
            nl.set_link(host, up=True)
            nl.add_link_route(self.address, host, source=HUB_ADDRESS)
        network.isolate(self.host_link)
        _no_ipv6(self.host_link)
        network.in_netns(str(self.netns_path()), f"learner {self.learner}", _learner_end, self.address)

    def enter(self) -> None:
        """In a forked child, as root, before it becomes the learner and execs: join the cgroup, then the
        network namespace (one setns: a network namespace needs no fork to take effect), then a mount
        namespace of its own whose ``/proc`` hides every other user's processes (``_private_proc``)."""
        cgroups.Cgroup.open(self.cgroup).add(os.getpid())
        fd = os.open(self.netns_path(), os.O_RDONLY | os.O_CLOEXEC)
        try:
            setns(fd, CLONE_NEWNET)
        finally:
            os.close(fd)
        _private_proc()

    def destroy(self) -> None:
        """Kill every process left in the cgroup, then remove the cgroup, the veth pair and the
        namespace; fine if some or all are gone already.  The veth goes by its end in the
        namespace: a link ``mdcINDEX`` of another learner's is never touched."""
        _remove(self.learner)

    def usage(self) -> dict:
        """What the learner uses now: memory and its peak (bytes), OOM kills so far, processes, CPU time (ns)."""
        cgroup = cgroups.Cgroup.open(self.cgroup)
        try:
            stats = cgroup.stats()
        except FileNotFoundError:
            raise NotFound(f"learner {self.learner} has no sandbox (its cgroup {self.cgroup} is not there)") from None
        return {"memory": stats["memory_usage"], "memory_peak": _memory_peak(cgroup),
                "oom_kills": _oom_kills(cgroup), "pids": stats["pids_current"], "cpu_ns": stats["cpu_usage_ns"]}


def _private_proc() -> None:
    """A mount namespace of the learner's own, whose ``/proc`` shows the learner's processes only.

    proc(5)'s ``hidepid=invisible`` (per mount since Linux 5.8): another learner's processes -- their
    kernels, their containers' -- and root's are not in ``ps`` or ``/proc`` at all, so command lines
    and environments stay private too (signals were refused anyway).  The new ``/proc`` is a whole proc
    of the host's pid namespace, nothing mounted over it, so the kernel still lets rootless minidock
    mount a fresh proc inside a container's user and pid namespaces.  The namespace is a slave of the
    host's: the host's later mounts reach it, its own never reach the host.
    """
    unshare(CLONE_NEWNS)
    mount("none", "/", None, MS_REC | MS_SLAVE)
    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=invisible")


def _learner_end(address: str) -> None:
    """Inside the learner's namespace: ``eth0`` with ``address``/32, up, ``lo`` up, a route to the hub."""
    _no_ipv6("all", "default", "eth0")
    with Rtnl() as nl:
        eth0 = socket.if_nametoindex("eth0")
        nl.add_address(eth0, address, 32)
        nl.set_link(eth0, up=True)
        nl.set_link(socket.if_nametoindex("lo"), up=True)
        nl.add_link_route(HUB_ADDRESS, eth0)


def _no_ipv6(*links: str) -> None:
    """``net.ipv6.conf.LINK.disable_ipv6 = 1`` in this thread's namespace (a host without IPv6 has none)."""
    for link in links:
        with contextlib.suppress(FileNotFoundError):
            Path(f"/proc/sys/net/ipv6/conf/{link}/disable_ipv6").write_text("1")


def _no_swap(cgroup: cgroups.Cgroup, memory: int | None) -> None:
    """Memory plus swap = memory: a hog is killed at the limit, not paged out (Docker would allow twice
    the memory in swap).  v1's memory.memsw.limit_in_bytes exists only where the kernel accounts swap
    (``swapaccount``); without it, a host with swap lets the hog page out before it is killed."""
    if not memory or "memory" not in cgroup.trees:
        return
    v1 = cgroup.trees["memory"].version == 1
    path = cgroup.dir("memory") / ("memory.memsw.limit_in_bytes" if v1 else "memory.swap.max")
    if path.exists():
        path.write_text(str(memory) if v1 else "0")


def _memory_peak(cgroup: cgroups.Cgroup) -> int | None:
    """The most memory the cgroup used: v1 memory.max_usage_in_bytes, v2 memory.peak (Linux 5.19+)."""
    if "memory" not in cgroup.trees:
        return None
    name = "memory.max_usage_in_bytes" if cgroup.trees["memory"].version == 1 else "memory.peak"
    try:
        return int((cgroup.dir("memory") / name).read_text())
    except (FileNotFoundError, ValueError):
        return None


def _oom_kills(cgroup: cgroups.Cgroup) -> int:
    """How many processes the OOM killer killed in the cgroup: the ``oom_kill N`` line (Linux 4.13+)."""
    if "memory" not in cgroup.trees:
        return 0
    path = cgroup.dir("memory") / cgroups.OOM_EVENTS[cgroup.trees["memory"].version]
    with contextlib.suppress(FileNotFoundError):
        for line in path.read_text().splitlines():
            if line.startswith("oom_kill "):
                return int(line.split()[1])
    return 0


# -- named network namespaces, as iproute2 makes them -------------------------------------------

def _add_netns(path: Path) -> None:
    """``ip netns add``: a file under /run/netns with a new namespace bind-mounted on it.

    As iproute2 does, /run/netns is first made a shared mount (bound onto itself
    if it is no mount yet), so namespaces added later appear in every mount
    namespace that copied it.  A network namespace is a per-thread attribute:
    this thread unshares one, binds it, and goes back to where it was.
    """
    path.parent.mkdir(mode=0o755, exist_ok=True)
    with _SHARING:  # two threads binding /run/netns onto itself at once would stack two mounts
        try:
            mount("none", path.parent, None, MS_SHARED | MS_REC)
        except OSError as e:
            if e.errno != errno.EINVAL:  # EINVAL: not a mount point yet
                raise
            mount(path.parent, path.parent, None, MS_BIND | MS_REC)
            mount("none", path.parent, None, MS_SHARED | MS_REC)
    os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0))
    with open("/proc/thread-self/ns/net") as ours:
        unshare(CLONE_NEWNET)
        try:
            mount("/proc/thread-self/ns/net", path, None, MS_BIND)
        finally:
            setns(ours.fileno(), CLONE_NEWNET)


_SHARING = threading.Lock()


def _remove_netns(path: Path) -> None:
    """``ip netns delete``: unmount and unlink; the namespace dies with its last process, its veth too."""
    with contextlib.suppress(OSError):
        umount2(path, MNT_DETACH)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _remove(learner: str) -> None:
    """Take down whatever is left of ``learner``'s sandbox: processes and cgroup, the veth (from
    inside, whatever its host end is called), the namespace."""
    cgroups.Cgroup.open(CGROUP_PREFIX + learner).remove()
    path = NETNS_DIR / (NETNS_PREFIX + learner)
    if path.exists():
        with contextlib.suppress(APIError, OSError):  # not a namespace (a half-made one): nothing inside to delete
            network.in_netns(str(path), f"learner {learner}", _delete_eth0)
        _remove_netns(path)


def _delete_eth0() -> None:
    """Delete the learner's end of the veth pair: the host's end goes with it, now, not whenever the
    kernel gets round to freeing the namespace."""
    with contextlib.suppress(OSError):
        index = socket.if_nametoindex("eth0")
        with Rtnl() as nl:
            nl.delete_link(index)


def leftovers() -> list[str]:
    """The namespaces, host links and cgroups of sandboxes that exist now (for sweeps, and tests)."""
    found = [f"netns {p.name}" for p in sorted(NETNS_DIR.glob(NETNS_PREFIX + "*"))]
    found += [f"link {name}" for _, name in sorted(socket.if_nameindex(), key=lambda link: link[1])
              if name.startswith(LINK_PREFIX) and name[len(LINK_PREFIX):].isdigit()]
    found += [f"cgroup {name}" for name in cgroups.all_names() if name.startswith(CGROUP_PREFIX)]
    return found


def sweep(learners: tuple[str, ...] | None = None) -> list[str]:
    """Remove every sandbox's leftovers (a hub starting after a crash), or only those of ``learners``;
    return what was removed.  A host link goes by itself: its other end is in a namespace that is
    removed (a link ``mdcINDEX`` is matched to no learner by name, so only a sweep of all takes one)."""
    removed = []
    for entry in leftovers():
        kind, name = entry.split(" ", 1)
        prefix = {"netns": NETNS_PREFIX, "cgroup": CGROUP_PREFIX}.get(kind)
        if prefix and (learners is None or name[len(prefix):] in learners):
            _remove(name[len(prefix):])
        elif prefix is None and learners is None:
            network.delete_link(name)
        else:
            continue
        removed.append(entry)
    return removed
