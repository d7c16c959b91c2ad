"""Which run mode this machine allows, and what each mode really isolates.

DESIGN's three modes, best first:

* ``root``: uid 0 with CAP_SYS_ADMIN -- every namespace, overlayfs, cgroups,
  a bridge with veth pairs.  The teaching VM and CI.
* ``rootless``: user namespaces are allowed -- root inside maps to the user
  outside; mount, pid, uts, ipc and net namespaces; no cgroup limits, no
  bridge: a container's network is slirp4netns's user-mode one where it is
  installed (outbound connections only, ``slirp.py``), else loopback only.
* ``chroot-emulated``: neither (Binder) -- ``proot`` runs the program inside
  the image's file system; nothing is isolated.

Nothing pretends: ``minidock info`` prints the mode and, for each kernel
feature, whether this mode uses it.
"""

from __future__ import annotations

import functools
import os
import shutil
from pathlib import Path

CAP_SYS_ADMIN = 21

ISOLATES = {
    "root": {"pid": True, "mount": True, "uts": True, "ipc": True, "net": True, "cgroup": True,
             "user": False, "overlayfs": True, "cgroup limits": True, "bridge network": True},
    "rootless": {"pid": True, "mount": True, "uts": True, "ipc": True, "net": True, "cgroup": False,
                 "user": True, "overlayfs": True, "cgroup limits": False, "bridge network": False},
    "chroot-emulated": {"pid": False, "mount": False, "uts": False, "ipc": False, "net": False,
                        "cgroup": False, "user": False, "overlayfs": False, "cgroup limits": False,
                        "bridge network": False},
}

# docker info's SecurityOptions in each mode: Docker's default seccomp profile wherever a container gets
# one (rootless too: seccomp(2) asks for CAP_SYS_ADMIN in the caller's own user namespace); proot loads none
SECURITY_OPTIONS = {"root": ["name=seccomp,profile=builtin"],
                    "rootless": ["name=seccomp,profile=builtin", "name=rootless"],
                    "chroot-emulated": []}

# the keys of ISOLATES that are kinds of namespace (the others are other kernel features)
NAMESPACES = ("pid", "mount", "uts", "ipc", "net", "cgroup", "user")


def network(run_mode: str) -> str:
    """What a container's network is in ``run_mode``: ``minidock info``'s ``Network``."""
    if run_mode == "root":
        return "bridge (minidock0 and user-defined bridges; a veth pair per container)"
    if run_mode == "rootless":
        from . import slirp
        return slirp.describe()
    return "the host's own (proot: no network namespace)"


def has_capability(cap: int, pid: str = "self") -> bool:
    """Whether the process's effective set (CapEff in /proc/PID/status) holds ``cap``."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            return bool(int(line.split()[1], 16) >> cap & 1)
    return False


@functools.lru_cache(maxsize=1)
def user_namespaces_allowed() -> bool:
    """Try it: a child that unshares CLONE_NEWUSER (sysctls and LSMs can both forbid it)."""
    from .syscalls import CLONE_NEWUSER, unshare
    pid = os.fork()
    if pid == 0:
        try:
            unshare(CLONE_NEWUSER)
            os._exit(0)
        except OSError:
            os._exit(1)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0


def detect() -> tuple[str, str]:
    """(mode, why): the best mode this process can use (``MINIDOCK_MODE`` may choose a lesser one)."""
    forced = os.environ.get("MINIDOCK_MODE")
    if forced in ISOLATES:
        return forced, "chosen with MINIDOCK_MODE"
    if os.geteuid() == 0 and has_capability(CAP_SYS_ADMIN):
        return "root", "uid 0 with CAP_SYS_ADMIN"
    if user_namespaces_allowed():
        return "rootless", "not root, but user namespaces are allowed"
    if shutil.which("proot"):
        return "chroot-emulated", "no root and no user namespaces; proot is installed"
    return "chroot-emulated", "no root and no user namespaces (install proot to run containers)"
