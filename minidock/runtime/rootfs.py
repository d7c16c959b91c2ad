"""The container's root file system, built inside its new mount namespace.

The caller has already unshared CLONE_NEWNS (and UTS, and PID then forked, so
this process is PID 1 of its own PID namespace) and runs as root.  Then runc's
steps (libcontainer/rootfs_linux.go), with the mounts moved after pivot_root::

    make "/" rprivate           nothing we mount propagates back to the host
    mount the root              overlay of the image's layers, or a bind of a plain dir (vfs)
    pivot_root                  the root becomes "/"; the host's old root waits at /.pivot_root-XXXX
    /dev /proc /sys             host files are still reachable through the old root
    volumes, binds, tmpfs       -v, --mount, --tmpfs: an empty volume first filled from the image
    /etc/hosts and friends      the bundle's own files, over whatever is mounted at /etc
    /sys/fs/cgroup              the host's hierarchies, seen from the container's cgroup namespace
    masked and read-only paths  Docker's lists, so a container cannot read kcore or write /proc/sys
    detach the old root         from here on, the host's files are out of reach
    read-only root, hostname    --read-only, --hostname

Mounting /dev, /proc, /sys and the binds *after* pivot_root means every
container path resolves inside the container: an image's absolute symlink
(``/etc/resolv.conf -> /run/...``) points into the image, never at the host's
file of that name.  The host side of a bind is resolved (realpath) *before*
pivot_root, for the same reason the other way round: a bind source that is a
symlink on the host is followed on the host, as Docker does.
"""

from __future__ import annotations

import os
import tempfile
from collections import namedtuple
from pathlib import Path

from ..errors import NotFound
from .copyup import fill_empty
from .overlay import mount_overlay
from .syscalls import (MNT_DETACH, MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_PRIVATE, MS_RDONLY, MS_REC,
                       MS_REMOUNT, MS_STRICTATIME, mount, mounts, pivot_root, sethostname, umount2)

# Docker's lists (moby oci/defaults.go): paths a container must not read, or not write.
MASKED_PATHS = ("/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
                "/sys/firmware", "/sys/devices/virtual/powercap")
READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
DEV_LINKS = {"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1",
             "stderr": "/proc/self/fd/2", "ptmx": "pts/ptmx"}
SAFE = MS_NOSUID | MS_NODEV | MS_NOEXEC


class RootfsSpec(namedtuple("RootfsSpec",
                            "rootfs lowerdirs upperdir workdir binds readonly hostname userxattr links cgroupfs "
                            "mounts masked readonly_paths privileged",
                            defaults=((), False, "", False, None, False, (), MASKED_PATHS, READONLY_PATHS, False))):
    """What ``enter_rootfs`` builds; the caller (the shim) fills it from the bundle's spec.

    ``rootfs``: the root, a prepared dir (vfs) or the overlay's mount point
    ("merged"); ``lowerdirs``: overlay lowers, topmost first (None: ``rootfs``
    is a plain dir); ``upperdir``, ``workdir``; ``binds``: (host file, path in
    the container) pairs; ``readonly``: --read-only ("/" only: binds, /dev and
    /proc stay as Docker has them); ``hostname``; ``userxattr``: rootless, so
    overlay keeps its marks in user.* xattrs; ``links``: where short symlinks
    to deep stacks' lowerdirs go (the store's ``l/``); ``cgroupfs``: mount
    /sys/fs/cgroup (root mode: the caller has unshared CLONE_NEWCGROUP in its
    cgroup, and cgroup v1 cannot be mounted in a user namespace); ``mounts``: the
    spec's volumes, binds and tmpfs (``runtime/spec.py``), parents first; ``masked``,
    ``readonly_paths``: the spec's ``maskedPaths`` and ``readonlyPaths``; ``privileged``: the host's
    devices in /dev and a writable /sys, as ``--privileged`` gives them.  (A namedtuple, not a
    dataclass: every ``run`` would pay for importing ``inspect``.)
    """

    __slots__ = ()


def enter_rootfs(spec: RootfsSpec) -> None:
    """Build the container's file system and make it this process's "/" (see the module's steps)."""
    make_private()
    mount_root(spec)
    sources = {dest: os.path.realpath(src) for src, dest in spec.binds}
    volumes = [dict(m, source=os.path.realpath(m["source"])) if m["type"] == "bind" else m for m in spec.mounts]
    names = host_devices() if spec.privileged else DEVICES
    devices = {name: os.path.realpath(f"/dev/{name}") for name in names}
    hierarchies = cgroup_hierarchies() if spec.cgroupfs else []  # the host's, read before they are out of sight
    old = enter_root(spec.rootfs)
    mount_dev(old, devices)
    mount_proc()
    mount_sys(old, spec.privileged)  # after /proc: its fallback reads /proc/self/mountinfo
    mount_cgroups(hierarchies, spec.privileged)
    for volume in volumes:   # before /etc/hosts and friends: a volume at /etc must not hide them
        mount_volume(old, volume)
    for dest, src in sources.items():
        bind_file(old + src, dest)
    mask_paths(spec.masked)
    readonly_paths(spec.readonly_paths)
    detach_old_root(old)
    if spec.readonly:
        remount_readonly("/")
    if spec.hostname:
        sethostname(spec.hostname)  # the caller has unshared CLONE_NEWUTS


