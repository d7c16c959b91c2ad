"""``docker cp``, ``pause``/``unpause`` and ``update`` against ``minidock daemon``, with both docker CLIs,
raw Engine API requests, and the ``minidock`` command on the same store."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from test_daemon import MINIDOCK, clis, daemon  # noqa: F401  (daemon: the fixture)

pytestmark = [pytest.mark.root, pytest.mark.peers("docker")]


def minidock(d, *args, input: bytes | None = None):
    return subprocess.run(MINIDOCK + list(args), env=d.env, input=input, capture_output=True, timeout=60)


def run_sleeper(d, name: str) -> str:
    result = minidock(d, "run", "-d", "--name", name, "busybox", "sleep", "600")
    assert result.returncode == 0, result.stderr
    return result.stdout.decode().strip()


def in_container(d, name: str, script: str) -> bytes:
    result = minidock(d, "exec", name, "sh", "-c", script)
    assert result.returncode == 0, result.stderr
    return result.stdout


def tar_bytes(*members: tuple) -> bytes:
    """(name, kind, data-or-target): kind file, sym or link."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, kind, data in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                info.type, info.linkname = (tarfile.SYMTYPE if kind == "sym" else tarfile.LNKTYPE), data
                tar.addfile(info)
    return out.getvalue()


# -- docker cp ------------------------------------------------------------------

@pytest.mark.parametrize("cli", clis())
def test_docker_cp_both_ways_running_and_stopped(daemon, cli, tmp_path):
    run_sleeper(daemon, "box")
    local = tmp_path / "local"
    (local / "dir" / "sub").mkdir(parents=True)
    (local / "file.txt").write_text("from the host\n")
    (local / "dir" / "sub" / "deep.txt").write_text("deep\n")
    out = tmp_path / "out"
    out.mkdir()

    assert daemon.docker(cli, "cp", str(local / "file.txt"), "box:/tmp/").returncode == 0
    assert daemon.docker(cli, "cp", str(local / "dir"), "box:/root/copied").returncode == 0
    assert in_container(daemon, "box", "cat /tmp/file.txt /root/copied/sub/deep.txt") == b"from the host\ndeep\n"

    assert daemon.docker(cli, "cp", "box:/etc/passwd", str(out)).returncode == 0
    assert (out / "passwd").read_text().startswith("root:")
    assert daemon.docker(cli, "cp", "box:/root/copied", str(out / "back")).returncode == 0
    assert (out / "back" / "sub" / "deep.txt").read_text() == "deep\n"

    missing = daemon.docker(cli, "cp", "box:/nope", str(out))
    assert missing.returncode == 1 and b"/nope" in missing.stderr

    assert daemon.docker(cli, "stop", "-t", "0", "box").returncode == 0
    assert daemon.docker(cli, "cp", str(local / "file.txt"), "box:/stopped.txt").returncode == 0
    assert daemon.docker(cli, "cp", "box:/stopped.txt", str(out / "stopped.txt")).returncode == 0
    assert (out / "stopped.txt").read_text() == "from the host\n"
    changes = daemon.docker(cli, "diff", "box").stdout.decode().split("\n")
    assert "A /stopped.txt" in changes and "A /tmp/file.txt" in changes


@pytest.mark.parametrize("cli", clis())
def test_docker_cp_tar_streams(daemon, cli):
    run_sleeper(daemon, "box")
    sent = tar_bytes(("streamed/a.txt", "file", b"a\n"), ("streamed/b.txt", "file", b"b\n"))
    result = daemon.docker(cli, "cp", "-", "box:/tmp", input=sent)
    assert result.returncode == 0, result.stderr
    assert in_container(daemon, "box", "cat /tmp/streamed/a.txt /tmp/streamed/b.txt") == b"a\nb\n"
    got = daemon.docker(cli, "cp", "box:/tmp/streamed", "-")
    assert got.returncode == 0, got.stderr
    with tarfile.open(fileobj=io.BytesIO(got.stdout)) as tar:
        assert sorted(m.name for m in tar.getmembers()) == ["streamed", "streamed/a.txt", "streamed/b.txt"]
        assert tar.extractfile("streamed/b.txt").read() == b"b\n"


