"""Learner accounts: an unprivileged local user each, with a home only they can read.

A learner runs minidock in rootless mode, so everything of theirs (the store,
``~/.local/share/minidock``; the chapters' directories) lies in their home,
which is mode 0700: another learner cannot even list it.  Accounts are made
and removed with shadow's ``useradd``/``userdel`` (as root), as an admin would.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import Conflict, MinidockError, NotFound


@dataclass(frozen=True)
class Learner:
    """A learner's account: name, uid, gid and home directory."""

    name: str
    uid: int
    gid: int
    home: Path

    def become(self) -> None:
        """In a forked child (as root) about to exec the learner's program: drop to the learner for good.
        Groups first, then the gid, then the uid: after setuid there is no right left to change the others."""
        os.initgroups(self.name, self.gid)
        os.setgid(self.gid)
        os.setuid(self.uid)

    def environment(self) -> dict[str, str]:
        """The login environment a learner's program starts with (what ``su -`` would give)."""
        return {"HOME": str(self.home), "USER": self.name, "LOGNAME": self.name, "SHELL": "/bin/bash",
                "PATH": "/usr/local/bin:/usr/bin:/bin"}


def get(name: str) -> Learner:
    """The learner account ``name``, from the password database."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise NotFound(f"no such learner: {name}") from None
    return Learner(name, entry.pw_uid, entry.pw_gid, Path(entry.pw_dir))


def create(name: str, *, password: str | None = None) -> Learner:
    """``useradd -m -s /bin/bash NAME``, the home 0700, and a password if given (``chpasswd``)."""
    try:
        pwd.getpwnam(name)
        raise Conflict(f"user {name} exists already: choose another learner name")
    except KeyError:
        pass
    _run(["useradd", "--create-home", "--shell", "/bin/bash", "--", name])
    learner = get(name)
    os.chmod(learner.home, 0o700)  # useradd's HOME_MODE may be 0755: learners must not read each other's
    if password is not None:
        if "\n" in password:
            raise MinidockError("a password may not hold a newline")
        _run(["chpasswd"], stdin=f"{name}:{password}\n")
    return learner


def remove(name: str) -> None:
    """Kill the learner's processes, ``userdel -r`` (home and mail spool), and remove what they left in the
    shared temporary directories; fine if gone already."""
    try:
        learner = get(name)
    except NotFound:
        return
    kill_processes(learner.uid)
    _run(["userdel", "--remove", "--", name], ok=(0, 12))  # 12: the home could not be removed (not there)
    remove_temporary_files(learner.uid)


def remove_temporary_files(uid: int) -> None:
    """Delete what ``uid`` owns at the top of /tmp, /var/tmp and /dev/shm (``minidock daemon``'s
    /tmp/minidock-UID, say).  userdel leaves it, and the next account given that uid would own it.
    Symbolic links are removed as links, never followed."""
    for shared in (Path("/tmp"), Path("/var/tmp"), Path("/dev/shm")):
        with contextlib.suppress(FileNotFoundError):
            for entry in os.scandir(shared):
                with contextlib.suppress(FileNotFoundError):
                    if entry.stat(follow_symlinks=False).st_uid != uid:
                        continue
                    if entry.is_dir(follow_symlinks=False):
                        shutil.rmtree(entry.path)
                    else:
                        os.unlink(entry.path)


def kill_processes(uid: int, timeout: float = 5.0) -> None:
    """SIGKILL every process whose real, effective or saved uid is ``uid`` (from /proc), until none is left.

    Only those: a pid is read and killed once it is found to be the learner's
    (a pid reused in between would be a new process of someone else; it is
    read again on the next round).  userdel refuses a user with processes.
    """
    deadline = time.monotonic() + timeout
    while pids := _processes_of(uid):
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if time.monotonic() > deadline:
            raise MinidockError(f"processes of uid {uid} survive SIGKILL: {pids}")
        time.sleep(0.05)


def _processes_of(uid: int) -> list[int]:
    """The pids whose ``Uid:`` line in /proc/PID/status names ``uid`` (real, effective, saved or fs).

    Zombies are left out: they have exited already (nothing to kill; their parent
    reaps them), and userdel does not count them either.
    """
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/status") as f:
                fields = dict(line.split(":", 1) for line in f if line.startswith(("State:", "Uid:")))
        except OSError:
            continue  # gone meanwhile
        if str(uid) in fields.get("Uid", "").split() and not fields.get("State", "").strip().startswith("Z"):
            found.append(int(entry.name))
    return found


def _run(argv: list[str], stdin: str | None = None, ok: tuple[int, ...] = (0,)) -> None:
    """Run one of shadow's tools; a failure is one line, its own message."""
    proc = subprocess.run(argv, input=stdin, capture_output=True, text=True)
    if proc.returncode not in ok:
        message = proc.stderr.strip().splitlines()[-1:] or [f"exit status {proc.returncode}"]
        raise MinidockError(f"{argv[0]} failed: {message[0]}")
