"""Tar-split: keep a layer once, as files, and still give back its exact tar.

A layer's DiffID is the sha256 of its tar, so ``save`` and ``push`` must send
those very bytes.  Keeping the tar beside the extracted files would store every
layer twice.  containers/storage (podman's store) solves this with tar-split
(github.com/vbatts/tar-split); minidock does the same in miniature: while a
layer is extracted, it records every byte of the tar that is *not* file
content (headers, padding, the end-of-archive blocks) and, in their place,
where each file's content now lies in the layer directory.  Reading the record
and those files back in order gives the tar byte for byte; the reader checks
the sha256 against the DiffID as it goes, so a layer dir changed behind
minidock's back is noticed, never silently sent.

The record (``tar-split.gz`` in the layer dir) is a gzip stream of::

    b"R" u32 n  <n bytes>          raw tar bytes
    b"F" u16 n  u64 size  <path>   ``size`` bytes of content from the file at ``path``
    b"E" u64 total                 the end; ``total`` bytes of tar in all

A file a later entry of the same tar replaces (tars may name a path twice) is
moved aside into ``stash/`` instead of deleted; the record's ``moved`` map,
kept in ``layer.json``, says where its content went.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import zlib
from pathlib import Path
from typing import BinaryIO, Iterator

from ..errors import DigestMismatch, InvalidArchive
from .tarstream import ChunkReader

RECORD = "tar-split.gz"
STASH = "stash"
MAGIC = b"minidock-tar-split/1\n"
FLUSH = 1 << 20  # bytes gathered before they are written out
CHUNK = 1 << 20


class Recorder:
    """What a tar reader tells while a layer is extracted, written down as a tar-split record.

    The reader (``tarstream.TarStream``) hands over every byte that is not
    file content (``raw``), asks before each file's content whether it may
    be left out (``content``), and says when the tar ended (``end``).  The
    extractor calls ``moving_aside`` before it removes anything this tar wrote.
    """

    def __init__(self, root: Path, out: BinaryIO, inline_unreadable: bool = False):
        self.root, self.out = root, out
        self.inline_unreadable = inline_unreadable  # rootless: the user outside may not read mode-0 files
        self.prefix = len(str(root)) + 1  # of every path below root, as a str
        self.batch = bytearray(MAGIC)  # records not yet handed to the compressor
        self.pending = bytearray()     # raw bytes not yet in a record
        self.refs = 0                  # file records written so far
        self.live: dict[str, int] = {}   # layer-dir path -> the file record whose content it holds
        self.moved: dict[str, str] = {}  # file record number -> where its content went
        self.diff_id, self.tar_size = "", 0

    def raw(self, data: bytes | memoryview) -> None:
        """Bytes of the tar that are not a file's content on disk."""
        self.pending += data
        if len(self.pending) > FLUSH:
            self._flush()

    def content(self, size: int, path: str, mode: int) -> bool:
        """The next ``size`` bytes become the file ``path``: point at it (True) or keep them (False)."""
        if size == 0 or (self.inline_unreadable and not mode & 0o400):
            return False  # nothing to point at, or a file its owner cannot read back
        self._flush()
        rel = path[self.prefix:]
        encoded = os.fsencode(rel)
        self.batch += b"F" + struct.pack(">HQ", len(encoded), size) + encoded
        self.live[rel] = self.refs
        self.refs += 1
        return True

    def moving_aside(self, path: Path | str) -> Path | None:
        """Before ``path`` is removed: if it holds recorded content, move it to the stash and say where."""
        rel = str(path)[self.prefix:]
        inside = [r for r in self.live if r == rel or r.startswith(rel + "/")]
        if not inside:
            return None
        stash = self.root / STASH / str(len(self.moved))
        stash.parent.mkdir(exist_ok=True)
        os.rename(path, stash)
        for r in inside:
            self.moved[str(self.live.pop(r))] = str(stash.relative_to(self.root)) + r[len(rel):]
        return stash

    def end(self, diff_id: str, size: int) -> None:
        """The tar ended: it had ``size`` bytes hashing to ``diff_id``."""
        self._flush()
        self.batch += b"E" + struct.pack(">Q", size)
        self.out.write(self.batch)
        self.batch.clear()
        self.diff_id, self.tar_size = diff_id, size

    def _flush(self) -> None:
        """Turn the pending raw bytes into a record; hand a big enough batch to the compressor."""
        if self.pending:
            self.batch += b"R" + struct.pack(">I", len(self.pending)) + self.pending
            self.pending.clear()
        if len(self.batch) > FLUSH:
            self.out.write(self.batch)
            self.batch.clear()


