"""Union FS: a stack of read-only layers and one writable layer, seen as one tree.

An image is a stack of layers, each a directory of what changed (layer.py).  A
container needs them all at once, as one root file system, plus a place to
write.  Docker's answer is a *union file system*: the image's layers are
stacked read-only, an empty *writable layer* (the container's ``upperdir``)
goes on top, and the kernel shows the union.  Docker used AUFS first; its
``overlay2`` driver now uses the kernel's overlayfs
(Documentation/filesystems/overlayfs.rst).  The rules are the same:

* **Lookup is top down.**  A name is looked up in the upper layer, then in
  each layer below; the first layer that has it wins and hides (*shadows*) the
  copies below.  Only directories *merge*: if three layers have ``/etc``,
  ``ls /etc`` lists the names from all three (owner and mode from the top one).
* **Copy-up.**  Lower layers never change.  The first write to a file of a
  lower layer copies it up, with the directories above it, their modes and
  owners, into the upper layer; the write lands there.  That is why the first
  write to a big file is slow, and why ``docker diff`` only reads the upper layer.
* **Whiteouts.**  Deleting a lower file cannot delete it, so the upper layer
  records a *whiteout*: "this name is gone", hiding it in every layer below.
* **Opaque directories.**  After ``rm -rf /opt/a; mkdir /opt/a`` the new,
  empty ``/opt/a`` must not show the old contents: it is marked *opaque*, and
  the merge stops there.

A layer dir or an upperdir may hold the markers in either of two forms; this
module reads both, everywhere::

    overlay form (the kernel's; root)          tar form (layer.md; unprivileged)
    NAME is a char device 0/0                  an empty file .wh.NAME beside it
    DIR has xattr trusted.overlay.opaque=y     an empty file DIR/.wh..wh..opq
      (user.overlay.opaque with userxattr)

``UnionView`` computes the union in pure Python, with no mount and no root,
and tells where each path comes from (its *provenance*).  ``mounted`` asks
the kernel for the same union; the tests check that both agree.  ``changes``
is ``docker diff``; ``flatten`` is the vfs driver's copy and ``export``'s tree.

Not modelled, and never turned on by minidock: overlayfs's redirect_dir,
metacopy and index features, and its xattr-marked whiteout files.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterator, NamedTuple

from ..images.layer import AUFS_META_PREFIX, OPAQUE_MARKER, WHITEOUT_PREFIX
from ..images.layer import has_opaque_xattr as _has_opaque_xattr

MAX_SYMLINKS = 40  # Linux's limit on symlinks followed in one lookup (path_resolution(7))


def _is_root() -> bool:
    """Whether we may mknod whiteouts and chown copies (tests replace this to play a user)."""
    return os.geteuid() == 0


@dataclass(frozen=True)
class Provenance:
    """Where one visible path comes from."""

    path: str                      # "/etc/passwd"
    layer: int | None              # the layer that supplies it (0 = bottom); None: the upper layer
    kind: str                      # "file" | "dir" | "symlink" | "other"
    shadows: tuple[int, ...] = ()  # lower layers that also have this path, hidden under it
    merged: tuple[int, ...] = ()   # for a directory: the lower layers whose entries show through it too

    @property
    def in_upper(self) -> bool:
        return self.layer is None


class _Branch(NamedTuple):
    """One directory of the stack: a layer's diff dir (index 0 = bottom) or the upper dir (index None)."""

    index: int | None
    root: Path


@dataclass
class _Found:
    """What a lookup found at `rel`: the visible entry, or why nothing is visible."""

    rel: tuple[str, ...]
    hits: list[tuple[_Branch, os.stat_result]] = field(default_factory=list)  # top first; several: a merged dir
    # what hides lower layers' copies here: ("whiteout"|"opaque", layer), inherited by what is below
    why: tuple[str, int | None] | None = None

    @property
    def is_dir(self) -> bool:
        return bool(self.hits) and stat.S_ISDIR(self.hits[0][1].st_mode)

    @property
    def real(self) -> Path:
        return self.hits[0][0].root.joinpath(*self.rel)