def test_head_and_get_answer_the_stat_header(daemon):
    run_sleeper(daemon, "box")
    status, _ = daemon.request("HEAD", "/v1.41/containers/box/archive?path=/nope")
    assert status == 404
    conn_status, headers = _head(daemon, "/v1.41/containers/box/archive?path=/bin/sh")
    assert conn_status == 200
    found = json.loads(base64.b64decode(headers["X-Docker-Container-Path-Stat"]))
    assert found["name"] == "sh" and found["linkTarget"] == "/bin/busybox" and found["mode"] & (1 << 27)
    status, body = daemon.request("GET", "/v1.41/containers/box/archive?path=/etc/hostname")
    assert status == 200
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        assert [m.name for m in tar.getmembers()] == ["hostname"]
    assert daemon.request("GET", "/v1.41/containers/box/archive")[0] == 400
    assert daemon.request("GET", "/v1.41/containers/nosuch/archive?path=/")[0] == 404


def _head(d, path: str):
    import http.client
    import socket
    conn = http.client.HTTPConnection("localhost")
    conn.sock = socket.socket(socket.AF_UNIX)
    conn.sock.connect(str(d.sock))
    conn.request("HEAD", path)
    resp = conn.getresponse()
    resp.read()
    conn.close()
    return resp.status, dict(resp.getheaders())


HOSTILE = {
    "climbs out": [("ok", "file", b"x"), ("../../../../../../CANARY/keep", "file", b"pwned")],
    "absolute name": [("ok", "file", b"x"), ("/etc/passwd", "file", b"pwned")],
    "through its own symlink": [("ok", "file", b"x"), ("evil", "sym", "/"), ("evil/etc/passwd", "file", b"pwned")],
    "symlink to the host": [("evil", "sym", "../../../../../../CANARY"), ("evil/keep", "file", b"pwned")],
    "hardlink to a file outside": [("ok", "file", b"x"), ("evil", "link", "/etc/passwd")],
}


@pytest.mark.parametrize("case", HOSTILE)
@pytest.mark.parametrize("running", [True, False], ids=["running", "stopped"])
def test_hostile_puts_are_refused_and_change_nothing(daemon, canary, case, running):
    run_sleeper(daemon, "box")
    listing = "find / -xdev | sort; cat /etc/passwd"
    before = in_container(daemon, "box", listing)
    if not running:
        assert minidock(daemon, "stop", "-t", "0", "box").returncode == 0
    members = [(n.replace("CANARY", str(canary).lstrip("/")), k, d.replace("CANARY", str(canary).lstrip("/"))
                if isinstance(d, str) else d) for n, k, d in HOSTILE[case]]
    status, body = daemon.request("PUT", "/v1.41/containers/box/archive?path=/tmp", tar_bytes(*members),
                                  {"Content-Type": "application/x-tar"})
    assert status == 400, body
    assert "refusing the archive" in json.loads(body)["message"] or b"hardlink" in body
    assert (canary / "keep").read_text() == "untouched" and sorted(os.listdir(canary)) == ["keep"]
    if not running:
        assert minidock(daemon, "start", "box").returncode == 0
    assert in_container(daemon, "box", listing) == before


def test_put_refusals_as_docker_s(daemon):
    run_sleeper(daemon, "box")
    tar = tar_bytes(("x", "file", b"x"))
    assert daemon.request("PUT", "/v1.41/containers/box/archive?path=/nodir", tar)[0] == 404
    status, body = daemon.request("PUT", "/v1.41/containers/box/archive?path=/etc/passwd", tar)
    assert (status, json.loads(body)["message"]) == (400, "extraction point is not a directory")
    status, body = daemon.request("PUT", "/v1.41/containers/box/archive?path=/&noOverwriteDirNonDir=1",
                                  tar_bytes(("etc", "file", b"not a dir")))
    assert status == 500 and "cannot overwrite directory" in json.loads(body)["message"]
    ro = minidock(daemon, "run", "-d", "--read-only", "--name", "ro", "busybox", "sleep", "600")
    assert ro.returncode == 0, ro.stderr
    assert daemon.request("PUT", "/v1.41/containers/ro/archive?path=/tmp", tar)[0] == 403


