"""Rootless mode: an unprivileged user runs real containers inside a user namespace.

The test drops to uid 65534 with util-linux's setpriv and runs minidock with
Debian's python3 (the venv's interpreter lives under /root, which that user
cannot read); tqdm and pyroute2 come from Debian's python3-* packages, and
minidock from a copy any user can read (the clone may be root's alone).
"""

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import REPO, fetched

NOBODY = 65534
PYTHON = "/usr/bin/python3"


pytestmark = [pytest.mark.root, pytest.mark.peers("setpriv")]


@pytest.fixture
def as_nobody(readable_package):
    """A runner of ``minidock ARGS`` as uid/gid 65534, with a store that user owns."""
    if not os.path.exists(PYTHON):
        pytest.skip("needs Debian's python3 with python3-tqdm and python3-pyroute2 (make setup)")
    base = Path(tempfile.mkdtemp(prefix="minidock-rootless-"))  # pytest's tmp dirs are root's alone
    os.chmod(base, 0o755)
    home = base / "home"
    home.mkdir()
    os.chown(home, NOBODY, NOBODY)

    def minidock(*args: str, check: bool = True, path: str = "/usr/sbin:/usr/bin:/sbin:/bin") -> subprocess.CompletedProcess:
        env = {"HOME": str(home), "PYTHONPATH": str(readable_package), "MINIDOCK_ROOT": str(home / "store"),
               "PATH": path}
        proc = subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                               PYTHON, "-m", "minidock", *args], env=env, capture_output=True, text=True)
        if check and proc.returncode != 0:
            raise AssertionError(f"minidock {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
        return proc

    minidock.home = home
    yield minidock
    minidock("rm", "-f", *minidock("ps", "-aq").stdout.split(), check=False)
    shutil.rmtree(base, ignore_errors=True)


def test_info_says_rootless_and_what_it_does_not_isolate(as_nobody):
    info = json.loads(as_nobody("info", "--format", "{{json .}}").stdout)
    assert info["RunMode"] == "rootless"
    assert info["Isolation"]["user"] is True
    assert info["Isolation"]["cgroup limits"] is False and info["Isolation"]["bridge network"] is False


def test_a_rootless_container_is_pid_1_root_inside_with_its_own_loopback(as_nobody):
    as_nobody("bootstrap", "busybox")
    out = as_nobody("run", "--name", "r1", "-h", "inside", "--network", "none", "busybox", "sh", "-c",
                    "echo $$; id -u; hostname; ip -o addr | cut -d' ' -f2 | sort -u; touch /made").stdout.split()
    assert out == ["1", "0", "inside", "lo"]
    assert as_nobody("diff", "r1").stdout.split("\n")[0] == "A /made"
    upper = Path(as_nobody("inspect", "--format", "{{.GraphDriver.Data.UpperDir}}", "r1").stdout.strip())
    assert (upper / "made").stat().st_uid == NOBODY  # root inside is the user outside
    exec_out = as_nobody("exec", "r1", "true", check=False)
    assert exec_out.returncode != 0 and "not running" in exec_out.stderr


def test_a_rootless_container_gets_docker_s_seccomp_filter(as_nobody):
    """seccomp(2) needs CAP_SYS_ADMIN only in the caller's user namespace: rootless containers are filtered too."""
    as_nobody("bootstrap", "busybox")
    assert json.loads(as_nobody("info", "--format", "{{json .SecurityOptions}}").stdout) == \
        ["name=seccomp,profile=builtin", "name=rootless"]
    status = "grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status; unshare -U true || echo refused"
    assert as_nobody("run", "--rm", "busybox", "sh", "-c", status).stdout.split() == \
        ["NoNewPrivs:", "0", "Seccomp:", "2", "refused"]
    assert as_nobody("run", "--rm", "--security-opt", "seccomp=unconfined", "busybox", "sh", "-c",
                     status).stdout.split() == ["NoNewPrivs:", "0", "Seccomp:", "0"]


def test_a_truncated_archive_is_refused_with_one_line_and_no_trace(as_nobody):
    """Rootless, layers are extracted by a child in a user namespace: it must be done before the store is cleaned."""
    as_nobody("bootstrap", "busybox")
    archive = as_nobody.home / "busybox.tar"
    as_nobody("save", "-o", str(archive), "busybox")
    data = archive.read_bytes()
    archive.write_bytes(data[:len(data) // 2])
    as_nobody("rmi", "busybox")
    proc = as_nobody("load", "-i", str(archive), check=False)
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == ["minidock: archive is truncated or corrupt: unexpected end of data"]
    assert as_nobody("images", "-q").stdout == ""


def test_rootless_refuses_what_needs_root_with_one_line(as_nobody):
    as_nobody("bootstrap", "busybox")
    for args, words in ((["--memory", "16m"], "need cgroups"), (["--network", "host"], "not possible")):
        proc = as_nobody("run", *args, "busybox", "true", check=False)
        assert proc.returncode == 125 and words in proc.stderr and "Traceback" not in proc.stderr
    assert as_nobody("ps", "-aq").stdout.strip() == ""


def test_a_rootless_build_runs_its_steps_in_rootless_containers(as_nobody):
    """RUN needs a container: in rootless mode, a user namespace; COPY a layer the user owns."""
    as_nobody("bootstrap", "busybox")
    home = Path(as_nobody("info", "--format", "{{.DockerRootDir}}").stdout.strip()).parent
    ctx = home / "ctx"
    shutil.copytree(REPO / "tests" / "contexts" / "multistage", ctx)
    for path in [ctx, *ctx.rglob("*")]:
        os.chown(path, NOBODY, NOBODY)
    out = as_nobody("build", "-t", "rootless-built:1", str(ctx)).stdout
    assert "Successfully tagged rootless-built:1" in out
    assert as_nobody("run", "--rm", "rootless-built:1").stdout == "built by the first stage\n"


def test_a_rootless_published_port_reaches_the_container_s_own_loopback(as_nobody):
    """No bridge: the shim's proxy connects with sockets the keeper makes inside the container's netns."""
    as_nobody("bootstrap", "busybox")
    as_nobody("run", "-d", "--name", "web", "-h", "rootless-web", "-p", "127.0.0.1::8080", "busybox",
              "httpd", "-f", "-p", "8080", "-h", "/etc")
    host = as_nobody("port", "web", "8080").stdout.strip()
    assert fetched(f"http://{host}/hostname") == b"rootless-web\n"
    as_nobody("rm", "-f", "web")