def make_private() -> None:
    """Mark every mount rprivate: mounts made from now on do not propagate to the host.

    On systemd hosts "/" is shared, so a mount in our namespace would appear in
    the host's too; and pivot_root refuses (EINVAL) when the root is shared.
    """
    mount(None, "/", None, MS_REC | MS_PRIVATE)


def mount_root(spec: RootfsSpec) -> None:
    """Mount the overlay on ``rootfs``, or bind a plain rootfs onto itself.

    pivot_root's rule: new_root must be a mount point -- a plain directory is
    not one until it is bind-mounted onto itself.
    """
    if spec.lowerdirs is None:
        mount(spec.rootfs, spec.rootfs, None, MS_BIND | MS_REC)
    else:  # mount_overlay takes the layers bottom first, as an image lists them
        mount_overlay(spec.lowerdirs[::-1], spec.upperdir, spec.workdir, spec.rootfs, userxattr=spec.userxattr,
                      links=spec.links)


def enter_root(rootfs: Path) -> str:
    """pivot_root into ``rootfs``; return where the old root now is (``/.pivot_root-XXXX``).

    put_old must be under new_root, so it is a fresh directory there; the
    working directory is not moved by pivot_root, hence the ``chdir("/")``.
    """
    put_old = tempfile.mkdtemp(prefix=".pivot_root-", dir=rootfs)
    pivot_root(rootfs, put_old)
    os.chdir("/")
    return "/" + os.path.basename(put_old)


def mount_dev(old: str, devices: dict[str, str]) -> None:
    """A minimal /dev: a tmpfs with the six safe devices, a private devpts, /dev/shm, /dev/mqueue, the fd links.

    Each device is the host's node bind-mounted onto an empty file: that works
    as root and in a user namespace alike (mknod does not work in the latter).
    ``newinstance`` gives the container its own pty numbers; ``gid=5`` is tty
    (rootless, gid 5 is not mapped in the user namespace, so it is left out).
    An mqueue mount shows the queues of the mounter's IPC namespace (the caller
    unshared CLONE_NEWIPC).
    """
    _mount_dir("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k")
    for name, host_path in devices.items():
        bind_file(old + host_path, f"/dev/{name}")
    tty_gid = ",gid=5" if Path(old + "/proc/self/setgroups").read_text().strip() != "deny" else ""
    _mount_dir("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620" + tty_gid)
    _mount_dir("shm", "/dev/shm", "tmpfs", SAFE, "mode=1777,size=65536k")
    _mount_dir("mqueue", "/dev/mqueue", "mqueue", SAFE)
    for name, target in DEV_LINKS.items():
        os.symlink(target, f"/dev/{name}")


def mount_proc() -> None:
    """A new /proc: it shows the PID namespace of the process that mounts it.

    That is why the caller forks after unshare(CLONE_NEWPID): mounted by PID 1
    of the new namespace, /proc lists only the container's processes.
    """
    _mount_dir("proc", "/proc", "proc", SAFE)


def host_devices(top: str = "/dev") -> list[str]:
    """Every device node of the host's /dev (``--privileged``: Docker's HostDevices), as names under it
    (``net/tun``); not the host's own pty, shm, mqueue or console, which the container has its own of."""
    found = []
    for parent, dirs, files in os.walk(top):
        dirs[:] = [d for d in dirs if d not in ("pts", "shm", "mqueue", "fd")]
        for name in files:
            path = os.path.join(parent, name)
            if not os.path.islink(path) and os.stat(path).st_mode & 0o170000 in (0o020000, 0o060000):
                found.append(os.path.relpath(path, top))
    return sorted(set(found) - {"console", "ptmx"})


def mount_sys(old: str, writable: bool = False) -> None:
    """/sys read-only (``writable``: --privileged); a new sysfs needs to own the network namespace, else bind the host's.

    The fallback (EPERM when sysfs cannot be mounted) binds the old root's /sys
    recursively, then remounts every mount in it read-only: a recursive bind
    is made read-only one mount at a time.
    """
    try:
        _mount_dir("sysfs", "/sys", "sysfs", SAFE | (0 if writable else MS_RDONLY))
    except PermissionError:
        if writable:
            bind_file(old + "/sys", "/sys", MS_REC)
        else:
            bind_readonly_tree(old + "/sys", "/sys")


