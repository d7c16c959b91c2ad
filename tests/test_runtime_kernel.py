"""The kernel side, for real: capabilities, namespaces, a container's root, cgroups, nsenter.

Namespaces are only ever entered by forked children, never by pytest itself, so
whatever a child mounts lives and dies in the child's own mount namespace; the
tests check that nothing shows up in ours.  Every cgroup and process a test makes
is removed or killed (by its PID) in a ``finally``.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
import traceback
import uuid
from pathlib import Path

import pytest

import minidock
from conftest import root_fixture
from minidock.images.bootstrap import make_rootfs
from minidock.images.digest import chain_ids
from minidock.errors import NotFound
from minidock.runtime import cgroups, nsenter
from minidock.runtime.rootfs import MASKED_PATHS, RootfsSpec, become, bind_readonly_tree, enter_rootfs, setup_user
from minidock.runtime.syscalls import (CAPABILITIES, CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID,
                                       CLONE_NEWUTS, DEFAULT_CAPABILITIES, MS_PRIVATE, MS_REC, capability_numbers,
                                       drop_capabilities, mount, mounts, pivot_root, set_no_new_privs,
                                       set_pdeathsig, sethostname, unshare)

BUSYBOX = "/bin/busybox"
DEFAULT_MASK = sum(1 << CAPABILITIES[c] for c in DEFAULT_CAPABILITIES)


@root_fixture
def as_root():
    """Nothing but the need: uid 0 with CAP_SYS_ADMIN."""


# -- forking helpers ------------------------------------------------------------------------

def read_until_eof(fd: int, timeout: float = 30) -> str:
    """Everything written to pipe ``fd`` until all its writers are gone."""
    chunks, deadline = [], time.monotonic() + timeout
    while True:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            raise TimeoutError(f"no EOF within {timeout}s; so far: {b''.join(chunks).decode()!r}")
        data = os.read(fd, 65536)
        if not data:
            return b"".join(chunks).decode(errors="replace")
        chunks.append(data)


def wait_child(pid: int, timeout: float = 30) -> int:
    """Reap our child ``pid``: its exit code, or 128+signal; kill it (by PID) after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return nsenter.exit_code(status)
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    raise TimeoutError(f"child {pid} still running after {timeout}s")


def in_child(fn, timeout: float = 30) -> tuple[int, str]:
    """Run ``fn()`` in a forked child, its stdout and stderr captured; (exit code, output)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: whatever happens, it leaves through os._exit
        code = 1
        try:
            os.close(r)
            os.dup2(w, 1)
            os.dup2(w, 2)
            os.close(w)
            code = fn() or 0
        except BaseException:
            os.write(2, traceback.format_exc().encode())
        finally:
            os._exit(code)
    os.close(w)
    try:
        output = read_until_eof(r, timeout)
    finally:
        os.close(r)
        code = wait_child(pid, timeout)
    return code, output


def say(text: str) -> None:
    os.write(1, (text + "\n").encode())


def status_fields(text: str) -> dict[str, str]:
    """``/proc/PID/status`` lines as a dict."""
    return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


def status_line(name: str) -> str:
    """This process's line ``name`` of /proc/self/status."""
    return next(line + "\n" for line in Path("/proc/self/status").read_text().splitlines() if line.startswith(name))


def host_mounts_under(path: Path) -> list[str]:
    """Lines of our own mountinfo that mention ``path``: a leak if any."""
    return [line for line in Path("/proc/self/mountinfo").read_text().splitlines() if str(path) in line]


# -- syscalls ------------------------------------------------------------------------------

