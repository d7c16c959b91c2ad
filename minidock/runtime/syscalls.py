"""The system calls a container is made of, as thin ctypes wrappers.

Each wrapper's docstring states the kernel rule that bites when you use it
(from the man pages: unshare(2), setns(2), mount(2), pivot_root(2),
prctl(2), capabilities(7)).  Python 3.12 has ``os.unshare`` and ``os.setns``;
3.11 does not, so those two fall back to libc through ctypes.  Every failure
is an ``OSError`` carrying the errno, the call's name and the path it was
about, e.g. ``[Errno 22] pivot_root: Invalid argument: '/merged' -> '/merged/.old'``.
"""

from __future__ import annotations

import ctypes
import errno
import os
import stat
import re
from collections import namedtuple
from collections.abc import Iterable

_libc = ctypes.CDLL(None, use_errno=True)

# -- namespaces: the flags of clone(2), unshare(2), setns(2) ---------------------

CLONE_NEWNS = 0x00020000      # mounts
CLONE_NEWCGROUP = 0x02000000  # the cgroup tree's root as seen by /proc/self/cgroup
CLONE_NEWUTS = 0x04000000     # hostname and domain name
CLONE_NEWIPC = 0x08000000     # System V IPC, POSIX message queues
CLONE_NEWUSER = 0x10000000    # uids, gids, capabilities
CLONE_NEWPID = 0x20000000     # process IDs
CLONE_NEWNET = 0x40000000     # interfaces, routes, ports, iptables

# -- mount(2) flags ------------------------------------------------------------

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_SYNCHRONOUS = 16
MS_REMOUNT = 32
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_UNBINDABLE = 1 << 17
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24

MNT_FORCE = 1
MNT_DETACH = 2
UMOUNT_NOFOLLOW = 8

# -- prctl(2) and capabilities(7) ----------------------------------------------------

PR_SET_PDEATHSIG = 1
PR_SET_NAME = 15
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
_LINUX_CAPABILITY_VERSION_3 = 0x20080522

CAPABILITIES = {
    "CHOWN": 0, "DAC_OVERRIDE": 1, "DAC_READ_SEARCH": 2, "FOWNER": 3, "FSETID": 4, "KILL": 5,
    "SETGID": 6, "SETUID": 7, "SETPCAP": 8, "LINUX_IMMUTABLE": 9, "NET_BIND_SERVICE": 10,
    "NET_BROADCAST": 11, "NET_ADMIN": 12, "NET_RAW": 13, "IPC_LOCK": 14, "IPC_OWNER": 15,
    "SYS_MODULE": 16, "SYS_RAWIO": 17, "SYS_CHROOT": 18, "SYS_PTRACE": 19, "SYS_PACCT": 20,
    "SYS_ADMIN": 21, "SYS_BOOT": 22, "SYS_NICE": 23, "SYS_RESOURCE": 24, "SYS_TIME": 25,
    "SYS_TTY_CONFIG": 26, "MKNOD": 27, "LEASE": 28, "AUDIT_WRITE": 29, "AUDIT_CONTROL": 30,
    "SETFCAP": 31, "MAC_OVERRIDE": 32, "MAC_ADMIN": 33, "SYSLOG": 34, "WAKE_ALARM": 35,
    "BLOCK_SUSPEND": 36, "AUDIT_READ": 37, "PERFMON": 38, "BPF": 39, "CHECKPOINT_RESTORE": 40,
}

# Docker's default set (moby oci/caps/defaults.go): what a container's root may still do.
DEFAULT_CAPABILITIES = (
    "CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID",
    "SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE",
)


def _fail(call: str, *paths) -> OSError:
    """The OSError for a failed call, from ctypes' saved errno."""
    err = ctypes.get_errno()
    names = [os.fsdecode(p) for p in paths] + [None, None]
    return OSError(err, f"{call}: {os.strerror(err)}", names[0], None, names[1])  # (4th: Windows' winerror)


def _path(p) -> bytes | None:
    return None if p is None else os.fsencode(p)


# -- namespaces ----------------------------------------------------------------------------

def unshare(flags: int) -> None:
    """Move the caller into new namespaces (``CLONE_NEW*`` flags).

    The rule that bites: CLONE_NEWPID does not move the caller -- only its
    next child is PID 1 of the new namespace, so fork after it.  CLONE_NEWNS
    and CLONE_NEWUSER fail with EINVAL in a multi-threaded process.
    """
    if hasattr(os, "unshare"):
        try:
            return os.unshare(flags)
        except OSError as e:
            raise OSError(e.errno, f"unshare: {e.strerror}") from None
    if _libc.unshare(ctypes.c_int(flags)) != 0:
        raise _fail(f"unshare({flags:#x})")


