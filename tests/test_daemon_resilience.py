"""A daemon that survives its clients: hung up on mid-stream, or killed mid-build and started again.

For each of attach, ``logs -f``, pull, push, build and save, a raw client opens the request, reads a little
and goes: a plain close on the unix socket, or a TCP reset (``SO_LINGER`` 0) on loopback.  Then the daemon
still answers, its threads and open files come back to their count once the operation is over (counted
after one warm-up round, as ``test_daemon_attach_ws.py`` does: what the daemon opens once and keeps is no
leak), nothing is left in the store's ``tmp/``, and what the operation made is whole or absent.

Then ``kill -9`` of the daemon in the middle of a build and of a pull: started again on the same socket
and store, it serves, a container started before still runs and can be attached to, and the store is
consistent.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from archives import entry, sha, tar_of
from dockerd import dockerd  # noqa: F401  (the session's private dockerd)
from minidock.registry.server import RegistryServer
from registry_double import Double
from test_daemon import MINIDOCK, Daemon, running_daemon

pytestmark = [pytest.mark.root]

BIG_MB = 24          # the image a save or a push sends: far more than the socket buffers hold


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(params=["close", "reset"])
def way(request):
    """How the client goes: ``close`` on the unix socket, ``reset`` (RST) on loopback TCP."""
    return request.param


@pytest.fixture
def daemon(tmp_path, way):
    hosts = ("tcp://127.0.0.1:%d" % free_port(),) if way == "reset" else ()
    for d in running_daemon(tmp_path, *hosts):
        d.tcp = hosts[0] if hosts else None
        yield d


@pytest.fixture
def registry(tmp_path):
    with RegistryServer(tmp_path / "registry") as server:
        yield server


# -- the client that goes ----------------------------------------------------------------

def connect(daemon: Daemon, way: str) -> socket.socket:
    if way == "close":
        sock = socket.socket(socket.AF_UNIX)
        sock.connect(str(daemon.sock))
    else:
        port = int(daemon.tcp.rsplit(":", 1)[1])
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))   # close() sends RST
    sock.settimeout(30)
    return sock


def hang_up_after(daemon: Daemon, way: str, request: bytes, until: bytes | int) -> bytes:
    """Send ``request``, read until ``until`` has come (those bytes, or that many), then go; what was read."""
    sock = connect(daemon, way)
    try:
        sock.sendall(request)
        got = b""
        while (len(got) < until) if isinstance(until, int) else (until not in got):
            chunk = sock.recv(65536)
            assert chunk, f"the daemon hung up first: {got[-2000:]!r}"
            got += chunk
        return got
    finally:
        sock.close()


def http(method: str, path: str, body: bytes = b"", headers: str = "") -> bytes:
    return (f"{method} {path} HTTP/1.1\r\nHost: docker\r\n{headers}Content-Length: {len(body)}\r\n\r\n").encode() + body


# -- what must hold afterwards -----------------------------------------------------------

def holds(daemon: Daemon) -> tuple[int, int]:
    """The daemon's threads and open files."""
    pid = daemon.proc.pid
    threads = next(int(line.split()[1]) for line in open(f"/proc/{pid}/status") if line.startswith("Threads:"))
    return threads, len(os.listdir(f"/proc/{pid}/fd"))


def steady(daemon: Daemon, within: float = 20) -> tuple[int, int]:
    """The daemon's threads and files once they stay the same for a second and a half."""
    deadline, last, since = time.monotonic() + within, None, time.monotonic()
    while time.monotonic() < deadline:
        now = holds(daemon)
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since > 1.5:
            break
        time.sleep(0.1)
    return last


def files(daemon: Daemon) -> list[str]:
    fds = f"/proc/{daemon.proc.pid}/fd"
    return sorted(os.readlink(f"{fds}/{fd}") for fd in os.listdir(fds) if os.path.exists(f"{fds}/{fd}"))


def settled(daemon: Daemon, before: tuple[int, int], within: float = 20) -> tuple[int, int]:
    """The daemon's threads and files once they are back to ``before`` (or what they are after ``within`` s)."""
    deadline = time.monotonic() + within
    while (now := holds(daemon)) != before and time.monotonic() < deadline:
        time.sleep(0.1)
    return now


def tmp_debris(daemon: Daemon) -> list[str]:
    return sorted(os.listdir(daemon.dir / "store" / "tmp"))


def still_serves(daemon: Daemon) -> None:
    import docker
    assert daemon.request("GET", "/_ping") == (200, b"OK")
    client = docker.DockerClient(base_url=f"unix://{daemon.sock}", timeout=30)
    try:
        assert client.containers.run("busybox", ["echo", "ok"], remove=True, network_mode="none") == b"ok\n"
    finally:
        client.close()


