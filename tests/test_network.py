"""Container networking: the address pool, -p parsing and the port proxy, then (as root) bridge and veths.

The kernel tests build their own bridge (``mdt<tag>``) on a /24 that overlaps
no host route, and their own "containers": forked children that
``unshare(CLONE_NEWNET)`` and wait.  Traffic goes only to 127.0.0.1 and to
addresses on that bridge.  Every link a test makes carries the run's tag in
its name, and the ``no_leftovers`` fixture checks ``ip -o link`` and
``ip netns`` afterwards, failed test or not.
"""

from __future__ import annotations

import ctypes
import ipaddress
import multiprocessing
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import require_tool, root_fixture
from minidock.errors import APIError
from minidock.runtime import network
from minidock.images.store import Store

TAG = f"{os.getpid() & 0xFFFFFF:06x}"  # in every link name this run makes
CLONE_NEWNET = 0x40000000


@pytest.fixture
def store(tmp_path) -> Store:
    return Store(tmp_path / "store")


def cid(n: int) -> str:
    """A container ID whose first 8 hex (the veth's name) carry this run's tag."""
    return f"{TAG}{n:02x}" + secrets.token_hex(28)


def write_config(store: Store, subnet: str) -> None:
    (store.root / "network").mkdir(exist_ok=True)
    store.write_json(network.CONFIG, {"subnet": subnet})


# -- the address pool ---------------------------------------------------------


def test_subnet_default_config_and_env(store, monkeypatch):
    monkeypatch.delenv("MINIDOCK_SUBNET", raising=False)
    assert network.subnet(store.root) == ipaddress.IPv4Network(network.DEFAULT_SUBNET)
    write_config(store, "10.50.0.0/24")
    assert str(network.subnet(store.root)) == "10.50.0.0/24"
    monkeypatch.setenv("MINIDOCK_SUBNET", "10.51.0.0/24")
    assert str(network.subnet(store.root)) == "10.51.0.0/24"
    for bad, words in [("10.51.0.1/24", "invalid subnet"), ("nonsense", "invalid subnet"), ("10.0.0.0/31", "too small")]:
        monkeypatch.setenv("MINIDOCK_SUBNET", bad)
        with pytest.raises(APIError, match=words):
            network.subnet(store.root)


def test_default_subnet_avoids_docker_podman_and_kubernetes():
    ours = ipaddress.IPv4Network(network.DEFAULT_SUBNET)
    for theirs in ["172.16.0.0/12", "192.168.0.0/16", "10.88.0.0/16", "10.89.0.0/16", "10.96.0.0/12", "10.244.0.0/16"]:
        assert not ours.overlaps(ipaddress.IPv4Network(theirs)), theirs


def test_allocate_lowest_free_idempotent_and_release(store, monkeypatch):
    monkeypatch.setenv("MINIDOCK_SUBNET", "10.50.0.0/24")
    a = network.allocate(store.root, "a" * 64)
    assert a == network.Lease("a" * 64, "10.50.0.2", 24, "10.50.0.1", "02:42:0a:32:00:02")
    assert network.allocate(store.root, "b" * 64).address == "10.50.0.3"
    assert network.allocate(store.root, "a" * 64) == a  # the same container keeps its address
    network.release("a" * 64)
    network.release("a" * 64)  # idempotent
    assert network.leases(store.root) == {"b" * 64: "10.50.0.3"}
    assert network.allocate(store.root, "c" * 64).address == "10.50.0.2"  # the lowest free one again


def test_pool_exhausted(store, monkeypatch):
    monkeypatch.setenv("MINIDOCK_SUBNET", "10.50.0.0/30")  # .1 is the gateway, .2 the only container
    assert network.allocate(store.root, "a" * 64).address == "10.50.0.2"
    with pytest.raises(APIError, match="no available IPv4 addresses"):
        network.allocate(store.root, "b" * 64)


def _allocate_with_own_store(root: str, container_id: str) -> str:
    return network.allocate(Path(root), container_id).address


def test_concurrent_allocations_get_distinct_addresses(store, monkeypatch):
    monkeypatch.setenv("MINIDOCK_SUBNET", "10.50.0.0/24")
    ids = [f"{n:064x}" for n in range(8)]
    with multiprocessing.get_context("fork").Pool(8) as pool:
        got = pool.starmap(_allocate_with_own_store, [(str(store.root), i) for i in ids])
    assert sorted(got, key=ipaddress.IPv4Address) == [f"10.50.0.{n}" for n in range(2, 10)]
    assert network.leases(store.root) == dict(zip(ids, got))


