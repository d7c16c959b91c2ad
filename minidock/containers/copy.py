"""``docker cp``: a path of a container as a tar, and a tar extracted into a container.

The Engine API has three calls for it (``/containers/{id}/archive``): HEAD stats
a path, GET sends it as a tar, PUT extracts a tar into a directory.  The docker
CLI builds ``docker cp`` from them, both ways.  Here is the engine's part:

* **Which file system.**  A running container's root is ``/proc/PID/root``
  (its overlay is mounted in its own mount namespace only).  A stopped one's
  is mounted for the call: in a child process with a mount namespace of its
  own, so the mount dies with the child, whatever happens.  A vfs container's
  root is its ``rootfs`` directory.
* **Paths resolve inside the container.**  The work is done by a child that
  ``chroot``s into that root (as Docker's chrootarchive does), so even a
  symlink the container swaps in at the last moment resolves inside it; and
  paths are resolved with ``images/layer.py``'s ``resolve_in_root``, which
  never lets the kernel follow a symlink.  Rootless, the child is root of a
  user namespace of its own, so it may mount and chroot too; chroot-emulated
  (no namespaces at all) that second guard is the only one.
* **A hostile tar changes nothing.**  It is extracted first into a fresh
  directory inside the destination (the same file system, so the last step is
  ``rename``), through the same safe extraction as an image layer, with
  ``docker cp``'s own rules on top (``_Guard``): no absolute or climbing
  names, no symlink whose relative target climbs out, nothing written through
  a symlink of the same tar, hard links only to files of the same tar.  Only
  when every entry is in, and no directory would replace a file or a file a
  directory where that was refused, are they moved into place.
"""

from __future__ import annotations

import contextlib
import json
import os
import posixpath
import shutil
import stat
import tarfile
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator

from ..errors import APIError, Conflict, InvalidArchive, MinidockError, NotFound

TEMP_PREFIX = ".minidock-cp-"
# Go's os.FileMode bits (io/fs), which the X-Docker-Container-Path-Stat header carries
GO_DIR = 1 << 31
GO_MODE = ((stat.S_ISDIR, GO_DIR), (stat.S_ISLNK, 1 << 27), (stat.S_ISBLK, 1 << 26),
           (stat.S_ISCHR, 1 << 26 | 1 << 21), (stat.S_ISFIFO, 1 << 25), (stat.S_ISSOCK, 1 << 24))
GO_SETUID, GO_SETGID, GO_STICKY = 1 << 23, 1 << 22, 1 << 20


class ReadOnly(APIError):
    """The container's root file system is read-only (``--read-only``): Docker answers 403."""


class NotADirectory(APIError):
    """A PUT's destination is a file (moby's ErrExtractPointNotDirectory, 400)."""


def go_mode(st_mode: int) -> int:
    """A Unix st_mode as Go's os.FileMode: the permission bits, and type bits of Go's own."""
    mode = stat.S_IMODE(st_mode) & 0o777
    mode |= next((bit for test, bit in GO_MODE if test(st_mode)), 0)
    for unix, go in ((stat.S_ISUID, GO_SETUID), (stat.S_ISGID, GO_SETGID), (stat.S_ISVTX, GO_STICKY)):
        if st_mode & unix:
            mode |= go
    return mode


def split_path(path: str) -> tuple[str, str]:
    """(directory, last element) of a path in the container, as moby's ResolvePath splits it.

    The path is made absolute and clean, but a trailing "/" or "/." is kept: "/etc/"
    means the directory a symlink "etc" points to, "/etc/." the directory's contents.
    """
    clean = posixpath.normpath("/" + path.lstrip("/"))
    if path.endswith("/.") or path == ".":
        clean = clean.rstrip("/") + "/."
    elif path.endswith("/") and clean != "/":
        clean += "/"
    directory, _, base = clean.rpartition("/")
    return directory, base


def in_root(root: str, path: str, follow_last: bool) -> list[str]:
    """The components of ``path`` in the container, every symlink on the way resolved inside ``root``,
    the last element too if ``follow_last`` (a path ending in "/" resolves its last element anyway)."""
    from ..images.layer import resolve_in_root
    directory, base = split_path(path)
    if follow_last:
        return resolve_in_root(Path(root), f"{directory}/{base}".split("/"))
    return [*resolve_in_root(Path(root), directory.split("/")), base]


def host_path(root: str, path: str, follow_last: bool) -> str:
    """Where ``path`` in the container is on this side of ``root`` (see ``in_root``)."""
    return os.path.join(root, *in_root(root, path, follow_last))


def path_stat(root: str, path: str, container: str) -> dict:
    """The X-Docker-Container-Path-Stat of ``path``: name, size, mode (Go's), mtime, linkTarget."""
    from ..display import rfc3339
    try:
        st = os.lstat(host_path(root, path, follow_last=False))
    except (FileNotFoundError, NotADirectoryError):
        raise NotFound(f"Could not find the file {path} in container {container}") from None
    link = ""
    if stat.S_ISLNK(st.st_mode):  # moby's StatPath: the link fully resolved, in the container's terms
        link = "/" + "/".join(in_root(root, path, follow_last=True))
    name = "." if split_path(path)[1] == "." else posixpath.basename(posixpath.normpath("/" + path)) or "/"
    return {"name": name, "size": st.st_size, "mode": go_mode(st.st_mode),
            "mtime": rfc3339(st.st_mtime_ns / 1e9), "linkTarget": link}


def write_archive(root: str, path: str, found: dict, out: BinaryIO) -> None:
    """``GET /containers/{id}/archive``: ``path`` (``found``: its stat) as a tar on ``out``, named by its
    last element; a directory asked for as "DIR/" or "DIR/." is followed if it is a symlink."""
    from ..images.layer import write_tree_tar
    source = host_path(root, path, follow_last=split_path(path)[1] in ("", "."))
    write_tree_tar(source, out, "." if found["name"] in ("/", ".") else found["name"])


class _Guard:
    """``docker cp``'s rules for the entries of a tar sent into a container (moby's pkg/archive Untar
    refuses the same: names outside the destination, symlinks and hard links that lead out of it)."""

    def __init__(self, rebase: tuple[str, str] | None = None, devices: bool = True):
        self.symlinks: set[str] = set()
        self.files: set[str] = set()
        self.dirs: set[str] = set()  # the directories the tar names (others are made on the way, 0755)
        self.rebase = rebase  # (first name in the tar, the name it gets): how docker cp renames what it copies
        self.devices = devices  # rootless, root of a user namespace: mknod(2) would fail (EPERM)

    def __call__(self, member: tarfile.TarInfo) -> None:
        name = member.name = self._renamed(member.name)
        if member.islnk():
            member.linkname = self._renamed(member.linkname)
        clean = posixpath.normpath(name) if name else "."
        if name.startswith("/"):
            raise InvalidArchive(f'archive entry "{name}" is an absolute path; refusing the archive')
        if clean == ".." or clean.startswith("../"):
            raise InvalidArchive(f'archive entry "{name}" is outside of the destination; refusing the archive')
        parts = clean.split("/")
        through = next(("/".join(parts[:i]) for i in range(1, len(parts)) if "/".join(parts[:i]) in self.symlinks),
                       None)
        if through is not None:
            raise InvalidArchive(f'archive entry "{name}" would be written through the symlink "{through}" '
                                 "of the same archive; refusing the archive")
        if (member.ischr() or member.isblk()) and not self.devices:
            raise InvalidArchive(f'archive entry "{name}" is a device node: creating one needs root, '
                                 "which this mode does not have; refusing the archive")
        if member.issym():
            target = posixpath.normpath(posixpath.join(posixpath.dirname(clean), member.linkname))
            if not member.linkname.startswith("/") and (target == ".." or target.startswith("../")):
                raise InvalidArchive(f'invalid symlink "{name}" -> "{member.linkname}": it leads out of the '
                                     "destination; refusing the archive")
            self.symlinks.add(clean)
        elif member.islnk():
            if posixpath.normpath(member.linkname.lstrip("/")) not in self.files:
                raise InvalidArchive(f'invalid hardlink "{name}" -> "{member.linkname}": not a file of this '
                                     "archive; refusing the archive")
        if member.isreg() or member.islnk():
            self.files.add(clean)
        elif member.isdir():
            self.dirs.add(clean)

    def _renamed(self, name: str) -> str:
        if self.rebase is None:
            return name
        old, new = self.rebase
        first, slash, rest = name.removeprefix("./").partition("/")
        return new + slash + rest if first == old else name


def extraction_point(root: str, path: str, container: str) -> str:
    """Where the directory ``path`` a PUT extracts into is, below ``root`` (a symlink at its end followed)."""
    dest = host_path(root, path, follow_last=True)
    try:
        st = os.lstat(dest)
    except (FileNotFoundError, NotADirectoryError):
        raise NotFound(f"Could not find the file {path} in container {container}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise NotADirectory("extraction point is not a directory")
    return dest


def extract_archive(root: str, dest: str, stream: BinaryIO, *, no_overwrite_dir_non_dir=False,
                    owner: tuple[int, int] | None = None, rebase: tuple[str, str] | None = None,
                    devices: bool = True) -> None:
    """``PUT /containers/{id}/archive``: extract a tar (plain, gzip, bzip2 or xz) into ``dest``, a directory
    below ``root`` (``extraction_point``).

    All of it or nothing: into a temporary directory beside the entries' places first.
    ``owner`` (uid, gid) replaces the tar's owners (``docker cp -a``: the container's user);
    ``rebase`` (old, new) renames the tar's top entry, as ``docker cp`` does when the copy gets a new name;
    ``devices``: whether device nodes may be made (not by the root of a user namespace).
    """
    from ..images.layer import apply_layer_tar
    temp = os.path.join(dest, TEMP_PREFIX + os.urandom(8).hex())
    os.mkdir(temp, 0o700)
    guard = _Guard(rebase, devices)
    try:
        apply_layer_tar(stream, temp, whiteouts="keep", check=guard)
        if owner is not None:
            for entry in [temp, *_below(temp)]:
                os.lchown(entry, *owner)
        if no_overwrite_dir_non_dir:
            _check_kinds(temp, dest, root)
        _merge(temp, dest, guard.dirs)
    finally:
        shutil.rmtree(temp, ignore_errors=True)


def _below(top: str) -> Iterator[str]:
    for parent, dirs, files in os.walk(top):
        yield from (os.path.join(parent, name) for name in dirs + files)


def _check_kinds(src: str, dest: str, root: str) -> None:
    """Refuse, before anything moves, to put a directory over a non-directory or the reverse
    (``noOverwriteDirNonDir``, which the docker CLI always asks for)."""
    for name in os.listdir(src):
        new, old = os.lstat(os.path.join(src, name)), _lstat(os.path.join(dest, name))
        if old is None:
            continue
        where = "/" + os.path.relpath(os.path.join(dest, name), root).removeprefix("./")
        if stat.S_ISDIR(old.st_mode) and not stat.S_ISDIR(new.st_mode):
            raise APIError(f'cannot overwrite directory "{where}" with non-directory "{where}"')
        if stat.S_ISDIR(new.st_mode) and not stat.S_ISDIR(old.st_mode):
            raise APIError(f'cannot overwrite non-directory "{where}" with directory "{where}"')
        if stat.S_ISDIR(new.st_mode):
            _check_kinds(os.path.join(src, name), os.path.join(dest, name), root)


def _merge(src: str, dest: str, listed: set[str], rel: str = "") -> None:
    """Move what ``src`` holds into ``dest``: a directory over a directory merges (taking the mode,
    owner and time of the tar's entry for it, if it has one, as Docker's untar does); anything else
    replaces what was there, a symlink included (never written through)."""
    for name in sorted(os.listdir(src)):
        new, there, path = os.path.join(src, name), os.path.join(dest, name), posixpath.join(rel, name)
        new_st, old_st = os.lstat(new), _lstat(there)
        if old_st is not None and stat.S_ISDIR(new_st.st_mode) and stat.S_ISDIR(old_st.st_mode):
            _merge(new, there, listed, path)
            if path in listed:
                os.lchown(there, new_st.st_uid, new_st.st_gid)
                os.chmod(there, stat.S_IMODE(new_st.st_mode))
                os.utime(there, ns=(new_st.st_atime_ns, new_st.st_mtime_ns))
            continue
        if old_st is not None and stat.S_ISDIR(old_st.st_mode):
            shutil.rmtree(there)
        elif old_st is not None and stat.S_ISDIR(new_st.st_mode):
            os.unlink(there)
        os.rename(new, there)  # rename(2) replaces a file or symlink atomically


def _lstat(path: str) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None


# -- inside the container's root: a child that chroots there --------------------------

def stat_path(c, cid: str, path: str, container: str) -> dict:
    """``HEAD /containers/{id}/archive``: the stat of ``path`` in the container (NotFound if none)."""
    child = _start(c, cid, lambda root, report, _: report(stat=path_stat(root, path, container)), writes=False)
    return child.finish(child.report())["stat"]


def get_archive(c, cid: str, path: str, container: str) -> tuple[dict, Iterator[bytes]]:
    """``GET /containers/{id}/archive``: the stat of ``path``, and its tar as it is written, chunk by chunk."""
    def job(root, report, tar_fd):
        found = path_stat(root, path, container)
        report(stat=found)
        with os.fdopen(tar_fd, "wb", 1 << 16) as out:
            write_archive(root, path, found, out)

    child = _start(c, cid, job, writes=False, tar="out")
    first = child.report()
    if "error" in first:
        child.finish(first)
    return first["stat"], _TarChunks(child)


class _TarChunks:
    """The tar a child writes, chunk by chunk; ``close`` (or the end) reaps the child.

    A reader that stops early -- a client gone, even before the first chunk -- must
    close it: the child then fails to write, and ends (with it the mount of a stopped
    container's file system)."""

    def __init__(self, child: "_Child"):
        self.child = child

    def __iter__(self) -> Iterator[bytes]:
        try:
            while self.child.tar is not None and (chunk := os.read(self.child.tar, 1 << 16)):
                yield chunk
        finally:
            self.close()

    def close(self) -> None:
        self.child.finish({})


def put_archive(c, cid: str, path: str, container: str, chunks: Iterable[bytes], *,
                no_overwrite_dir_non_dir: bool = False, copy_uid_gid: bool = False) -> None:
    """``PUT /containers/{id}/archive``: extract the tar that comes in ``chunks`` into the directory ``path``."""
    user, devices = c.config(cid)["User"], os.geteuid() == 0

    def job(root, report, tar_fd):
        owner = _user_ids(root, user) if copy_uid_gid and user else None
        with os.fdopen(tar_fd, "rb") as tar:
            extract_archive(root, extraction_point(root, path, container), tar,
                            no_overwrite_dir_non_dir=no_overwrite_dir_non_dir, owner=owner, devices=devices)
        report(done=True)

    child = _start(c, cid, job, writes=True, tar="in")
    try:
        for chunk in chunks:
            view = memoryview(chunk)
            while view:
                view = view[os.write(child.tar, view):]
    except BrokenPipeError:
        pass  # the child stopped reading: its report says why
    finally:
        os.close(child.tar)
        child.tar = None
        child.finish(child.report())


def _user_ids(root: str, user: str) -> tuple[int, int]:
    """``docker cp -a``: the container's user as (uid, gid), names looked up in the container's /etc."""
    from ..runtime.rootfs import setup_user
    uid, gid, _, _ = setup_user(user, Path(root) / "etc")
    return uid, gid


class _Child:
    """A child at work in the container's root: its PID, the JSON lines it reports, our end of its tar pipe."""

    def __init__(self, pid: int, reports: BinaryIO, tar: int | None):
        self.pid, self.reports, self.tar = pid, reports, tar

    def report(self) -> dict:
        line = self.reports.readline()
        return json.loads(line) if line else {"error": "the copying process ended without a word", "kind": ""}

    def finish(self, report: dict) -> dict:
        """Reap the child (once); raise the error ``report`` holds (as the engine's own class), or return it."""
        if self.tar is not None:
            os.close(self.tar)
            self.tar = None
        if not self.reports.closed:
            self.reports.close()
            os.waitpid(self.pid, 0)
        if "error" in report:
            kinds = {cls.__name__: cls for cls in (ReadOnly, NotADirectory, APIError, Conflict, InvalidArchive,
                                                   NotFound)}
            raise kinds.get(report["kind"], APIError)(report["error"])
        return report


def _start(c, cid: str, job, *, writes: bool, tar: str | None = None) -> _Child:
    """Fork a child that enters the container's root and runs ``job(root, report, tar_fd)``.

    ``tar``: "out" if the child writes a tar for us, "in" if it reads one from us, else None.
    The child reports JSON lines (``report(**fields)``, or the error that stopped it).
    Everything the child needs is imported first: after chroot there is no minidock to import.
    """
    import bz2, gzip, lzma, zlib  # noqa: F401,E401  (the child may decompress)
    from ..display import rfc3339
    rfc3339(0)  # its imports done now (datetime, decimal): the child formats times
    from ..images import compression, layer, tarstream  # noqa: F401
    from ..runtime import mode, overlay, rootfs, syscalls, userns  # noqa: F401
    config, state = c.config(cid), c.state(cid)
    if writes and config["ReadonlyRootfs"]:
        raise ReadOnly("container rootfs is marked read-only")
    # root: chroot as root; rootless: as root of a user namespace of our own; chroot-emulated (vfs): no chroot
    power = "root" if os.geteuid() == 0 else "userns" if mode.detect()[0] == "rootless" else None
    mount = None
    if config["Driver"] == "vfs":
        root = str(c.dir(cid) / "rootfs")
    elif state["Status"] == "running":
        root = f"/proc/{state['Pid']}/root"
    else:
        root = str(c.dir(cid) / "merged")
        mount = ([c.store.layer_dir(chain) / "diff" for chain in config["Layers"]] + [c.dir(cid) / "init"],
                 c.dir(cid) / "upper", c.dir(cid) / "work")
    ours = theirs = None
    if tar is not None:
        read_end, write_end = os.pipe2(os.O_CLOEXEC)
        ours, theirs = (read_end, write_end) if tar == "out" else (write_end, read_end)
    rep_r, rep_w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:
        _child(lambda root, report: job(root, report, theirs), root, (mount, power), rep_w, {rep_w, theirs}, writes)
    os.close(rep_w)
    if theirs is not None:
        os.close(theirs)
    return _Child(pid, os.fdopen(rep_r, "rb"), ours)


def _child(job, root: str, how: tuple, rep_w: int, keep: set, writes: bool) -> None:
    """The child's life: its own mount namespace (where a stopped container's overlay is mounted, and
    ends with it), rootless its own user namespace too, chroot, the job."""
    from ..runtime import overlay, syscalls, userns
    mount, power = how
    status = 1
    try:
        syscalls.close_fds_except(keep)
        # /proc/PID/root is opened before we enter a user namespace of our own: the kernel
        # checks, as we open it, that we may look into that process (ptrace access mode)
        where = os.open(root, os.O_PATH | os.O_DIRECTORY) if mount is None else None
        if power == "userns":  # root in there: may mount overlay (userxattr) and chroot
            userns.enter_own(syscalls.CLONE_NEWNS)
        elif mount is not None:
            syscalls.unshare(syscalls.CLONE_NEWNS)
        if mount is not None:
            syscalls.mount(None, "/", None, syscalls.MS_REC | syscalls.MS_PRIVATE)
            overlay.mount_overlay(*mount, root, readonly=not writes, userxattr=power == "userns")
            where = os.open(root, os.O_PATH | os.O_DIRECTORY)
        if power is not None:  # as Docker's chrootarchive: every lookup stays inside
            os.fchdir(where)
            os.chroot(".")
            os.chdir("/")
            root = "/"
        job(root, lambda **fields: child_report(rep_w, **fields))
        status = 0
    except BaseException as e:  # noqa: BLE001  (told to the parent, which raises it as one line)
        child_report(rep_w, error=e)
    finally:
        os._exit(status)


def child_report(fd: int, error: BaseException | None = None, **fields) -> None:
    """One JSON line to the parent: ``fields``, or an error by its class and message."""
    if error is not None:
        kind = type(error).__name__
        if isinstance(error, MinidockError):
            message = str(error)
        elif isinstance(error, OSError):
            message = f"{error.strerror or error}" + (f": {error.filename}" if error.filename else "")
        else:
            message = f"{type(error).__name__}: {error}"
        fields = {"error": message, "kind": kind}
    with contextlib.suppress(OSError):
        os.write(fd, json.dumps(fields).encode() + b"\n")
