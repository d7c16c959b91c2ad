"""Containers end to end, driven as a user drives them: the CLI (``minidock run ...``),
the docker-py-like API (``client.containers.run``) and a terminal (pexpect).

Every test needs root and the busybox image.  Each gets a fresh store, the
bridge ``mdc<tag>`` of this run on a /24 that overlaps no host route, and the
``engine`` fixture, which afterwards -- failed test or not -- removes every
container the store still holds (``rm -f``) and then checks that nothing is
left: no process of the store (shim, keeper or container), no port on the
bridge, no lease, no cgroup, no mount.  Traffic goes only to 127.0.0.1 and to
the containers a test made.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tarfile
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import REPO, require_tool, run_cli
import minidock.images.image
from minidock.errors import APIError, ImageNotFound
from minidock.api.containers import ContainerError, collect
from minidock.runtime import cgroups, network, rootfs

pytestmark = pytest.mark.root
TAG = f"{os.getpid() & 0xFFFFFF:06x}"
BRIDGE = f"mdc{TAG}"
MINIDOCK = str(REPO / ".venv" / "bin" / "minidock")
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z ")


# -- what a store leaves behind -------------------------------------------------


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return b""


def _links(pid: str) -> list[str]:
    """Where the process's cwd and open fds point."""
    found = []
    for entry in [f"/proc/{pid}/cwd"] + [f"/proc/{pid}/fd/{fd}" for fd in _listdir(f"/proc/{pid}/fd")]:
        try:
            found.append(os.readlink(entry))
        except OSError:
            pass
    return found


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


def gone(pid: int) -> bool:
    """Whether the process has ended (a zombie has: only its reaping is left)."""
    stat = _read(f"/proc/{pid}/stat")
    return not stat or stat.rsplit(b")", 1)[1].split()[0] in (b"Z", b"X")


def store_processes(root: Path) -> set[int]:
    """Processes of this store: shims (an fd or cwd in it, or MINIDOCK_ROOT=it), containers
    (it in their mountinfo: the overlay's lowerdir), commands naming it; and their descendants."""
    mark, env = str(root).encode(), b"MINIDOCK_ROOT=" + str(root).encode()
    parents, ours = {}, set()
    for pid in filter(str.isdigit, _listdir("/proc")):
        stat = _read(f"/proc/{pid}/stat")
        if not stat or int(pid) == os.getpid():
            continue
        fields = stat.rsplit(b")", 1)[1].split()
        if fields[0] in (b"Z", b"X"):
            continue  # it has ended; only its reaping is left
        parents[int(pid)] = int(fields[1])
        if (env in _read(f"/proc/{pid}/environ").split(b"\0") or mark in _read(f"/proc/{pid}/cmdline")
                or mark in _read(f"/proc/{pid}/mountinfo") or any(str(root) in link for link in _links(pid))):
            ours.add(int(pid))
    grew = True
    while grew:
        more = {pid for pid, ppid in parents.items() if ppid in ours} - ours
        ours |= more
        grew = bool(more)
    return ours


def mounts_of(root: Path) -> list[str]:
    return [line for line in Path("/proc/self/mountinfo").read_text().splitlines() if str(root) in line]