def test_veth_names_fit_ifnamsiz():
    host, peer = network.veth_names("0123456789abcdef" * 4)
    assert host == "veth01234567" and len(host) <= 15 and len(peer) <= 15 and host != peer


# -- -p and the port proxy (loopback only) ------------------------------------


@pytest.mark.parametrize("spec, expected", [
    ("8080:80", ("127.0.0.1", 8080, 80, "tcp")),
    ("127.0.0.1:8080:80", ("127.0.0.1", 8080, 80, "tcp")),
    ("127.0.0.1::80", ("127.0.0.1", None, 80, "tcp")),
    ("80", ("127.0.0.1", None, 80, "tcp")),
    ("8080:80/tcp", ("127.0.0.1", 8080, 80, "tcp")),
    ("127.0.0.2:8080:80/TCP", ("127.0.0.2", 8080, 80, "tcp")),
])
def test_parse_publish(spec, expected):
    assert network.parse_publish(spec) == expected


@pytest.mark.parametrize("spec, words", [
    ("8080:80/udp", "udp is not supported"),
    ("80/sctp", "sctp is not supported"),
    ("80/xyz", "invalid proto: xyz"),
    ("8080:", "no port specified"),
    ("8080:http", "invalid containerPort: http"),
    ("x:80", "invalid hostPort: x"),
    ("8080-8081:80", "port ranges are not supported"),
    ("70000:80", "invalid hostPort: 70000"),
    ("1.2.3:8080:80", "invalid IP address: 1.2.3"),
    ("0.0.0.0:8080:80", "only on 127.0.0.0/8"),
    ("[::1]:8080:80", "only on 127.0.0.0/8"),
])
def test_parse_publish_refuses(spec, words):
    with pytest.raises(APIError, match=words):
        network.parse_publish(spec)


def test_free_port_is_bindable():
    with socket.socket() as s:
        s.bind(("127.0.0.1", network.free_port()))


@pytest.fixture
def echo_server():
    """A server on 127.0.0.1 that answers each connection with what it read, upper-cased."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.sendall(conn.recv(100).upper())

    threading.Thread(target=serve, daemon=True).start()
    yield listener.getsockname()[1]
    listener.shutdown(socket.SHUT_RDWR)
    listener.close()


def roundtrip(port: int, data: bytes = b"hello") -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        return s.recv(100)


def test_port_proxy_forwards_and_stops(echo_server):
    proxy = network.PortProxy("127.0.0.1", 0, "127.0.0.1", echo_server)
    proxy.start()
    try:
        assert proxy.host_port != 0
        assert [roundtrip(proxy.host_port, b"hi %d" % n) for n in range(3)] == [b"HI 0", b"HI 1", b"HI 2"]
        taken = network.PortProxy("127.0.0.1", proxy.host_port, "127.0.0.1", echo_server)
        with pytest.raises(APIError, match=rf"Bind for 127.0.0.1:{proxy.host_port} failed: port is already allocated"):
            taken.start()
    finally:
        proxy.stop()
    (accepting,) = [t for t in threading.enumerate() if t.name == f"proxy:{proxy.host_port}"] or [None]
    if accepting is not None:
        accepting.join(timeout=5)
        assert not accepting.is_alive()  # stop() woke it from accept()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", proxy.host_port), timeout=5)


# -- the kernel side (root) ------------------------------------------------------


def our_links() -> set[str]:
    out = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    return {line.split(": ")[1].split("@")[0] for line in out.splitlines() if TAG in line}


def netns_list() -> str:
    return subprocess.run(["ip", "netns"], capture_output=True, text=True, check=True).stdout


@pytest.fixture
def no_leftovers():
    """Fail the test if it leaves a link of this run or a named netns behind."""
    before = netns_list()
    yield
    deadline = time.monotonic() + 5  # a dead namespace's veth goes a moment later (a kernel work queue)
    while our_links() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert our_links() == set()
    assert netns_list() == before


@root_fixture
def net(store, monkeypatch, no_leftovers) -> Store:
    """A store whose network is a bridge of this test's own, on a /24 that overlaps no host route."""
    monkeypatch.setenv("MINIDOCK_BRIDGE", f"mdt{TAG}")
    for k in range(256):
        candidate = ipaddress.IPv4Network(f"10.199.{(os.getpid() + k) % 256}.0/24")
        try:
            network.check_overlap(candidate)
            break
        except APIError:
            continue
    monkeypatch.setenv("MINIDOCK_SUBNET", str(candidate))
    try:
        yield store
    finally:
        network.remove_bridge()