class UnionView:
    """A read-only-layers-plus-upper view computed in pure Python (no mount, works unprivileged).

    ``layers`` are diff dirs, bottom first (the order of the image config's
    ``rootfs.diff_ids``); ``upper`` is a container's upperdir, or None.  Paths
    name entries of the tree, as ``lstat`` does: ``lookup``, ``listdir`` and
    ``remove`` do not follow symlinks on the way; ``open`` and ``write`` do,
    inside the view (``/bin/sh -> /bin/busybox`` never reaches the host's).
    """

    def __init__(self, layers: list[Path], upper: Path | None = None):
        self.layers = [Path(p) for p in layers]
        self.upper = None if upper is None else Path(upper)
        stack = [_Branch(i, p) for i, p in reversed(list(enumerate(self.layers)))]
        self._branches = ([_Branch(None, self.upper)] if self.upper else []) + stack

    def __repr__(self) -> str:
        return f"UnionView({len(self.layers)} layers, upper={self.upper})"

    # -- reading ------------------------------------------------------------

    def lookup(self, path: str) -> Provenance | None:
        """Where the visible `path` comes from; None if absent or whited out."""
        found = self._find(_parts(path))
        return self._provenance(found) if found.hits else None

    def hidden_by(self, path: str) -> tuple[str, int | None] | None:
        """("whiteout"|"opaque", layer) when a whiteout or an opaque directory hides a lower layer's `path`."""
        rel = _parts(path)
        found = self._find(rel)
        if found.hits or not any(_present(b.root, rel) for b in self._branches):
            return None
        return found.why

    def listdir(self, path: str = "/") -> list[str]:
        """The names in a directory, merged from every layer that makes it up, sorted."""
        found = self._find(_parts(path))
        if not found.hits:
            raise FileNotFoundError(errno.ENOENT, "No such directory in the view", path)
        if not found.is_dir:
            raise NotADirectoryError(errno.ENOTDIR, "Not a directory", path)
        return [name for name in self._names(found) if self._child(found, name).hits]

    def walk(self) -> Iterator[Provenance]:
        """Every visible path but "/" itself: sorted, depth first (a directory, then what is in it)."""
        for found in self._walk(self._root()):
            yield self._provenance(found)

    def open(self, path: str) -> BinaryIO:
        """Open the visible file for reading, following symlinks inside the view."""
        found = self._find(self._follow(path))
        if not found.hits:
            raise FileNotFoundError(errno.ENOENT, "No such file in the view", path)
        if found.is_dir:
            raise IsADirectoryError(errno.EISDIR, "Is a directory", path)
        return os.fdopen(os.open(found.real, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC), "rb")

    def real_path(self, path: str) -> Path | None:
        """Where on disk the visible copy lives (a merged directory: its topmost part)."""
        found = self._find(_parts(path))
        return found.real if found.hits else None

    # -- the lookup rules ---------------------------------------------------

    def _root(self) -> _Found:
        return _Found((), [(b, os.lstat(b.root)) for b in self._branches])

    def _find(self, rel: tuple[str, ...]) -> _Found:
        found = self._root()
        for name in rel:
            found = self._child(found, name)
        return found

    def _child(self, parent: _Found, name: str) -> _Found:
        """Look `name` up top down in the layers that make up `parent` (overlayfs's ovl_lookup)."""
        found = _Found((*parent.rel, name), why=parent.why)
        if not parent.is_dir or name.startswith(WHITEOUT_PREFIX):
            return found  # markers are never entries
        for branch, _ in parent.hits:
            where = os.path.join(branch.root, *parent.rel)  # str, not Path: this runs for every entry
            path = os.path.join(where, name)
            st = _lstat(path)
            marked = os.path.lexists(os.path.join(where, WHITEOUT_PREFIX + name))  # the tar form's whiteout
            if st is None or _is_whiteout(st):
                if st is None and not marked:
                    continue
                found.why = ("whiteout", branch.index)
                break
            if found.hits and not stat.S_ISDIR(st.st_mode):
                break  # a non-directory below a directory is hidden: the merge stops
            found.hits.append((branch, st))
            if not stat.S_ISDIR(st.st_mode):
                break  # "non-directories are always opaque" (overlayfs.rst)
            if marked or _is_opaque(path):  # a whiteout beside its own name hides only lower layers
                found.why = ("whiteout" if marked else "opaque", branch.index)
                break
        return found

    def _names(self, found: _Found) -> list[str]:
        """Every name in the directories that make up `found`, markers left out (readdir merges them)."""
        names: set[str] = set()
        for branch, _ in found.hits:
            names.update(n for n in os.listdir(os.path.join(branch.root, *found.rel)) if not n.startswith(WHITEOUT_PREFIX))
        return sorted(names)

    def _walk(self, parent: _Found) -> Iterator[_Found]:
        for name in self._names(parent):
            found = self._child(parent, name)
            if found.hits:
                yield found
                if found.is_dir:
                    yield from self._walk(found)

    def _provenance(self, found: _Found) -> Provenance:
        (top, st), rest = found.hits[0], found.hits[1:]
        merged = tuple(sorted(b.index for b, _ in rest))
        below = self._branches[self._branches.index(top) + 1:]
        shadows = tuple(sorted(b.index for b in below if b.index not in merged and _present(b.root, found.rel)))
        return Provenance(_text(found.rel), top.index, _kind(st.st_mode), shadows, merged)

    def _follow(self, path: str) -> tuple[str, ...]:
        """`path` with every symlink on it followed inside the view, as a process in the container sees it."""
        done: list[str] = []
        pending, hops = path.split("/"), 0
        while pending:
            name = pending.pop(0)
            if name == "..":
                done = done[:-1]  # ".." at the root stays at the root
            elif name not in ("", "."):
                found = self._find((*done, name))
                if not (found.hits and stat.S_ISLNK(found.hits[0][1].st_mode)):
                    done.append(name)
                    continue
                hops += 1
                if hops > MAX_SYMLINKS:
                    raise OSError(errno.ELOOP, "Too many levels of symbolic links", path)
                target = os.readlink(found.real)
                if target.startswith("/"):
                    done = []
                pending[:0] = target.split("/")
        return tuple(done)

    # -- copy-up (what the kernel does on each write) ------------------------

    def write(self, path: str, data: bytes) -> None:
        """Write `data` as a whole new content of the file: copy it up (with its parent dirs), then write."""
        rel = self._follow(path)
        found = self._find(rel)
        if not rel or found.is_dir:
            raise IsADirectoryError(errno.EISDIR, "Is a directory", path)
        if found.hits and not stat.S_ISREG(found.hits[0][1].st_mode):
            raise OSError(errno.EINVAL, "only regular files can be written here", path)
        dest = self._upper_path(rel, path)
        if not found.hits:
            _clear_whiteout(dest)  # writing a deleted name brings it back
        elif found.hits[0][0].index is not None:
            shutil.copyfile(found.real, dest, follow_symlinks=False)  # copy-up: data first, then metadata
            _copy_metadata(dest, found.hits[0][1])
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        with open(fd, "wb") as out:
            out.write(data)

    def remove(self, path: str) -> None:
        """``rm -rf path``: delete the upper copy, and whiteout the name if a lower layer has it."""
        rel = _parts(path)
        found = self._find(rel)
        if not rel or not found.hits:
            raise FileNotFoundError(errno.ENOENT, "No such file in the view", path)
        dest = self._upper_path(rel, path)
        if found.hits[0][0].index is None and found.is_dir:
            shutil.rmtree(dest)
        elif found.hits[0][0].index is None:
            os.unlink(dest)
        if UnionView(self.layers)._find(rel).hits:
            _make_whiteout(dest)

    def _upper_path(self, rel: tuple[str, ...], path: str) -> Path:
        """Where `rel` goes in the upper layer, once every directory above it is copied up."""
        if self.upper is None:
            raise ValueError("this view has no upper layer to write to: UnionView(layers, upper=...)")
        for i in range(1, len(rel)):
            found = self._find(rel[:i])
            if not found.is_dir:
                raise FileNotFoundError(errno.ENOENT, "a directory above it is missing in the view", path)
            if found.hits[0][0].index is not None:
                dest = self._branches[0].root.joinpath(*rel[:i])
                os.mkdir(dest, 0o700)
                _copy_metadata(dest, found.hits[0][1])
        return self._branches[0].root.joinpath(*rel)

    # -- the vfs driver --------------------------------------------------------

    def flatten(self, dest: Path) -> None:
        """Materialise the merged tree in an empty `dest`: data, links, modes, owners (as root), mtimes.

        Hard links are kept where two names of one inode are both visible
        (they always come from one layer); sockets are skipped, as docker does.
        """
        dest = Path(dest)
        dest.mkdir(parents=True, exist_ok=True)
        dirs, first_names = [], {}
        for found in self._walk(self._root()):
            st, out = found.hits[0][1], dest.joinpath(*found.rel)
            key = (st.st_dev, st.st_ino)
            if stat.S_ISDIR(st.st_mode):
                os.mkdir(out, 0o700)
                dirs.append((out, st))
            elif key in first_names:
                os.link(first_names[key], out)  # two names of one inode in one layer stay one file
            elif _copy_entry(found.real, out, st):
                _copy_metadata(out, st)
                if st.st_nlink > 1:
                    first_names[key] = out
        for out, st in reversed(dirs):
            _copy_metadata(out, st)  # last and deepest first: filling a directory changes its mtime


