"""Rootless networking: slirp4netns gives a rootless container a user-mode network of its own.

As tests/test_rootless.py, as uid 65534 (its fixture); one test as root, whose network is the bridge.
Traffic stays on this machine: the only server is one this test runs on 127.0.0.1, reached from a
container through slirp4netns's 10.0.2.2 where ``allow_host_loopback=true`` lets it; no name is ever
looked up.
"""

import contextlib
import json
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
from pathlib import Path

import pytest

from conftest import fetched, run_cli
from test_rootless import as_nobody  # noqa: F401  (the fixture)

pytestmark = [pytest.mark.root, pytest.mark.peers("slirp4netns", "setpriv")]

GREETING = b"hello from the host's loopback\n"


@pytest.fixture
def loopback_server():
    """A TCP server on 127.0.0.1 that greets each client once; yields its port and the count of clients."""
    server = socket.create_server(("127.0.0.1", 0))
    served = []

    def serve():
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            with client:
                client.sendall(GREETING)
            served.append(client)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], served
    server.close()
    thread.join(5)


def _state(as_nobody, name: str) -> dict:
    """The container's state.json, read as root (the test's own eyes, not the engine's)."""
    cid = as_nobody("inspect", "--format", "{{.Id}}", name).stdout.strip()
    return json.loads((as_nobody.home / "store" / "containers" / cid / "state.json").read_text())


