"""Compressed streams: layers and archives may come as gzip, bzip2 or xz.

Docker sniffs the first bytes rather than trusting a file name
(pkg/archive DetectCompression); so does minidock.  zstd is not in Python's
standard library, and content compressed with it is refused with a clear error.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import shutil
import zlib
from typing import BinaryIO

from ..errors import InvalidArchive

OPENERS = {  # magic bytes -> how to open (RFC 1952, bzip2, xz file format)
    b"\x1f\x8b": lambda f: gzip.GzipFile(fileobj=f),
    b"BZh": bz2.BZ2File,
    b"\xfd7zXZ\x00": lzma.LZMAFile,
}
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
CORRUPT = (OSError, EOFError, zlib.error, lzma.LZMAError)


def is_compressed(head: bytes) -> bool:
    """Whether the first bytes of a stream are a compression format minidock reads."""
    if head.startswith(ZSTD_MAGIC):
        raise InvalidArchive("zstd-compressed content is not supported (Python has no zstd): decompress it first")
    return any(head.startswith(magic) for magic in OPENERS)


def decompressed(stream: BinaryIO) -> BinaryIO:
    """A reader of the uncompressed bytes of ``stream`` (which may be unseekable)."""
    head = stream.read(6)
    whole = prefixed(head, stream)
    for magic, opener in OPENERS.items():
        if is_compressed(head) and head.startswith(magic):
            return opener(whole)
    return whole


def copy_decompressed(stream: BinaryIO, out: BinaryIO) -> None:
    """Copy the uncompressed bytes of ``stream`` to ``out``."""
    try:
        shutil.copyfileobj(decompressed(stream), out, 1 << 20)
    except CORRUPT as e:
        raise InvalidArchive(f"input is truncated or corrupt: {e}") from None


def prefixed(head: bytes, rest: BinaryIO) -> BinaryIO:
    """A reader of ``head`` (bytes already read from a stream), then the rest of the stream."""
    return io.BufferedReader(_Prefixed(head, rest), 1 << 20)


class _Prefixed(io.RawIOBase):
    """Bytes already read from a stream, then the rest of the stream."""

    def __init__(self, head: bytes, rest: BinaryIO):
        self.head, self.rest = head, rest

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        data = self.head[: len(buf)] if self.head else self.rest.read(len(buf))
        self.head = self.head[len(data):]
        buf[: len(data)] = data
        return len(data)
