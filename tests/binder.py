"""Run a command as a learner on Binder would: no root, no capabilities, maybe no user namespaces.

Binder gives a notebook server an ordinary uid in a container where creating a
user namespace fails.  This machine's sysctl ``user.max_user_namespaces`` is
read-only, but it is also kept per user namespace: a namespace made here (root
outside writes its maps ``0 0 65536``, so uids mean the same inside) may set
its own to 0.  Then the command drops to ``--uid`` with every capability gone,
and ``unshare -U`` fails with ENOSPC and ``unshare -m`` with EPERM, as there.
With ``--userns`` the sysctl is left alone and minidock finds its rootless mode.

The venv's interpreter lives under /root (pyenv), which others cannot enter,
and so may the clone (a teacher's, in root's home); a tmpfs over each such
directory in the command's own mount namespace, with the interpreter's tree and
the clone bound back into it, lets the uid run them, as Binder's user runs its
conda.

Usage: ``python tests/binder.py [--userns] [--uid N] -- COMMAND...`` (as root).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from minidock.runtime import syscalls  # noqa: E402

MS_REC, MS_PRIVATE = 0x4000, 0x40000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--userns", action="store_true", help="leave user namespaces allowed (rootless)")
    parser.add_argument("--uid", type=int, default=1000)
    parser.add_argument("command", nargs="+")
    args = parser.parse_args(argv)
    ready_r, ready_w = os.pipe()   # child -> parent: my user namespace exists
    maps_r, maps_w = os.pipe()     # parent -> child: its maps are written
    pid = os.fork()
    if pid == 0:
        os.close(ready_r), os.close(maps_w)
        try:
            syscalls.unshare(syscalls.CLONE_NEWUSER)
            os.write(ready_w, b"x")
            if os.read(maps_r, 1) != b"x":
                os._exit(125)
            _become_a_learner(args)
            os.execvp(args.command[0], args.command)
        except OSError as err:
            print(f"binder: {err}", file=sys.stderr)
            os._exit(125)
    os.close(ready_w), os.close(maps_r)
    if os.read(ready_r, 1) == b"x":
        for kind in ("uid_map", "gid_map"):
            Path(f"/proc/{pid}/{kind}").write_text("0 0 65536\n")
        os.write(maps_w, b"x")
    os.close(maps_w)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


REPO = Path(__file__).resolve().parent.parent


def _hidden_by(path: Path) -> Path | None:
    """The outermost directory above ``path`` that others may not enter (mode without o+x), if any."""
    for parent in reversed(path.parents):
        if not os.stat(parent).st_mode & 0o001:
            return parent
    return None


def _reveal(trees: list[Path]) -> None:
    """Bind each tree aside, mount a tmpfs (0755) over what hid it, and move the tree back in place."""
    kept = []
    for n, tree in enumerate(trees):
        keep = Path("/tmp") / f"binder-{os.getpid()}-{n}"
        keep.mkdir()
        syscalls.mount(tree, keep, None, syscalls.MS_BIND | MS_REC)
        kept.append((tree, keep, _hidden_by(tree)))
    for hider in {hider for _, _, hider in kept}:
        syscalls.mount("tmpfs", hider, "tmpfs", 0, "mode=0755")
    for tree, keep, hider in kept:
        tree.mkdir(parents=True, exist_ok=True)
        for made in [tree, *tree.parents]:
            if made != hider and made.is_relative_to(hider):
                os.chmod(made, 0o755)
        syscalls.mount(keep, tree, None, syscalls.MS_MOVE)
        keep.rmdir()


def _become_a_learner(args) -> None:
    """In the new user namespace, as its root: the mounts, the sysctl, then the drop to ``args.uid``."""
    syscalls.unshare(syscalls.CLONE_NEWNS)
    syscalls.mount(None, "/", None, MS_REC | MS_PRIVATE)
    interpreter = Path(os.path.realpath(sys.executable))
    trees = [Path(*interpreter.parts[:3]), REPO]   # /root/.pyenv (say), and the clone
    _reveal([tree for tree in trees if _hidden_by(tree)])
    if not args.userns:
        Path("/proc/sys/user/max_user_namespaces").write_text("0\n")
    os.setgroups([])
    os.setgid(args.uid)
    os.setuid(args.uid)  # from uid 0 to another: every capability is dropped


if __name__ == "__main__":
    sys.exit(main())