def setns(fd: int, nstype: int = 0) -> None:
    """Join the namespace that ``fd`` (an open ``/proc/PID/ns/*`` file) refers to.

    The rules that bite: joining a PID namespace changes only the namespace of
    the caller's *future children*; joining a mount namespace (and a user
    namespace) fails with EINVAL in a multi-threaded process, and resets the
    caller's root and working directory to that namespace's root.  ``nstype``
    0 accepts any kind; a CLONE_NEW* flag makes the kernel check the kind.
    """
    if hasattr(os, "setns"):
        try:
            return os.setns(fd, nstype)
        except OSError as e:
            raise OSError(e.errno, f"setns: {e.strerror}", _fd_target(fd)) from None
    if _libc.setns(ctypes.c_int(fd), ctypes.c_int(nstype)) != 0:
        raise _fail("setns", _fd_target(fd))


def _fd_target(fd: int) -> str:
    """What an fd points at, e.g. ``net:[4026532008]``, for error messages."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return f"fd {fd}"


def sethostname(name: str) -> None:
    """Set the hostname of the caller's UTS namespace.

    The rule that bites: it changes the namespace the caller is *in* -- without
    ``unshare(CLONE_NEWUTS)`` first, that is the host's.
    """
    raw = name.encode()
    if _libc.sethostname(raw, ctypes.c_size_t(len(raw))) != 0:
        raise _fail(f"sethostname({name!r})")


# -- mounts -------------------------------------------------------------------------------

def mount(source, target, fstype, flags: int = 0, data: str | None = None) -> None:
    """Attach a file system (or, with MS_BIND, a directory tree) at ``target``.

    The rules that bite: with MS_BIND every other flag but MS_REC is ignored,
    so a read-only bind takes a second call, ``MS_REMOUNT|MS_BIND|MS_RDONLY``
    -- and that remount *replaces* the mount's nosuid/nodev/noexec flags, so
    pass the ones to keep.  ``data`` (e.g. overlay's ``lowerdir=...``) is cut at
    one page (4096 bytes).  Propagation changes (MS_PRIVATE, MS_SLAVE, MS_SHARED)
    must come alone, with at most MS_REC.
    """
    raw = None if data is None else data.encode()
    if raw is not None and len(raw) >= 4096:
        raise OSError(errno.E2BIG, f"mount: options longer than a page ({len(raw)} bytes)", os.fsdecode(target))
    if _libc.mount(_path(source), _path(target), _path(fstype), ctypes.c_ulong(flags), raw) != 0:
        raise _fail(_as_command(source, fstype, flags, data), target)


def _as_command(source, fstype, flags: int, data: str | None) -> str:
    """A mount(2) call as the mount(8) command line a reader knows, for error messages."""
    if flags & MS_REMOUNT:
        return "mount -o remount" + (",ro" if flags & MS_RDONLY else "")
    if flags & (MS_PRIVATE | MS_SLAVE | MS_SHARED):
        kind = "private" if flags & MS_PRIVATE else "slave" if flags & MS_SLAVE else "shared"
        return f"mount --make-{'r' if flags & MS_REC else ''}{kind}"
    if flags & MS_BIND:
        return f"mount --{'r' if flags & MS_REC else ''}bind {os.fsdecode(source)}"
    return f"mount -t {os.fsdecode(fstype)} {os.fsdecode(source)}" + (f" -o {data}" if data else "")


class Mount(namedtuple("Mount", "root point options fstype source super_options")):
    """One line of /proc/self/mountinfo (proc(5)).

    ``root``: the directory of the file system that is mounted (e.g. a bind's source);
    ``point``: where, as the reading process sees it; ``options``: per-mount (rw/ro,
    nosuid, nodev, noexec, atime); ``fstype``, ``source``; ``super_options``: per
    file system, e.g. a v1 cgroup's controllers, overlay's lowerdir.

    A collections.namedtuple, not a typing.NamedTuple: ``run`` would pay for
    importing typing.
    """

    __slots__ = ()


def mounts() -> list[Mount]:
    """The caller's mount table.  Paths there escape space, tab, newline and backslash as octal (``\\040``)."""
    def unescape(field: str) -> str:
        return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), field)

    table = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fields, (fstype, source, super_options) = left.split(), right.split()[:3]
            table.append(Mount(unescape(fields[3]), unescape(fields[4]), fields[5], fstype, source, super_options))
    return table