def changes(view: UnionView) -> list[tuple[str, str]]:
    """``docker diff``: ("A"|"C"|"D", path) for what the upper layer adds, changes or deletes, sorted by path.

    As in Docker's overlay2 driver (pkg/archive OverlayChanges) only the upper
    layer is read, each entry judged against the layers below: a whiteout is D
    (if it hides something), an entry the layers below also have is C (even a
    file copied up unchanged), a new one A, and every directory above a change
    is C.  A directory only copied up (same owner and mode) counts through what
    changed inside it.  A directory that no longer merges with the one below
    (opaque, after ``rm -rf d; mkdir d``) is C and each entry it hides is D, as
    Docker's naive diff of whole trees reports it; its overlay-only diff says
    "D d" instead and lists nothing of what it hides.
    """
    if view.upper is None:
        return []
    lower, upper = UnionView(view.layers), view._branches[0].root
    found: dict[str, str] = {}
    for rel, st in _tree(upper):
        name = rel[-1]
        if name.startswith(AUFS_META_PREFIX):
            continue  # the opaque marker (judged with its directory) or aufs bookkeeping
        if name.startswith(WHITEOUT_PREFIX) or _is_whiteout(st):
            gone = (*rel[:-1], name.removeprefix(WHITEOUT_PREFIX))
            if lower._find(gone).hits:
                _note(found, gone, "D")
            continue
        below = lower._find(rel)
        if not below.hits:
            _note(found, rel, "A")
        elif not (stat.S_ISDIR(st.st_mode) and below.is_dir):
            _note(found, rel, "C")
        elif len(view._find(rel).hits) == 1:  # opaque, or inside an opaque one: it replaces the lower dir
            _note(found, rel, "C")
            kept = set(os.listdir(upper.joinpath(*rel)))
            for child in lower.listdir(_text(rel)):
                if child not in kept:
                    _note(found, (*rel, child), "D")
        elif _owner_mode(st) != _owner_mode(below.hits[0][1]):
            _note(found, rel, "C")
    return [(kind, path) for path, kind in sorted(found.items())]


def naive_changes(lower: UnionView, tree: Path) -> list[tuple[str, str]]:
    """``docker diff`` for the vfs driver: a whole copied tree against the image it was copied from.

    Docker's naive diff (pkg/archive ChangesDirs) when no driver keeps an
    upper layer: an entry the image lacks is A; one whose type, owner, mode,
    size, mtime or link target differ is C (a directory: owner and mode only);
    an image entry the tree lacks is D (its contents are not listed again).
    """
    found: dict[str, str] = {}
    for rel, st in _tree(tree):
        below = lower._find(rel)
        if not below.hits:
            _note(found, rel, "A")
        elif _differs(st, below.hits[0][1], tree.joinpath(*rel), below.real):
            _note(found, rel, "C")
    for entry in lower._walk(lower._root()):
        rel = entry.rel
        if not os.path.lexists(tree.joinpath(*rel)) and os.path.lexists(tree.joinpath(*rel[:-1])):
            _note(found, rel, "D")
    return [(kind, path) for path, kind in sorted(found.items())]


def _differs(st: os.stat_result, old: os.stat_result, path: Path, old_path: Path) -> bool:
    if stat.S_IFMT(st.st_mode) != stat.S_IFMT(old.st_mode) or _owner_mode(st) != _owner_mode(old):
        return True
    if stat.S_ISDIR(st.st_mode):
        return False
    if stat.S_ISLNK(st.st_mode):
        return os.readlink(path) != os.readlink(old_path)
    return (st.st_size, st.st_mtime_ns // 1_000_000_000) != (old.st_size, old.st_mtime_ns // 1_000_000_000)


def layer_of_changes(changes: list[tuple[str, str]], tree: Path, dest: Path) -> None:
    """Lay out in ``dest`` the layer a naive diff describes: what was added or changed, ``.wh.`` for what went."""
    dest.mkdir(parents=True, exist_ok=True)
    for kind, path in changes:
        rel = _parts(path)
        out = dest.joinpath(*rel)
        out.parent.mkdir(parents=True, exist_ok=True)
        if kind == "D":
            (out.parent / (WHITEOUT_PREFIX + rel[-1])).touch()
            continue
        st = os.lstat(tree.joinpath(*rel))
        if stat.S_ISDIR(st.st_mode):
            out.mkdir(exist_ok=True)
        elif not _copy_entry(tree.joinpath(*rel), out, st):
            continue
    for kind, path in sorted(changes, key=lambda c: -len(_parts(c[1]))):  # deepest first: mtimes stay
        if kind != "D":
            _copy_metadata(dest.joinpath(*_parts(path)), os.lstat(tree.joinpath(*_parts(path))))


def _note(found: dict[str, str], rel: tuple[str, ...], kind: str) -> None:
    """Record one change, and C for each directory above it (a change inside a directory changes it)."""
    for i in range(1, len(rel)):
        found.setdefault(_text(rel[:i]), "C")
    found[_text(rel)] = kind


# -- one directory of the stack ------------------------------------------------

def _parts(path: str) -> tuple[str, ...]:
    """The components of a path in the view: "/etc//./passwd" -> ("etc", "passwd"); ".." never climbs above "/"."""
    parts: list[str] = []
    for part in path.split("/"):
        if part == "..":
            parts = parts[:-1]
        elif part not in ("", "."):
            parts.append(part)
    return tuple(parts)


def _text(rel: tuple[str, ...]) -> str:
    return "/" + "/".join(rel)


def _lstat(path: str | Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None


def _is_whiteout(st: os.stat_result) -> bool:
    """overlayfs.rst: "A whiteout is created as a character device with 0/0 device number"."""
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _is_opaque(path: str | Path) -> bool:
    """Whether a directory hides the same directory in lower layers: the overlay xattr or the tar marker."""
    return _has_opaque_xattr(path) or os.path.lexists(os.path.join(path, OPAQUE_MARKER))


def _present(root: Path, rel: tuple[str, ...]) -> bool:
    """Whether this one layer has an entry at `rel`, reached through its own directories, never a symlink."""
    path, st = os.fspath(root), None
    for depth, name in enumerate(rel, 1):
        st = _lstat(path := os.path.join(path, name))
        if st is None or (depth < len(rel) and not stat.S_ISDIR(st.st_mode)):
            return False
    return st is None or not _is_whiteout(st)


def _kind(mode: int) -> str:
    return "dir" if stat.S_ISDIR(mode) else "file" if stat.S_ISREG(mode) else (
        "symlink" if stat.S_ISLNK(mode) else "other")


def _owner_mode(st: os.stat_result) -> tuple[int, int, int]:
    """What makes a directory changed for docker diff: not its size or mtime (moby#9874)."""
    return st.st_mode, st.st_uid, st.st_gid


def _tree(root: Path, rel: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], os.stat_result]]:
    """Every entry below `root`, a directory before its contents, names sorted, symlinks not followed."""
    for name in sorted(os.listdir(root.joinpath(*rel))):
        st = os.lstat(root.joinpath(*rel, name))
        yield (*rel, name), st
        if stat.S_ISDIR(st.st_mode):
            yield from _tree(root, (*rel, name))