def test_errors_name_the_call_and_the_path(as_root, tmp_path):
    missing = tmp_path / "missing"  # never created: these calls fail before they change anything
    with pytest.raises(OSError) as caught:
        mount("tmpfs", missing, "tmpfs")
    assert caught.value.errno == 2 and caught.value.filename == str(missing)
    assert str(caught.value) == f"[Errno 2] mount -t tmpfs tmpfs: No such file or directory: '{missing}'"
    with pytest.raises(OSError) as caught:
        pivot_root(missing, missing / "old")
    assert "pivot_root" in str(caught.value) and caught.value.filename2 == str(missing / "old")
    with pytest.raises(ValueError, match="CAP_NOPE"):
        capability_numbers(["CAP_NOPE"])
    assert capability_numbers(["cap_chown", "KILL"]) == {0, 5}


def test_mounts_reads_escaped_mount_points(as_root, tmp_path):
    (tmp_path / "a b").mkdir()

    def child():
        unshare(CLONE_NEWNS)
        mount(None, "/", None, MS_REC | MS_PRIVATE)
        mount("tmpfs", tmp_path / "a b", "tmpfs")
        say(repr([(m.point, m.fstype) for m in mounts() if m.point.startswith(str(tmp_path))]))

    assert in_child(child) == (0, repr([(f"{tmp_path}/a b", "tmpfs")]) + "\n")
    assert host_mounts_under(tmp_path) == []


def test_drop_capabilities_cuts_every_set_and_survives_exec(as_root):
    def child():
        drop_capabilities(DEFAULT_CAPABILITIES)
        say(Path("/proc/self/status").read_text())
        say("-- after exec")
        os.execv(BUSYBOX, [BUSYBOX, "cat", "/proc/self/status"])

    code, output = in_child(child)
    assert code == 0, output
    before, after = (status_fields(part) for part in output.split("-- after exec"))
    for fields in (before, after):  # root gets its bounding set back on exec: the bounding set rules
        assert int(fields["CapEff"], 16) == DEFAULT_MASK
        assert int(fields["CapPrm"], 16) == DEFAULT_MASK
        assert int(fields["CapBnd"], 16) == DEFAULT_MASK
        assert int(fields["CapAmb"], 16) == 0
        assert int(fields["CapInh"], 16) == 0  # as Docker since CVE-2022-24769
    assert not DEFAULT_MASK & (1 << CAPABILITIES["SYS_ADMIN"])


def test_keeping_a_capability_not_held_is_refused_by_name(as_root):
    def child():
        drop_capabilities(["CHOWN"])
        drop_capabilities(["CHOWN", "KILL"])

    code, output = in_child(child)
    assert code == 1 and "capset (cannot keep CAP_KILL: not held): Operation not permitted" in output


def test_no_new_privs_is_inherited_across_exec(as_root):
    def child():
        set_no_new_privs()
        os.execv(BUSYBOX, [BUSYBOX, "cat", "/proc/self/status"])

    code, output = in_child(child)
    assert code == 0, output
    assert status_fields(output)["NoNewPrivs"].strip() == "1"
    assert status_fields(Path("/proc/self/status").read_text())["NoNewPrivs"].strip() == "0"


def test_sethostname_in_a_new_uts_namespace_leaves_the_host_alone(as_root):
    host = socket.gethostname()

    def child():
        unshare(CLONE_NEWUTS)
        sethostname("minidock-uts")
        say(socket.gethostname())

    code, output = in_child(child)
    assert (code, output.strip()) == (0, "minidock-uts")
    assert socket.gethostname() == host


def test_become_drops_to_the_user(as_root):
    def child():
        become(65534, 65534, [])
        say(f"{os.getuid()} {os.getgid()} {os.getgroups()}")

    assert in_child(child) == (0, "65534 65534 []\n")


# -- users, from the container's /etc (no root needed) ----------------------------------

@pytest.fixture
def etc(tmp_path) -> Path:
    (tmp_path / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n"
                                     "app:x:1000:1000::/home/app:/bin/sh\n"
                                     "broken line\n")
    (tmp_path / "group").write_text("root:x:0:\nwheel:x:10:root,app\napp:x:1000:\nstaff:x:50:app\n")
    return tmp_path