def umount2(target, flags: int = 0) -> None:
    """Detach the mount at ``target``.

    The rule that bites: EBUSY while any process has a file open or its
    working directory inside; MNT_DETACH ("lazy") removes it from the tree
    now and frees it when the last user lets go.
    """
    if _libc.umount2(_path(target), ctypes.c_int(flags)) != 0:
        raise _fail("umount2", target)


def pivot_root(new_root, put_old) -> None:
    """Make ``new_root`` the root of the caller's mount namespace; the old root moves to ``put_old``.

    The rules that bite (pivot_root(2)): new_root must be a mount point, and
    not on the same mount as the current root (bind-mount a plain directory
    onto itself first); put_old must be at or under new_root; neither the
    new root's parent mount nor the current root may be shared (make "/"
    rprivate first) -- else EINVAL.  Then ``chdir("/")``: the cwd is not moved.
    """
    if _libc.pivot_root(_path(new_root), _path(put_old)) != 0:
        raise _fail("pivot_root", new_root, put_old)


# -- privileges -------------------------------------------------------------------------

def _prctl(option: int, arg2: int, call: str) -> None:
    if _libc.prctl(ctypes.c_int(option), ctypes.c_ulong(arg2), ctypes.c_ulong(0),
                   ctypes.c_ulong(0), ctypes.c_ulong(0)) != 0:
        raise _fail(call)


def set_no_new_privs() -> None:
    """From now on, execve never grants privileges (setuid bits, file capabilities are ignored).

    The rule that bites: it is one-way -- inherited across fork and execve,
    and nothing can unset it.
    """
    _prctl(PR_SET_NO_NEW_PRIVS, 1, "prctl(PR_SET_NO_NEW_PRIVS)")


def set_process_name(name: str) -> None:
    """Name the calling thread (``/proc/PID/comm``: what ``ps -e``, ``top`` and ``pstree`` show).

    The rule that bites: the kernel keeps 15 bytes and cuts the rest; the command line
    (``ps aux``'s ARGS) stays the one the process was started with.
    """
    raw = ctypes.create_string_buffer(name.encode()[:15])
    _prctl(PR_SET_NAME, ctypes.addressof(raw), "prctl(PR_SET_NAME)")


def set_pdeathsig(sig: int) -> None:
    """Have the kernel send ``sig`` to the caller when its parent dies.

    The rules that bite: "parent" is the parent *thread*, and the setting is
    cleared in children (fork) and by execve of a setuid binary.  The parent
    may already be gone when this runs: check ``os.getppid()`` afterwards.
    """
    _prctl(PR_SET_PDEATHSIG, int(sig), "prctl(PR_SET_PDEATHSIG)")


def capability_numbers(names: Iterable[str]) -> set[int]:
    """``{"CAP_CHOWN", "kill"}`` -> ``{0, 5}``: the prefix and case are optional."""
    numbers = set()
    for name in names:
        key = name.upper().removeprefix("CAP_")
        if key not in CAPABILITIES:
            raise ValueError(f"unknown capability {name!r} (known: {', '.join(CAPABILITIES)})")
        numbers.add(CAPABILITIES[key])
    return numbers


def last_capability() -> int:
    """The highest capability number this kernel knows."""
    with open("/proc/sys/kernel/cap_last_cap") as f:
        return int(f.read())


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def drop_capabilities(keep: Iterable[str]) -> None:
    """Cut the caller's bounding, effective and permitted sets to ``keep``; empty ambient and inheritable.

    The inheritable set is left empty, as Docker does since CVE-2022-24769: kept
    there, a non-root program could regain capabilities by executing a file
    that carries inheritable file capabilities.  Root loses nothing by it: on
    execve its permitted set is refilled from the bounding set.

    The rules that bite: dropping from the bounding set needs CAP_SETPCAP --
    even for a capability already gone, so only those still there are dropped
    -- and it comes first, before capset(2) perhaps removes SETPCAP; capset can
    only keep what the caller has (EPERM otherwise); and root regains its whole
    bounding set on every execve -- hence the bounding set is what matters.
    """
    wanted = capability_numbers(keep)
    limit_bounding(wanted)
    set_capabilities(wanted)


