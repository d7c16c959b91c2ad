"""``minidock daemon``: the unmodified docker CLI (Debian's, and any other on PATH) and docker-py drive it.

Each test talks to a daemon of its own on a socket in a temp directory, over a store of its own.
"""

from __future__ import annotations

import http.client
import json
import os
import pty
import select
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.root, pytest.mark.peers("docker")]

MINIDOCK = [sys.executable, "-m", "minidock"]


def clis() -> list[str]:
    """Debian's docker CLI, and every other one on PATH."""
    found = [p for p in ("/usr/bin/docker", shutil.which("docker")) if p]
    return list(dict.fromkeys(os.path.realpath(p) for p in found))


class Daemon:
    def __init__(self, tmp: Path):
        self.dir = tmp
        self.sock = tmp / "d.sock"
        self.env = dict(os.environ, MINIDOCK_ROOT=str(tmp / "store"), DOCKER_HOST=f"unix://{self.sock}",
                        DOCKER_CONFIG=str(tmp / "docker-config"))
        self.proc = None

    def start(self, *hosts: str) -> Daemon:
        """Listen on the unix socket, and on each of ``hosts`` too (``tcp://127.0.0.1:PORT``)."""
        self.log = open(self.dir / "daemon.log", "ab")
        more = [arg for host in hosts for arg in ("-H", host)]
        self.proc = subprocess.Popen(MINIDOCK + ["daemon", "-H", f"unix://{self.sock}", *more, "--debug"],
                                     env=self.env, stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 20
        self.hosts = hosts
        while not self._listening():   # the socket's file is there at bind(), a moment before listen()
            assert self.proc.poll() is None, (self.dir / "daemon.log").read_text()
            assert time.monotonic() < deadline, "the daemon did not listen"
            time.sleep(0.05)
        return self

    def _listening(self) -> bool:
        """Whether the unix socket and every TCP host listen (the daemon opens them one after another)."""
        probes = [(socket.AF_UNIX, str(self.sock))] + [
            (socket.AF_INET, (h.rsplit(":", 1)[0].removeprefix("tcp://"), int(h.rsplit(":", 1)[1]))) for h in self.hosts]
        for family, address in probes:
            with socket.socket(family) as probe:
                try:
                    probe.connect(address)
                except OSError:
                    return False
        return True

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=20)
        self.log.close()
        return code

    def docker(self, cli: str, *args, input: bytes | None = None, timeout: float = 60):
        return subprocess.run([cli, *args], env=self.env, input=input, capture_output=True, timeout=timeout)

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        conn = http.client.HTTPConnection("localhost")
        conn.sock = socket.socket(socket.AF_UNIX)
        conn.sock.connect(str(self.sock))
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        return resp.status, data


@pytest.fixture
def daemon(tmp_path):
    yield from running_daemon(tmp_path)


def running_daemon(tmp_path: Path, *hosts: str):
    """A daemon over a fresh store with busybox (on the unix socket and ``hosts``); its containers removed after."""
    subprocess.run(MINIDOCK + ["bootstrap", "busybox"], env=dict(os.environ, MINIDOCK_ROOT=str(tmp_path / "store")),
                   check=True, capture_output=True)
    d = Daemon(tmp_path).start(*hosts)
    yield d
    if d.proc.poll() is None:
        subprocess.run(MINIDOCK + ["rm", "-f", *_all_containers(d)], env=d.env, capture_output=True)
        assert d.stop() == 0, (d.dir / "daemon.log").read_text()[-4000:]


def _all_containers(d: Daemon) -> list[str]:
    out = subprocess.run(MINIDOCK + ["ps", "-aq", "--no-trunc"], env=d.env, capture_output=True, text=True).stdout
    return out.split()


@pytest.mark.parametrize("cli", clis())
def test_the_docker_cli_runs_a_container(daemon, cli):
    result = daemon.docker(cli, "run", "--rm", "busybox", "echo", "hello")
    assert (result.returncode, result.stdout) == (0, b"hello\n"), result.stderr
    result = daemon.docker(cli, "run", "busybox", "sh", "-c", "echo out; echo err >&2; exit 7")
    assert (result.returncode, result.stdout, result.stderr) == (7, b"out\n", b"err\n")
    assert daemon.docker(cli, "ps", "-a", "--format", "{{.Status}}").stdout.startswith(b"Exited (7)")
    piped = daemon.docker(cli, "run", "-i", "--rm", "busybox", "cat", input=b"piped\n", timeout=20)
    assert (piped.returncode, piped.stdout) == (0, b"piped\n")


@pytest.mark.parametrize("cli", clis())
def test_errors_come_back_as_the_daemon_s(daemon, cli):
    result = daemon.docker(cli, "stop", "nosuch")
    assert result.returncode == 1
    assert result.stderr.strip() == b"Error response from daemon: No such container: nosuch"
    result = daemon.docker(cli, "run", "--rm", "busybox", "nosuchcommand")
    assert result.returncode == 127 and b"executable file not found" in result.stderr


