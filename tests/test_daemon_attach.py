"""The daemon's attach and its shims: an attach that waits for a start the daemon does not make
(``minidock start`` on the same store) still gets the output; a shim forked from the daemon keeps
none of the daemon's sockets."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from test_daemon import daemon  # noqa: F401  (the fixture: a private minidock daemon)

pytestmark = [pytest.mark.root, pytest.mark.peers("docker")]


def response_head(path: str, request: str) -> tuple[bytes, socket.socket]:
    """Send a raw request on the unix socket ``path``: the answer's status line and headers, and the
    socket, to read on from where they end."""
    sock = socket.socket(socket.AF_UNIX)
    sock.connect(path)
    sock.settimeout(20)
    sock.sendall(request.encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        assert chunk, head
        head += chunk
    return head, sock


def _hijacked(path: str, request: str) -> socket.socket:
    head, sock = response_head(path, request)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def test_an_attach_before_a_start_by_the_cli_gets_the_output(daemon):
    minidock = [sys.executable, "-m", "minidock"]
    cid = subprocess.run(minidock + ["create", "--network", "none", "-t", "busybox", "sh", "-c", "sleep 0.5; echo from-the-cli"],
                         env=daemon.env, capture_output=True, text=True, check=True).stdout.strip()
    sock = _hijacked(str(daemon.sock), f"POST /v1.43/containers/{cid}/attach?stream=1&stdout=1&stderr=1 HTTP/1.1\r\n"
                                       "Host: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
    sock.settimeout(20)
    subprocess.run(minidock + ["start", cid], env=daemon.env, check=True, capture_output=True)
    got = b""
    while chunk := sock.recv(4096):
        got += chunk
    sock.close()
    assert b"from-the-cli" in got


def _sockets(pid: int) -> set[str]:
    found = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:"):
            found.add(target)
    return found


def test_a_shim_the_daemon_forks_holds_none_of_the_daemons_sockets(daemon):
    run = daemon.docker("/usr/bin/docker", "run", "-d", "--network", "none", "busybox", "sleep", "30")
    assert run.returncode == 0, run.stderr
    cid = run.stdout.decode().strip()
    state = json.loads((daemon.dir / "store" / "containers" / cid / "state.json").read_text())
    shim = state["ShimPid"]
    assert Path(f"/proc/{shim}/comm").read_text() == "minidock-shim\n"
    shared = _sockets(shim) & _sockets(daemon.proc.pid)
    assert shared == set()        # neither the listening socket nor any client's connection


def test_a_tty_has_its_console_size_from_the_start(daemon):
    body = json.dumps({"Image": "busybox", "Cmd": ["stty", "size"], "Tty": True,
                       "HostConfig": {"NetworkMode": "none", "ConsoleSize": [33, 101]}}).encode()
    status, data = daemon.request("POST", "/v1.43/containers/create", body, {"Content-Type": "application/json"})
    assert status == 201, data
    cid = json.loads(data)["Id"]
    assert daemon.request("POST", f"/v1.43/containers/{cid}/start")[0] == 204
    assert daemon.request("POST", f"/v1.43/containers/{cid}/wait")[0] == 200
    status, logs = daemon.request("GET", f"/v1.43/containers/{cid}/logs?stdout=1")
    assert logs.strip() == b"33 101"
