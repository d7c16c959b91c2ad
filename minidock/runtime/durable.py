"""Durable files: what the store lists survives a power loss whole, or not at all.

rename(2) alone makes a write *atomic* for the processes that read it: they see
the old file or the new one.  It does not make it *durable*: after a power
loss, the new name may be on the disk with none of its data yet (zero bytes)
or part of it, because the data still sat in the page cache when the rename
reached the journal.  (ext4 flushes the data first only when the rename
replaces an existing file, its ``auto_da_alloc`` heuristic, which a mount
may turn off; a new blob or layer gets no such help.)  The rule (rename(2), fsync(2), and ext4's documentation) is, in order:

1. write the data to a temp file in the same file system,
2. ``fsync`` it: its data and size are on the disk,
3. ``rename`` it over the destination,
4. ``fsync`` the destination's directory: the rename itself is on the disk.

``write`` does that for bytes, ``rename`` does 3 and 4 for a file or
directory whose contents the caller made durable first, with ``fsync_file``
or, for a layer's thousands of files, one ``syncfs``.

The reading side: what a crash may still leave (a record written without the
rule, a disk that lied) must not crash a list or show a torn object.
``read_json`` raises ``Damaged`` for an empty or torn record, and ``warn``
says once, in one line on stderr, what a list leaves out for that.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from pathlib import Path

from ..errors import Damaged


def write(dest: Path | str, data: bytes, temp_dir: Path | str | None = None) -> None:
    """Replace ``dest`` with ``data``: after any crash it holds all of it, or its old content.

    The temp file goes in ``temp_dir`` (the store's ``tmp/``) or beside
    ``dest``; it must be on the same file system, or rename(2) fails (EXDEV).
    """
    dest = Path(dest)
    fd, tmp = tempfile.mkstemp(dir=temp_dir or dest.parent, prefix=f"{os.getpid()}-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        rename(tmp, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def rename(src: Path | str, dest: Path | str) -> None:
    """Move ``src`` (a file or directory whose contents are durable already) to ``dest``, durably."""
    os.replace(src, dest)
    fsync_dir(Path(dest).parent)


def fsync_file(path: Path | str) -> None:
    """fsync(2) a file written without it (one of a new directory's, before its rename)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path | str) -> None:
    """fsync(2) a directory: the names added to it, or renamed into it, are on the disk."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def syncfs(path: Path | str) -> None:
    """syncfs(2): every dirty file of the file system that holds ``path`` goes to the disk.

    One system call instead of an fsync per file: a layer directory may hold
    thousands of files, and on ext4 each fsync waits for a journal commit of
    its own (about 2 ms on the course machine's disk), while syncfs waits for
    one.  The price is that it also writes out other programs' dirty data on
    that file system.  Python has only ``os.sync`` (every file system), hence
    ctypes.
    """
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if _libc().syncfs(fd) != 0:
            import ctypes
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), str(path))
    finally:
        os.close(fd)


def read_json(path: Path | str, what: str = ""):
    """A JSON record of the store; ``Damaged`` (one line, naming it) if it is empty or torn."""
    data = Path(path).read_bytes()
    try:
        return json.loads(data)
    except ValueError:   # json's errors and a torn UTF-8 sequence alike
        how = "empty" if not data else "torn"
        raise Damaged(f"{what} is damaged ({how}: {path}); run `minidock system check --repair`" if what
                      else f"{path} is damaged ({how}); run `minidock system check --repair`") from None


_WARNED: set[str] = set()


def warn(error: Exception, left_out: str) -> None:
    """Say once per process, on stderr, that a list leaves ``left_out`` out because of ``error``."""
    line = f"minidock: warning: {error} ({left_out} left out)"
    if line not in _WARNED:
        _WARNED.add(line)
        print(line, file=sys.stderr, flush=True)


def _libc():
    """The C library, loaded once (only a layer's commit needs it: ctypes is imported then)."""
    global _LIBC
    if _LIBC is None:
        import ctypes
        _LIBC = ctypes.CDLL(None, use_errno=True)
    return _LIBC


_LIBC = None