@pytest.mark.parametrize("cli", clis())
def test_detached_exec_logs_and_stop(daemon, cli):
    cid = daemon.docker(cli, "run", "-d", "--name", "web", "busybox", "sh", "-c",
                        "trap 'exit 0' TERM; echo started; while true; do sleep 0.1; done").stdout.strip()
    assert len(cid) == 64
    assert daemon.docker(cli, "exec", "web", "echo", "inside").stdout == b"inside\n"
    assert daemon.docker(cli, "exec", "web", "sh", "-c", "exit 3").returncode == 3
    assert daemon.docker(cli, "exec", "-i", "web", "cat", input=b"in\n", timeout=20).stdout == b"in\n"
    time.sleep(0.2)
    assert daemon.docker(cli, "logs", "web").stdout == b"started\n"
    assert daemon.docker(cli, "inspect", "-f", "{{.State.Status}}", "web").stdout == b"running\n"
    assert daemon.docker(cli, "stop", "web").returncode == 0
    assert daemon.docker(cli, "inspect", "-f", "{{.State.Status}}", "web").stdout == b"exited\n"
    assert daemon.docker(cli, "rm", "web").returncode == 0


def _through_pty(argv: list[str], env: dict, keys: list[bytes]) -> tuple[bytes, int]:
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(argv[0], argv, env)
    out = b""
    for data in keys:
        time.sleep(1)
        os.write(fd, data)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if select.select([fd], [], [], 0.2)[0]:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    _, status = os.waitpid(pid, 0)
    return out, os.waitstatus_to_exitcode(status)


@pytest.mark.parametrize("cli", clis())
def test_run_it_through_a_terminal(daemon, cli):
    out, code = _through_pty([cli, "run", "-it", "--rm", "busybox", "sh"], daemon.env,
                             [b"echo $((6*7)); tty\r", b"exit 5\r"])
    assert code == 5, out
    assert b"42" in out and b"/dev/pts/0" in out


def test_docker_py_drives_the_daemon(daemon):
    docker = pytest.importorskip("docker", reason="needs the docker package (make setup installs the test extra)")
    client = docker.DockerClient(base_url=f"unix://{daemon.sock}")
    assert client.ping()
    assert "busybox:latest" in [t for image in client.images.list() for t in image.tags]
    assert client.containers.run("busybox", ["echo", "from docker-py"], remove=True) == b"from docker-py\n"
    container = client.containers.run("busybox", ["sleep", "30"], detach=True, name="sleeper")
    assert container.exec_run(["echo", "hi"]).output == b"hi\n"
    assert client.containers.get("sleeper").status == "running"
    container.kill()
    assert container.wait()["StatusCode"] == 137
    container.remove()
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get("nosuch:image")
    client.close()


@pytest.mark.parametrize("body, message", [
    (b"{not json", b"invalid JSON"),
    (json.dumps({"Image": "busybox", "Bogus": 1}).encode(), b"unknown field Config.Bogus"),
    (json.dumps({"Image": "busybox", "HostConfig": {"CapAdd": ["FOO"]}}).encode(), b'unknown capability: "CAP_FOO"'),
    (json.dumps({"Image": "busybox", "HostConfig": {"SecurityOpt": ["foo"]}}).encode(), b'invalid --security-opt 1'),
    (json.dumps({"Image": "busybox", "Cmd": 5}).encode(), b"Config.Cmd must be a list of strings"),
])
def test_bad_create_requests_are_refused_and_change_nothing(daemon, body, message):
    status, data = daemon.request("POST", "/v1.41/containers/create", body, {"Content-Type": "application/json"})
    assert status == 400 and message in json.loads(data)["message"].encode()
    assert _all_containers(daemon) == []


def test_names_versions_and_bodies(daemon):
    status, data = daemon.request("POST", "/containers/create?name=../etc", b'{"Image": "busybox"}')
    assert status == 400 and b"Invalid container name" in data
    status, data = daemon.request("GET", "/v1.99/version")
    assert status == 400 and b"too new" in data
    status, data = daemon.request("GET", "/v1.12/version")
    assert status == 400 and b"too old" in data
    with socket.socket(socket.AF_UNIX) as raw:   # a body too large is refused before it is read
        raw.connect(str(daemon.sock))
        raw.sendall(b"POST /containers/create HTTP/1.1\r\nHost: d\r\nContent-Length: %d\r\n\r\n" % (5 << 20))
        assert raw.recv(100).startswith(b"HTTP/1.1 413")
    status, data = daemon.request("GET", "/nowhere")
    assert status == 404


def test_the_socket_is_0660_and_tcp_is_loopback_only(daemon, tmp_path):
    assert stat.S_IMODE(daemon.sock.stat().st_mode) == 0o660
    result = subprocess.run(MINIDOCK + ["daemon", "-H", "tcp://0.0.0.0:2375"], env=daemon.env,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 125 and "loopback" in result.stderr
    again = subprocess.run(MINIDOCK + ["daemon", "-H", f"unix://{daemon.sock}"], env=daemon.env,
                           capture_output=True, text=True, timeout=30)
    assert again.returncode == 1 and "another daemon" in again.stderr


def test_containers_outlive_the_daemon(daemon):
    cli = clis()[0]
    daemon.docker(cli, "run", "-d", "--name", "keeps", "busybox", "sleep", "60")
    assert daemon.stop() == 0
    assert not daemon.sock.exists()
    daemon.start()
    assert daemon.docker(cli, "inspect", "-f", "{{.State.Running}}", "keeps").stdout == b"true\n"
    assert daemon.docker(cli, "rm", "-f", "keeps").returncode == 0


def test_a_daemon_that_served_no_request_stops_cleanly(tmp_path):
    """SIGTERM before any request: socketserver has no thread list yet; exit 0, the socket removed."""
    d = Daemon(tmp_path).start()
    assert d.stop() == 0, (tmp_path / "daemon.log").read_text()[-4000:]
    assert not d.sock.exists()