def _alive(pid: int) -> bool:
    """Whether ``pid`` is a slirp4netns process that still runs (a zombie init has yet to reap has ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return "(slirp4netns)" in stat and stat.rsplit(")", 1)[1].split()[0] != "Z"


def _gone(pid: int, within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_info_says_the_rootless_network_is_slirp4netns(as_nobody):
    info = json.loads(as_nobody("info", "--format", "{{json .}}").stdout)
    assert info["RunMode"] == "rootless"
    assert info["Network"].startswith("slirp4netns 1.") and "outbound only" in info["Network"]
    assert "Network: slirp4netns" in as_nobody("info").stdout


def test_a_rootless_container_has_tap0_with_podman_s_addresses(as_nobody):
    as_nobody("bootstrap", "busybox")
    out = as_nobody("run", "--rm", "busybox", "sh", "-c",
                    "ip -o -4 addr show tap0; ip route; ip -o link show tap0; cat /etc/resolv.conf").stdout
    assert "inet 10.0.2.100/24" in out
    assert "default via 10.0.2.2 dev tap0" in out
    assert "mtu 65520" in out
    assert "nameserver 10.0.2.3" in out


def test_allow_host_loopback_reaches_a_server_on_127_0_0_1_through_10_0_2_2(as_nobody, loopback_server):
    port, served = loopback_server
    as_nobody("bootstrap", "busybox")
    out = as_nobody("run", "--rm", "--network", "slirp4netns:allow_host_loopback=true", "busybox", "sh", "-c",
                    f"nc -w 5 10.0.2.2 {port} </dev/null; grep host.containers.internal /etc/hosts").stdout
    assert out == GREETING.decode() + "10.0.2.2\thost.containers.internal\n"
    assert len(served) == 1


def test_by_default_10_0_2_2_does_not_lead_to_the_host_s_loopback(as_nobody, loopback_server):
    port, served = loopback_server
    as_nobody("bootstrap", "busybox")
    proc = as_nobody("run", "--rm", "busybox", "sh", "-c", f"nc -w 3 10.0.2.2 {port} </dev/null; echo nc=$?")
    assert proc.stdout.strip().splitlines()[-1] == "nc=1"
    assert GREETING.decode() not in proc.stdout and served == []
    assert "host.containers.internal" not in as_nobody("run", "--rm", "busybox", "cat", "/etc/hosts").stdout


def test_network_none_has_loopback_only(as_nobody):
    as_nobody("bootstrap", "busybox")
    out = as_nobody("run", "--rm", "--network", "none", "busybox", "sh", "-c",
                    "ip -o link | cut -d' ' -f2; cat /etc/resolv.conf").stdout
    assert out.splitlines()[0] == "lo:" and "tap0" not in out and "10.0.2.3" not in out


def test_inspect_shows_the_slirp_address_and_published_ports_still_work(as_nobody):
    as_nobody("bootstrap", "busybox")
    as_nobody("run", "-d", "--name", "web", "-h", "slirp-web", "-p", "127.0.0.1::8080", "busybox",
              "httpd", "-f", "-p", "8080", "-h", "/etc")
    settings = json.loads(as_nobody("inspect", "--format", "{{json .NetworkSettings}}", "web").stdout)
    assert (settings["IPAddress"], settings["Gateway"], settings["IPPrefixLen"]) == ("10.0.2.100", "10.0.2.2", 24)
    assert as_nobody("inspect", "--format", "{{.HostConfig.NetworkMode}}", "web").stdout.strip() == "slirp4netns"
    host = as_nobody("port", "web", "8080").stdout.strip()
    assert fetched(f"http://{host}/hostname") == b"slirp-web\n"


def test_slirp4netns_ends_with_its_container_after_stop_and_rm(as_nobody):
    as_nobody("bootstrap", "busybox")
    as_nobody("run", "-d", "--name", "stopped", "busybox", "sleep", "600")
    as_nobody("run", "-d", "--name", "removed", "busybox", "sleep", "600")
    slirp_a, slirp_b = _state(as_nobody, "stopped")["SlirpPid"], _state(as_nobody, "removed")["SlirpPid"]
    assert _alive(slirp_a) and _alive(slirp_b) and slirp_a != slirp_b   # one each: no container-to-container
    as_nobody("stop", "-t", "1", "stopped")
    as_nobody("rm", "-f", "removed")
    assert _gone(slirp_a) and _gone(slirp_b)


def test_slirp4netns_ends_when_its_shim_is_killed(as_nobody):
    as_nobody("bootstrap", "busybox")
    as_nobody("run", "-d", "--name", "orphan", "busybox", "sleep", "600")
    state = _state(as_nobody, "orphan")
    os.kill(state["ShimPid"], signal.SIGKILL)
    assert _gone(state["SlirpPid"])   # its exit fd closed with the shim
    assert as_nobody("inspect", "--format", "{{.State.Status}}", "orphan").stdout.strip() == "exited"
    as_nobody("rm", "-f", "orphan")
    assert not _alive(state["SlirpPid"])


def test_a_bad_slirp4netns_option_is_refused_with_one_line(as_nobody):
    as_nobody("bootstrap", "busybox")
    proc = as_nobody("run", "--rm", "--network", "slirp4netns:cidr=10.9.0.0/24", "busybox", "true", check=False)
    assert proc.returncode == 125 and "Traceback" not in proc.stderr
    assert proc.stderr.splitlines() == ["minidock: invalid slirp4netns option 'cidr=10.9.0.0/24': minidock knows "
                                        "allow_host_loopback=true|false and mtu=68..65521"]
    assert as_nobody("ps", "-aq").stdout == ""


@pytest.fixture
def path_without_slirp4netns():
    """A PATH with every command of /usr/sbin and /usr/bin but slirp4netns: a machine where it is not installed."""
    bin_dir = Path(tempfile.mkdtemp(prefix="minidock-noslirp-"))   # pytest's tmp dirs are root's alone
    os.chmod(bin_dir, 0o755)
    for directory in ("/usr/sbin", "/usr/bin"):
        for name in os.listdir(directory):
            if name != "slirp4netns" and not (bin_dir / name).exists():
                (bin_dir / name).symlink_to(Path(directory) / name)
    yield str(bin_dir)
    shutil.rmtree(bin_dir, ignore_errors=True)


def test_without_slirp4netns_a_rootless_container_has_loopback_only_and_info_says_so(as_nobody,
                                                                                       path_without_slirp4netns):
    path = path_without_slirp4netns
    info = json.loads(as_nobody("info", "--format", "{{json .}}", path=path).stdout)
    assert info["Network"] == "loopback only (install slirp4netns for outbound connections)"
    as_nobody("bootstrap", "busybox", path=path)
    out = as_nobody("run", "--rm", "busybox", "ip", "-o", "link", path=path).stdout
    assert [line.split()[1] for line in out.splitlines()] == ["lo:"]
    proc = as_nobody("run", "--rm", "--network", "slirp4netns", "busybox", "true", path=path, check=False)
    assert proc.returncode == 125 and proc.stderr.splitlines() == [
        "minidock: --network slirp4netns is not possible here: slirp4netns is not installed"]


def test_system_check_finds_a_slirp4netns_its_container_left_and_repair_ends_it(as_nobody):
    """One that cannot see its exit fd close (stopped, here) outlives its shim: the check names it."""
    as_nobody("bootstrap", "busybox")
    as_nobody("run", "-d", "--name", "left", "busybox", "sleep", "600")
    state = _state(as_nobody, "left")
    slirp = state["SlirpPid"]
    os.kill(slirp, signal.SIGSTOP)
    try:
        os.kill(state["ShimPid"], signal.SIGKILL)   # no engine command in between: its reconciling read frees it too
        assert _alive(slirp)
        found = as_nobody("system", "check", "--quick", check=False)
        assert found.returncode == 1
        assert f"not running, but its slirp4netns (PID {slirp}) remains" in found.stdout + found.stderr
        as_nobody("system", "check", "--quick", "--repair")
        assert _gone(slirp)
        assert as_nobody("system", "check", "--quick").returncode == 0
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(slirp, signal.SIGKILL)


def test_as_root_slirp4netns_is_refused_and_info_says_bridge(busybox):
    """Root has the bridge: slirp4netns is rootless mode's network, and asking for it as root is one clear line."""
    proc = run_cli("run", "--rm", "--network", "slirp4netns", "busybox", "true")
    assert proc.returncode == 125 and proc.stderr.decode().splitlines() == [
        "minidock: --network slirp4netns is rootless mode's network: as root, containers get the bridge"]
    assert run_cli("info", "--format", "{{.Network}}").stdout.decode().startswith("bridge (minidock0")