@pytest.mark.parametrize("spec, expected", [
    ("", (0, 0, [10], "/root")),
    ("root", (0, 0, [10], "/root")),
    ("app", (1000, 1000, [10, 50], "/home/app")),
    ("1000", (1000, 1000, [10, 50], "/home/app")),
    ("4242", (4242, 0, [], "/")),             # a uid not in passwd is fine, as in Docker
    ("app:staff", (1000, 50, [10, 50], "/home/app")),
    ("app:77", (1000, 77, [10, 50], "/home/app")),
])
def test_setup_user(etc, spec, expected):
    assert setup_user(spec, etc) == expected


def test_setup_user_refuses_unknown_names(etc):
    with pytest.raises(NotFound, match="unable to find user nosuch: no matching entries in passwd file"):
        setup_user("nosuch", etc)
    with pytest.raises(NotFound, match="unable to find group nogroup"):
        setup_user("app:nogroup", etc)


# -- a whole container's root -----------------------------------------------------------

class Container:
    """``argv`` as PID 1 of new mnt/uts/ipc/pid/net namespaces on ``spec``'s root, as the shim starts one.

    The keeper (our child) unshares and forks PID 1; PID 1 builds its root,
    drops privileges and execs.  Killing the keeper kills PID 1 (pdeathsig),
    and PID 1's death ends its namespaces and every mount in them.
    """

    def __init__(self, spec: RootfsSpec, argv: list[str]):
        self.out, out_w = os.pipe()
        pid_r, pid_w = os.pipe()
        self.keeper = os.fork()
        if self.keeper == 0:
            os.close(self.out)
            os.close(pid_r)
            self._keeper(spec, argv, out_w, pid_w)
        os.close(out_w)
        os.close(pid_w)
        self.status = None
        try:
            ready, _, _ = select.select([pid_r], [], [], 30)
            self.pid = int(os.read(pid_r, 32) or 0) if ready else 0
        finally:
            os.close(pid_r)
        if not self.pid:
            self.close()
            raise RuntimeError(f"the container did not start: {read_until_eof(self.out, 5)}")

    @staticmethod
    def _keeper(spec, argv, out_w, pid_w) -> None:
        code = 125
        try:
            set_pdeathsig(signal.SIGKILL)
            unshare(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID | CLONE_NEWNET)
            init = os.fork()
            if init == 0:
                os.close(pid_w)
                Container._init(spec, argv, out_w)
            os.write(pid_w, str(init).encode())
            os.close(pid_w)
            os.close(out_w)
            code = nsenter.exit_code(os.waitpid(init, 0)[1])
        except BaseException:
            os.write(out_w, traceback.format_exc().encode())
        finally:
            os._exit(code)

    @staticmethod
    def _init(spec, argv, out_w) -> None:
        try:
            set_pdeathsig(signal.SIGKILL)
            os.dup2(out_w, 1)
            os.dup2(out_w, 2)
            os.close(out_w)
            enter_rootfs(spec)
            drop_capabilities(DEFAULT_CAPABILITIES)
            set_no_new_privs()
            os.execve(argv[0], argv, {"PATH": nsenter.PATH})
        except BaseException:
            os.write(2, traceback.format_exc().encode())
        finally:
            os._exit(125)

    def readline(self, timeout: float = 30) -> str:
        """One line of output (for "ready" signals); reads byte by byte, so nothing is lost."""
        line = b""
        while not line.endswith(b"\n"):
            ready, _, _ = select.select([self.out], [], [], timeout)
            byte = os.read(self.out, 1) if ready else b""
            if not byte:
                raise RuntimeError(f"container output ended early: {line.decode()!r}")
            line += byte
        return line.decode()

    def run_to_end(self, timeout: float = 30) -> tuple[int, str]:
        output = read_until_eof(self.out, timeout)
        self.status = wait_child(self.keeper, timeout)
        return self.status, output

    def close(self) -> None:
        if self.status is None:
            os.kill(self.keeper, signal.SIGKILL)
            self.status = wait_child(self.keeper)
        os.close(self.out)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