def test_minidock_cp_both_ways(daemon, tmp_path):
    run_sleeper(daemon, "box")
    (tmp_path / "hello.txt").write_text("hello\n")
    assert minidock(daemon, "cp", str(tmp_path / "hello.txt"), "box:/tmp/renamed.txt").returncode == 0
    assert in_container(daemon, "box", "cat /tmp/renamed.txt") == b"hello\n"
    assert minidock(daemon, "cp", "box:/etc/.", str(tmp_path / "etc-contents")).returncode == 0
    assert (tmp_path / "etc-contents" / "passwd").exists()
    piped = minidock(daemon, "cp", "box:/tmp/renamed.txt", "-")
    with tarfile.open(fileobj=io.BytesIO(piped.stdout)) as tar:
        assert tar.extractfile("renamed.txt").read() == b"hello\n"
    assert minidock(daemon, "cp", "-", "box:/", input=tar_bytes(("in.txt", "file", b"in\n"))).returncode == 0
    assert in_container(daemon, "box", "cat /in.txt") == b"in\n"
    missing = minidock(daemon, "cp", "box:/nope", str(tmp_path))
    assert missing.returncode == 1 and b"Could not find the file /nope in container box" in missing.stderr
    hostile = minidock(daemon, "cp", "-", "box:/tmp", input=tar_bytes(("../../x", "file", b"x")))
    assert hostile.returncode != 0 and b"refusing the archive" in hostile.stderr
    assert minidock(daemon, "cp", str(tmp_path), "other:/x").returncode == 1


# -- pause / unpause ------------------------------------------------------------

def counter(d, name: str) -> int:
    return int(in_container(d, name, "cat /tmp/n"))


@pytest.mark.parametrize("cli", clis())
def test_pause_freezes_and_unpause_thaws(daemon, cli):
    started = daemon.docker(cli, "run", "-d", "--name", "ticker", "busybox", "sh", "-c",
                            "i=0; while true; do i=$((i+1)); echo $i > /tmp/n.new; mv /tmp/n.new /tmp/n; sleep 0.05; done")
    assert started.returncode == 0, started.stderr
    time.sleep(0.5)
    assert daemon.docker(cli, "pause", "ticker").stdout == b"ticker\n"
    assert daemon.docker(cli, "inspect", "-f", "{{.State.Status}} {{.State.Paused}}", "ticker").stdout == \
        b"paused true\n"
    assert b"(Paused)" in daemon.docker(cli, "ps", "--format", "{{.Status}}").stdout
    assert daemon.docker(cli, "ps", "-q", "--filter", "status=paused").stdout.strip() == started.stdout.strip()[:12]
    assert daemon.docker(cli, "ps", "-q", "--filter", "status=running").stdout == b""
    assert daemon.docker(cli, "info", "-f", "{{.ContainersPaused}} {{.ContainersRunning}}").stdout == b"1 0\n"
    frozen_at = int(_read_n(daemon))
    time.sleep(0.6)
    assert int(_read_n(daemon)) == frozen_at

    refused = daemon.docker(cli, "exec", "ticker", "true")
    assert refused.returncode != 0 and b"is paused, unpause the container before exec" in refused.stderr
    again = daemon.docker(cli, "pause", "ticker")
    assert again.returncode == 1 and b"is already paused" in again.stderr

    assert daemon.docker(cli, "unpause", "ticker").stdout == b"ticker\n"
    time.sleep(0.6)
    assert counter(daemon, "ticker") > frozen_at + 3
    not_paused = daemon.docker(cli, "unpause", "ticker")
    assert not_paused.returncode == 1 and b"is not paused" in not_paused.stderr

    assert daemon.docker(cli, "pause", "ticker").returncode == 0
    assert daemon.docker(cli, "kill", "ticker").returncode == 0   # kill sends, then thaws (moby #34027)
    assert daemon.docker(cli, "wait", "ticker").stdout == b"137\n"
    stopped = daemon.docker(cli, "pause", "ticker")
    assert stopped.returncode == 1 and b"is not running" in stopped.stderr


