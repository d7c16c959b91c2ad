"""Layer tars: a directory written as a reproducible tar, and a tar applied safely.

An image is a stack of layers.  Each layer is a tar of what changed on top of
the layers below it (OCI image-spec layer.md).  Adding or changing a file is
easy to record: the tar holds the new file.  Deleting one is not, since a tar
cannot hold "nothing here", so the spec uses *whiteouts*, empty marker files:

    etc/.wh.motd        "etc/motd existed below; hide it"
    tmp/.wh..wh..opq    "tmp is opaque: hide everything the lower layers put
                         in tmp" (the *opaque whiteout*)

On a running system overlayfs keeps the same facts in its own form
(kernel Documentation/filesystems/overlayfs.rst): a whiteout is a character
device with device number 0/0, an opaque directory has the xattr
``trusted.overlay.opaque=y`` (``user.overlay.opaque`` with ``userxattr``).
``write_layer_tar`` turns the overlay form into the tar form;
``apply_layer_tar`` turns it back, or applies it to a flattened tree.

Two promises are kept here:

* **Reproducible**: the same directory gives the same bytes, so the same
  DiffID, so the same image ID, run after run.  Entries are sorted, owners are
  numbers, mtimes are clamped to an epoch (``SOURCE_DATE_EPOCH``).
* **Safe**: a layer comes from strangers.  Applying one never writes outside
  ``dest``: names with ``..`` that climb out are refused, and symlinks inside
  the layer are followed as if ``dest`` were ``/`` (like a chroot), so
  ``evil -> /etc`` then ``evil/passwd`` writes ``dest/etc/passwd``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import tarfile
from pathlib import Path
from typing import BinaryIO, Iterator, NamedTuple

from .compression import CORRUPT, decompressed
from ..errors import InvalidArchive
from .tarsplit import Recorder
from .tarstream import BLOCK, TarStream, end_bytes, header_bytes

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
AUFS_META_PREFIX = ".wh..wh."  # aufs bookkeeping such as .wh..wh.plnk; docker skips it
WHITEOUT_MODES = ("apply", "overlay", "keep")
CHUNK = 1 << 20  # copy file data 1 MiB at a time: a layer never sits in memory
MAX_SYMLINKS = 40  # Linux's limit on symlinks followed in one lookup (path_resolution(7))
READ_ERRORS = (tarfile.TarError, *CORRUPT)


def _is_root() -> bool:
    """Whether we may chown, mknod and keep setuid bits (tests replace this to play a user)."""
    return os.geteuid() == 0


# -- writing ----------------------------------------------------------------

class _Entry(NamedTuple):
    """One entry to write: its tar name, the file on disk, its lstat, and the marker it stands for."""

    name: str
    path: Path
    st: os.stat_result
    marker: str | None  # "whiteout" or "opaque" when converted from the overlay form


def write_layer_tar(src: Path, out: BinaryIO, *, epoch: int | None = None,
                    owner: tuple[int, int] | None = None) -> None:
    """Write the directory `src` as a reproducible tar to `out` (a writable binary stream, may be unseekable).

    Order is docker's (Go's filepath.Walk): a directory, then its entries
    sorted by name in byte order; an opaque marker comes first in its
    directory.  Directory names end in "/" as docker writes them ("bin/").
    ``src`` itself is not an entry.  Sockets are skipped; xattrs are not kept.
    ``owner`` (uid, gid) replaces every file's owner: a tree laid out by an
    unprivileged user still makes an image whose files belong to root.
    """
    _write_entries(_walk(Path(src)), out, epoch, owner)


def write_tree_tar(src: Path, out: BinaryIO, name: str) -> None:
    """Write `src` itself, named `name` in the tar, and (a directory) everything below it, as ``docker cp``
    sends a path: "etc/", "etc/passwd", ...; a symlink is written as itself, never followed."""
    src = Path(src)
    top = _Entry(name, src, os.lstat(src), None)
    entries = [top] if not stat.S_ISDIR(top.st.st_mode) else [top, *_walk(src, name.rstrip("/") + "/")]
    _write_entries(entries, out, None, None)


def _write_entries(entries, out: BinaryIO, epoch: int | None, owner: tuple[int, int] | None) -> None:
    first_names: dict[tuple[int, int], str] = {}
    offset = 0
    for entry in entries:
        info = _header(entry, epoch, first_names)
        if owner is not None:
            info.uid, info.gid = owner
        # PAX, so long or non-ASCII names need no GNU extension: a pax header
        # comes only when a field does not fit the ustar header
        block = header_bytes(info)
        out.write(block)
        offset += len(block)
        if info.isreg() and info.size:
            _copy_file(entry.path, info.size, out)
            offset += info.size + -info.size % BLOCK
            out.write(bytes(-info.size % BLOCK))
    out.write(end_bytes(offset))


def _copy_file(path: Path, size: int, out: BinaryIO) -> None:
    """Exactly ``size`` bytes of the file at ``path`` (its size when it was listed) into ``out``."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        left = size
        while left:
            chunk = os.read(fd, min(left, CHUNK))
            if not chunk:
                raise OSError(f"{path} shrank while it was being written into a layer")
            out.write(chunk)
            left -= len(chunk)
    finally:
        os.close(fd)