def cli(daemon: Daemon, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(MINIDOCK + list(args), env=daemon.env, capture_output=True, text=True, timeout=120)
    assert not check or result.returncode == 0, result.stderr
    return result


def images_whole(daemon: Daemon) -> None:
    """Every image listed can be saved: its layers rebuilt from the store and checked against their DiffIDs."""
    for image in cli(daemon, "images", "-q", "--no-trunc").stdout.split():
        saved = subprocess.run(MINIDOCK + ["save", image], env=daemon.env, capture_output=True, timeout=120)
        assert saved.returncode == 0, saved.stderr


def big_image(daemon: Daemon, tag: str = "big:1") -> None:
    """An image of one layer holding BIG_MB of random bytes."""
    subprocess.run(MINIDOCK + ["import", "-", tag], env=daemon.env, input=tar_of(entry("random.bin", os.urandom(BIG_MB << 20))),
                   check=True, capture_output=True)


def container(daemon: Daemon, *argv: str) -> str:
    return cli(daemon, "run", "-d", "--network", "none", "busybox", *argv).stdout.strip()


# -- the operations ----------------------------------------------------------------------

def op_attach(daemon, way, registry, quiet: bool) -> None:
    argv = ("sleep", "600") if quiet else ("sh", "-c", "while :; do echo tick; sleep 0.2; done")
    cid = getattr(daemon, "attached", None) or container(daemon, *argv)
    daemon.attached = cid
    request = http("POST", f"/v1.41/containers/{cid}/attach?stream=1&stdout=1&stderr=1&stdin={int(quiet)}",
                   headers="Connection: Upgrade\r\nUpgrade: tcp\r\n")
    hang_up_after(daemon, way, request, b"\r\n\r\n" if quiet else b"tick")


def op_logs(daemon, way, registry, quiet: bool) -> None:
    argv = ("sleep", "600") if quiet else ("sh", "-c", "while :; do echo tick; sleep 0.2; done")
    cid = getattr(daemon, "logged", None) or container(daemon, *argv)
    daemon.logged = cid
    hang_up_after(daemon, way, http("GET", f"/v1.41/containers/{cid}/logs?follow=1&stdout=1&stderr=1"),
                  b"\r\n\r\n" if quiet else b"tick")


def op_save(daemon, way, registry) -> None:
    if not getattr(daemon, "big", False):
        big_image(daemon)
        daemon.big = True
    got = hang_up_after(daemon, way, http("GET", "/v1.41/images/big:1/get"), 1 << 16)
    assert len(got) < BIG_MB << 20


def op_push(daemon, way, registry) -> None:
    name = f"{registry.address}/soak/big"
    if not getattr(daemon, "big", False):
        big_image(daemon, f"{name}:1")
        daemon.big = True
    hang_up_after(daemon, way, http("POST", f"/v1.41/images/{name}/push?tag=1",
                                    headers="X-Registry-Auth: e30=\r\n"), b"The push refers to")


def op_pull(daemon, way, registry) -> None:
    name = f"{registry.address}/soak/big"
    if not getattr(daemon, "big", False):
        big_image(daemon, f"{name}:1")
        cli(daemon, "push", f"{name}:1")
        daemon.big = True
    cli(daemon, "rmi", f"{name}:1", check=False)
    hang_up_after(daemon, way, http("POST", f"/v1.41/images/create?fromImage={name}&tag=1"), b"Pulling from")


def sleepy_context() -> bytes:
    """A build context whose RUN says a line and then sleeps for a minute."""
    return tar_of(entry("Dockerfile", f"FROM busybox\nRUN echo step-{time.time_ns()} && sleep 60\n".encode()))


def op_build(daemon, way, registry) -> None:
    got = hang_up_after(daemon, way, http("POST", "/v1.41/build?t=left:1", sleepy_context(),
                                          "Content-Type: application/x-tar\r\n"), b'"step-')
    assert b"Running in" in got


OPERATIONS = {
    "attach": lambda *a: op_attach(*a, quiet=False),
    "attach-quiet": lambda *a: op_attach(*a, quiet=True),
    "logs-follow": lambda *a: op_logs(*a, quiet=False),
    "logs-follow-quiet": lambda *a: op_logs(*a, quiet=True),
    "save": op_save,
    "push": op_push,
    "pull": op_pull,
    "build": op_build,
}


@pytest.mark.peers("docker")   # docker-py, the client the daemon must still serve
@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_a_client_that_hangs_up_leaves_the_daemon_serving(daemon, way, registry, operation):
    run = OPERATIONS[operation]
    run(daemon, way, registry)                      # the warm-up round
    before, opened = steady(daemon), files(daemon)
    for _ in range(2):
        run(daemon, way, registry)
    assert settled(daemon, before) == before, f"kept threads or files: {opened} -> {files(daemon)}"
    still_serves(daemon)
    assert tmp_debris(daemon) == []
    images_whole(daemon)
    check = cli(daemon, "system", "check", check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    if operation == "build":   # cancelled, as dockerd cancels a build whose client left: its RUN container gone
        assert cli(daemon, "ps", "-aq").stdout == ""
        assert "left:1" not in cli(daemon, "images", "--format", "{{.Repository}}:{{.Tag}}").stdout
    assert "Traceback" not in (daemon.dir / "daemon.log").read_text()


@pytest.mark.peers("dockerd", "docker")
def test_a_build_whose_client_left_ends_as_dockerd_s(unix_daemon, dockerd):
    """dockerd cancels the request's context: the RUN's container is killed and removed, no image tagged."""
    for d in (unix_daemon, dockerd):
        d.tcp = None
        hang_up_after(d, "close", http("POST", "/v1.41/build?t=left:1", sleepy_context()), b'"step-')
    for d in (unix_daemon, dockerd):
        deadline = time.monotonic() + 10
        while _docker(d, "ps", "-aq"):
            assert time.monotonic() < deadline, f"the build's RUN container is still there ({d.sock})"
            time.sleep(0.2)
        assert b"left" not in _docker(d, "images")


def _docker(d, *args: str) -> bytes:
    """Debian's docker CLI's output against either daemon."""
    return subprocess.run(["/usr/bin/docker", *args], env=d.env, capture_output=True, timeout=60).stdout


# -- kill -9 in the middle of a build or a pull, then a start again ---------------------------

@pytest.fixture
def unix_daemon(tmp_path):
    yield from running_daemon(tmp_path)


def kill_9_and_start_again(daemon: Daemon) -> None:
    """SIGKILL: no clean-up runs, the socket's file stays; a daemon started again on it claims it."""
    daemon.proc.send_signal(signal.SIGKILL)
    daemon.proc.wait(timeout=20)
    daemon.log.close()
    assert daemon.sock.exists()
    daemon.start()


def attachable(daemon: Daemon, cid: str) -> None:
    """docker-py attaches to the running ``cat``: a line typed comes back."""
    import docker
    api = docker.APIClient(base_url=f"unix://{daemon.sock}", timeout=30)
    try:
        sock = api.attach_socket(cid, params={"stdin": 1, "stdout": 1, "stream": 1})
        raw = sock._sock
        raw.settimeout(20)
        raw.sendall(b"still here\n")
        got = b""
        while b"still here" not in got:
            chunk = raw.recv(4096)
            assert chunk, got
            got += chunk
        sock.close()
    finally:
        api.close()


def consistent(daemon: Daemon, running: str) -> None:
    assert cli(daemon, "inspect", "-f", "{{.State.Running}}", running).stdout == "true\n"
    attachable(daemon, running)
    still_serves(daemon)
    check = cli(daemon, "system", "check", check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    images_whole(daemon)
    assert "Traceback" not in (daemon.dir / "daemon.log").read_text()


@pytest.mark.peers("docker")
def test_kill_9_in_the_middle_of_a_build(unix_daemon):
    daemon = unix_daemon
    keeps = cli(daemon, "run", "-d", "-i", "--network", "none", "--name", "keeps", "busybox", "cat").stdout.strip()
    sock = connect(daemon, "close")
    sock.sendall(http("POST", "/v1.41/build?t=killed:1", sleepy_context()))
    got = b""
    while b'"step-' not in got:
        got += sock.recv(65536)
    kill_9_and_start_again(daemon)
    sock.close()
    consistent(daemon, keeps)
    assert "killed" not in cli(daemon, "images", "--format", "{{.Repository}}").stdout
    # the RUN's container stays, as an unfinished build's does with dockerd; it is listed and removable
    intermediate = [c for c in cli(daemon, "ps", "-aq", "--no-trunc").stdout.split() if c != keeps]
    assert len(intermediate) == 1
    cli(daemon, "rm", "-f", *intermediate)


@pytest.mark.peers("docker")
def test_kill_9_in_the_middle_of_a_pull(unix_daemon):
    daemon = unix_daemon
    keeps = cli(daemon, "run", "-d", "-i", "--network", "none", "--name", "keeps", "busybox", "cat").stdout.strip()
    layer = tar_of(entry("random.bin", os.urandom(4 << 20)))
    with Double([layer]) as registry:
        name = f"{registry.host}/{Double.REPO}"
        registry.faults[sha(layer)] = "stall"
        sock = connect(daemon, "close")
        sock.sendall(http("POST", f"/v1.41/images/create?fromImage={name}&tag=latest"))
        assert registry.stalled.wait(30), "the pull never reached the layer"
        kill_9_and_start_again(daemon)
        sock.close()
        consistent(daemon, keeps)
        assert cli(daemon, "images", "-q", name).stdout == ""    # nothing of the pull is listed
        registry.release.set()
        registry.faults.clear()
        import docker
        client = docker.DockerClient(base_url=f"unix://{daemon.sock}", timeout=60)
        try:
            client.images.pull(name, tag="latest")                 # pulled again, whole
        finally:
            client.close()
    images_whole(daemon)
    assert cli(daemon, "images", "-q", name).stdout.strip()