@pytest.fixture
def spawn():
    """Start "containers": children in a new network namespace each; killed (by PID) afterwards."""
    libc = ctypes.CDLL(None, use_errno=True)
    children: list[tuple[int, int]] = []

    def start() -> int:
        hold_r, hold_w = os.pipe()
        ready_r, ready_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                keep = sorted((hold_r, ready_w))  # drop the rest, among them other children's hold pipes
                os.closerange(3, keep[0])
                os.closerange(keep[0] + 1, keep[1])
                os.closerange(keep[1] + 1, os.sysconf("SC_OPEN_MAX"))
                if libc.unshare(CLONE_NEWNET) == 0:
                    os.write(ready_w, b"x")
                    os.read(hold_r, 1)  # until the test closes hold_w, or dies
            finally:
                os._exit(0)
        os.close(hold_r)
        os.close(ready_w)
        ok = os.read(ready_r, 1)
        os.close(ready_r)
        children.append((pid, hold_w))
        assert ok == b"x", "unshare(CLONE_NEWNET) failed"
        return pid

    yield start
    for pid, hold_w in children:
        os.close(hold_w)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def inside(pid: int, *argv: str, **kwargs) -> subprocess.CompletedProcess:
    """Run a command in the network namespace of ``pid`` (nsenter: setns, then exec)."""
    return subprocess.run(["nsenter", f"--net=/proc/{pid}/ns/net", *argv], capture_output=True, text=True, **kwargs)


def ping(*prefix: str, address: str) -> bool:
    busybox = require_tool("busybox")
    return subprocess.run([*prefix, busybox, "ping", "-c1", "-W1", address], capture_output=True).returncode == 0


def eth0_route() -> ipaddress.IPv4Network:
    """The host's own route to its eth0 subnet, read live (it differs from machine to machine)."""
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        eth0 = ipr.link_lookup(ifname="eth0")
        for r in ipr.get_routes(family=socket.AF_INET, table=254):
            if r.get("oif") in eth0 and r["dst_len"] > 0:
                return ipaddress.IPv4Network(f"{r.get('dst')}/{r['dst_len']}")
    pytest.skip("the host has no eth0 subnet route to overlap")


def test_check_overlap_refuses_a_host_route(net):
    taken = eth0_route()
    with pytest.raises(APIError, match=f"overlaps with the host's route to {taken}"):
        network.check_overlap(taken)
    with pytest.raises(APIError, match="overlaps"):
        network.check_overlap(taken.supernet(new_prefix=max(taken.prefixlen - 4, 1)))
    network.check_overlap(network.subnet(net.root))  # the default route overlaps nothing


def _ensure(root: str) -> str:
    return network.ensure_bridge(Path(root))


def test_ensure_bridge_idempotent_under_a_race(net):
    with multiprocessing.get_context("fork").Pool(4) as pool:
        assert pool.map(_ensure, [str(net.root)] * 4) == [f"mdt{TAG}"] * 4
    assert network.ensure_bridge(net.root) == f"mdt{TAG}"
    out = subprocess.run(["ip", "-o", "-4", "addr", "show", "dev", f"mdt{TAG}"], capture_output=True, text=True).stdout
    gateway = next(network.subnet(net.root).hosts())
    assert out.count(f"inet {gateway}/24") == 1
    network.check_overlap(network.subnet(net.root))  # our own bridge's route is not an overlap
    network.remove_bridge()
    network.remove_bridge()  # idempotent
    assert our_links() == set()