def _walk(directory: Path, prefix: str = "") -> Iterator[_Entry]:
    """Yield every entry below `directory`: each directory, then its opaque marker, then its contents."""
    for entry in _children(directory, prefix):
        yield entry
        if entry.marker is None and stat.S_ISDIR(entry.st.st_mode):
            if has_opaque_xattr(entry.path) and not os.path.lexists(entry.path / OPAQUE_MARKER):
                yield _Entry(f"{entry.name}/{OPAQUE_MARKER}", entry.path, entry.st, "opaque")
            yield from _walk(entry.path, entry.name + "/")


def _children(directory: Path, prefix: str) -> list[_Entry]:
    """The entries of one directory in tar order, overlay whiteouts renamed to `.wh.NAME`."""
    found = []
    for name in os.listdir(directory):
        path = directory / name
        st = os.lstat(path)
        if stat.S_ISSOCK(st.st_mode):
            continue  # a tar cannot hold a socket; docker skips them too
        if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:  # overlayfs.rst "whiteouts": char device 0/0
            found.append(_Entry(prefix + WHITEOUT_PREFIX + name, path, st, "whiteout"))
        else:
            found.append(_Entry(prefix + name, path, st, None))
    # Sort by the name in the tar, so a tree that keeps whiteouts as .wh. files
    # and one that keeps them as devices give the same bytes.
    return sorted(found, key=lambda e: (e.name.rpartition("/")[2] != OPAQUE_MARKER, os.fsencode(e.name)))


def has_opaque_xattr(path: Path) -> bool:
    """Whether overlayfs marks this directory opaque (trusted.*, or user.* with userxattr)."""
    for prefix in ("trusted", "user"):
        try:
            if os.getxattr(path, f"{prefix}.overlay.opaque", follow_symlinks=False) == b"y":
                return True
        except OSError:  # no such xattr, or a file system without xattrs
            pass
    return False


def _header(entry: _Entry, epoch: int | None, first_names: dict) -> tarfile.TarInfo:
    """The tar header of one entry: numeric owners only, whole-second mtime clamped to `epoch`."""
    st, key = entry.st, (entry.st.st_dev, entry.st.st_ino)
    linked = not stat.S_ISDIR(st.st_mode) and st.st_nlink > 1
    info = tarfile.TarInfo(entry.name)  # uname and gname stay "": owners are numbers
    info.uid, info.gid = st.st_uid, st.st_gid
    mtime = st.st_mtime_ns // 1_000_000_000  # an int: a float mtime would need a pax header
    info.mtime = mtime if epoch is None else min(mtime, epoch)
    info.mode = stat.S_IMODE(st.st_mode)
    if entry.marker == "whiteout":
        info.mode = 0o600  # as docker's overlay converter writes it (pkg/archive archive_linux.go)
    elif entry.marker == "opaque":
        info.mode &= 0o777  # the directory's permissions, as docker does
    elif linked and key in first_names:  # the first name in tar order holds the data
        info.type, info.linkname = tarfile.LNKTYPE, first_names[key]
    else:
        if linked:
            first_names[key] = entry.name
        _set_type(info, entry.path, st)
    return info


def _set_type(info: tarfile.TarInfo, path: Path, st: os.stat_result) -> None:
    """Fill in the type-specific fields: size, link target or device numbers."""
    mode = st.st_mode
    if stat.S_ISREG(mode):
        info.size = st.st_size
    elif stat.S_ISDIR(mode):
        info.type = tarfile.DIRTYPE  # tarfile writes the name with a trailing "/"
    elif stat.S_ISLNK(mode):
        info.type, info.linkname = tarfile.SYMTYPE, os.readlink(path)  # stored, never followed
    elif stat.S_ISFIFO(mode):
        info.type = tarfile.FIFOTYPE
    else:
        info.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
        info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)


# -- reading ----------------------------------------------------------------

@contextlib.contextmanager
def _reading() -> Iterator[None]:
    """Turn what a damaged tar or compressed stream raises into one InvalidArchive line."""
    try:
        yield
    except READ_ERRORS as err:
        raise _corrupt(err) from None


def _corrupt(err: BaseException) -> InvalidArchive:
    return InvalidArchive(f"layer is truncated or corrupt: {str(err) or type(err).__name__}")


def _members(stream: BinaryIO, split: Recorder | None = None) -> Iterator[tuple[TarStream, tarfile.TarInfo]]:
    """Yield (tar, member) for each entry of a layer read as a stream (plain, gzip, bz2 or xz).

    A tar-split recorder, if given, learns every byte of the tar on the way.
    """
    with _reading():
        tar = TarStream(decompressed(stream), split)
    while True:
        try:
            member = tar.next()
        except READ_ERRORS as err:
            raise _corrupt(err) from None
        if member is None:
            return
        yield tar, member


def _clean(name: str) -> list[str]:
    """The components of a tar name made relative ("/etc", "./etc" -> etc); a ".." that climbs out is kept."""
    parts: list[str] = []
    for part in name.split("/"):
        if part == ".." and parts and parts[-1] != "..":
            parts.pop()
        elif part not in ("", "."):
            parts.append(part)
    return parts


def _entry_parts(name: str, what: str = "entry") -> list[str]:
    """The components of a tar name inside dest; refuse one that escapes with ".."."""
    parts = _clean(name)
    if "\0" in name or (parts and parts[0] == ".."):
        raise InvalidArchive(f'layer {what} "{name}" points outside the layer root; refusing the layer')
    return parts


def _kind(member: tarfile.TarInfo, base: str) -> str:
    """What an entry is: file/dir/symlink/hardlink/whiteout/opaque/device/fifo (or other)."""
    if base == OPAQUE_MARKER:
        return "opaque"
    if base.startswith(WHITEOUT_PREFIX):
        return "whiteout"
    return _type_kind(member)


KINDS = {tarfile.REGTYPE: "file", tarfile.AREGTYPE: "file", tarfile.CONTTYPE: "file",
         tarfile.LNKTYPE: "hardlink", tarfile.SYMTYPE: "symlink", tarfile.DIRTYPE: "dir",
         tarfile.FIFOTYPE: "fifo", tarfile.CHRTYPE: "device", tarfile.BLKTYPE: "device"}


def _type_kind(member: tarfile.TarInfo) -> str:
    """What the entry's tar type makes it, whatever its name; "other" for a type minidock does not create."""
    return KINDS.get(member.type, "other")


def list_layer_tar(stream: BinaryIO) -> list[tuple[str, str, int]]:
    """(path, kind, size) of each entry, kind one of file/dir/symlink/hardlink/whiteout/opaque/device/fifo."""
    rows = []
    for _, member in _members(stream):
        parts = _clean(member.name)  # shown, not refused: listing a hostile layer is how to study it
        kind = _kind(member, parts[-1] if parts else "")
        rows.append(("/".join(parts) or ".", kind, member.size if kind == "file" else 0))
    return rows


# -- applying ---------------------------------------------------------------

def apply_layer_tar(stream: BinaryIO, dest: Path, *, whiteouts: str = "apply",
                    xattr_prefix: str = "trusted", split: Recorder | None = None, check=None) -> int:
    """Extract the layer tar in `stream` (plain, gzip, bz2 or xz; may be unseekable) into `dest`; return bytes written.

    ``whiteouts`` says what a marker becomes: "apply" deletes what it hides
    (a flattened tree), "overlay" writes overlayfs's form for a lowerdir
    (0/0 char device, ``<xattr_prefix>.overlay.opaque=y``), "keep" leaves the
    ``.wh.`` files as plain empty files.  Symlinks on the way to an entry are
    *contained*, not refused: followed as if dest were "/", as containerd's
    fs.RootPath and docker's chrooted unpack do.  Anything hostile that cannot
    be contained raises InvalidArchive; ``dest`` may then hold part of the layer.
    ``split``, a tar-split recorder, learns where each file's content went.
    ``check(member)``, if given, sees each entry before it is applied, and may refuse it.
    """
    if whiteouts not in WHITEOUT_MODES or xattr_prefix not in ("trusted", "user"):
        raise ValueError(f"whiteouts must be one of {WHITEOUT_MODES}, xattr_prefix trusted or user")
    extractor = _Extractor(Path(dest), whiteouts, xattr_prefix, split)
    extractor.dest.mkdir(parents=True, exist_ok=True)
    for tar, member in _members(stream, split):
        if check is not None:
            check(member)
        extractor.add(tar, member)
    extractor.finish()
    return extractor.size


def resolve_in_root(root: Path, parts: list[str]) -> list[str]:
    """Follow every symlink in `parts` as if `root` were "/" (a chroot): the result never leaves root.

    Only lstat and readlink look at the disk, so no symlink is ever followed by the
    kernel: an absolute target starts again from ``root``, a ".." stops there.
    ``docker cp`` resolves a path in a container the same way (moby's FollowSymlinkInScope).
    """
    resolved: list[str] = []
    pending = list(parts)
    hops = 0
    while pending:
        part = pending.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()  # ".." at the root stays at the root, as in a chroot
        elif part not in ("", "."):
            path = root.joinpath(*resolved, part)
            if not path.is_symlink():
                resolved.append(part)
                continue
            hops += 1
            if hops > MAX_SYMLINKS:
                raise InvalidArchive(f'too many levels of symbolic links at "{"/".join(parts)}"')
            target = os.readlink(path)
            if target.startswith("/"):
                resolved = []
            pending[:0] = target.split("/")
    return resolved


def _is_real_dir(root: Path, rel: tuple[str, ...]) -> bool:
    """Whether root/rel is a directory reached without passing through any symlink."""
    path = root
    for part in rel:
        path = path / part
        try:
            if not stat.S_ISDIR(os.lstat(path).st_mode):
                return False
        except (FileNotFoundError, NotADirectoryError):
            return False
    return True


def _make_room(path: Path | str, keep_dir: bool, split: Recorder | None = None) -> bool:
    """Remove what is at `path` for a new entry (True if anything was); a directory over a directory merges.

    With a tar-split recorder, what holds content it recorded is moved aside instead.
    """
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return False
    if stat.S_ISDIR(st.st_mode) and keep_dir:
        return False
    if split is not None and split.moving_aside(path):
        return True
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)  # a symlink here is removed, never written through
    return True


def _mode(member: tarfile.TarInfo) -> int:
    """The permission bits to apply; without root, setuid/setgid are dropped as GNU tar does for users."""
    return member.mode & (0o7777 if _is_root() else 0o1777)


class _Extractor:
    """The state of one extraction: where, how, and what this tar has written so far."""

    def __init__(self, dest: Path, whiteouts: str, xattr_prefix: str, split: Recorder | None):
        self.dest, self.whiteouts, self.xattr_prefix, self.split = dest, whiteouts, xattr_prefix, split
        self.size = 0
        self.written: set[tuple[str, ...]] = set()  # real paths this tar created
        self.ancestors: set[tuple[str, ...]] = set()  # directories above them
        self.marked: set[tuple[str, ...]] = set()  # whiteouts it made in overlay form
        # into an empty dest, only what this tar made can be in an entry's way: no need to look
        self.fresh = not os.path.exists(dest) or not os.listdir(dest)
        self.dirs: dict[tuple[str, ...], tarfile.TarInfo] = {}  # mode and mtime applied last
        # resolved parents by entry parent: a layer has thousands of files in a few
        # directories; valid until something is removed or a symlink is made
        self.parents_of: dict[tuple[str, ...], list[str]] = {}

    def add(self, tar: TarStream, member: tarfile.TarInfo) -> None:
        """Apply one entry of the tar."""
        parts = _entry_parts(member.name)
        kind = _kind(member, parts[-1] if parts else "")
        if kind in ("whiteout", "opaque") and self.whiteouts != "keep":
            return self._whiteout(parts, member, kind)
        self._check(member)
        if not parts:
            return self._root(member)
        rel = (*self._parents(parts, member.name), parts[-1])
        path = os.path.join(self.dest, *rel)  # a str: pathlib costs more than the syscalls here
        target = self._link_target(member) if member.islnk() else None
        in_the_way = not self.fresh or rel in self.written or rel in self.ancestors or rel in self.marked
        if in_the_way and _make_room(path, keep_dir=member.isdir(), split=self.split) or member.issym():
            self.parents_of.clear()
        self._create(tar, member, path, target)
        self.written.add(rel)
        self.ancestors.update(rel[:i] for i in range(len(rel)))
        if member.isdir():
            self._chown(path, member)
            self.dirs[rel] = member
        elif not member.islnk() and not member.isreg():  # a hard link shares its target's inode;
            self._set_metadata(path, member)                # a regular file was done by _create

    def _check(self, member: tarfile.TarInfo) -> None:
        """Refuse entries we must not or cannot create, before touching the disk."""
        kind = _type_kind(member)  # by type, not name: a .wh. file kept in "keep" mode is checked too
        if kind == "device" and not _is_root():
            raise InvalidArchive(f'layer entry "{member.name}" is a device node; creating it needs root')
        if kind == "symlink" and (not member.linkname or "\0" in member.linkname):
            raise InvalidArchive(f'layer entry "{member.name}" has an empty or invalid link target')
        if kind == "other":
            raise InvalidArchive(f'layer entry "{member.name}" has unsupported tar type {member.type!r}')

    def _root(self, member: tarfile.TarInfo) -> None:
        """An entry naming the layer root itself ("./"): only a directory may, and it merges."""
        if not member.isdir():
            raise InvalidArchive(f'layer entry "{member.name}" would replace the layer root')
        self._chown(self.dest, member)
        self.dirs[()] = member

    def _parents(self, parts: list[str], name: str) -> list[str]:
        """Resolve the entry's parent inside dest and create missing directories (0755, as docker does)."""
        key = tuple(parts[:-1])
        if key in self.parents_of:
            return self.parents_of[key]
        parent = resolve_in_root(self.dest, parts[:-1])
        for i in range(len(parent)):
            path = self.dest.joinpath(*parent[: i + 1])
            if not os.path.lexists(path):
                os.mkdir(path, 0o755)
            elif not stat.S_ISDIR(os.lstat(path).st_mode):
                raise InvalidArchive(f'layer entry "{name}" needs "{"/".join(parent[: i + 1])}" to be a directory')
        self.parents_of[key] = parent
        return parent

    def _link_target(self, member: tarfile.TarInfo) -> Path:
        """Where a hard link points: inside dest, its parent resolved like any entry's."""
        parts = _entry_parts(member.linkname, what=f'entry "{member.name}": hardlink target')
        if not parts:
            raise InvalidArchive(f'layer entry "{member.name}" is a hardlink to the layer root')
        return self.dest.joinpath(*resolve_in_root(self.dest, parts[:-1]), parts[-1])

    def _create(self, tar: TarStream, member: tarfile.TarInfo, path: str, target: Path | None) -> None:
        """Create the file, directory, link, fifo or device node at `path` (nothing is there now)."""
        if member.isreg():
            # O_EXCL|O_NOFOLLOW: if anything, above all a symlink, appeared here, fail, never write through it
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            try:
                self.size += _copy(tar.extractfile(member, into=path, mode=member.mode), fd)
                self._set_fd_metadata(fd, member)  # through the fd: by path it is several times slower
            finally:
                os.close(fd)
        elif member.isdir():
            if not os.path.isdir(path):
                os.mkdir(path, 0o700)  # opened up in finish(), once its contents are in
        elif member.issym():
            os.symlink(member.linkname, path)  # stored as is: absolute targets are normal in images
            self.size += len(os.fsencode(member.linkname))   # Docker counts a symlink as its target's length
        elif member.islnk():
            if not os.path.lexists(target) or os.path.isdir(target) and not os.path.islink(target):
                raise InvalidArchive(f'layer entry "{member.name}": hardlink target '
                                     f'"{member.linkname}" is not a file in the layer')
            os.link(target, path, follow_symlinks=False)  # link(2): a symlink target is linked, not followed
        elif member.isfifo():
            os.mkfifo(path, 0o600)
        else:
            kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
            os.mknod(path, kind | 0o600, os.makedev(member.devmajor, member.devminor))

    def _chown(self, path: Path, member: tarfile.TarInfo) -> None:
        """Give the entry the tar's numeric owner; only root may.

        In a rootless user namespace only uid/gid 0 are mapped: chown(2) to
        any other ID fails with EINVAL, and the file stays the user's.
        """
        if _is_root():
            try:
                os.lchown(path, member.uid, member.gid)
            except OSError as e:
                if e.errno != errno.EINVAL:
                    raise

    def _set_fd_metadata(self, fd: int, member: tarfile.TarInfo) -> None:
        """Owner, mode, mtime of a file we hold open (fchown, fchmod, futimens)."""
        if _is_root() and (member.uid, member.gid) != (os.geteuid(), os.getegid()):
            try:
                os.fchown(fd, member.uid, member.gid)
            except OSError as e:
                if e.errno != errno.EINVAL:  # EINVAL: an ID a rootless user namespace cannot map
                    raise
        os.fchmod(fd, _mode(member))
        os.utime(fd, (member.mtime, member.mtime))

    def _set_metadata(self, path: Path, member: tarfile.TarInfo) -> None:
        """Owner, mode, then mtime: chown(2) clears setuid bits, so it goes first."""
        self._chown(path, member)
        if not member.issym():  # Linux has no lchmod; a symlink's mode means nothing
            os.chmod(path, _mode(member))
        os.utime(path, (member.mtime, member.mtime), follow_symlinks=False)

    def _whiteout(self, parts: list[str], member: tarfile.TarInfo, kind: str) -> None:
        """Apply `.wh.NAME` or `.wh..wh..opq` in the form chosen (layer.md "Whiteouts")."""
        self.parents_of.clear()  # it removes things
        if self.whiteouts == "apply":  # hiding nothing must not create the directories above it
            parent = tuple(resolve_in_root(self.dest, parts[:-1]))
        else:
            parent = tuple(self._parents(parts, member.name))
        if kind == "opaque":
            return self._opaque(parent)
        name = parts[-1].removeprefix(WHITEOUT_PREFIX)
        if parts[-1].startswith(AUFS_META_PREFIX):
            return  # aufs's own bookkeeping, which docker skips too
        if name in ("", ".", ".."):
            raise InvalidArchive(f'layer entry "{member.name}" is not a valid whiteout')
        rel = (*parent, name)
        if self.whiteouts == "apply":
            self._remove_lower(rel)
        elif rel not in self.written:  # a file of this same layer wins over its whiteout
            path = self.dest.joinpath(*rel)
            _make_room(path, keep_dir=False, split=self.split)
            os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(0, 0))  # overlayfs.rst: whiteout = char dev 0/0
            self._set_metadata(path, member)
            self.marked.add(rel)

    def _opaque(self, rel: tuple[str, ...]) -> None:
        """Hide what lower layers put in directory `rel`: delete it, or mark it for overlayfs."""
        path = self.dest.joinpath(*rel)
        if self.whiteouts == "overlay":
            os.setxattr(path, f"{self.xattr_prefix}.overlay.opaque", b"y", follow_symlinks=False)
        elif _is_real_dir(self.dest, rel):
            for child in os.listdir(path):
                self._remove_lower((*rel, child))

    def _remove_lower(self, rel: tuple[str, ...]) -> None:
        """Delete what lower layers left at `rel`, keeping what this tar wrote.

        layer.md: whiteouts "MUST only apply to resources in lower/parent
        layers", so the result is the same wherever the marker sits in the tar.
        """
        path = self.dest.joinpath(*rel)
        if rel not in self.written and rel not in self.ancestors:
            _make_room(path, keep_dir=False)
        elif _is_real_dir(self.dest, rel):
            for child in os.listdir(path):
                self._remove_lower((*rel, child))

    def finish(self) -> None:
        """Set directories' modes and mtimes last, deepest first, so later entries do not disturb them."""
        for rel, member in reversed(self.dirs.items()):
            if _is_real_dir(self.dest, rel):  # a later entry may have replaced it, even by a symlink
                path = self.dest.joinpath(*rel)
                os.chmod(path, _mode(member))
                os.utime(path, (member.mtime, member.mtime))


def _copy(src: TarStream, fd: int) -> int:
    """Stream a member's content into the open file ``fd`` a chunk at a time; return the number of bytes."""
    total = 0
    while True:
        try:
            chunk = src.read1(CHUNK)
        except READ_ERRORS as err:
            raise _corrupt(err) from None
        if not chunk:
            return total
        total += len(chunk)
        while chunk:
            chunk = chunk[os.write(fd, chunk):]
