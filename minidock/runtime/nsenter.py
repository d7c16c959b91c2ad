"""Entering a running container: ``setns(2)`` into its namespaces, then exec.

A process's namespaces are files, ``/proc/PID/ns/{mnt,uts,ipc,net,pid,cgroup,user}``;
two processes share a namespace exactly when those files have the same inode.
Opening one and passing the fd to ``setns`` moves the caller into it.  That is
all ``docker exec`` and ``nsenter(1)`` do -- the same mechanism, shown twice.

The rules that shape ``enter`` (setns(2)):

* open every fd *first*: after joining the mount namespace, ``/proc`` is the
  container's, where the target's PID means something else (or nothing);
* join the user namespace first (it decides what the others allow), and the
  mount namespace last (it also moves our root and working directory);
* joining a PID namespace moves only the *children* forked afterwards, so
  ``run_in`` forks once more after ``enter``;
* joining the user namespace one is already in fails (EINVAL), so a namespace
  we already share is skipped.
"""

from __future__ import annotations

import errno
import os
import sys
from collections import namedtuple
from pathlib import Path
from typing import Iterable

from .rootfs import become, setup_user
from .syscalls import (CLONE_NEWCGROUP, CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWUSER,
                       CLONE_NEWUTS, drop_capabilities, setns)

NAMESPACES = ("mnt", "uts", "ipc", "net", "pid", "cgroup", "user")
ORDER = ("user", "cgroup", "ipc", "uts", "net", "pid", "mnt")  # user first, mnt last
FLAGS = {"mnt": CLONE_NEWNS, "uts": CLONE_NEWUTS, "ipc": CLONE_NEWIPC, "net": CLONE_NEWNET,
         "pid": CLONE_NEWPID, "cgroup": CLONE_NEWCGROUP, "user": CLONE_NEWUSER}
NOT_FOUND = (errno.ENOENT, errno.ENOTDIR)
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"  # Docker's default PATH


def namespaces_of(pid: int | str) -> dict[str, int]:
    """``{"cgroup": 4026531835, "ipc": ..., ...}``: the inode of each of ``/proc/PID/ns/*``."""
    ns = Path(f"/proc/{pid}/ns")
    return {p.name: p.stat().st_ino for p in sorted(ns.iterdir())}


def enter(pid: int, namespaces: Iterable[str]) -> tuple[str, ...]:
    """Join the named namespaces of process ``pid``; return the ones joined (not already shared).

    Joining "pid" affects only children forked afterwards: fork before exec.
    """
    wanted = _known(namespaces)
    ours = namespaces_of("self")
    fds: dict[str, int] = {}
    try:
        for name in (n for n in ORDER if n in wanted):
            fd = os.open(f"/proc/{pid}/ns/{name}", os.O_RDONLY | os.O_CLOEXEC)
            fds[name] = fd
            if os.fstat(fd).st_ino == ours.get(name):
                os.close(fds.pop(name))
        for name, fd in fds.items():
            setns(fd, FLAGS[name])
    finally:
        for fd in fds.values():
            os.close(fd)
    return tuple(fds)


def _known(namespaces: Iterable[str]) -> set[str]:
    """The names as a set, refusing any that is not a namespace."""
    wanted = set(namespaces)
    if wanted - set(NAMESPACES):
        raise ValueError(f"unknown namespaces {sorted(wanted - set(NAMESPACES))}; known: {NAMESPACES}")
    return wanted


def run_in(pid: int, argv: list[str], namespaces: Iterable[str] = NAMESPACES, env: dict | None = None,
           cwd: str = "/", user: str | None = None, capabilities: Iterable[str] | None = None) -> int:
    """Run ``argv`` inside process ``pid``'s namespaces, as ``docker exec`` does; return its exit status.

    Statuses follow docker: the program's own code, 128+N when killed by
    signal N, 127 when the program is not found, 126 when it cannot be run
    (or ``cwd``/``user`` are wrong).  The exec error comes back through a
    close-on-exec pipe -- no bytes and EOF mean exec succeeded -- so a program
    that itself exits 127 is not mistaken for a missing one.  ``capabilities``:
    None keeps the caller's, as nsenter(1) does; ``DEFAULT_CAPABILITIES`` cuts
    them to a default container's (no_new_privs stays off, Docker's default;
    ``docker exec`` itself goes through the shim's ``settle``, with the
    container's own capabilities, seccomp filter and no-new-privileges).
    A failure to enter the namespaces raises OSError.
    """
    if not argv:
        raise ValueError("run_in needs a command")
    namespaces = _known(namespaces)
    read_end, write_end = os.pipe2(os.O_CLOEXEC)
    child = os.fork()
    if child == 0:
        os.close(read_end)
        _child(pid, list(argv), namespaces, Settings(env, cwd, user, capabilities), write_end)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        report = pipe.read()
    status = exit_code(os.waitpid(child, 0)[1])
    if not report:
        return status
    stage, number, message = report.decode(errors="replace").split("\0", 2)
    if stage == "enter":
        raise OSError(int(number), message)
    print(f"minidock: {message}", file=sys.stderr)
    return 127 if stage == "exec" and int(number) in NOT_FOUND else 126


def exit_code(wait_status: int) -> int:
    """A wait status as a shell would show it: the exit code, or 128 + the signal number."""
    code = os.waitstatus_to_exitcode(wait_status)
    return 128 - code if code < 0 else code


# how the program runs once inside: as the OCI runtime spec's ``process`` has them
Settings = namedtuple("Settings", "env cwd user capabilities")


def _child(pid: int, argv: list[str], namespaces: set[str], settings: Settings, report_fd: int) -> None:
    """The forked side of ``run_in``: enter, fork again into the PID namespace, set up, exec. Never returns."""
    code = 125
    try:
        stage = "enter"
        if "pid" in enter(pid, namespaces):
            grandchild = os.fork()
            if grandchild:  # stay to pass the grandchild's status up
                os.close(report_fd)
                code = exit_code(os.waitpid(grandchild, 0)[1])
                return
        stage, code = "setup", 126
        env = _setup(settings)
        stage = "exec"
        os.execvpe(argv[0], argv, env)
    except BaseException as e:
        if stage == "exec" and isinstance(e, OSError):
            code = 127 if e.errno in NOT_FOUND else 126
            why = "executable file not found in $PATH" if code == 127 and "/" not in argv[0] else e.strerror
            message = f'exec: "{argv[0]}": {why}'
        else:
            message = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        os.write(report_fd, f"{stage}\0{getattr(e, 'errno', 0) or 0}\0{message}".encode())
    finally:
        os._exit(code)


def _setup(settings: Settings) -> dict:
    """chdir, look up and become the user, cut capabilities; return the environment to exec with."""
    env, cwd, user, capabilities = settings
    env = dict(env) if env is not None else {"PATH": PATH}
    try:
        os.chdir(cwd)  # after setns(mnt), "/" is the container's root
    except OSError as e:
        raise OSError(e.errno, f'chdir to cwd ("{cwd}") failed: {e.strerror}') from None
    ids = setup_user(user, Path("/etc")) if user else None
    if ids:
        env.setdefault("HOME", ids[3])
    if capabilities is not None:
        drop_capabilities(capabilities)
    if ids:
        become(*ids[:3])
    return env
