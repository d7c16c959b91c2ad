"""The chroot-emulated mode: where there is no root and no user namespace (Binder), proot runs the program.

proot (proot-me.github.io) intercepts a process's system calls with ptrace
and rewrites the paths in them, so ``proot -r ROOTFS sh`` sees ROOTFS as
``/`` -- a chroot without privileges.  Nothing else is isolated: the
process shares the host's PIDs, network, hostname and IPC, and ``-0`` only
makes it *believe* it is root.  ``minidock info`` says so; this module
only builds the command line.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ..errors import APIError, MinidockError
from .copyup import fill_empty
from .rootfs import setup_user


def proot() -> str:
    """The proot executable, or a one-line error saying what to install."""
    found = shutil.which("proot")
    if not found:
        raise APIError("containers in chroot-emulated mode need proot (apt-get install proot)")
    return found


def execute(spec: dict, cdir: Path, env: dict) -> None:
    """Exec the spec's process under proot in the container's files (its first process, or an ``exec``); never returns.

    The process's args, user and cwd say what, who and where; HOME and
    HOSTNAME are set as docker sets them when ``env`` lacks them.
    """
    env.setdefault("HOSTNAME", spec["hostname"])
    env.setdefault("HOME", _user(spec["process"]["user"]["username"], cdir / spec["root"]["path"])[3])
    line = command(spec, cdir, env)
    os.execve(line[0], line, env)


def command(spec: dict, cdir: Path, env: dict) -> list[str]:
    """``proot ... ARGS`` for a container whose flattened root file system is the bundle's root."""
    rootfs, process = cdir / spec["root"]["path"], spec["process"]
    uid, gid, _, _ = _user(process["user"]["username"], rootfs)
    os.makedirs(rootfs / process["cwd"].lstrip("/"), exist_ok=True)  # docker creates WORKDIR
    line = [proot(), "-r", str(rootfs), "-w", process["cwd"], "-b", "/dev", "-b", "/proc", "-b", "/sys"]
    for mount in spec["mounts"]:
        line += ["-b", f"{_bind_source(mount, cdir, rootfs)}:{mount['destination']}"]
    line += ["-0"] if uid == 0 else ["-i", f"{uid}:{gid}"]
    argv = process["args"]
    return line + [resolve(argv[0], rootfs, env.get("PATH", "")), *argv[1:]]


def _bind_source(mount: dict, cdir: Path, rootfs: Path) -> str:
    """A mount as proot's ``-b``: only plain binds, since proot can make nothing read-only and mount no tmpfs."""
    options = mount.get("options") or []
    if mount["type"] != "bind" or "ro" in options:
        raise APIError(f"{'read-only ' if 'ro' in options else ''}{mount['type']} mounts are not supported in "
                       f"chroot-emulated mode ({mount['destination']}): proot can only bind")
    inside = os.path.realpath(rootfs / mount["destination"].lstrip("/"))
    # Docker's copy-up of an empty volume, from the flattened root; never through a symlink out of it
    if mount.get("copyUp") and inside.startswith(os.path.realpath(rootfs) + "/"):
        fill_empty(inside, mount["source"])
    return str(cdir / mount["source"])


def _user(user: str, rootfs: Path) -> tuple[int, int, list[int], str]:
    try:
        return setup_user(user or "root", rootfs / "etc")
    except MinidockError:
        if user and user not in ("root", "0"):
            raise
        return 0, 0, [], "/root"


def resolve(name: str, rootfs: Path, path: str) -> str:
    """Find the command inside the root file system, as execvp would there; FileNotFoundError if absent."""
    candidates = [name] if "/" in name else [f"{d}/{name}" for d in path.split(":") if d]
    for candidate in candidates:
        inside = rootfs / candidate.lstrip("/")
        if os.path.lexists(inside):
            if not os.access(inside, os.X_OK) and not inside.is_symlink():
                raise PermissionError(candidate)
            return candidate
    raise FileNotFoundError(name)
