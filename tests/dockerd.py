"""A private dockerd, the reference the tests compare minidock's daemon and builder with.

Debian's ``dockerd`` with everything of its own in one temp directory: ``--data-root``, ``--exec-root``
(where it starts its own containerd: no ``--containerd`` given), a ``unix://`` socket, a pidfile, and an
empty ``--config-file`` (so /etc/docker/daemon.json is not read).  It touches none of the host's networking
(``--iptables=false --ip-forward=false --ip-masq=false --bridge=none``) and never the host's default socket.
It has no internet: busybox is loaded into it from ``minidock save busybox``.

One per test session (``dockerd`` fixture); stopped by its PID (SIGTERM, then SIGKILL), its containerd too,
then every mount under its directory is unmounted and the directory removed.

Use: ``from dockerd import dockerd  # noqa: F401`` in a test module, and mark the tests
``pytest.mark.peers("dockerd", "docker")``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest


class PrivateDockerd:
    """``start()`` it, talk to it with ``docker(...)``, ``stop()`` it: nothing of it is left after."""

    def __init__(self, where: Path):
        self.dir = where
        self.sock = where / "docker.sock"
        self.env = dict(os.environ, DOCKER_HOST=f"unix://{self.sock}", DOCKER_CONFIG=str(where / "client"))
        self.env.pop("DOCKER_CONTEXT", None)
        self.proc: subprocess.Popen | None = None
        self.log = None

    def start(self, timeout: float = 30) -> PrivateDockerd:
        (self.dir / "daemon.json").write_text("{}\n")
        self.log = open(self.dir / "dockerd.log", "ab")
        argv = [shutil.which("dockerd") or "/usr/sbin/dockerd", "--config-file", str(self.dir / "daemon.json"),
                "--data-root", str(self.dir / "root"), "--exec-root", str(self.dir / "exec"),
                "-H", f"unix://{self.sock}", "--pidfile", str(self.dir / "dockerd.pid"),
                "--iptables=false", "--ip-forward=false", "--ip-masq=false", "--bridge=none"]
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=self.log, start_new_session=True)
        deadline = time.monotonic() + timeout
        while self.docker("version").returncode != 0:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the private dockerd did not start:\n{self.log_text()[-3000:]}")
            time.sleep(0.2)
        return self

    def log_text(self) -> str:
        return (self.dir / "dockerd.log").read_text(errors="replace")

    def docker(self, *args: str, input: bytes | None = None, timeout: float = 120, env: dict | None = None,
               cli: str = "/usr/bin/docker") -> subprocess.CompletedProcess:
        return subprocess.run([cli, *args], env=dict(self.env, **(env or {})), input=input,
                              capture_output=True, timeout=timeout)

    def stop(self) -> None:
        """SIGTERM by PID, wait, SIGKILL; then its containerd (if dockerd could not stop it), its mounts, its files."""
        containerd = self._containerd_pid()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if containerd and _alive(containerd):
            os.kill(containerd, signal.SIGKILL)
            while _alive(containerd):
                time.sleep(0.05)
        for target in reversed(_mounts_under(self.dir)):
            subprocess.run(["umount", "-l", target], capture_output=True)
        if self.log:
            self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _containerd_pid(self) -> int | None:
        try:
            return int((self.dir / "exec" / "containerd" / "containerd.pid").read_text())
        except (OSError, ValueError):
            return None


def docker(daemon, cli: str, *args: str, input: bytes | None = None, env: dict | None = None):
    """``cli ARGS`` against ``daemon`` (this private dockerd, or test_daemon's minidock daemon: both have
    ``env``), with the classic builder (``DOCKER_BUILDKIT=0``)."""
    return subprocess.run([cli, *args], env=daemon.env | {"DOCKER_BUILDKIT": "0"} | (env or {}), input=input,
                          capture_output=True, timeout=120)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _mounts_under(where: Path) -> list[str]:
    """Mount points at or below ``where``, in mount order (/proc/self/mountinfo's fifth field)."""
    prefix = str(where)
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].encode().decode("unicode_escape")
        if point == prefix or point.startswith(prefix + "/"):
            points.append(point)
    return points


@pytest.fixture(scope="session")
def dockerd(busybox_store) -> PrivateDockerd:
    """The session's private dockerd, busybox:latest loaded (the image minidock bootstraps, same ID)."""
    where = Path(tempfile.mkdtemp(prefix="minidock-dockerd-"))
    daemon = PrivateDockerd(where).start()
    try:
        archive = where / "busybox.tar"
        subprocess.run([sys.executable, "-m", "minidock", "save", "-o", str(archive), "busybox"], check=True,
                       capture_output=True, env=dict(os.environ, MINIDOCK_ROOT=str(busybox_store)))
        loaded = daemon.docker("load", "-i", str(archive))
        assert loaded.returncode == 0, loaded.stderr
        yield daemon
    finally:
        daemon.stop()