def _read_n(d) -> str:
    """The counter, read from the host side (exec is refused while paused): through GET archive."""
    status, body = d.request("GET", "/v1.41/containers/ticker/archive?path=/tmp/n")
    assert status == 200
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        return tar.extractfile("n").read().decode().strip()


def test_stop_and_rm_f_of_a_paused_container(daemon):
    run_sleeper(daemon, "first")
    run_sleeper(daemon, "second")
    assert minidock(daemon, "pause", "first", "second").returncode == 0
    assert b"(Paused)" in minidock(daemon, "ps").stdout
    refused = minidock(daemon, "rm", "first")
    assert refused.returncode == 1 and b"You cannot remove a paused container" in refused.stderr
    assert minidock(daemon, "stop", "-t", "1", "first").returncode == 0
    assert minidock(daemon, "inspect", "-f", "{{.State.Status}} {{.State.Paused}}", "first").stdout == \
        b"exited false\n"
    assert minidock(daemon, "rm", "-f", "second").returncode == 0
    assert minidock(daemon, "unpause", "first").returncode == 1


# -- update ---------------------------------------------------------------------

def cgroup_file(cid: str, controller: str, names: tuple[str, ...]) -> Path:
    from minidock.runtime import cgroups
    directory = cgroups.Cgroup.open(cid).dir(controller)
    return next(directory / n for n in names if (directory / n).exists())


@pytest.mark.parametrize("cli", clis())
def test_update_changes_the_live_cgroup_and_the_record(daemon, cli):
    cid = run_sleeper(daemon, "box")
    memory = cgroup_file(cid, "memory", ("memory.limit_in_bytes", "memory.max"))
    pids = cgroup_file(cid, "pids", ("pids.max",))
    result = daemon.docker(cli, "update", "--memory", "64m", "--pids-limit", "33", "--cpus", "0.5", "box")
    assert (result.returncode, result.stdout) == (0, b"box\n"), result.stderr
    assert memory.read_text().strip() == str(64 << 20)
    assert pids.read_text().strip() == "33"
    shown = daemon.docker(cli, "inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}} "
                                             "{{.HostConfig.NanoCpus}}", "box").stdout
    assert shown == b"67108864 33 500000000\n"
    assert daemon.docker(cli, "update", "--pids-limit", "-1", "box").returncode == 0
    assert pids.read_text().strip() == "max"
    refused = daemon.docker(cli, "update", "--cpu-quota", "50000", "box")
    assert refused.returncode != 0 and b"CpuQuota" in refused.stderr
    too_small = daemon.docker(cli, "update", "--memory", "1m", "box")
    assert too_small.returncode == 1
    assert too_small.stderr.strip() == b"Error response from daemon: Minimum memory limit allowed is 6MB"
    assert memory.read_text().strip() == str(64 << 20)


def test_minidock_update_and_a_stopped_container(daemon):
    cid = run_sleeper(daemon, "box")
    assert minidock(daemon, "update", "-m", "32m", "box").returncode == 0
    assert cgroup_file(cid, "memory", ("memory.limit_in_bytes", "memory.max")).read_text().strip() == \
        str(32 << 20)
    assert minidock(daemon, "stop", "-t", "0", "box").returncode == 0
    assert minidock(daemon, "update", "--pids-limit", "12", "box").returncode == 0
    assert minidock(daemon, "start", "box").returncode == 0
    assert cgroup_file(cid, "pids", ("pids.max",)).read_text().strip() == "12"
    assert minidock(daemon, "update", "box").returncode != 0
    assert minidock(daemon, "update", "--memory-swap", "1g", "box").returncode != 0


# -- docker-py, -L, -a ----------------------------------------------------------