def cgroup_hierarchies(top: str = "/sys/fs/cgroup") -> list[tuple[str, str, str]]:
    """The cgroup file systems mounted at ``top`` or just below it: (name under ``top``, type, options).

    v1 (and hybrid) has a tmpfs at ``top`` and one directory per hierarchy
    (``memory``, ``cpu,cpuacct``, ``name=systemd``...: the options say which);
    pure v2 mounts cgroup2 at ``top`` itself, whose name is then "".
    Symlinks beside them (``cpu -> cpu,cpuacct``) are listed as type "symlink".
    """
    found = []
    for m in mounts():
        if m.fstype in ("cgroup", "cgroup2") and (m.point == top or os.path.dirname(m.point) == top):
            options = [o for o in m.super_options.split(",") if o not in ("rw", "ro")] if m.fstype == "cgroup" else []
            found.append(("" if m.point == top else os.path.basename(m.point), m.fstype, ",".join(options)))
    if found and all(name for name, _, _ in found):  # v1 or hybrid: the symlinks beside them too
        found += [(entry.name, "symlink", os.readlink(entry.path)) for entry in os.scandir(top) if entry.is_symlink()]
    return found


def mount_cgroups(hierarchies: list[tuple[str, str, str]], writable: bool = False) -> None:
    """/sys/fs/cgroup as docker shows it: the host's hierarchies, read-only (``writable``:
    ``--privileged``, as moby's oci_linux.go leaves "ro" off), each mounted anew.

    In a new cgroup namespace a cgroup file system shows the namespace's
    root -- here the container's own cgroup -- so ``cat
    /sys/fs/cgroup/memory/memory.limit_in_bytes`` reads the container's
    ``--memory``.  v1 hierarchies go on a tmpfs, as on the host; pure v2 is
    one cgroup2 mount.  A hierarchy the kernel refuses is left out.
    """
    top, readonly = "/sys/fs/cgroup", 0 if writable else MS_RDONLY
    if any(name == "" for name, _, _ in hierarchies):
        _mount_dir("cgroup2", top, "cgroup2", SAFE | readonly)
        return
    if not hierarchies:
        return
    _mount_dir("tmpfs", top, "tmpfs", SAFE, "mode=755")
    for name, fstype, options in hierarchies:
        path = f"{top}/{name}"
        if fstype == "symlink":
            os.symlink(options, path)
            continue
        try:
            _mount_dir(fstype, path, fstype, SAFE | readonly, options or None)
        except OSError:
            os.rmdir(path)
    if not writable:
        remount_readonly(top)


def bind_readonly_tree(source: str, target: str) -> None:
    """Bind ``source`` and everything mounted under it at ``target``, all read-only."""
    os.makedirs(target, exist_ok=True)
    mount(source, target, None, MS_BIND | MS_REC)
    for point in _mounts_under(target):
        remount_readonly(point)


def _mounts_under(path: str) -> list[str]:
    """The mount points at or below ``path``, parents first."""
    return [m.point for m in mounts() if m.point == path or m.point.startswith(path.rstrip("/") + "/")]


def bind_file(source: str, dest: str, flags: int = 0) -> None:
    """Bind-mount a host file (or directory) over ``dest``, creating an empty one to mount on
    (``flags``: MS_REC, to take the mounts under ``source`` along, as Docker's binds do)."""
    if os.path.isdir(source):
        os.makedirs(dest, exist_ok=True)
    elif not os.path.exists(dest):
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        os.close(os.open(dest, os.O_WRONLY | os.O_CREAT, 0o644))
    mount(source, dest, None, MS_BIND | flags)


def mount_volume(old: str, m: dict) -> None:
    """One of the spec's mounts: a tmpfs, or a bind of a host directory or volume (``m["source"]``,
    resolved on the host, under the old root), read-only if its options say "ro".

    ``copyUp``: Docker fills a volume that is empty from what the image has at the mount path,
    the first time it is mounted there (its owner and mode too), so ``-v data:/etc`` starts
    with the image's /etc rather than hiding it; a bind is never filled.
    """
    options = m.get("options") or []
    if m["type"] == "tmpfs":
        flags, data = tmpfs_options(options)
        _mount_dir("tmpfs", m["destination"], "tmpfs", flags, data)
        return
    source, dest = old + m["source"], m["destination"]
    if m.get("copyUp"):
        fill_empty(dest, source)
    bind_file(source, dest, MS_REC)
    if "ro" in options:
        remount_readonly(dest)