def open_record(root: Path) -> BinaryIO:
    """A new record file in the layer dir ``root``; gzip level 1: headers are mostly zeros."""
    return gzip.open(root / RECORD, "wb", compresslevel=1)


class LayerTar(ChunkReader):
    """The exact tar of a layer, read back from its record and its files.

    At the end, the bytes must hash to ``diff_id`` and number ``size``;
    otherwise reading raises DigestMismatch: the layer dir was changed.
    """

    def __init__(self, root: Path, diff_id: str, size: int, moved: dict[str, str] | None = None):
        self.root, self.diff_id, self.size = root, diff_id, size
        self.moved = moved or {}
        super().__init__(self._generate())

    def _generate(self) -> Iterator[bytes]:
        digest, total, refs = hashlib.sha256(), 0, 0
        base = str(self.root)
        with _RecordReader(self.root / RECORD) as rec:
            if rec.take(len(MAGIC)) != MAGIC:
                raise InvalidArchive(f"{self.root / RECORD} is not a tar-split record")
            while (kind := rec.take(1)) != b"E":
                if kind == b"R":
                    chunks = [rec.take(struct.unpack(">I", rec.take(4))[0])]
                elif kind == b"F":
                    n, size = struct.unpack(">HQ", rec.take(10))
                    rel = self.moved.get(str(refs), os.fsdecode(rec.take(n)))
                    chunks = _content(os.path.join(base, rel), size)
                    refs += 1
                else:
                    raise InvalidArchive(f"{self.root / RECORD} is damaged")
                for chunk in chunks:
                    digest.update(chunk)
                    total += len(chunk)
                    yield chunk
        if total != self.size or "sha256:" + digest.hexdigest() != self.diff_id:
            raise DigestMismatch(f"layer {self.diff_id} no longer matches its files in {self.root}: "
                                 "the store was changed behind minidock's back")


def _content(path: str, size: int) -> Iterator[bytes]:
    """``size`` bytes from the file at ``path``, which must have exactly that many."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as e:
        raise DigestMismatch(f"layer file {path} cannot be read ({e.strerror}): "
                             "the store was changed behind minidock's back") from None
    try:
        left = size
        while left:
            chunk = os.read(fd, min(left, CHUNK))
            if not chunk:
                break
            left -= len(chunk)
            yield chunk
        if left or os.read(fd, 1):
            raise DigestMismatch(f"layer file {path} changed size: the store was changed behind minidock's back")
    finally:
        os.close(fd)


class _RecordReader:
    """A tar-split record read a block at a time, handed out in exact pieces."""

    def __init__(self, path: Path):
        self.file = gzip.open(path, "rb")
        self.buf, self.at = b"", 0

    def __enter__(self) -> "_RecordReader":
        return self

    def __exit__(self, *_) -> None:
        self.file.close()

    def take(self, n: int) -> bytes:
        while len(self.buf) - self.at < n:
            try:
                more = self.file.read(max(CHUNK, n))
            except (EOFError, OSError, zlib.error):   # gzip's words for a stream cut short or damaged
                more = b""
            if not more:
                raise InvalidArchive("tar-split record is truncated")
            self.buf, self.at = self.buf[self.at:] + more, 0
        data = self.buf[self.at:self.at + n]
        self.at += n
        return data