def test_docker_py_copies_pauses_and_updates(daemon):
    docker = pytest.importorskip("docker", reason="needs the docker package (make setup installs the test extra)")
    client = docker.DockerClient(base_url=f"unix://{daemon.sock}")
    container = client.containers.run("busybox", ["sleep", "600"], detach=True, name="py")
    assert container.put_archive("/tmp", tar_bytes(("from-py.txt", "file", b"py\n")))
    chunks, found = container.get_archive("/tmp/from-py.txt")
    assert found["name"] == "from-py.txt" and found["size"] == 3
    with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as tar:
        assert tar.extractfile("from-py.txt").read() == b"py\n"
    with pytest.raises(docker.errors.NotFound):
        container.get_archive("/nope")
    container.pause()
    container.reload()
    assert (container.status, container.attrs["State"]["Paused"]) == ("paused", True)
    with pytest.raises(docker.errors.APIError, match="is paused"):
        container.exec_run(["true"])
    container.unpause()
    assert container.update(mem_limit="48m") == {"Warnings": []}   # (docker-py's update has no pids_limit)
    container.reload()
    assert container.attrs["HostConfig"]["Memory"] == 48 << 20
    with pytest.raises(docker.errors.APIError, match="CpuQuota"):
        container.update(cpu_quota=50000)
    container.remove(force=True)
    client.close()


@pytest.mark.parametrize("cli", clis())
def test_docker_cp_follows_links_with_L_and_keeps_owners_with_a(daemon, cli, tmp_path):
    assert minidock(daemon, "run", "-d", "--name", "box", "-u", "1234:2345", "busybox", "sleep", "600").returncode == 0
    link = daemon.docker(cli, "cp", "box:/bin/sh", str(tmp_path / "link"))
    assert link.returncode == 0 and (tmp_path / "link").is_symlink()
    followed = daemon.docker(cli, "cp", "-L", "box:/bin/sh", str(tmp_path / "followed"))
    assert followed.returncode == 0, followed.stderr
    assert not (tmp_path / "followed").is_symlink() and (tmp_path / "followed").stat().st_size > 100_000
    (tmp_path / "mine.txt").write_text("mine\n")
    assert daemon.docker(cli, "cp", "-a", str(tmp_path / "mine.txt"), "box:/tmp/").returncode == 0
    assert in_container(daemon, "box", "stat -c '%u:%g' /tmp/mine.txt") == b"1234:2345\n"


def test_minidock_s_python_api_has_them_too(daemon):
    import minidock as md
    client = md.Client(Path(daemon.env["MINIDOCK_ROOT"]))
    container = client.containers.run("busybox", "sleep 600", detach=True, name="api")
    assert container.put_archive("/tmp", tar_bytes(("api.txt", "file", b"api\n")))
    chunks, found = container.get_archive("/tmp/api.txt")
    assert found["size"] == 4 and b"api\n" in b"".join(chunks)
    container.pause()
    assert container.attrs["State"]["Status"] == "paused"
    container.unpause()
    assert container.update(mem_limit="40m", pids_limit=20, nano_cpus=250_000_000) == {"Warnings": []}
    assert (container.attrs["HostConfig"]["Memory"], container.attrs["HostConfig"]["PidsLimit"],
            container.attrs["HostConfig"]["NanoCpus"]) == (40 << 20, 20, 250_000_000)
    container.remove(force=True)


def children_of(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat_line = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat_line.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


@pytest.mark.parametrize("running", [True, False], ids=["running", "stopped"])
def test_a_client_gone_mid_get_leaves_no_process(daemon, running):
    import socket
    run_sleeper(daemon, "box")
    if not running:
        assert minidock(daemon, "stop", "-t", "0", "box").returncode == 0
    for _ in range(3):
        sock = socket.socket(socket.AF_UNIX)
        sock.connect(str(daemon.sock))
        sock.sendall(b"GET /v1.41/containers/box/archive?path=/bin/busybox HTTP/1.1\r\nHost: d\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 200")
        sock.close()
    deadline = time.monotonic() + 10
    while children_of(daemon.proc.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert children_of(daemon.proc.pid) == []