def limit_bounding(wanted: set[int]) -> None:
    """Drop from the bounding set every capability not in ``wanted`` (numbers); needs CAP_SETPCAP.

    The first half of ``drop_capabilities``: a container's setup then still
    holds CAP_SETUID and CAP_SETGID to become its user (runc's order), even
    when the container itself is to have neither.
    """
    for cap in range(last_capability() + 1):
        if cap not in wanted and _libc.prctl(PR_CAPBSET_READ, ctypes.c_ulong(cap), 0, 0, 0) == 1:
            _prctl(PR_CAPBSET_DROP, cap, f"prctl(PR_CAPBSET_DROP, {cap})")


def set_capabilities(wanted: set[int]) -> None:
    """The second half: effective = permitted = ``wanted`` (numbers), inheritable and ambient empty."""
    try:
        _prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, "prctl(PR_CAP_AMBIENT_CLEAR_ALL)")
    except OSError as e:
        if e.errno != errno.EINVAL:  # EINVAL: before Linux 4.3, which has no ambient set to clear
            raise
    _capset(sum(1 << c for c in wanted))


def _capset(mask: int) -> None:
    """capset(2), version 3 (two 32-bit words per set): effective = permitted = ``mask``, inheritable empty."""
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    low, high = mask & 0xFFFFFFFF, mask >> 32
    data = (_CapData * 2)(_CapData(low, low, 0), _CapData(high, high, 0))
    if _libc.capset(ctypes.byref(header), data) != 0:
        lacking = [f"CAP_{n}" for n, c in CAPABILITIES.items() if mask & ~_permitted() & (1 << c)]
        raise _fail(f"capset (cannot keep {', '.join(lacking)}: not held)" if lacking else "capset")


def _permitted() -> int:
    """The caller's permitted set, from /proc/self/status."""
    return _status_mask("CapPrm:")


PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2


class _SockFprog(ctypes.Structure):
    """<linux/filter.h>'s ``struct sock_fprog``: how many 8-byte instructions, and where."""
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def set_seccomp_filter(bpf: bytes) -> None:
    """prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, prog): filter every later system call of this thread
    through the BPF program ``bpf`` (``struct sock_filter`` instructions, as libseccomp exports them).

    EACCES: neither no_new_privs nor CAP_SYS_ADMIN (seccomp(2)'s rule).
    """
    buffer = ctypes.create_string_buffer(bpf, len(bpf))
    prog = _SockFprog(len(bpf) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    if _libc.prctl(ctypes.c_int(PR_SET_SECCOMP), ctypes.c_ulong(SECCOMP_MODE_FILTER), ctypes.byref(prog),
                   ctypes.c_ulong(0), ctypes.c_ulong(0)) != 0:
        raise _fail("prctl(PR_SET_SECCOMP)")


def bounding_set() -> set[int]:
    """The capabilities the caller could still give a program it execs (its bounding set)."""
    mask = _status_mask("CapBnd:")
    return {cap for cap in range(mask.bit_length()) if mask >> cap & 1}


def _status_mask(field: str) -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1], 16) for line in f if line.startswith(field))


def process_start_time(pid: int) -> int | None:
    """Field 22 of /proc/PID/stat: when the process started, in clock ticks since boot.

    None when there is no such process, or only its zombie (state Z or X,
    field 3): it has ended, its parent just has not reaped it yet.
    """
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] in ("Z", "X") else int(fields[19])


def detach_inherited(keep: Iterable[int]) -> None:
    """In a child just forked that goes on running Python: let go of every inherited socket and pipe
    but ``keep``, by putting /dev/null in their place.

    A shim forked from the daemon would otherwise hold the daemon's listening socket and its
    clients' connections for as long as the container runs: a client would never see the end of
    an answer the daemon closed. Not ``close``: Python objects inherited with the fork still own
    those numbers and close them when collected, by then perhaps a file the child opened since.
    """
    keep = {0, 1, 2, *keep}
    null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
    try:
        for name in os.listdir("/proc/self/fd"):
            fd = int(name)
            if fd in keep or fd == null:
                continue
            try:
                mode = os.fstat(fd).st_mode
            except OSError:      # the listing's own fd, closed by now
                continue
            if stat.S_ISSOCK(mode) or stat.S_ISFIFO(mode):
                os.dup2(null, fd, inheritable=False)
    finally:
        os.close(null)


def close_fds_except(keep: Iterable[int]) -> None:
    """In a child just forked: close every inherited fd but stdio and ``keep``.

    A process forked from a server (the daemon) inherits every fd of it: client connections, the
    write ends of other processes' pipes. A shim or an exec that keeps such a copy keeps that pipe
    open, and the process reading it never sees its end of input.
    """
    keep = {0, 1, 2, *keep}
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass
