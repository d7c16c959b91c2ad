"""Chapter 12's exercises, solved: the chapter's run_container with a pids limit, and lo brought up.

The chapter's functions, as they end up after both exercises: a cgroup in the pids controller's tree
beside the memory one, PID 1 joins each of them, and brings up the loopback of its new network
namespace before the exec.
"""

import contextlib
import ctypes
import fcntl
import os
import shutil
import signal
import socket
import struct
import tempfile
import time
from functools import partial
from pathlib import Path

from minidock import course
from solving import chapter, not_yet, right

libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWPID, CLONE_NEWNET = 0x20000, 0x4000000, 0x20000000, 0x40000000
MS_BIND, MS_REC, MS_PRIVATE, MNT_DETACH = 0x1000, 0x4000, 0x40000, 2      # <sys/mount.h>
SYS_pivot_root = 155                                                     # x86_64: no libc wrapper
SIOCSIFFLAGS, IFF_UP, IFF_LOOPBACK = 0x8914, 0x1, 0x8                     # <linux/sockios.h>, <net/if.h>


def ok(result, what):
    """libc returns -1 and sets errno; Python raises OSError."""
    if result != 0:
        raise OSError(ctypes.get_errno(), f"{what}: {os.strerror(ctypes.get_errno())}")


def mount(source, target, fstype=None, flags=0, options=""):
    ok(libc.mount(source.encode(), str(target).encode(), fstype and fstype.encode(), flags,
                  options.encode()), f"mount {target}")


def cgroup_dir(controller, name):
    """Where a new cgroup ``name`` goes: below this process's own, in ``controller``'s tree (cgroup v1)."""
    own = dict(line.split(":")[1:] for line in Path("/proc/self/cgroup").read_text().splitlines())
    return Path("/sys/fs/cgroup", controller, own[controller].lstrip("/"), name)


def remove_cgroup(cgroup):
    """SIGKILL whatever is left in the cgroup, then remove it (rmdir works once it is empty)."""
    while pids := (cgroup / "cgroup.procs").read_text().split():
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
        time.sleep(0.01)
    cgroup.rmdir()


def bring_up_loopback():
    """Set lo's flags to UP in our network namespace (what ``ip link set lo up`` does, by ioctl)."""
    with socket.socket() as any_socket:      # an ioctl on any socket of the namespace names the interface
        fcntl.ioctl(any_socket, SIOCSIFFLAGS, struct.pack("16sh", b"lo", IFF_UP | IFF_LOOPBACK))


def container_main(lowers, scratch, cgroups, hostname, command, loopback):
    """PID 1: join the cgroups; a private overlay root with a small /dev, pivot_root into it, a host
    name, a /proc, lo up; exec the command."""
    for cgroup in cgroups:
        (cgroup / "cgroup.procs").write_text("0")
    mount("none", "/", None, MS_REC | MS_PRIVATE)
    root = scratch / "merged"
    mount("overlay", root, "overlay", 0, f"lowerdir={':'.join(map(str, lowers))},"
          f"upperdir={scratch}/upper,workdir={scratch}/work")
    mount("tmpfs", root / "dev", "tmpfs", 0, "mode=755")
    for device in ("null", "zero", "urandom"):
        (root / "dev" / device).touch()
        mount(f"/dev/{device}", root / "dev" / device, None, MS_BIND)
    os.chdir(root)
    ok(libc.syscall(SYS_pivot_root, b".", b"."), "pivot_root")
    ok(libc.umount2(b".", MNT_DETACH), "umount2")
    socket.sethostname(hostname)
    mount("proc", "/proc", "proc")
    if loopback:
        bring_up_loopback()
    os.execve("/bin/sh", ["sh", "-c", command], {"PATH": "/bin:/sbin:/usr/bin", "HOME": "/"})


def in_child(work, out):
    """Fork a child that writes to ``out`` and exits with what ``work()`` returns (125: it failed)."""
    pid = os.fork()
    if pid:
        return pid
    try:
        os.dup2(out, 1), os.dup2(out, 2)
        os._exit(work())
    except BaseException as e:
        os.write(2, f"{e}\n".encode())
    os._exit(125)


def run_container(client, image, command, memory=32 << 20, hostname="mini", pids=None, *,
                  loopback=True, pids_tree="pids"):
    """The chapter's run_container, plus ``pids``: at most that many processes (Exercise 1), and lo up
    (Exercise 2).  ``loopback=False`` and ``pids_tree="memory"`` are the mistakes the solution shows."""
    lowers = [client.store.layer_dir(c) / "diff" for c in reversed(client.images.get(image).record.chain_ids)]
    scratch = Path(tempfile.mkdtemp(prefix="mini-"))
    limits = {cgroup_dir("memory", scratch.name): {"memory.limit_in_bytes": memory}}
    if pids:  # a cgroup of the pids controller's tree, beside the memory one
        limits.setdefault(cgroup_dir(pids_tree, scratch.name), {})["pids.max"] = pids
    keeper = None
    try:
        for directory in (scratch / "upper", scratch / "work", scratch / "merged", *limits):
            directory.mkdir()
        for cgroup, knobs in limits.items():
            for knob, value in knobs.items():
                (cgroup / knob).write_text(str(value))

        def keep():
            ok(libc.unshare(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWPID | CLONE_NEWNET), "unshare")
            code = os.waitstatus_to_exitcode(os.waitpid(in_child(
                lambda: container_main(lowers, scratch, list(limits), hostname, command, loopback),
                out.fileno()), 0)[1])
            return 128 - code if code < 0 else code
        with open(scratch / "output", "wb") as out:
            keeper = in_child(keep, out.fileno())
            keeper, status = None, os.waitpid(keeper, 0)[1]
        return os.waitstatus_to_exitcode(status), (scratch / "output").read_text(errors="replace")
    finally:
        for cgroup in limits:
            if cgroup.exists():
                remove_cgroup(cgroup)
        if keeper:
            os.waitpid(keeper, 0)
        shutil.rmtree(scratch)


def as_in_the_chapter(client, image, command, memory=32 << 20, hostname="mini"):
    """The chapter's function: no pids= yet, lo left down."""
    return run_container(client, image, command, memory, hostname, loopback=False)


with chapter("12-a-container-in-python") as client:
    # 1. Untouched: no function given.  Wrong: the chapter's (no pids=); pids.max put in the memory
    # cgroup, where the kernel lets no one make such a file.  Right: a cgroup in the pids tree PID 1 joins.
    not_yet(course.check("12-a-container-in-python", 1, client))
    not_yet(course.check("12-a-container-in-python", 1, client, run=as_in_the_chapter))
    not_yet(course.check("12-a-container-in-python", 1, client, run=partial(run_container, pids_tree="memory")))
    right(course.check("12-a-container-in-python", 1, client, run=run_container))

    # 2. Untouched; then lo left down, as the chapter leaves it; right: brought up by ioctl before the exec.
    not_yet(course.check("12-a-container-in-python", 2, client))
    not_yet(course.check("12-a-container-in-python", 2, client, run=as_in_the_chapter))
    right(course.check("12-a-container-in-python", 2, client, run=run_container))