def eventually(check, timeout: float = 5.0):
    """Poll ``check()`` until it is truthy (a dying process is reaped a moment later); its last value."""
    deadline = time.monotonic() + timeout
    while not (value := check()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return value


def bridge_ports() -> list[str]:
    """The links plugged into this run's bridge (none while it does not exist)."""
    return network.bridge_ports() if BRIDGE in {name for _, name in socket.if_nameindex()} else []


def assert_nothing_left(client, root: Path, ids) -> None:
    assert eventually(lambda: not store_processes(root)), f"processes left: {store_processes(root)}"
    assert eventually(lambda: not bridge_ports()), f"veths left on {BRIDGE}: {bridge_ports()}"
    assert network.leases(client.store.root) == {}
    assert [cid for cid in ids if cgroups.exists(cid)] == []
    assert mounts_of(root) == []


def remove_all(client) -> list[str]:
    """``rm -f`` every container of the store; their IDs."""
    c = client.containers.containers
    ids = c.ids()
    for cid in ids:
        try:
            c.remove(cid, force=True)
        except APIError:
            pass  # an --rm container's shim removed it first
    return ids


@pytest.fixture(scope="session")
def subnet() -> str:
    """A /24 for this run's bridge that overlaps no route on the host."""
    for k in range(256):
        candidate = ipaddress.IPv4Network(f"10.196.{(os.getpid() + k) % 256}.0/24")
        try:
            network.check_overlap(candidate)
            return str(candidate)
        except APIError:
            continue
    pytest.skip("no free /24 in 10.196.0.0/16 for the test bridge")


@pytest.fixture
def engine(subnet, busybox, root, client, monkeypatch):
    """The client of a store with busybox, on this run's bridge; everything removed and checked after."""
    monkeypatch.setenv("MINIDOCK_BRIDGE", BRIDGE)
    monkeypatch.setenv("MINIDOCK_SUBNET", subnet)
    try:
        yield client
    finally:
        try:
            assert_nothing_left(client, root, remove_all(client))
        finally:
            network.remove_bridge()


def md(*args: str, input: bytes | None = None, timeout: float = 30) -> subprocess.CompletedProcess:
    """``minidock ARGS`` as text, with a time limit (``wait``, ``logs -f`` and ``attach`` block)."""
    return subprocess.run([sys.executable, "-m", "minidock", *args], input=input, capture_output=True,
                          timeout=timeout, cwd=REPO)


def out(*args: str) -> str:
    """stdout of a ``minidock`` command that must succeed."""
    return run_cli(*args, check=True).stdout.decode()


def inspect(name: str, fmt: str) -> str:
    """``minidock inspect --format FMT NAME``."""
    return out("inspect", "--format", fmt, name).strip()


def state(client, name: str) -> dict:
    """The container's ``.State``, read through the API (quicker than a command)."""
    return client.containers.get(name).attrs["State"]


def run_d(*args: str) -> str:
    """``minidock run -d ARGS``: the new container's ID."""
    return out("run", "-d", *args).strip()


def logs_until(client, name: str, text: str) -> str:
    """The container's output once it contains ``text`` (read through the API: no command to start)."""
    logs = client.containers.get(name).logs
    return eventually(lambda: text in (s := logs().decode()) and s) or logs().decode()


def ps_rows(text: str) -> list[tuple[int, str]]:
    """(PID, COMMAND) of busybox ``ps`` output."""
    return [(int(m[1]), m[2]) for m in re.finditer(r"^[ \t]*(\d+)[ \t]+\S+[ \t]+(.*)$", text, re.M)]


def one_line_error(proc) -> str:
    """The single stderr line of a refused command (no traceback)."""
    err = proc.stderr.decode() if isinstance(proc.stderr, bytes) else proc.stderr
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err.strip()


def in_subnet(address: str, subnet: str) -> bool:
    return ipaddress.IPv4Address(address) in ipaddress.IPv4Network(subnet)


# -- isolation ------------------------------------------------------------------


PROBE = "echo $$; hostname; ip addr; ps"


def test_isolation_probes_through_the_cli(engine, subnet):
    proc = run_cli("run", "--rm", "busybox", "sh", "-c", PROBE + "; true")
    assert proc.returncode == 0, proc.stderr
    pid, hostname, rest = proc.stdout.decode().split("\n", 2)
    assert pid == "1"
    assert re.fullmatch(r"[0-9a-f]{12}", hostname)
    assert re.search(r"^1: lo: ", rest, re.M) and re.search(r"^\d+: eth0@", rest, re.M)
    (address,) = re.findall(r"inet (\S+)/24 scope global eth0", rest)
    assert in_subnet(address, subnet)
    assert [cmd for _, cmd in ps_rows(rest)] == [f"sh -c {PROBE}; true", f"{{ps}} sh -c {PROBE}; true"]
    assert ps_rows(rest)[0][0] == 1


def test_isolation_probes_of_a_detached_container(engine, root):
    cid = run_d("--name", "probe", "busybox", "sh", "-c", "hostname; ip addr; sleep 30")
    full, address, pid = inspect("probe", "{{.Id}} {{.NetworkSettings.IPAddress}} {{.State.Pid}}").split()
    assert full == cid
    output = logs_until(engine, "probe", "eth0")
    assert output.splitlines()[0] == cid[:12]
    assert f"inet {address}/24 scope global eth0" in output
    # .State.Pid: a live host PID, in a PID namespace that is not ours
    assert Path(f"/proc/{pid}").exists()
    assert os.readlink(f"/proc/{pid}/ns/pid") != os.readlink("/proc/self/ns/pid")
    # a file made on the host after the start is not in the container's /tmp
    host_file = Path("/tmp") / f"minidock-host-{cid[:12]}"
    host_file.write_text("host only\n")
    try:
        proc = run_cli("exec", "probe", "ls", str(host_file))
        assert proc.returncode == 1 and b"No such file or directory" in proc.stderr
    finally:
        host_file.unlink()


def test_isolation_probes_through_the_api(engine, subnet):
    output = engine.containers.run("busybox", ["sh", "-c", PROBE + "; true"], remove=True).decode()
    assert output.startswith("1\n") and "eth0@" in output
    assert [pid for pid, _ in ps_rows(output)][0] == 1 and len(ps_rows(output)) == 2
    napper = engine.containers.run("busybox", "sleep 30", detach=True, name="napper")
    assert napper.status == "running"
    assert napper.exec_run("hostname").output == f"{napper.short_id}\n".encode()
    address = napper.attrs["NetworkSettings"]["IPAddress"]
    assert in_subnet(address, subnet)
    code, ip = napper.exec_run(["ip", "-o", "-4", "addr", "show", "eth0"])
    assert code == 0 and f"inet {address}/24" in ip.decode()
    assert engine.containers.list() == [napper]


def tree_digest(path: Path) -> str:
    """A hash of a directory tree: names, modes, owners, mtimes, contents and link targets."""
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in sorted(os.walk(path)):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            p = Path(dirpath) / name
            st = p.lstat()
            h.update(f"{p.relative_to(path)} {st.st_mode} {st.st_uid} {st.st_gid} {st.st_mtime_ns}\0".encode())
            if p.is_symlink():
                h.update(os.readlink(p).encode())
            elif p.is_file():
                h.update(p.read_bytes())
    return h.hexdigest()


def test_writes_go_to_the_upperdir_and_the_image_stays_byte_identical(engine, root, busybox):
    layers = [engine.store.layer_dir(c) / "diff" for c in engine.images.images.record(busybox.id).chain_ids]
    before = [tree_digest(d) for d in layers]
    script = "echo new > /newfile && echo more >> /etc/passwd && rm /bin/cat && mkdir -p /var/x && touch /var/x/y"
    c = engine.containers.create("busybox", ["sh", "-c", script])
    c.start()
    assert c.wait()["StatusCode"] == 0
    upper = root / "containers" / c.id / "upper"
    assert (upper / "newfile").read_text() == "new\n"
    assert (upper / "etc" / "passwd").read_text().endswith("more\n")
    assert os.major((upper / "bin" / "cat").lstat().st_rdev) == 0  # overlay's whiteout: a 0/0 char device
    assert (upper / "var" / "x" / "y").exists()
    assert [tree_digest(d) for d in layers] == before


def test_network_none_and_host(engine):
    none = run_cli("run", "--rm", "--network", "none", "busybox", "ip", "-o", "link")
    assert none.returncode == 0
    assert [line.split(":")[1].strip() for line in none.stdout.decode().splitlines()] == ["lo"]
    if "eth0" not in {name for _, name in socket.if_nameindex()}:
        pytest.skip("the host has no eth0 to look for")
    host_view = subprocess.run(["ip", "-o", "-4", "addr", "show", "eth0"], capture_output=True, text=True)
    (address,) = re.findall(r"inet (\S+)", host_view.stdout)
    inside = out("run", "--rm", "--network", "host", "busybox", "ip", "-o", "-4", "addr", "show", "eth0")
    assert re.findall(r"inet (\S+)", inside) == [address]


# -- run's flags ------------------------------------------------------------------


def test_hostname_env_workdir_user(engine, tmp_path):
    env_file = tmp_path / "env"
    env_file.write_text("# a comment\n\nB=from file\nC=3\n")
    proc = run_cli("run", "--rm", "-h", "myhost", "-e", "A=1", "--env-file", str(env_file), "-w", "/tmp/x",
                   "-u", "nobody", "busybox", "sh", "-c", 'hostname; echo "$A|$B|$C"; pwd; id -u; cat /etc/hostname')
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode().splitlines() == ["myhost", "1|from file|3", "/tmp/x", "65534", "myhost"]


def test_entrypoint(engine):
    assert out("run", "--rm", "--entrypoint", "echo", "busybox", "hello", "there") == "hello there\n"


def test_read_only_root(engine):
    proc = run_cli("run", "--rm", "--read-only", "busybox", "sh", "-c",
                   "touch /f; echo $?; touch /tmp/f; echo $?; echo x > /dev/null; echo $?")
    # docker makes / read-only, /tmp included (only --tmpfs would make it writable); /dev stays writable
    assert proc.stdout.decode().split() == ["1", "1", "0"]
    assert proc.stderr.decode().count("Read-only file system") == 2


def test_memory_and_pids_limits(engine):
    cid = run_d("--name", "lim", "--memory", "32m", "--pids-limit", "10", "busybox", "sleep", "30")
    assert inspect("lim", "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}}") == "33554432 10"
    stats = cgroups.Cgroup.open(cid).stats()
    assert (stats["memory_limit"], stats["pids_limit"]) == (32 << 20, 10)
    table = out("stats", "--no-stream", "lim")
    assert re.search(r"lim\s+\S+ / 32MiB\s", table), table
    # inside, fork until the pids limit refuses: the shell and 9 sleeps are 10, as in docker
    # (the shim's keeper, which forked PID 1 into the cgroup, has left it)
    proc = run_cli("run", "--rm", "--pids-limit", "10", "busybox", "sh", "-c",
                   "n=0; while sleep 5 & do n=$((n+1)); echo $n; done")
    assert b"can't fork" in proc.stderr
    assert int(proc.stdout.split()[-1]) == 9


def test_the_cgroup_holds_the_container_s_processes_only(engine):
    """PID 1 joins its cgroup itself; the shim's keeper (its parent, outside the PID namespace) never
    does, so no limit counts it: ``--pids-limit 20`` is twenty processes of the container's own."""
    for n in range(5):
        cid = run_d("--name", f"only{n}", "--pids-limit", "20", "busybox", "sleep", "30")
        pid = int(inspect(f"only{n}", "{{.State.Pid}}"))
        for d in cgroups.Cgroup.open(cid).dirs():
            assert (d / "cgroup.procs").read_text().split() == [str(pid)], d
        out("rm", "-f", f"only{n}")

def test_a_process_the_oom_killer_ends_is_oom_killed(engine):
    """Over its memory limit, the shell (PID 1) is killed by the kernel: exit 137 and State.OOMKilled, as
    docker inspect says; a container that stays under its limit, or a start after, says false."""
    hog = 'x=$(head -c 64000000 /dev/zero | tr "\\0" a); echo survived'
    proc = run_cli("run", "--name", "hog", "--memory", "16m", "busybox", "sh", "-c", hog)
    assert proc.returncode == 137 and b"survived" not in proc.stdout, proc.stderr
    assert inspect("hog", "{{.State.OOMKilled}} {{.State.ExitCode}}") == "true 137"
    run_cli("run", "--name", "calm", "--memory", "16m", "busybox", "true")
    assert inspect("calm", "{{.State.OOMKilled}} {{.State.ExitCode}}") == "false 0"
    out("start", "-a", "calm")
    assert inspect("calm", "{{.State.OOMKilled}}") == "false"



def test_the_container_reads_its_own_limits_in_sys_fs_cgroup(engine):
    """/sys/fs/cgroup as docker mounts it: the host's hierarchies, read-only, rooted at the container's cgroup."""
    found = rootfs.cgroup_hierarchies()
    v2 = cgroups.cgroup_version() == "v2"
    limits = "memory.max pids.max" if v2 else "memory/memory.limit_in_bytes pids/pids.max"
    script = ("cd /sys/fs/cgroup; ls; echo --; grep ' /sys/fs/cgroup' /proc/self/mountinfo | cut -d' ' -f5,6; "
              f"echo --; touch x pids/x 2>&1; echo --; cat {limits}")
    proc = run_cli("run", "--rm", "--memory", "32m", "--pids-limit", "10", "busybox", "sh", "-c", script)
    listed, mounted, touched, read = (part.split("\n") for part in proc.stdout.decode().strip().split("\n--\n"))
    assert read == [str(32 << 20), "10"], proc.stderr
    assert all("Read-only file system" in line for line in touched) and len(touched) == 2
    options = "ro,nosuid,nodev,noexec,relatime"
    if v2:
        assert mounted == [f"/sys/fs/cgroup {options}"]
    else:
        assert sorted(listed) == sorted(name for name, _, _ in found)
        assert sorted(mounted) == sorted([f"/sys/fs/cgroup {options}"] + [
            f"/sys/fs/cgroup/{name} {options}" for name, kind, _ in found if kind != "symlink"])


def test_init_is_pid_1_and_forwards_signals(engine):
    rows = ps_rows(out("run", "--rm", "--init", "busybox", "ps"))
    assert [pid for pid, _ in rows] == [1, 2]
    assert rows[1][1] == "ps" and rows[0][1] != "ps"
    run_d("--name", "tini", "--init", "busybox", "sleep", "30")
    started = time.monotonic()
    out("stop", "-t", "10", "tini")  # the init passes SIGTERM on to sleep, which dies of it
    assert time.monotonic() - started < 5
    assert state(engine, "tini")["ExitCode"] == 143


def test_interactive_stdin(engine):
    proc = run_cli("run", "--rm", "-i", "busybox", "sh", "-c", "cat; echo done", input=b"hello\nworld\n")
    assert proc.stdout == b"hello\nworld\ndone\n"


# -- the lifecycle ----------------------------------------------------------------


def test_ps_filters_as_docker_s(engine):
    """Values of one key: any may match; different keys: all must."""
    assert run_cli("run", "--name", "three", "--network", "none", "busybox", "sh", "-c", "exit 3").returncode == 3
    out("commit", "three", "kid:1")
    out("run", "--name", "kid", "--network", "none", "kid:1", "true")
    up = run_d("--name", "up", "--network", "none", "busybox", "sleep", "30")

    def names(*filters: str) -> list[str]:
        return sorted(out("ps", "-a", *filters, "--format", "{{.Names}}").split())
    assert names("-f", "ancestor=busybox") == ["kid", "three", "up"]  # kid:1 is built on busybox
    assert names("-f", "ancestor=kid:1") == ["kid"]
    assert names("-f", "exited=3") == ["three"] and names("-f", "exited=0") == ["kid"]
    assert names("-f", "name=three", "-f", "name=kid") == ["kid", "three"]
    assert names("-f", "ancestor=busybox", "-f", "status=running") == ["up"]
    assert names("-f", f"id={up[:6]}") == ["up"]
    assert sorted(out("ps", "-f", "exited=3", "--format", "{{.Names}}").split()) == ["three"]  # -a implied
    assert run_cli("ps", "-f", "ancestor=nosuch").returncode == 1
    assert run_cli("ps", "-f", "network=x").returncode == 125
    # -l/--label on create and run (a bare key is ""), and label filters, each of which must hold
    out("create", "--name", "tagged", "-l", "course.chapter=07", "--label", "x", "busybox", "true")
    assert json.loads(out("inspect", "-f", "{{json .Config.Labels}}", "tagged")) == {"course.chapter": "07", "x": ""}
    assert names("-f", "label=x") == ["tagged"] and names("-f", "label=course.chapter=07", "-f", "label=x") == ["tagged"]
    assert names("-f", "label=course.chapter=7") == [] and names("-f", "label=x", "-f", "label=y") == []


def test_create_start_attach_wait_ps(engine):
    cid = out("create", "--name", "cr", "busybox", "sh", "-c", "echo hi; echo oops >&2; exit 3").strip()
    assert out("ps", "-a", "--format", "{{.Names}} {{.Status}}") == "cr Created\n"
    proc = run_cli("start", "-a", "cr")
    assert (proc.returncode, proc.stdout, proc.stderr) == (3, b"hi\n", b"oops\n")
    assert out("wait", "cr") == "3\n"
    assert re.fullmatch(r"cr Exited \(3\) .* ago\n", out("ps", "-a", "--format", "{{.Names}} {{.Status}}"))
    assert out("ps") .splitlines() == ["CONTAINER ID   IMAGE     COMMAND   CREATED   STATUS    PORTS     NAMES"]
    assert out("ps", "-a", "-q", "-f", "status=exited") == cid[:12] + "\n"
    assert out("ps", "-q", "-f", "status=running") == ""
    table = out("ps", "-a", "--no-trunc", "-s")
    header, row = table.splitlines()
    assert header.split() == ["CONTAINER", "ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES", "SIZE"]
    assert row.startswith(cid) and '"sh -c \'echo hi; echo oops >&2; exit 3\'"' in row and "(virtual " in row



def test_system_df_counts_containers_and_what_their_removal_frees(engine):
    """docker's rows: images in use are ACTIVE and not reclaimable; a running container is ACTIVE, and
    the writable layers of the others are what ``container prune`` would free."""
    run_d("--name", "up", "busybox", "sh", "-c", "echo hello > /greeting; sleep 30")
    out("run", "--name", "done", "busybox", "sh", "-c", "head -c 5000 /dev/zero > /zeros")
    assert eventually(lambda: "6B" in out("ps", "-s", "--format", "{{.Size}}"))
    rows = {line.split()[0]: line.split()[1:] for line in out("system", "df").splitlines()[1:]}
    assert rows["Images"][:2] == ["1", "1"] and rows["Images"][-2:] == ["0B", "(0%)"]
    assert rows["Containers"] == ["2", "1", "5.01kB", "5kB", "(99%)"]
    verbose = out("system", "df", "-v").splitlines()
    assert verbose[verbose.index("Images space usage:") + 3].split()[-1] == "2"  # busybox: used by both
    table = verbose[verbose.index("Containers space usage:") + 2:]
    assert table[0].split() == ["CONTAINER", "ID", "IMAGE", "COMMAND", "SIZE", "CREATED", "STATUS", "NAMES"]
    sizes = {line.split()[-1]: line for line in table[1:]}
    assert '"sh -c head -c 5000 …"   5kB' in sizes["done"] and "Exited (0)" in sizes["done"]
    assert "6B" in sizes["up"] and " Up " in sizes["up"]
    out("container", "prune", "-f")
    assert out("system", "df").splitlines()[2].split() == ["Containers", "1", "1", "6B", "0B", "(0%)"]

def test_run_detached_status_up(engine):
    cid = run_d("--name", "up", "busybox", "sleep", "30")
    assert re.fullmatch(r"[0-9a-f]{64}", cid)
    assert re.fullmatch(r"up Up .*\n", out("ps", "--format", "{{.Names}} {{.Status}}"))
    assert out("ps", "-q") == cid[:12] + "\n"
    assert out("ps", "-q", "--no-trunc") == cid + "\n"


def test_stop_kills_a_pid_1_that_ignores_sigterm(engine):
    run_d("--name", "deaf", "busybox", "sh", "-c", "while true; do sleep 0.1; done")
    started = time.monotonic()
    assert out("stop", "-t", "1", "deaf") == "deaf\n"
    assert 1 <= time.monotonic() - started < 5
    assert (state(engine, "deaf")["Status"], state(engine, "deaf")["ExitCode"]) == ("exited", 137)
    assert re.fullmatch(r"deaf Exited \(137\) .*\n", out("ps", "-a", "--format", "{{.Names}} {{.Status}}"))


def test_stop_lets_a_trap_handler_exit(engine):
    run_d("--name", "polite", "busybox", "sh", "-c", 'trap "exit 0" TERM; echo ready; while true; do sleep 0.1; done')
    logs_until(engine, "polite", "ready")  # the trap is set
    started = time.monotonic()
    out("stop", "-t", "10", "polite")
    assert time.monotonic() - started < 3
    assert state(engine, "polite")["ExitCode"] == 0


def test_kill_with_signals(engine):
    run_d("--name", "sig", "busybox", "sh", "-c",
          'trap "echo got-usr1" USR1; trap "echo got-term; exit 7" TERM; echo ready; while true; do sleep 0.1; done')
    logs_until(engine, "sig", "ready")
    out("kill", "-s", "USR1", "sig")
    logs_until(engine, "sig", "got-usr1")
    assert state(engine, "sig")["Status"] == "running"
    out("kill", "-s", "TERM", "sig")
    assert md("wait", "sig").stdout == b"7\n"
    assert out("logs", "sig") == "ready\ngot-usr1\ngot-term\n"
    proc = run_cli("kill", "sig")
    assert proc.returncode == 1 and "is not running" in one_line_error(proc)


def test_restart_keeps_the_writable_layer(engine):
    run_d("--name", "rs", "busybox", "sh", "-c", 'trap "exit 0" TERM; echo up; while true; do sleep 0.1; done')
    logs_until(engine, "rs", "up")
    first_pid = state(engine, "rs")["Pid"]
    run_cli("exec", "rs", "sh", "-c", "echo kept > /kept", check=True)
    assert out("restart", "-t", "5", "rs") == "rs\n"
    assert state(engine, "rs")["Status"] == "running" and state(engine, "rs")["Pid"] != first_pid
    assert out("exec", "rs", "cat", "/kept") == "kept\n"


def test_rm_refuses_a_running_container_and_force_kills_it(engine, root):
    cid = run_d("--name", "busy", "busybox", "sleep", "30")
    pid = state(engine, "busy")["Pid"]
    proc = run_cli("rm", "busy")
    assert proc.returncode == 1
    assert one_line_error(proc) == (f"Error response from daemon: You cannot remove a running container {cid}. "
                                    "Stop the container before attempting removal or force remove")
    assert out("rm", "-f", "busy") == "busy\n"
    assert not (root / "containers" / cid).exists()
    assert eventually(lambda: gone(pid))
    assert "busy" not in json.loads((root / "names.json").read_text())


def test_logs_follow_tail_timestamps_and_streams(engine):
    run_d("--name", "lg", "busybox", "sh", "-c", "echo o1; echo e1 >&2; sleep 0.7; echo o2; echo e2 >&2; exit 3")
    follow = md("logs", "-f", "lg")  # returns when the container ends, with what it wrote last
    assert (follow.returncode, follow.stdout, follow.stderr) == (0, b"o1\no2\n", b"e1\ne2\n")
    tail = md("logs", "--tail", "2", "lg")
    assert (tail.stdout, tail.stderr) == (b"o2\n", b"e2\n")
    stamped = md("logs", "-t", "lg").stdout.decode().splitlines()
    assert [TIMESTAMP.sub("", line) for line in stamped] == ["o1", "o2"] and all(map(TIMESTAMP.match, stamped))


def test_attach_to_a_detached_container(engine):
    run_d("--name", "ticker", "busybox", "sh", "-c",
          "i=0; while [ $i -lt 15 ]; do echo tick; i=$((i+1)); sleep 0.1; done; echo bye >&2; exit 4")
    proc = md("attach", "ticker")
    assert proc.returncode == 4
    assert proc.stdout.startswith(b"tick\n") and proc.stderr == b"bye\n"


def test_an_attach_without_stdin_leaves_the_containers_input_open(engine):
    """dockerd closes a container's stdin only when a client that attached *with* stdin ends its input;
    a reader (``attach --no-stdin``, an output-only API attach) that goes away leaves it open."""
    run_d("-i", "--name", "reader", "busybox", "sh", "-c", "cat; echo stdin-ended; exit 3")
    container = engine.containers.get("reader")
    for _ in range(2):
        reader = container.attach_socket()         # output only
        reader.shutdown(socket.SHUT_WR)           # what ended a container's input before
        reader.close()
    time.sleep(0.3)
    assert state(engine, "reader")["Status"] == "running"
    writer = container.attach_socket(stdin=True)
    writer.sendall(b"hello\n")
    writer.shutdown(socket.SHUT_WR)               # the end of its input: the container's
    stdout, _stderr, code = collect(writer)
    assert (stdout, code) == (b"hello\nstdin-ended\n", 3)


def test_exec(engine):
    run_d("--name", "ex", "busybox", "sleep", "30")
    proc = run_cli("exec", "-e", "X=5", "-w", "/etc", "-u", "nobody", "ex", "sh", "-c", 'echo "$X"; pwd; id -u')
    assert proc.stdout.decode().splitlines() == ["5", "/etc", "65534"]
    assert run_cli("exec", "ex", "sh", "-c", "exit 42").returncode == 42
    assert run_cli("exec", "ex", "nosuchcmd").returncode == 127
    engine.containers.get("ex").kill()
    engine.containers.get("ex").wait()
    proc = run_cli("exec", "ex", "true")
    assert proc.returncode == 1 and one_line_error(proc).endswith("is not running")


def test_top_port_rename_stats(engine):
    run_d("--name", "web", "-p", "127.0.0.1::8080", "busybox", "httpd", "-f", "-p", "8080", "-h", "/etc")
    pid = str(state(engine, "web")["Pid"])
    top = out("top", "web").splitlines()
    assert top[0].split() == ["UID", "PID", "PPID", "CMD"]
    assert [line.split()[1] for line in top[1:]] == [pid]
    assert top[1].split(None, 3)[3] == "httpd -f -p 8080 -h /etc"
    host = out("port", "web", "8080").strip()
    assert re.fullmatch(r"127\.0\.0\.1:\d+", host)
    assert out("port", "web") == f"8080/tcp -> {host}\n"
    hostname = eventually(lambda: fetch(f"http://{host}/hostname"))  # through the port proxy
    assert hostname == engine.containers.get("web").short_id + "\n"
    out("rename", "web", "site")
    assert out("ps", "--format", "{{.Names}}") == "site\n"
    assert run_cli("inspect", "web").returncode == 1
    table = out("stats", "--no-stream", "site").splitlines()
    assert table[0].split() == ["CONTAINER", "ID", "NAME", "MEM", "USAGE", "/", "LIMIT", "MEM", "%", "PIDS"]
    assert table[1].split()[1] == "site" and "/ unlimited" in table[1]
    assert table[1].split()[-1] == "1"  # httpd alone: the shim's keeper is not counted


def fetch(url: str) -> str | None:
    """The body at ``url`` (on 127.0.0.1), or None while nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.read().decode()
    except OSError:
        return None


def test_diff_commit_export(engine, tmp_path, monkeypatch):
    run_cli("run", "--name", "chg", "busybox", "sh", "-c",
            "echo new > /added; echo x >> /etc/passwd; rm /bin/cat; mkdir /tmp/d", check=True)
    assert out("diff", "chg").splitlines() == ["A /added", "C /bin", "D /bin/cat", "C /etc", "C /etc/passwd",
                                               "C /tmp", "A /tmp/d"]
    image_id = out("commit", "-m", "a message", "-a", "Ann <ann@example.com>", "-c", 'CMD ["sh"]',
                   "chg", "mine:1").strip()
    image = engine.images.get("mine:1")
    assert image.id == image_id
    assert (image.attrs["Comment"], image.attrs["Author"], image.attrs["Config"]["Cmd"]) == \
        ("a message", "Ann <ann@example.com>", ["sh"])
    # the new image runs (its CMD is sh, reading stdin) and has the container's changes
    proc = run_cli("run", "--rm", "-i", "mine:1", input=b"cat /added; ls /bin/cat 2>&1\n")
    assert proc.stdout == b"new\nls: /bin/cat: No such file or directory\n"
    tar_path = tmp_path / "chg.tar"
    out("export", "-o", str(tar_path), "chg")
    with tarfile.open(tar_path) as tar:
        names = tar.getnames()
        assert tar.extractfile("added").read() == b"new\n"
    assert "tmp/d" in [n.rstrip("/") for n in names] and "bin/cat" not in names
    assert "bin/sh" in names and not [n for n in names if ".wh." in n]
    assert md("export", "chg").stdout == tar_path.read_bytes()

    # a second commit of the unchanged container reuses the layer: hashed, never extracted again
    def no_extraction(*args, **kwargs):
        raise AssertionError("the layer was extracted again")
    monkeypatch.setattr(minidock.images.image.Images, "stage_layer", no_extraction)
    again = engine.containers.get("chg").commit("mine", "2")
    assert again.record.chain_ids == image.record.chain_ids


def test_rmi_refuses_an_image_in_use(engine, busybox):
    cid = out("create", "busybox", "true").strip()
    proc = run_cli("rmi", "busybox")
    assert proc.returncode == 1
    assert one_line_error(proc) == (
        'Error response from daemon: conflict: unable to remove repository reference "busybox" (must force) - '
        f"container {cid[:12]} is using its referenced image {busybox.id[7:19]}")
    out("rm", cid)
    assert run_cli("rmi", "busybox").returncode == 0
    with pytest.raises(ImageNotFound):
        engine.images.get("busybox")


# -- a terminal -------------------------------------------------------------------


def spawn(*args: str):
    pexpect = pytest.importorskip("pexpect")
    return pexpect, pexpect.spawn(MINIDOCK, list(args), cwd=str(REPO), timeout=10)


def test_the_terminal_is_the_container_s_own(engine):
    """-t: the pty comes from the container's devpts, so tty(1) names it there, as in docker."""
    pexpect, child = spawn("run", "-t", "-i", "--rm", "--network", "none", "busybox", "sh")
    child.expect(r"/ # ")
    child.sendline("tty; ls /dev/pts")
    child.expect(r"/dev/pts/0\r\n0\s+ptmx\r\n")
    child.sendline("exit")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_tty_shell_exits_with_its_code(engine):
    pexpect, child = spawn("run", "-t", "-i", "--name", "tty", "busybox", "sh")
    child.expect(r"/ # ")
    child.sendline("echo pid=$$")
    child.expect(r"pid=1\r\n")
    child.sendline("exit 3")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 3
    assert state(engine, "tty")["ExitCode"] == 3 and engine.containers.get("tty").attrs["Config"]["Tty"]


def test_tty_ctrl_d_ends_with_0(engine):
    pexpect, child = spawn("run", "-t", "-i", "--rm", "busybox", "sh")
    child.expect(r"/ # ")
    child.sendeof()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_exec_t_gets_a_terminal_of_the_container_s_own(engine):
    """As docker's: the pty is made in the container's devpts, so ``tty`` names a file that exists inside."""
    run_d("--name", "ttyx", "--network", "none", "busybox", "sleep", "30")
    pexpect, child = spawn("exec", "-it", "ttyx", "sh")
    child.expect(r"/ # ")
    child.sendline("tty; ls /dev/pts; stty size")
    child.expect(r"/dev/pts/0\r\n0 +ptmx\r\n(\d+) (\d+)\r\n")
    assert child.match.groups() == (b"24", b"80")  # pexpect's window, passed on
    child.sendline("exit 4")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 4
    missing = run_cli("exec", "-t", "ttyx", "nosuch")
    assert missing.returncode == 127 and b"executable file not found" in missing.stderr


def test_detach_keys_leave_it_running(engine):
    run_d("-t", "-i", "--name", "det", "busybox", "sh")
    pexpect, child = spawn("attach", "det")
    child.sendline("echo sum=$((40+2))")  # typed before attach is ready: kept, not flushed
    child.expect(r"sum=42")
    child.send("\x10")      # ctrl-p, then ctrl-q: one key at a time, as a terminal sends them (docker's
    time.sleep(0.2)         # CLI, as minidock's, spots the sequence only in single-key reads)
    child.send("\x11")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert re.fullmatch(r"det Up .*\n", out("ps", "--format", "{{.Names}} {{.Status}}"))


# -- exit codes and bad input -------------------------------------------------------


@pytest.mark.parametrize("args, code", [
    (["run", "--rm", "busybox", "sh", "-c", "exit 42"], 42),
    (["run", "--rm", "busybox", "/etc/passwd"], 126),
    (["run", "--rm", "busybox", "nosuchcmd"], 127),
    (["run", "--rm", "--bogus", "busybox", "true"], 125),
])
def test_exit_codes_as_docker(engine, root, args, code):
    proc = run_cli(*args)
    assert proc.returncode == code
    assert b"Traceback" not in proc.stderr
    if code in (126, 127):
        one_line_error(proc)
    assert os.listdir(root / "containers") == []


def snapshot(root: Path) -> tuple:
    return sorted(os.listdir(root / "containers")), (root / "names.json").read_bytes()


@pytest.mark.parametrize("args, code, message", [
    (["run", "nosuch"], 125, "Unable to find image 'nosuch' locally"),
    (["run", "-p", "abc", "busybox", "true"], 125, "invalid containerPort: abc"),
    (["run", "--name", "taken", "busybox", "true"], 125, 'The container name "/taken" is already in use'),
    (["start", "gone"], 1, "No such container: gone"),
    (["exec", "stopped", "true"], 1, "is not running"),
])
def test_bad_input_is_one_line_and_leaves_nothing(engine, root, args, code, message):
    engine.containers.create("busybox", "sleep 30", name="taken")
    stopped = engine.containers.create("busybox", "true", name="stopped")
    stopped.start()
    stopped.wait()
    engine.containers.create("busybox", "true", name="gone").remove()
    before = snapshot(root)
    proc = run_cli(*args)
    assert proc.returncode == code
    assert message in one_line_error(proc)
    assert snapshot(root) == before
    assert store_processes(root) == set()


def test_api_errors(engine):
    with pytest.raises(ContainerError) as e:
        engine.containers.run("busybox", ["sh", "-c", "echo bad >&2; exit 2"], remove=True)
    assert e.value.exit_status == 2 and e.value.stderr == b"bad\n"
    with pytest.raises(ImageNotFound):
        engine.containers.run("nosuch", "true")
    with pytest.raises(APIError, match="executable file not found") as e:
        engine.containers.run("busybox", "nosuchcmd", remove=True)
    assert e.value.exit_code == 127
    assert engine.containers.list(all=True) == []


# -- robustness -----------------------------------------------------------------------


def shim_pid(root: Path, cid: str) -> int:
    return json.loads((root / "containers" / cid / "state.json").read_text())["ShimPid"]


def test_a_killed_shim_reads_as_exited_and_frees_everything(engine, root):
    cid = run_d("busybox", "sleep", "30")
    assert Path(f"/proc/{shim_pid(root, cid)}/comm").read_text() == "minidock-shim\n"   # as ps -e shows it
    pid = state(engine, cid)["Pid"]
    assert cgroups.exists(cid) and cid in network.leases(engine.store.root)
    assert network.veth_names(cid)[0] in bridge_ports()
    os.kill(shim_pid(root, cid), signal.SIGKILL)
    assert eventually(lambda: gone(shim_pid(root, cid)))
    assert re.fullmatch(r"\S+ Exited \(\d+\) .*\n", out("ps", "-a", "--format", "{{.Names}} {{.Status}}"))
    assert out("ps", "-q") == ""
    assert not cgroups.exists(cid)
    assert cid not in network.leases(engine.store.root)
    assert network.veth_names(cid)[0] not in bridge_ports()
    assert eventually(lambda: gone(pid))
    assert "shim is gone" in state(engine, cid)["Error"]


@pytest.mark.parametrize("shim", ["no such process", "a reused PID"])
def test_after_a_reboot_nothing_is_up(engine, root, shim):
    cid = engine.containers.create("busybox", "true", name="stale").id
    reused = os.getpid()  # alive, but not started when the record says
    start = int(Path(f"/proc/{reused}/stat").read_text().rsplit(")", 1)[1].split()[19])
    pid, started = (4194303, 1) if shim == "no such process" else (reused, start - 1)
    record = json.loads((root / "containers" / cid / "state.json").read_text())
    record.update(Status="running", Pid=4194303, ShimPid=pid, ShimStart=started,
                  StartedAt="2024-01-01T00:00:00Z")
    (root / "containers" / cid / "state.json").write_text(json.dumps(record))
    assert out("ps", "-q") == ""
    assert re.fullmatch(r"stale Exited \(\d+\) .*\n", out("ps", "-a", "--format", "{{.Names}} {{.Status}}"))
    assert state(engine, "stale")["Running"] is False


def test_concurrent_runs_get_distinct_names_and_addresses(engine, subnet):
    procs = [subprocess.Popen([sys.executable, "-m", "minidock", "run", "-d", "busybox", "sleep", "30"], cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(8)]
    results = [(p.communicate(timeout=60), p.returncode) for p in procs]
    logs = [(d / "shim.log").read_text() for d in (engine.store.root / "containers").iterdir()]
    assert [(code, err) for (_, err), code in results] == [(0, b"")] * 8, "".join(logs)
    ids = {o.decode().strip() for (o, _), _ in results}
    assert len(ids) == 8
    rows = out("ps", "--format", "{{.ID}} {{.Names}}").split("\n")[:-1]
    assert len({row.split()[1] for row in rows}) == 8
    addresses = [engine.containers.get(cid).attrs["NetworkSettings"]["IPAddress"] for cid in ids]
    assert len(set(addresses)) == 8 and all(in_subnet(a, subnet) for a in addresses)


# -- nsenter, the seed's recipe -------------------------------------------------------------


def test_nsenter_matches_util_linux(engine):
    nsenter = require_tool("nsenter")
    run_d("--name", "ns", "busybox", "sleep", "30")
    pid = inspect("ns", "{{.State.Pid}}")
    flags = ["--target", pid, "--mount", "--uts", "--ipc", "--net", "--pid"]
    script = "hostname;echo =;ps;echo =;ip addr;echo =;ls /"
    theirs = subprocess.run([nsenter, *flags, "sh", "-c", script], capture_output=True, timeout=30)
    ours = run_cli("nsenter", *flags, "sh", "-c", script)
    assert theirs.returncode == ours.returncode == 0, (theirs.stderr, ours.stderr)
    a, b = (p.stdout.decode().replace(" tentative", "").split("\n=\n") for p in (theirs, ours))
    assert a[0] == b[0] == engine.containers.get("ns").short_id
    assert a[2] == b[2] and "eth0" in a[2]  # (an IPv6 address may finish DAD between the two)
    assert a[3] == b[3] and "bin\n" in a[3]
    for listing in (a[1], b[1]):
        rows = ps_rows(listing)
        assert rows[0] == (1, "sleep 30")
        assert {cmd.replace("{ps} ", "") for _, cmd in rows[1:]} == {f"sh -c {script}"}


def test_container_prune_removes_stopped_containers_only(engine):
    run_cli("run", "--name", "stopped1", "busybox", "true", check=True)
    running = run_d("--name", "running1", "busybox", "sleep", "60")
    refused = run_cli("container", "prune", input=b"n\n")
    assert refused.stdout.decode().startswith("WARNING! This will remove all stopped containers.")
    assert [c.name for c in engine.containers.list(all=True) if c.name == "stopped1"] == ["stopped1"]
    lines = out("container", "prune", "-f").splitlines()
    assert lines[0] == "Deleted Containers:" and len(lines[1]) == 64 and lines[-1] == "Total reclaimed space: 0B"
    assert [c.name for c in engine.containers.list(all=True)] == ["running1"]
    out("rm", "-f", running)


def test_system_prune_removes_stopped_containers_then_the_images_they_held(engine):
    """docker's order: with the stopped container gone, its image is unused, and -a takes it."""
    stopped = run_cli("run", "--name", "stopped2", "--network", "none", "busybox", "true", check=True)
    assert stopped.returncode == 0
    out("commit", "stopped2", "held:1")
    run_cli("run", "--name", "onheld", "--network", "none", "held:1", "true", check=True)
    running = run_d("--name", "running2", "--network", "none", "busybox", "sleep", "60")
    asked = run_cli("system", "prune", input=b"n\n").stdout.decode()
    assert asked.startswith("WARNING! This will remove:\n  - all stopped containers\n")
    lines = out("system", "prune", "-a", "-f").splitlines()
    assert lines[0] == "Deleted Containers:" and len([x for x in lines[1:3] if len(x) == 64]) == 2
    assert "Deleted Images:" in lines and "untagged: held:1" in lines
    assert [c.name for c in engine.containers.list(all=True)] == ["running2"]
    assert [i.tags for i in engine.images.list()] == [["busybox:latest"]]  # running2 holds it
    out("rm", "-f", running)


def test_an_image_of_126_layers_on_busybox_runs(engine, busybox):
    """127 layers is docker's limit; their paths must fit mount(2)'s one page of options (short links)."""
    from archives import docker_archive, entry, stored_layer, tar_of
    layers = [stored_layer(engine, busybox)]
    layers += [tar_of(entry("deep", kind="dir"), entry(f"deep/{i:03d}", str(i).encode())) for i in range(126)]
    engine.images.load(docker_archive(layers, tags=["deep:127"]))
    proc = run_cli("run", "--rm", "--network", "none", "deep:127", "sh", "-c", "ls /deep | wc -l; cat /deep/125")
    assert (proc.returncode, proc.stdout) == (0, b"126\n125"), proc.stderr
    links = engine.store.root / "l"
    assert len(list(links.iterdir())) == 128 and all(p.is_symlink() for p in links.iterdir())  # 127 + init
    assert run_cli("rmi", "deep:127").returncode == 0
    out("image", "prune", "-f")
    (left,) = links.iterdir()  # their layers and the container are gone, so are their links; the bottom
    assert left.resolve().parent == engine.store.layer_dir(busybox.record.chain_ids[0])  # is busybox's