@pytest.fixture
def host_files(tmp_path) -> list[tuple[Path, str]]:
    files = {"hosts": "127.0.0.1\tlocalhost\n", "hostname": "box1\n", "resolv.conf": "nameserver 127.0.0.1\n"}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return [(tmp_path / name, f"/etc/{name}") for name in files]


@pytest.fixture
def overlay_spec(as_root, busybox_store, tmp_path, host_files) -> RootfsSpec:
    """The busybox image's layer (from minidock's own store) under two small ones and a fresh upper dir."""
    client = minidock.Client(busybox_store)
    chain = chain_ids(client.images.get("busybox").attrs["RootFS"]["Layers"])
    busybox = client.store.layer_dir(chain[-1]) / "diff"
    for name in ("top", "middle", "upper", "work", "merged"):
        (tmp_path / name).mkdir()
    (tmp_path / "top" / "order").write_text("top\n")
    (tmp_path / "middle" / "order").write_text("middle\n")
    return RootfsSpec(tmp_path / "merged", [tmp_path / "top", tmp_path / "middle", busybox],
                      tmp_path / "upper", tmp_path / "work", host_files, hostname="box1")


SCRIPT = r"""
echo "pid=$$"
echo "hostname=$(hostname)"
echo "init=$(tr '\0' ' ' < /proc/1/cmdline)"
echo "root=$(ls -a / | tr '\n' ' ')"
echo "dev=$(ls /dev | tr '\n' ' ')"
echo "procs=$(ls /proc | grep '^[0-9]' | tr '\n' ' ')"
for p in MASKED; do
  if [ -c $p ]; then echo "masked $p device $(wc -c < $p)"
  elif [ -d $p ]; then echo "masked $p dir $(ls -A $p | wc -l)"
  elif [ -e $p ]; then echo "masked $p NOT"; fi
done
echo "etc_hostname=$(cat /etc/hostname)"
echo "order=$(cat /order)"
touch /sys/kernel/x 2>/dev/null && echo "sys=rw" || echo "sys=ro"
(echo x > /proc/sys/kernel/hostname) 2>/dev/null && echo "procsys=rw" || echo "procsys=ro"
echo "written" > /newfile
grep -E '^(CapEff|NoNewPrivs)' /proc/self/status
cat /proc/mounts
"""


def test_a_container_root_on_overlay(overlay_spec, tmp_path):
    script = SCRIPT.replace("MASKED", " ".join(MASKED_PATHS))
    with Container(overlay_spec, [BUSYBOX, "sh", "-c", script]) as box:
        code, output = box.run_to_end()
    assert code == 0, output
    lines = dict(line.split("=", 1) for line in output.splitlines() if re.match(r"^\w+=", line))
    assert lines["pid"] == "1"
    assert lines["hostname"] == "box1"
    assert lines["init"].startswith("/bin/busybox sh -c")
    root = lines["root"].split()
    assert {"bin", "etc", "proc", "sys", "dev"} <= set(root)
    assert not [n for n in root if n.startswith(".pivot_root")] and "work" not in root  # the host is gone
    assert {"null", "zero", "full", "random", "urandom", "tty", "pts", "shm", "mqueue", "fd", "ptmx",
            "stdin", "stdout", "stderr"} <= set(lines["dev"].split())
    assert lines["procs"].split()[0] == "1"  # /proc shows the container's PID namespace
    masked = [line.split()[1:] for line in output.splitlines() if line.startswith("masked ")]
    assert [p for p, *_ in masked] == [p for p in MASKED_PATHS if os.path.exists(p)]  # those this kernel has
    assert all(rest in (["device", "0"], ["dir", "0"]) for _, *rest in masked), masked  # /dev/null, empty tmpfs
    assert lines["etc_hostname"] == "box1"
    assert lines["order"] == "top"  # lowerdirs are topmost first
    assert (lines["sys"], lines["procsys"]) == ("ro", "ro")
    fields = status_fields(output)
    assert int(fields["CapEff"], 16) == DEFAULT_MASK and fields["NoNewPrivs"].strip() == "1"
    mounts = {line.split()[1]: line.split() for line in output.splitlines() if line.count(" ") == 5}
    assert mounts["/"][2] == "overlay"
    assert mounts["/sys"][3].startswith("ro,") and mounts["/proc/sys"][3].startswith("ro,")
    assert mounts["/dev/pts"][2] == "devpts" and "nosuid,nodev,noexec" in mounts["/dev/shm"][3]
    # the write went to the upper dir, the image's layer is untouched
    assert (tmp_path / "upper" / "newfile").read_text() == "written\n"
    assert not [d for d in overlay_spec.lowerdirs if (d / "newfile").exists()]
    assert not [p for p in (tmp_path / "upper").iterdir() if p.name.startswith(".pivot_root")]
    assert host_mounts_under(tmp_path) == []


def test_a_read_only_plain_root(as_root, tmp_path, host_files):
    make_rootfs(tmp_path / "rootfs")
    spec = RootfsSpec(tmp_path / "rootfs", None, None, None, host_files, readonly=True, hostname="ro1")
    script = ("touch /x 2>&1; echo changed > /etc/hosts && echo hosts-ok; "
              "echo y > /dev/shm/y && echo shm-ok; grep ' / ' /proc/mounts")
    with Container(spec, [BUSYBOX, "sh", "-c", script]) as box:
        code, output = box.run_to_end()
    assert "Read-only file system" in output
    assert "hosts-ok" in output and "shm-ok" in output  # binds and /dev stay writable, as in Docker
    assert (tmp_path / "hosts").read_text() == "changed\n"
    assert " ro," in output.splitlines()[-1]
    assert not (tmp_path / "rootfs" / "x").exists()
    assert host_mounts_under(tmp_path) == []


def test_a_failed_setup_names_the_call_and_leaves_no_mount(overlay_spec, tmp_path):
    spec = overlay_spec._replace(lowerdirs=[tmp_path / "no-such-layer"])  # alone: the lowerdir is the first option
    with Container(spec, [BUSYBOX, "true"]) as box:
        code, output = box.run_to_end()
    assert code == 125
    assert f"mount overlay on {tmp_path}" in output and "ENOENT" in output
    assert host_mounts_under(tmp_path) == []


def test_sys_fallback_binds_every_mount_read_only(as_root, tmp_path):
    """The /sys fallback (no sysfs of our own): the host's /sys and its submounts, all read-only."""
    target = tmp_path / "sys"

    def child():
        unshare(CLONE_NEWNS)
        mount(None, "/", None, MS_REC | MS_PRIVATE)
        bind_readonly_tree("/sys", str(target))
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            if str(target) in line:
                say(line)

    code, output = in_child(child)
    assert code == 0, output
    lines = output.splitlines()
    assert len(lines) > 1  # /sys has submounts here (cgroups at least)
    assert all(line.split()[5].startswith("ro") for line in lines), output
    assert host_mounts_under(tmp_path) == []


# -- nsenter --------------------------------------------------------------------------------

@pytest.fixture
def ns_target(as_root):
    """A child in its own UTS and network namespaces, hostname "minidock-ns"; killed at the end."""
    ready_r, ready_w = os.pipe()
    hold_r, hold_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(ready_r)
            os.close(hold_w)
            unshare(CLONE_NEWUTS | CLONE_NEWNET)
            sethostname("minidock-ns")
            os.write(ready_w, b"r")
            os.read(hold_r, 1)
        finally:
            os._exit(0)
    os.close(ready_w)
    os.close(hold_r)
    try:
        assert os.read(ready_r, 1) == b"r"
        yield pid
    finally:
        os.close(hold_w)
        os.close(ready_r)
        wait_child(pid, 5)


def test_namespaces_of(ns_target):
    ours, theirs = nsenter.namespaces_of(os.getpid()), nsenter.namespaces_of(ns_target)
    assert set(nsenter.NAMESPACES) <= set(ours)
    assert ours["uts"] != theirs["uts"] and ours["net"] != theirs["net"]
    assert ours["mnt"] == theirs["mnt"] and ours["pid"] == theirs["pid"]


def test_run_in_joins_the_namespaces(ns_target, capfd):
    assert nsenter.run_in(ns_target, ["hostname"]) == 0
    assert capfd.readouterr().out == "minidock-ns\n"
    assert nsenter.run_in(ns_target, ["cat", "/proc/net/dev"], namespaces=["net"]) == 0
    interfaces = [line.split(":")[0].strip() for line in capfd.readouterr().out.splitlines()[2:]]
    assert interfaces == ["lo"]
    assert socket.gethostname() != "minidock-ns"


def test_run_in_exit_statuses_like_docker_exec(ns_target, tmp_path, capfd):
    (tmp_path / "plain").write_text("not a program")
    assert nsenter.run_in(ns_target, ["sh", "-c", "exit 3"]) == 3
    assert nsenter.run_in(ns_target, ["sh", "-c", "exit 127"]) == 127  # the program's own 127
    assert nsenter.run_in(ns_target, ["sh", "-c", "kill -9 $$"]) == 128 + 9
    assert capfd.readouterr().err == ""
    assert nsenter.run_in(ns_target, ["no-such-program"]) == 127
    assert 'exec: "no-such-program": executable file not found in $PATH' in capfd.readouterr().err
    assert nsenter.run_in(ns_target, [str(tmp_path / "plain")]) == 126
    assert "Permission denied" in capfd.readouterr().err
    assert nsenter.run_in(ns_target, ["true"], cwd="/nonexistent") == 126
    with pytest.raises(ValueError, match="unknown namespaces"):
        nsenter.run_in(ns_target, ["true"], namespaces=["nope"])


def test_exec_into_a_running_container(overlay_spec, capfd):
    with Container(overlay_spec, [BUSYBOX, "sh", "-c", "echo ready; exec sleep 1000"]) as box:
        assert box.readline() == "ready\n"
        script = ("echo $$; hostname; ls /; tr '\\0' ' ' < /proc/1/cmdline; echo; "
                  "pwd; id -u; grep CapEff /proc/self/status")
        assert nsenter.run_in(box.pid, ["sh", "-c", script], cwd="/etc", user="nobody") == 0
        out = capfd.readouterr().out.splitlines()
        assert out[0] != "1" and int(out[0]) < 10  # a PID of the container's namespace
        assert out[1] == "box1"
        assert "work" not in out and "bin" in out  # the container's root, not the host's
        assert "sleep 1000 " in out  # PID 1, as the container sees it
        assert out[-3:-1] == ["/etc", "65534"]
        assert int(out[-1].split()[1], 16) == 0  # a non-root user has no effective capabilities
        assert nsenter.run_in(box.pid, ["sh", "-c", "echo $HOME"], user="root") == 0
        assert capfd.readouterr().out == "/root\n"
        capeff = ["grep", "CapEff", "/proc/self/status"]
        assert nsenter.run_in(box.pid, capeff, capabilities=DEFAULT_CAPABILITIES) == 0
        assert int(capfd.readouterr().out.split()[1], 16) == DEFAULT_MASK  # like the container's own
        assert nsenter.run_in(box.pid, capeff) == 0
        assert capfd.readouterr().out == status_line("CapEff")  # ours, as nsenter(1) keeps them


# -- cgroups -------------------------------------------------------------------------------

@pytest.fixture
def cgroup_name(as_root):
    """A fresh name; whatever cgroup has it is removed at the end, pass or fail."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    yield name
    cgroups.Cgroup.open(name).remove()
    assert not cgroups.exists(name)


@contextlib.contextmanager
def sleeping_in(cg: cgroups.Cgroup):
    """A ``sleep 30`` moved into ``cg``; killed (by its PID) at the end, whatever happened."""
    proc = subprocess.Popen([BUSYBOX, "sleep", "30"])
    try:
        cg.add(proc.pid)
        yield proc
    finally:
        proc.kill()
        proc.wait()


def test_cgroup_version():
    assert cgroups.cgroup_version() in ("v1", "hybrid", "v2", "none")


def test_cgroup_limits_stats_kill_remove(cgroup_name):
    cg = cgroups.Cgroup.create(cgroup_name, memory=64 << 20, pids=10, cpus=1.5)
    assert cgroups.exists(cgroup_name) and cgroup_name in cgroups.all_names()
    assert not {"memory", "pids", "cpu"} & set(cg.missing), cg.missing
    if cg.trees["memory"].version == 1:
        assert (cg.dir("memory") / "memory.limit_in_bytes").read_text().strip() == str(64 << 20)
        assert (cg.dir("cpu") / "cpu.cfs_quota_us").read_text().strip() == "150000"
        assert (cg.dir("cpu") / "cpu.cfs_period_us").read_text().strip() == "100000"
    else:
        assert (cg.dir("cpu") / "cpu.max").read_text().strip() == "150000 100000"
    assert (cg.dir("pids") / "pids.max").read_text().strip() == "10"
    with sleeping_in(cg) as proc:
        assert cg.pids() == [proc.pid]
        stats = cg.stats()
        assert stats["pids_current"] == 1 and stats["pids_limit"] == 10
        assert stats["memory_limit"] == 64 << 20 and isinstance(stats["memory_usage"], int)
        assert isinstance(stats["cpu_usage_ns"], int)
        cg.kill()
        assert proc.wait(5) == -signal.SIGKILL
    cg.remove()
    cg.remove()  # idempotent
    assert not cgroups.exists(cgroup_name) and not any(d.exists() for d in cg.dirs())
    assert cgroup_name not in cgroups.all_names()


def test_unlimited_reads_as_none(cgroup_name):
    stats = cgroups.Cgroup.create(cgroup_name, memory=0, pids=-1, cpus=0).stats()  # Docker's "no limit"
    assert stats["memory_limit"] is None and stats["pids_limit"] is None and stats["pids_current"] == 0


def test_remove_kills_what_is_left(cgroup_name):
    cg = cgroups.Cgroup.create(cgroup_name, pids=5)
    with sleeping_in(cg) as proc:
        cg.remove()
        assert proc.wait(5) == -signal.SIGKILL
    assert not cgroups.exists(cgroup_name)


def test_open_finds_a_cgroup_made_from_another_cgroup(monkeypatch, cgroup_name):
    """``minidock rm`` may run in another cgroup than the shim that made the container's."""
    made = cgroups.Cgroup.create(cgroup_name, pids=3)
    own = cgroups._own_cgroups()
    monkeypatch.setattr(cgroups, "_own_cgroups", lambda: {c: "/another/session" for c in own})
    opened = cgroups.Cgroup.open(cgroup_name)
    assert opened.dirs() == made.dirs() and cgroups.exists(cgroup_name)
    assert cgroup_name in cgroups.all_names()
    opened.remove()
    assert not any(d.exists() for d in made.dirs())


def run_python_in(cg: cgroups.Cgroup, code: str) -> subprocess.CompletedProcess:
    """Start Python, move it into ``cg``, then let it run ``code`` (it waits for a byte on stdin)."""
    proc = subprocess.Popen([sys.executable, "-I", "-S", "-c", "import sys; sys.stdin.read(1)\n" + code],
                            stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        cg.add(proc.pid)
        _, err = proc.communicate(b"g", timeout=30)
    finally:
        proc.kill()
        proc.wait()
    return subprocess.CompletedProcess(proc.args, proc.returncode, b"", err)


def test_memory_limit_is_enforced(cgroup_name):
    cg = cgroups.Cgroup.create(cgroup_name, memory=32 << 20)
    result = run_python_in(cg, "b = b'x' * (256 << 20)")  # touches every page: 256 MiB charged
    assert result.returncode == -signal.SIGKILL  # the OOM killer
    if cg.trees["memory"].version == 1:
        assert "oom_kill 1" in (cg.dir("memory") / "memory.oom_control").read_text()


def test_pids_limit_is_enforced(cgroup_name):
    cg = cgroups.Cgroup.create(cgroup_name, pids=1)
    result = run_python_in(cg, "import os; os.fork()")
    assert result.returncode == 1 and b"Resource temporarily unavailable" in result.stderr


def test_cgroup_v2_code_path(monkeypatch, cgroup_name):
    """The v2 layout, on this machine's v2 tree: hide the v1 hierarchies and go through the same API."""
    v2_only = [m for m in cgroups.mounts() if m.fstype == "cgroup2"]
    if not v2_only:
        pytest.skip("no cgroup2 file system mounted here")
    monkeypatch.setattr(cgroups, "mounts", lambda: v2_only)
    assert cgroups.cgroup_version() == "v2"
    cg = cgroups.Cgroup.create(cgroup_name, memory=64 << 20, pids=10, cpus=0.5)
    assert all(tree.version == 2 for tree in cg.trees.values())
    assert set(cg.trees) | set(cg.missing) == set(cgroups.USED)
    with sleeping_in(cg) as proc:
        assert cg.pids() == [proc.pid]
        assert isinstance(cg.stats()["cpu_usage_ns"], int)
        cg.kill()  # through cgroup.kill
        assert proc.wait(5) == -signal.SIGKILL
    cg.remove()
    assert not cgroups.exists(cgroup_name)


@pytest.mark.parametrize("layout", ["v1 with links", "hybrid", "v2"])
def test_cgroup_hierarchies_read_from_the_mount_table(monkeypatch, tmp_path, layout):
    """What a container's /sys/fs/cgroup repeats of the host's, for each layout (no kernel needed)."""
    from minidock.runtime import rootfs
    from minidock.runtime.syscalls import Mount
    top = tmp_path / "cgroup"
    top.mkdir()

    def cgroup(name: str, options: str, fstype: str = "cgroup") -> Mount:
        return Mount("/", f"{top}/{name}".rstrip("/"), "rw,nosuid", fstype, fstype, options)

    table = [Mount("/", "/", "rw", "ext4", "/dev/vda1", "rw"), Mount("/", str(top), "rw", "tmpfs", "tmpfs", "rw")]
    if layout == "v2":
        table[1:] = [cgroup("", "rw,nsdelegate,memory_recursiveprot", "cgroup2")]
    else:
        table += [cgroup("cpu,cpuacct", "rw,cpu,cpuacct"), cgroup("memory", "rw,memory"),
                  cgroup("systemd", "rw,xattr,name=systemd")]
        table += [cgroup("unified", "rw,nsdelegate", "cgroup2")] if layout == "hybrid" else []
        table += [Mount("/", f"{top}/memory/deeper", "rw", "cgroup", "cgroup", "rw,memory")]  # not just below
    if layout == "v1 with links":
        for name in ("cpu", "cpuacct"):
            (top / name).symlink_to("cpu,cpuacct")
    monkeypatch.setattr(rootfs, "mounts", lambda: table)
    found = rootfs.cgroup_hierarchies(str(top))
    if layout == "v2":
        assert found == [("", "cgroup2", "")]
        return
    expected = [("cpu,cpuacct", "cgroup", "cpu,cpuacct"), ("memory", "cgroup", "memory"),
                ("systemd", "cgroup", "xattr,name=systemd")]
    if layout == "hybrid":
        assert found == expected + [("unified", "cgroup2", "")]
    else:
        assert found[:3] == expected
        assert sorted(found[3:]) == [("cpu", "symlink", "cpu,cpuacct"), ("cpuacct", "symlink", "cpu,cpuacct")]
