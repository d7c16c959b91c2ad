"""The kernel's overlay file system: the mount options, and mounting one for a while.

``unionfs.py`` computes a union view in Python; this module asks the kernel
for the real thing.  overlayfs.rst is the reference: lowerdirs stacked with the
*first* one on top, an upperdir for writes, a workdir on the same file system
for its atomic copy-ups.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
from collections.abc import Iterator
from pathlib import Path

from ..errors import MinidockError
from .syscalls import MNT_DETACH, MS_RDONLY, mount, umount2

class MountError(MinidockError, OSError):
    """The kernel refused to mount or unmount; ``errno`` is its error number."""

    def __str__(self) -> str:
        return self.strerror


_HINTS = {
    errno.EPERM: "mounting needs root (CAP_SYS_ADMIN), or a user namespace and the userxattr option",
    errno.ENODEV: "this kernel has no overlay file system (modprobe overlay)",
    errno.ENOENT: "a lowerdir, the upperdir, the workdir or the target does not exist",
    errno.EINVAL: "overlayfs refused the options (dmesg says why; workdir must be on upperdir's file system)",
    errno.EBUSY: "the upperdir or workdir is in use by another overlay mount",
}


def _explained(e: OSError, what: str) -> MountError:
    """A MountError naming the kernel's errno and what to do about it."""
    hint = f"; {_HINTS[e.errno]}" if e.errno in _HINTS else ""
    return MountError(e.errno, f"{what}: {errno.errorcode.get(e.errno, e.errno)} ({os.strerror(e.errno)}){hint}")


def overlay_options(lowerdirs: list[Path], upper: Path, work: Path, *, userxattr: bool = False) -> str:
    """The mount data string, from `lowerdirs` given bottom first like everywhere in minidock.

    overlayfs.rst: "The specified lower directories will be stacked beginning
    from the rightmost one", so the *first* lowerdir is the topmost: the list
    is reversed here.  ``,`` and ``:`` in a path are escaped with ``\\``.
    """
    lower = ":".join(_escape(d) for d in reversed(lowerdirs))
    options = f"lowerdir={lower},upperdir={_escape(upper)},workdir={_escape(work)}"
    return options + (",userxattr" if userxattr else "")


def _escape(path: Path | str) -> str:
    return re.sub(r"([\\,:])", r"\\\1", os.fspath(path))


def mount_overlay(lowerdirs: list[Path], upper: Path, work: Path, target: Path, *,
                  userxattr: bool = False, readonly: bool = False, links: Path | None = None) -> None:
    """Mount overlay at ``target`` (lowerdirs bottom first).

    mount(2) copies its data from the caller in one page (4096 bytes here) and
    silently cuts what is longer, so a deep image's lowerdir list may not fit.
    Docker gives each layer a short symlink (overlay2/l/ABC...) and mounts from
    inside that directory; with ``links`` (a directory for such symlinks) this
    does the same when the absolute paths are too long, which lets docker's
    127 layers fit.  Without it, it chdir()s to the layers' common parent and
    passes relative paths.
    """
    target = os.path.abspath(target)
    dirs = [os.path.abspath(d) for d in (*lowerdirs, upper, work)]
    data, base = overlay_options(dirs[:-2], dirs[-2], dirs[-1], userxattr=userxattr), None
    if not _fits(data) and links is not None:
        base = os.path.abspath(links)
        data = overlay_options([short_link(links, d) for d in dirs[:-2]], dirs[-2], dirs[-1], userxattr=userxattr)
    elif not _fits(data):
        base = os.path.commonpath(dirs)
        short = [os.path.relpath(d, base) for d in dirs]
        data = overlay_options(short[:-2], short[-2], short[-1], userxattr=userxattr)
        if not _fits(data):
            raise MountError(errno.E2BIG, f"the overlay options for {len(lowerdirs)} layers take {len(data)} bytes, "
                             f"more than mount(2)'s one page ({os.sysconf('SC_PAGE_SIZE')}); give the layers shorter "
                             "paths (Docker links each to a short name in overlay2/l/)")
    # The kernel resolves relative lowerdirs against the caller's cwd.  The cwd is the whole
    # process's, so other threads see it change for a moment; Docker mounts from a child (mountFrom).
    with contextlib.chdir(base) if base else contextlib.nullcontext():
        try:
            mount("overlay", target, "overlay", MS_RDONLY if readonly else 0, data)
        except OSError as e:
            raise _explained(e, f"mount overlay on {target}") from None


def short_link(links: Path, target: str) -> str:
    """The name of a symlink in ``links`` to the directory ``target``, made if missing (24 hex digits).

    The name is a digest of the target's path, so every mount of the same
    layer finds the same link, and two containers making it at once agree.
    """
    import hashlib  # here, not at the top: only lowerdirs too long for one page need it
    name = hashlib.sha256(os.fsencode(target)).hexdigest()[:24]
    path = os.path.join(links, name)
    if not (os.path.islink(path) and os.readlink(path) == target):
        os.makedirs(links, exist_ok=True)
        temp = f"{path}.{os.getpid()}.tmp"
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        os.symlink(target, temp)
        os.replace(temp, path)
    return name


@contextlib.contextmanager
def mounted(lowerdirs: list[Path], upper: Path, work: Path, target: Path, *,
            userxattr: bool = False, readonly: bool = False) -> Iterator[Path]:
    """Mount overlay at `target` for the duration of the ``with`` block (root); always unmounts."""
    mount_overlay(lowerdirs, upper, work, target, userxattr=userxattr, readonly=readonly)
    try:
        yield Path(os.path.abspath(target))
    finally:
        _unmount(os.path.abspath(target))


def _fits(data: str) -> bool:
    return len(os.fsencode(data)) < os.sysconf("SC_PAGE_SIZE")  # with its NUL


def _unmount(target: str) -> None:
    """umount2(2); if busy (a file still open in it), detach it and let the kernel finish when it is closed."""
    try:
        umount2(target)
    except OSError as e:
        if e.errno == errno.EBUSY:
            umount2(target, MNT_DETACH)
        elif e.errno != errno.EINVAL:  # EINVAL: no longer a mount point, someone unmounted it already
            raise _explained(e, f"umount {target}") from None


def overlay_supported() -> bool:
    """Whether this process could mount overlay: the kernel lists it, and we are root or may use a user namespace.

    Unprivileged overlay mounts work inside a user namespace since Linux 5.11,
    with the userxattr option (runtime/mode.py decides which mode runs).
    """
    try:
        listed = "overlay" in Path("/proc/filesystems").read_text().split()
        userns = int(Path("/proc/sys/user/max_user_namespaces").read_text()) > 0
    except (OSError, ValueError):
        return False
    release = tuple(int(n) for n in re.findall(r"\d+", os.uname().release)[:2])
    return listed and (os.geteuid() == 0 or (userns and release >= (5, 11)))