def _copy_entry(src: Path, out: Path, st: os.stat_result) -> bool:
    """Make a copy of one non-directory at `out`; False for a socket, which holds no content to copy."""
    if stat.S_ISREG(st.st_mode):
        shutil.copyfile(src, out, follow_symlinks=False)
    elif stat.S_ISLNK(st.st_mode):
        os.symlink(os.readlink(src), out)
    elif stat.S_ISFIFO(st.st_mode):
        os.mkfifo(out)
    elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        os.mknod(out, st.st_mode, st.st_rdev)  # device nodes need root
    else:
        return False
    return True


def _copy_metadata(path: Path, st: os.stat_result) -> None:
    """Owner, mode, then mtime, as copy-up does: chown(2) clears setuid bits, so it goes first."""
    if _is_root():
        os.lchown(path, st.st_uid, st.st_gid)
    if not stat.S_ISLNK(st.st_mode):  # Linux has no lchmod; a symlink's mode means nothing
        os.chmod(path, stat.S_IMODE(st.st_mode))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def _make_whiteout(path: Path) -> None:
    """Record "deleted" at `path`: overlay's char device 0/0 as root, else a tar-form ``.wh.NAME`` file."""
    if _is_root():
        os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(0, 0))
    else:
        path.with_name(WHITEOUT_PREFIX + path.name).touch(0o600)


def _clear_whiteout(path: Path) -> None:
    """Remove the whiteout of this name, in either form, so that a new file can take its place."""
    st = _lstat(path)
    if st is not None and _is_whiteout(st):
        os.unlink(path)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path.with_name(WHITEOUT_PREFIX + path.name))