def tmpfs_options(options: list[str]) -> tuple[int, str | None]:
    """mount(8)'s words as flags (the last of ``exec``/``noexec`` wins), tmpfs(5)'s ``key=value`` as data."""
    words = {"nosuid": (MS_NOSUID, True), "suid": (MS_NOSUID, False), "nodev": (MS_NODEV, True),
             "dev": (MS_NODEV, False), "noexec": (MS_NOEXEC, True), "exec": (MS_NOEXEC, False),
             "ro": (MS_RDONLY, True), "rw": (MS_RDONLY, False)}
    flags, data = 0, []
    for option in options:
        if option in words:
            bit, on = words[option]
            flags = flags | bit if on else flags & ~bit
        elif "=" in option:
            data.append(option)
    return flags, ",".join(data) or None


def mask_paths(paths) -> None:
    """Hide each path: /dev/null over a file, an empty read-only tmpfs over a directory."""
    for path in paths:
        if os.path.isdir(path):
            mount("tmpfs", path, "tmpfs", MS_RDONLY)
        elif os.path.exists(path):
            mount("/dev/null", path, None, MS_BIND)


def readonly_paths(paths) -> None:
    """Bind each path onto itself, then remount that bind read-only."""
    for path in paths:
        if os.path.exists(path):
            mount(path, path, None, MS_BIND | MS_REC)
            remount_readonly(path)


def remount_readonly(path: str) -> None:
    """Make the mount at ``path`` read-only, keeping its nosuid/nodev/noexec.

    ``MS_REMOUNT|MS_BIND`` changes only this mount point's flags, not the
    file system (so the overlay's other users are not affected); it replaces
    them all, so the ones already set (statvfs reports them) are passed again.
    In a user namespace dropping one of them is refused (EPERM: "locked" flags).
    """
    kept = os.statvfs(path).f_flag & SAFE  # ST_NOSUID, ST_NODEV, ST_NOEXEC equal the MS_ values
    mount(None, path, None, MS_REMOUNT | MS_BIND | MS_RDONLY | kept)


def detach_old_root(old: str) -> None:
    """Unmount the host's old root (lazily: its mounts go with it) and remove the empty directory."""
    umount2(old, MNT_DETACH)
    os.rmdir(old)


def _mount_dir(source: str, target: str, fstype: str, flags: int, data: str | None = None) -> None:
    os.makedirs(target, exist_ok=True)
    mount(source, target, fstype, flags, data)


# -- the user the program runs as ----------------------------------------------------

def setup_user(user: str, rootfs_etc: Path) -> tuple[int, int, list[int], str]:
    """Docker's ``-u name|uid[:group|gid]`` -> (uid, gid, supplementary gids, home), from the container's /etc.

    A uid missing from /etc/passwd is fine (gid 0, home "/"), as in Docker; a
    name is not.  The supplementary groups are those listing the user as a
    member -- the host's groups must not leak in, so the list may be empty.
    """
    name, _, group = (user or "0").partition(":")
    entry = _lookup(_entries(rootfs_etc / "passwd", 7), name)
    if entry is not None:
        uid, gid, home = int(entry[2]), int(entry[3]), entry[5] or "/"
    elif name.isdigit():
        uid, gid, home = int(name), 0, "/"
    else:
        raise NotFound(f"unable to find user {name}: no matching entries in passwd file")
    groups = _entries(rootfs_etc / "group", 4)
    if group:
        found = _lookup(groups, group)
        if found is None and not group.isdigit():
            raise NotFound(f"unable to find group {group}: no matching entries in group file")
        gid = int(found[2]) if found is not None else int(group)
    member = entry[0] if entry is not None else None
    extra = sorted({int(g[2]) for g in groups if member and member in g[3].split(",")})
    return uid, gid, extra, home


def _entries(path: Path, width: int) -> list[list[str]]:
    """The well-formed lines of a passwd-style file (numeric id in field 2), split at ':'."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return []
    rows = [line.split(":") for line in lines if not line.startswith("#")]
    return [row for row in rows if len(row) >= width and row[2].isdigit()]


def _lookup(rows: list[list[str]], key: str) -> list[str] | None:
    """The first row named ``key`` or, for a number, with that id (field 2: uid or gid)."""
    for row in rows:
        if row[0] == key or (key.isdigit() and int(row[2]) == int(key)):
            return row
    return None


def become(uid: int, gid: int, groups: list[int]) -> None:
    """Switch to the container's user: setgroups, setgid, then setuid.

    The order is the rule: setgroups and setgid need CAP_SETGID, which
    setuid to a non-zero uid takes away -- so setuid comes last.
    """
    if Path("/proc/self/setgroups").read_text().strip() != "deny":  # rootless: setgroups(2) is off
        os.setgroups(groups)
    os.setgid(gid)
    os.setuid(uid)