def test_two_containers_on_the_bridge(net, spawn):
    ids, pids = [cid(1), cid(2)], [spawn(), spawn()]
    got = [network.allocate(net.root, i) for i in ids]
    hosts = [network.attach(net.root, i, p, lease) for i, p, lease in zip(ids, pids, got)]
    assert hosts == [network.veth_names(i)[0] for i in ids]
    assert network.bridge_ports() == sorted(hosts)
    for pid, lease, host in zip(pids, got, hosts):
        lo, eth0 = network.interfaces(pid)
        assert lo["name"] == "lo" and lo["addresses"] == ["127.0.0.1/8"] and lo["peer_index"] is None
        assert eth0["name"] == "eth0" and eth0["addresses"] == [f"{lease.address}/24"] and eth0["mac"] == lease.mac
        assert eth0["peer_index"] == socket.if_nametoindex(host)  # eth0@ifN: N is the host end
        assert f"default via {lease.gateway} dev eth0" in inside(pid, "ip", "-4", "route").stdout
    assert ping("nsenter", f"--net=/proc/{pids[0]}/ns/net", address=got[1].address)
    assert ping("nsenter", f"--net=/proc/{pids[1]}/ns/net", address=got[0].address)
    assert ping(address=got[0].address)  # the host, through the bridge
    with pytest.raises(APIError, match=f"cannot create {hosts[0]} .*: File exists"):
        network.attach(net.root, ids[0], spawn(), got[0])
    assert network.bridge_ports() == sorted(hosts)  # the failed attach left the first one's veth alone
    for i in ids:
        network.detach(i)
    assert network.bridge_ports() == []


SERVER = """
import socket, sys
s = socket.create_server((sys.argv[1], 8000))
print("ready", flush=True)
for _ in range(2):
    c, _ = s.accept()
    c.sendall(c.recv(100).upper())
    c.close()
"""


def test_port_proxy_reaches_a_server_in_a_container(net, spawn):
    pid, container_id = spawn(), cid(3)
    lease = network.allocate(net.root, container_id)
    network.attach(net.root, container_id, pid, lease)
    server = subprocess.Popen(["nsenter", f"--net=/proc/{pid}/ns/net", sys.executable, "-c", SERVER, lease.address],
                              stdout=subprocess.PIPE, text=True)
    proxy = network.PortProxy("127.0.0.1", network.free_port(), lease.address, 8000)
    try:
        assert server.stdout.readline() == "ready\n"
        proxy.start()
        assert roundtrip(proxy.host_port, b"through the bridge") == b"THROUGH THE BRIDGE"
        assert roundtrip(proxy.host_port, b"again") == b"AGAIN"
    finally:
        proxy.stop()
        server.kill()
        server.wait()
        network.detach(container_id)


def test_loopback_only(net, spawn):
    pid = spawn()
    network.loopback_only(pid)
    assert [i["name"] for i in network.interfaces(pid)] == ["lo"]
    assert "LOOPBACK,UP" in inside(pid, "ip", "-o", "link").stdout
    assert ping("nsenter", f"--net=/proc/{pid}/ns/net", address="127.0.0.1")


def test_refuses_the_hosts_own_namespace(net):
    container_id = cid(4)
    lease = network.allocate(net.root, container_id)
    with pytest.raises(APIError, match="shares the host's network namespace"):
        network.attach(net.root, container_id, os.getpid(), lease)
    with pytest.raises(APIError, match="shares the host's network namespace"):
        network.loopback_only(os.getpid())
    assert network.veth_names(container_id)[0] not in our_links()


def test_a_failed_attach_leaves_no_veth(net, spawn):
    pid, container_id = spawn(), cid(5)
    lease = network.allocate(net.root, container_id)._replace(gateway="10.255.255.1")  # outside eth0's subnet:
    # the default route cannot be added
    with pytest.raises(APIError, match=f"cannot connect container {container_id[:12]} to mdt{TAG}"):
        network.attach(net.root, container_id, pid, lease)
    assert network.veth_names(container_id)[0] not in our_links()
    assert [i["name"] for i in network.interfaces(pid)] == ["lo"]


def test_veth_goes_with_the_namespace_and_detach_is_idempotent(net, spawn):
    pid, container_id = spawn(), cid(6)
    host = network.attach(net.root, container_id, pid, network.allocate(net.root, container_id))
    assert host in our_links()
    network.detach(container_id)
    network.detach(container_id)
    assert host not in our_links()

    pid, container_id = spawn(), cid(7)
    host = network.attach(net.root, container_id, pid, network.allocate(net.root, container_id))
    os.kill(pid, signal.SIGKILL)  # the container's last process dies: its namespace, and eth0, go
    deadline = time.monotonic() + 5
    while host in our_links() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert host not in our_links()
    network.detach(container_id)  # nothing left to do, and that is fine
