"""Container networking: a bridge, a veth pair per container, an address pool, a port proxy.

A container made with ``unshare(CLONE_NEWNET)`` starts with a network of its
own that holds only ``lo``, and that one is down.  Like docker's default
"bridge" network, minidock connects it in two steps:

1. **Bridge a virtual interface from the host's bridge into the container.**
   The host has one software switch, the bridge ``minidock0`` (docker's is
   ``docker0``).  Per container we create a *veth pair* -- two interfaces
   joined by a virtual cable -- plug one end into the bridge and move the
   other into the container's network namespace, renamed ``eth0``.  ``ip
   link`` inside shows ``eth0@if7``: 7 is the ifindex of the host end.
2. **Give it an IP from a pool.**  The bridge holds the pool's first address
   (the gateway, ``.1``); each container gets the lowest free one after it,
   recorded in the bridge's ``leases.json`` under ``/run/minidock/BRIDGE/``
   with a lock of its own (IPAM: the pool is the host's, shared by every
   store), and a default route via the gateway.

The pool is ``10.87.0.0/16``: not docker's ``172.17.0.0/16`` (nor its pools
172.18-31 and 192.168), not podman's ``10.88.0.0/16`` (nor its ``10.89+``
pools), not kubernetes' ``10.96.0.0/12``, so minidock runs beside any of them.
``MINIDOCK_SUBNET``, else ``ROOT/network/config.json`` ``{"subnet": ...}``,
chooses another; one that overlaps a route on the host is refused, as docker does.

Unlike docker, minidock turns on no ``ip_forward`` and adds no iptables NAT:
containers reach the host and each other, nothing more.  Published ports
(``-p 8080:80``) go through a *userland proxy*, like ``docker-proxy``: a socket
listening on 127.0.0.1 that copies each TCP connection to the container.

How we reach the inside from outside: a netlink socket belongs to the
network namespace it was *created* in.  To configure ``eth0``, the shim moves
one thread into the container's namespace (``setns``: a network namespace is
per thread), does the work there and comes back (``attach``).  To read the
network for the pictures, pyroute2's ``IPRoute(netns="/proc/PID/ns/net")``
forks a short-lived child that ``setns``-es there, opens the socket and hands
it back (SCM_RIGHTS).  (A process that ``setns``-es still sees the host's
links in ``/sys/class/net``: sysfs shows the namespace it was mounted in.
``socket.if_nameindex()`` asks the kernel instead.)
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import ipaddress
import json
import os
import socket
import struct
import threading
from collections import namedtuple
from pathlib import Path


from ..errors import APIError, InvalidParameter


def IPRoute(*args, **kwargs):
    """pyroute2's IPRoute, imported on first use: all of pyroute2 takes about 0.25 s to
    import.  Only what reads the network (the pictures, the overlap check) uses it;
    a container start uses ``rtnl`` (pyroute2's message classes on a plain socket)."""
    from pyroute2 import IPRoute as ipr
    return ipr(*args, **kwargs)


def Rtnl():
    """A lean rtnetlink socket in our own network namespace (see ``rtnl``)."""
    from .rtnl import Rtnl as rtnl
    return rtnl()


def load_pyroute2() -> None:
    """Load the netlink message classes now: before a fork, so that both sides have them."""
    from . import rtnl
    rtnl._messages()


def off_the_event_loop(fn):
    """Run ``fn`` in a worker thread when this thread runs an asyncio loop.

    pyroute2 (0.9) drives netlink with its own asyncio loop and refuses to start
    one inside a running loop -- which is where a Jupyter kernel runs every cell.
    """
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        import asyncio
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            in_a_loop = False
        else:
            in_a_loop = True
        if not in_a_loop:
            return fn(*args, **kwargs)
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(fn, *args, **kwargs).result()
    return wrapper


def _is_netlink_error(error: Exception) -> bool:
    """pyroute2's NetlinkError or rtnl's: both carry the errno as ``code``."""
    return type(error).__name__ == "NetlinkError" and isinstance(getattr(error, "code", None), int)

BRIDGE = "minidock0"
DEFAULT_SUBNET = "10.87.0.0/16"
CONFIG = "network/config.json"
RUN_DIR = "/run/minidock"  # the host's, like the bridge: cleared by a reboot, as the containers are


# -- the address pool (IPAM) ------------------------------------------------


class Lease(namedtuple("Lease", "container_id address prefixlen gateway mac bridge ifname routed",
                       defaults=(None, "eth0", True))):
    """One container's address on one bridge network.  (A namedtuple, not a dataclass:
    every ``run`` would pay for importing ``inspect``.)

    ``bridge`` is the Linux bridge (None: the default one, ``bridge_name()``), ``ifname`` the
    interface inside (``eth0``, then ``eth1``... for each further network, as docker names them),
    ``routed`` whether the container's default route goes through this network's gateway
    (one network only; never an ``--internal`` one, which docker gives no way out).
    """

    __slots__ = ()


class Segment(namedtuple("Segment", "bridge subnet gateway internal")):
    """A user-defined bridge network as the runtime sees it: its Linux bridge, its subnet and
    gateway (the bridge's own address), whether it is ``--internal``.  The engine names it in the bundle's spec."""

    __slots__ = ()


def bridge_name() -> str:
    """The bridge to use: ``MINIDOCK_BRIDGE`` (tests pick their own), else ``BRIDGE``."""
    return os.environ.get("MINIDOCK_BRIDGE") or BRIDGE


def subnet(root: Path) -> ipaddress.IPv4Network:
    """The pool: ``MINIDOCK_SUBNET``, else the engine's network config (``ROOT/network/config.json``), else the default.

    ``root`` is the directory of the engine whose containers draw from the pool (the store's root):
    a path, so that the runtime needs nothing of the engine but where its settings are.
    """
    try:
        configured = json.loads((root / CONFIG).read_text()).get("subnet")
    except FileNotFoundError:
        configured = None
    return parse_subnet(os.environ.get("MINIDOCK_SUBNET") or configured or DEFAULT_SUBNET)


def parse_subnet(text: str, what: str = "subnet", longest: int = 30) -> ipaddress.IPv4Network:
    """``text`` as an IPv4 network (no host bits set) of a ``/longest`` at most: room for a gateway and a container."""
    try:
        net = ipaddress.IPv4Network(text)
    except ValueError as e:
        raise InvalidParameter(f"invalid {what} {text!r}: {e} (expected e.g. {DEFAULT_SUBNET})") from None
    if net.prefixlen > longest:
        raise InvalidParameter(f"{what} {net} is too small: it needs room for a gateway and a container "
                               f"(/{longest} at most)")
    return net


def check_overlap(net: ipaddress.IPv4Network, bridge: str | None = None) -> None:
    """Refuse a pool that overlaps a route already on the host (docker: "overlaps with other one").

    The default route (0.0.0.0/0) overlaps everything and is skipped, as
    docker skips it; so is the route of our own bridge (``bridge``, default: the default one).
    """
    for iface, other in host_routes():
        if other.prefixlen == 0 or iface == (bridge or bridge_name()):
            continue
        if net.overlaps(other):
            how = (f"choose another with MINIDOCK_SUBNET or {CONFIG}" if bridge is None else
                   "another engine's network may hold it now: re-create this network with another --subnet")
            raise APIError(f"subnet {net} overlaps with the host's route to {other} ({iface}): {how}")


def host_routes() -> list[tuple[str, ipaddress.IPv4Network]]:
    """(interface, network) of each IPv4 route of the main table, from /proc/net/route.

    The kernel prints each address and mask there as 8 hex digits of the
    32-bit value in host byte order (little-endian here): no netlink needed.
    """
    found = []
    with open("/proc/net/route") as f:
        next(f)  # the heading
        for line in f:
            iface, dest, _, _, _, _, _, mask, *_ = line.split()
            address, netmask = (socket.inet_ntoa(struct.pack("=I", int(x, 16))) for x in (dest, mask))
            found.append((iface, ipaddress.IPv4Network(f"{address}/{netmask}", strict=False)))
    return found


def mac_for(address: str) -> str:
    """Docker's rule: 02:42 (locally administered, unicast) then the four bytes of the IPv4 address."""
    return "02:42:" + ":".join(f"{b:02x}" for b in ipaddress.IPv4Address(address).packed)


def gateway(net: ipaddress.IPv4Network) -> str:
    """The pool's first address: the bridge's own, the containers' default route."""
    return str(next(net.hosts()))


def run_dir() -> Path:
    """Where the bridges' leases live: ``MINIDOCK_RUN`` (tests pick their own), else ``RUN_DIR``."""
    return Path(os.environ.get("MINIDOCK_RUN") or RUN_DIR)


@contextlib.contextmanager
def _pool(bridge: str | None = None):
    """The bridge's leases, locked: ``{container id: {"address", "store", "ifname"}}``.

    The pool belongs to the bridge, and the bridge to the host: every store on
    this machine (two chapters of the course open at once, say) draws from the
    same pool, so no two containers on ``minidock0`` get one address.  Leases
    of a store that no longer exists are dropped.
    """
    base = run_dir() / (bridge or bridge_name())
    base.mkdir(parents=True, exist_ok=True)
    fd = os.open(base / "lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        path = base / "leases.json"
        held = json.loads(path.read_text()) if path.exists() else {}
        held = {cid: lease for cid, lease in held.items() if os.path.isdir(lease["store"])}
        before = json.dumps(held, sort_keys=True)
        yield held
        if json.dumps(held, sort_keys=True) != before or not path.exists():
            tmp = base / f"leases.{os.getpid()}.tmp"
            tmp.write_text(json.dumps(held, indent=1, sort_keys=True))
            os.replace(tmp, path)
    finally:
        os.close(fd)


def allocate(root: Path, container_id: str, segment: Segment | None = None, ifname: str = "eth0") -> Lease:
    """The container's address on the default bridge (or on ``segment``'s): the one it holds
    already, else the lowest free one after the gateway."""
    net = subnet(root) if segment is None else ipaddress.IPv4Network(segment.subnet)
    bridge, gw = (None, gateway(net)) if segment is None else (segment.bridge, segment.gateway)
    with _pool(bridge) as held:
        address = held.get(container_id, {}).get("address")
        if address is None or ipaddress.IPv4Address(address) not in net:
            taken = {gw, *(lease["address"] for lease in held.values())}
            address = next((str(a) for a in net.hosts() if str(a) not in taken), None)
            if address is None:
                raise APIError(f"no available IPv4 addresses on network {bridge or bridge_name()} ({net}): "
                               "remove stopped containers or choose a larger subnet")
        held[container_id] = {"address": address, "store": str(root), "ifname": ifname}
    routed = segment is None or not segment.internal
    return Lease(container_id, address, net.prefixlen, gw, mac_for(address), bridge, ifname, routed)


def release(container_id: str, *, remove_idle_bridge: bool = False, bridge: str | None = None) -> None:
    """Give the container's address back to the pool (fine if it holds none).

    With ``remove_idle_bridge``, the last container to leave takes the bridge
    down too, under the pool's lock: a container starting meanwhile holds a
    lease first (``allocate``), so it is never left without its bridge.
    minidock leaves nothing behind on the host, not even an empty bridge.
    """
    with _pool(bridge) as held:
        held.pop(container_id, None)
        if remove_idle_bridge and not held:
            remove_bridge(bridge)


def remove_idle_bridge(bridge: str | None = None) -> None:
    """Take the bridge down if no container holds an address on it (see ``release``)."""
    with _pool(bridge) as held:
        if not held:
            remove_bridge(bridge)


def leases(root: Path, bridge: str | None = None) -> dict[str, str]:
    """Container ID -> address, for every address the containers of the engine at ``root`` hold."""
    with _pool(bridge) as held:
        return {cid: lease["address"] for cid, lease in held.items() if lease["store"] == str(root)}


def held_by(container_id: str) -> list[tuple[str, str]]:
    """(bridge, ifname) of every address the container holds, on any bridge of this host."""
    found = []
    for leases_file in sorted(run_dir().glob("*/leases.json")):
        with contextlib.suppress(OSError, ValueError):
            lease = json.loads(leases_file.read_text()).get(container_id)
            if lease:
                found.append((leases_file.parent.name, lease.get("ifname", "eth0")))
    return found


def release_all(container_id: str) -> list[tuple[str, str]]:
    """Give back the container's addresses on every bridge; (bridge, ifname) of each, for ``tidy``."""
    held = held_by(container_id)
    for bridge, _ in held:
        release(container_id, bridge=bridge)
    return held


def tidy(container_id: str, held: list[tuple[str, str]]) -> None:
    """After ``release_all``: delete the host ends of the container's veths, and each bridge left idle."""
    for bridge, ifname in held:
        detach(container_id, ifname)
        remove_idle_bridge(bridge)


def forget_bridge(bridge: str) -> None:
    """``network rm``: delete the bridge and its leases' directory (its network is gone)."""
    remove_bridge(bridge)
    base = run_dir() / bridge
    for name in ("leases.json", "lock"):
        with contextlib.suppress(FileNotFoundError):
            (base / name).unlink()
    with contextlib.suppress(OSError):
        base.rmdir()


# -- links: the bridge and the veth pairs -----------------------------------


@contextlib.contextmanager
def _ignore(*codes: int):
    """Suppress a netlink error whose errno is one of ``codes`` (EEXIST: another process won the race)."""
    try:
        yield
    except Exception as e:
        if not _is_netlink_error(e) or e.code not in codes:
            raise


def ensure_bridge(root: Path, lease: Lease | None = None) -> str:
    """Create the bridge of ``lease`` (default: the default bridge) with the gateway address and
    bring it up; fine if it exists already.

    The pool is checked against the host's routes (a full route dump) only
    when we create the bridge: a bridge that exists passed that check when
    it was made, and its own route is the pool's.
    """
    if lease is None or lease.bridge is None:
        name, net = bridge_name(), subnet(root)
        address = gateway(net)
    else:
        name, address = lease.bridge, lease.gateway
        net = ipaddress.IPv4Network(f"{address}/{lease.prefixlen}", strict=False)
    if _bridge_ready(name, address):
        return name
    check_overlap(net, None if lease is None else lease.bridge)
    with Rtnl() as nl:
        with _ignore(errno.EEXIST):  # another container made it meanwhile
            nl.add_bridge(name)
        if not _is_bridge(name):
            raise APIError(f"cannot make bridge {name}: a link of another kind has that name")
        index = _link_index(name)
        with _ignore(errno.EEXIST):
            nl.add_address(index, address, net.prefixlen)
        nl.set_link(index, up=True)
    if name != bridge_name():
        isolate(name)
    return name


def isolate(bridge: str) -> None:
    """Forward nothing that arrives on a user-defined network's bridge, or a learner's veth (ip-sysctl.txt:
    ``conf/IF/forwarding``, per interface): its containers reach each other through the
    bridge, and the host, but no other network, even where the host forwards (docker's
    DOCKER-ISOLATION iptables chains do this job)."""
    with contextlib.suppress(OSError):
        Path(f"/proc/sys/net/ipv4/conf/{bridge}/forwarding").write_text("0")


def _bridge_ready(name: str, address: str) -> bool:
    """Whether link ``name`` exists, is up and holds ``address`` (two ioctls, no netlink).

    A bridge another process is still making (no address yet, or down) is
    not ready: then we finish the job with it, each step fine if done already.
    """
    siocgifflags, siocgifaddr, iff_up = 0x8913, 0x8915, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        request = struct.pack("16s16x", name.encode())
        try:
            flags = struct.unpack("16sH14x", fcntl.ioctl(s.fileno(), siocgifflags, request))[1]
            addr = fcntl.ioctl(s.fileno(), siocgifaddr, request)[20:24]  # ifreq: name, then a sockaddr_in
        except OSError:  # ENODEV: no such link; EADDRNOTAVAIL: no IPv4 address
            return False
    return bool(flags & iff_up) and socket.inet_ntoa(addr) == address


def _link_index(name: str) -> int | None:
    """The ifindex of the host's link ``name``, None if there is none.

    if_nametoindex(3) is one ioctl: no netlink socket, no pyroute2, so the
    common answers (the bridge is there; the veth is gone already) cost nothing.
    """
    try:
        return socket.if_nametoindex(name)
    except OSError:
        return None


def veth_names(container_id: str, ifname: str = "eth0") -> tuple[str, str]:
    """The host end's name and the peer's name until it becomes ``ifname`` (IFNAMSIZ: 15 characters
    at most): ``eth1``'s pair is ``veth01234567-1``... the ``-N`` only for the second network on."""
    suffix = "" if ifname == "eth0" else "-" + ifname[3:]
    return f"veth{container_id[:8]}{suffix}", f"vpeer{container_id[:8]}{suffix}"


def _netns(pid: int, change: bool = True) -> str:
    """The path of the network namespace of ``pid``; refuse to change the host's own."""
    path = f"/proc/{pid}/ns/net"
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise APIError(f"no process {pid}: its network namespace is gone") from None
    mine = os.stat("/proc/self/ns/net")
    if change and (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino):
        raise APIError(f"process {pid} shares the host's network namespace: refusing to reconfigure it")
    return path


def _inside(pid: int, change: bool = True) -> IPRoute:
    """A netlink socket opened inside the network namespace of ``pid`` (see the module docstring)."""
    return IPRoute(netns=_netns(pid, change), flags=0)  # flags=0: never create a namespace


@contextlib.contextmanager
def _failing(what: str):
    """Report a netlink error as an APIError that says what we were doing."""
    try:
        yield
    except Exception as e:
        if not _is_netlink_error(e):
            raise
        raise APIError(f"{what}: {os.strerror(e.code)}") from None


def attach(root: Path, container_id: str, pid: int, lease: Lease) -> str:
    """Cable the container of ``pid`` to the bridge and give it ``lease``; return the host end's name.

    The host's half (``plug``), then the inside (``configure_own_eth0``) with
    this thread in the container's network namespace for the moment it takes.
    The shim does this while the container's first process builds its root
    file system, and lets it exec only after.
    """
    host = plug(root, container_id, pid, lease)
    try:
        _in_netns_of(pid, configure_own_eth0, container_id, lease)
    except BaseException:
        detach(container_id, lease.ifname)
        raise
    return host


def _in_netns_of(pid: int, fn, *args) -> None:
    """Run ``fn(*args)`` with this thread in the network namespace of ``pid``; any failure, one APIError."""
    in_netns(_netns(pid), f"process {pid}", fn, *args)


def in_netns(path: str, owner: str, fn, *args) -> None:
    """Run ``fn(*args)`` with this thread in the network namespace at ``path`` (``/proc/PID/ns/net``,
    ``/run/netns/NAME``); any failure, one APIError naming ``owner``.

    A network namespace is a per-thread attribute: ``setns`` moves this
    thread only (the process's other threads stay where they are), and a
    netlink socket opened meanwhile belongs to the namespace it was opened in.
    We hold an fd of our own namespace to come back to, whatever ``fn`` did.
    """
    from .syscalls import CLONE_NEWNET, setns
    with open("/proc/thread-self/ns/net") as ours, open(path) as theirs:
        setns(theirs.fileno(), CLONE_NEWNET)
        try:
            fn(*args)
        except APIError:
            raise
        except Exception as e:
            raise APIError(f"configuring the network of {owner} failed: {e}") from None
        finally:
            setns(ours.fileno(), CLONE_NEWNET)


def plug(root: Path, container_id: str, pid: int, lease: Lease | None = None) -> str:
    """The host's half: a veth pair whose peer is born in the namespace of ``pid``, the host end on the bridge."""
    ifname = lease.ifname if lease else "eth0"
    host, peer = veth_names(container_id, ifname)
    _netns(pid)  # refuse the host's namespace before creating anything
    bridge = ensure_bridge(root, lease)
    with Rtnl() as nl:
        with _failing(f"cannot create {host} for container {container_id[:12]}"):
            # the peer is born inside the container: it never appears among the host's links
            nl.add_veth(host, peer, pid)
        try:  # from here on the pair is ours: on any failure, delete it (one end takes the other along)
            with _failing(f"cannot connect container {container_id[:12]} to {bridge}"):
                nl.set_link(_link_index(host), master=_link_index(bridge), up=True)
        except BaseException:
            detach(container_id, ifname)
            raise
    return host


def configure_own_eth0(container_id: str, lease: Lease) -> None:
    """The container's half, from inside its network namespace (``attach`` enters it): the peer
    becomes ``eth0`` (or the lease's ``ethN``) with the lease's MAC and address, up, with ``lo``,
    and (if the lease is ``routed``) a default route via the gateway."""
    with _failing(f"cannot connect container {container_id[:12]} to {lease.bridge or bridge_name()}"), Rtnl() as nl:
        eth = socket.if_nametoindex(veth_names(container_id, lease.ifname)[1])  # in this namespace: ours
        nl.set_link(eth, name=lease.ifname, mac=lease.mac)
        nl.add_address(eth, lease.address, lease.prefixlen)
        nl.set_link(eth, up=True)
        nl.set_link(socket.if_nametoindex("lo"), up=True)
        if lease.routed:
            nl.add_default_route(lease.gateway)


def loopback_only(pid: int) -> None:
    """``--network none``: the container keeps only ``lo``, brought up."""
    _in_netns_of(pid, bring_up_loopback)


def delete_link(name: str) -> None:
    """Delete the host's link called ``name``, if there is one."""
    index = _link_index(name)
    if index is None:
        return
    with Rtnl() as nl, _ignore(errno.ENODEV):
        nl.delete_link(index)


def detach(container_id: str, ifname: str = "eth0") -> None:
    """Delete the container's host-side veth if it is still there (it dies with the namespace too;
    deleting one end of a live container's pair takes its ``ethN`` away: ``network disconnect``)."""
    delete_link(veth_names(container_id, ifname)[0])


@off_the_event_loop
def interfaces(pid: int) -> list[dict]:
    """The links inside the namespace of ``pid``, read live: name, index, addresses, mac, peer_index.

    ``peer_index`` is the ifindex of a veth's other end, in the other namespace
    (``ip link`` prints it as ``eth0@if7``); None for ``lo``.
    """
    with _inside(pid, change=False) as ns:
        addresses: dict[int, list[str]] = {}
        for a in ns.get_addr(family=socket.AF_INET):
            addresses.setdefault(a["index"], []).append(f"{a.get('IFA_ADDRESS')}/{a['prefixlen']}")
        return sorted(({"name": link.get("IFLA_IFNAME"), "index": link["index"],
                        "addresses": sorted(addresses.get(link["index"], [])),
                        "mac": link.get("IFLA_ADDRESS"), "peer_index": link.get("IFLA_LINK")}
                       for link in ns.get_links()), key=lambda i: i["index"])


@off_the_event_loop
def bridge_ports() -> list[str]:
    """The names of the links plugged into the bridge (the containers' host ends)."""
    with IPRoute() as ipr:
        bridge = ipr.link_lookup(ifname=bridge_name())
        if not bridge:
            return []
        return sorted(link.get("IFLA_IFNAME") for link in ipr.get_links() if link.get("IFLA_MASTER") == bridge[0])


def remove_bridge(bridge: str | None = None) -> None:
    """Delete the bridge (its route and gateway address go with it); fine if it is gone, and
    never a link of another kind that happens to have its name."""
    if _is_bridge(bridge or bridge_name()):
        delete_link(bridge or bridge_name())


def _is_bridge(name: str) -> bool:
    """Whether the host's link ``name`` is a bridge: sysfs gives each one a ``bridge/`` directory."""
    return os.path.isdir(f"/sys/class/net/{name}/bridge")


# -- published ports ----------------------------------------------------------


def _port(text: str, what: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise APIError(f"invalid {what}: {text}" + (" (port ranges are not supported)" if "-" in text else ""))
    return int(text)


def parse_publish(spec: str) -> tuple[str, int | None, int, str]:
    """``-p`` as docker reads it: ``[[ip:][hostPort]:]containerPort[/tcp]`` -> (ip, host port, port, "tcp").

    Unlike docker, the host IP defaults to 127.0.0.1, not 0.0.0.0, and must be
    a loopback address: minidock's proxy never listens where other machines
    could reach it.  A missing host port (``80``, ``127.0.0.1::80``) is None:
    the caller picks a free one, as for ``-P``.
    """
    rest, _, proto = spec.partition("/")
    proto = proto.lower() or "tcp"
    if proto in ("udp", "sctp"):
        raise APIError(f"invalid port format for -p {spec}: {proto} is not supported (minidock's proxy is TCP only)")
    if proto != "tcp":
        raise APIError(f"invalid proto: {proto}")
    parts = rest.split(":")
    cport, hport = parts[-1], parts[-2] if len(parts) > 1 else ""
    ip = ":".join(parts[:-2]).strip("[]") or "127.0.0.1"
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        raise APIError(f"invalid IP address: {ip}") from None
    if not (address.version == 4 and address.is_loopback):
        raise APIError(f"invalid port format for -p {spec}: minidock publishes only on 127.0.0.0/8, not {ip}")
    if not cport:
        raise APIError(f"no port specified: {spec}<empty>")
    return ip, (_port(hport, "hostPort") if hport else None), _port(cport, "containerPort"), proto


def free_port(host_ip: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the kernel's pick, as for ``-P``)."""
    with socket.socket() as s:
        s.bind((host_ip, 0))
        return s.getsockname()[1]


def _pump(src: socket.socket, dst: socket.socket) -> None:
    """Copy one direction until EOF, then pass the EOF on (half-close); on error, end both."""
    try:
        while data := src.recv(65536):
            dst.sendall(data)
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


class PortProxy:
    """Docker's userland proxy: listen on HOST_IP:HOST_PORT, forward each TCP connection to CONTAINER_IP:PORT.

    One thread accepts; each connection gets two threads, one per direction,
    blocked in recv() until there is data (no polling).  At most
    ``MAX_CONNECTIONS`` at once; more are closed as they arrive.
    """

    MAX_CONNECTIONS = 64

    def __init__(self, host_ip: str, host_port: int, container_ip: str, container_port: int,
                 open_socket=None):
        self.host_ip, self.host_port = host_ip, host_port
        self.container_ip, self.container_port = container_ip, container_port
        self.open_socket = open_socket  # rootless: a socket made inside the container's netns
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._guard = threading.Lock()
        self._slots = threading.Semaphore(self.MAX_CONNECTIONS)

    def start(self) -> None:
        """Bind now (so a taken port fails here, in the user's command) and serve in daemon threads."""
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # ignore TIME_WAIT, not listeners
        try:
            listener.bind((self.host_ip, self.host_port))
        except OSError as e:
            listener.close()
            why = "port is already allocated" if e.errno == errno.EADDRINUSE else e.strerror
            raise APIError(f"Bind for {self.host_ip}:{self.host_port} failed: {why}") from None
        listener.listen(16)
        self.host_port = listener.getsockname()[1]  # the kernel's pick when asked for port 0
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True, name=f"proxy:{self.host_port}").start()

    def stop(self) -> None:
        """Stop listening and cut every open connection."""
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)  # Linux: wakes the thread blocked in accept()
            listener.close()
        with self._guard:
            for s in self._open:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # stop() shut the listener
            if self._slots.acquire(blocking=False):
                threading.Thread(target=self._relay, args=(client,), daemon=True).start()
            else:
                client.close()

    def _relay(self, client: socket.socket) -> None:
        """Connect to the container, then copy both ways until both sides are done."""
        try:
            with client, self._connect() as upstream:
                upstream.settimeout(None)
                pair = {client, upstream}
                with self._guard:
                    if self._listener is None:
                        return  # stop() came while we were connecting
                    self._open |= pair
                back = threading.Thread(target=_pump, args=(upstream, client), daemon=True)
                back.start()
                _pump(client, upstream)
                back.join()
                with self._guard:
                    self._open -= pair
        except OSError:
            pass  # the container refused or is gone: drop the client, as docker-proxy does
        finally:
            self._slots.release()

    def _connect(self) -> socket.socket:
        """The connection to the container, from a socket of the right network namespace."""
        if self.open_socket is None:
            return socket.create_connection((self.container_ip, self.container_port), timeout=5)
        upstream = self.open_socket()
        try:
            upstream.settimeout(5)
            upstream.connect((self.container_ip, self.container_port))
        except OSError:
            upstream.close()
            raise
        return upstream


def bring_up_loopback() -> None:
    """Set ``lo`` up in *our own* network namespace, with a plain ioctl(2).

    A new network namespace has only ``lo``, and it is down.  This runs inside
    the container (PID 1, before exec), so it needs no netlink and no joining:
    SIOCGIFFLAGS reads the flags, SIOCSIFFLAGS writes them back with IFF_UP.
    """
    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        request = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s.fileno(), siocgifflags, request))[1]
        fcntl.ioctl(s.fileno(), siocsifflags, struct.pack("16sH14x", b"lo", flags | iff_up))


def hosts_file(hostname: str, address: str | None, peers: list[list] = ()) -> str:
    """The container's /etc/hosts, as docker writes it; ``peers``, ``[address, name...]`` lines
    after it (docker's ``--add-host``; minidock's names of the containers on its user networks)."""
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback",
             "fe00::0\tip6-localnet", "ff00::0\tip6-mcastprefix", "ff02::1\tip6-allnodes",
             "ff02::2\tip6-allrouters"]
    if address:
        lines.append(f"{address}\t{hostname}")
    lines += ["\t".join([peer_address, " ".join(names)]) for peer_address, *names in peers]
    return "\n".join(lines) + "\n"
