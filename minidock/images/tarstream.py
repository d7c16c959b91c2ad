"""Reading a tar as it streams by: headers parsed by hand, content handed out in big chunks.

Python's tarfile reads an unseekable stream through a 10 KiB buffer that it
copies on every read, and parses each header field by field; for a layer of
20,000 small files that was half of ``load``'s time.  This reader knows what
image layers and archives use, as Go's archive/tar (docker's) reads it:

* POSIX.1-1988 ustar headers (``prefix`` + ``name`` for long names), numbers
  in octal or GNU base-256, the checksum checked;
* POSIX.1-2001 pax extended headers (``x``: path, linkpath, size, uid, gid,
  mtime, uname, gname); global ones (``g``) are skipped, as docker does;
* GNU long names and link targets (``L``, ``K``);
* the end: the first zero block, after which everything left is read too, so
  a cut or corrupt compressed stream is noticed.

Sparse files (GNU ``S`` or pax ``GNU.sparse``) are refused: no image tool
writes them into layers.  Members come out as ``tarfile.TarInfo`` objects, so
code that applies a layer reads as it would with tarfile.

The reader sees every byte of the tar once, so it also hashes them (the
layer's DiffID) and, given a tar-split recorder, tells it which bytes are
headers and padding and which are the content of which file.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from typing import BinaryIO, Iterable

BLOCK = 512
READ = 1 << 20
ZERO_BLOCK = bytes(BLOCK)
CONTENT_TYPES = (tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.CONTTYPE)
HEADER_ONLY = (tarfile.LNKTYPE, tarfile.SYMTYPE, tarfile.CHRTYPE, tarfile.BLKTYPE,
               tarfile.DIRTYPE, tarfile.FIFOTYPE)
PAX_FIELDS = {"path": "name", "linkpath": "linkname", "uname": "uname", "gname": "gname"}
PAX_NUMBERS = {"size": "size", "uid": "uid", "gid": "gid"}
POSIX_MAGIC = b"ustar\x00"
MAX_EXTENSION = 1 << 20  # pax records or a long name: Go's archive/tar caps them at 1 MiB too


class TarStream:
    """One pass over a tar read from ``stream`` (plain, unseekable is fine)."""

    def __init__(self, stream: BinaryIO, split=None):
        self.stream, self.split = stream, split
        self.hash = hashlib.sha256()
        self.size = 0           # bytes read from the stream so far
        self.buf = b""          # bytes read, not yet used: buf[at:]
        self.at = 0
        self.left = 0           # content bytes of the current member not yet handed out
        self.pad = 0            # then this many bytes of padding
        self.keep_content = True  # whether the split record keeps the content bytes themselves
        self.ended = False

    # -- bytes ------------------------------------------------------------

    def _more(self) -> bool:
        data = self.stream.read(READ)
        if not data:
            return False
        self.hash.update(data)
        self.size += len(data)
        self.buf = self.buf[self.at:] + data if self.at < len(self.buf) else data
        self.at = 0
        return True

    def _take(self, n: int) -> bytes:
        """Exactly ``n`` bytes (raw, not content), or ReadError at the end of the data."""
        while len(self.buf) - self.at < n:
            if not self._more():
                raise tarfile.ReadError("unexpected end of data")
        data = self.buf[self.at:self.at + n]
        self.at += n
        if self.split is not None:
            self.split.raw(data)
        return data

    def _some(self, n: int) -> memoryview:
        """Up to ``n`` bytes (at least one), without copying; ReadError at the end of the data."""
        if self.at == len(self.buf) and not self._more():
            raise tarfile.ReadError("unexpected end of data")
        view = memoryview(self.buf)[self.at:self.at + n]
        self.at += len(view)
        return view

    # -- members ----------------------------------------------------------

    def next(self) -> tarfile.TarInfo | None:
        """The next member's header, or None after the end-of-archive block."""
        self._skip_content()
        if self.ended:
            return None
        extended: dict[str, str] = {}
        while True:
            if len(self.buf) - self.at < BLOCK and not self._more() and self.at == len(self.buf):
                raise tarfile.ReadError("it stops before the end-of-archive blocks")
            block = self._take(BLOCK)
            if block == ZERO_BLOCK:
                self._end()
                return None
            info = _header(block)
            if info.type == tarfile.XHDTYPE:
                extended.update(_pax(self._take_padded(info.size)))
            elif info.type == tarfile.XGLTYPE:
                self._take_padded(info.size)  # global pax headers: skipped, as docker does
            elif info.type in (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK):
                value = self._take_padded(info.size).split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
                extended["path" if info.type == tarfile.GNUTYPE_LONGNAME else "linkpath"] = value
            else:
                break
        _apply(info, extended)
        if info.type in HEADER_ONLY:
            info.size = 0
        self.left, self.pad = info.size, -info.size % BLOCK
        self.keep_content = True
        return info

    def extractfile(self, member: tarfile.TarInfo, into: str | None = None, mode: int = 0o644) -> "TarStream":
        """Read the member's content through ``read``; ``into``: the file it is copied to, for tar-split."""
        if into is not None and self.split is not None:
            self.keep_content = not self.split.content(member.size, into, mode)
        return self

    def read(self, n: int = -1) -> memoryview | bytes:
        """``n`` bytes of the current member's content (all of it if -1), fewer only at its end."""
        want = self.left if n < 0 else min(n, self.left)
        chunk = self.read1(want)
        if len(chunk) == want:
            return chunk
        parts = [bytes(chunk)]
        while (got := sum(map(len, parts))) < want:
            parts.append(bytes(self.read1(want - got)))
        return b"".join(parts)

    def read1(self, n: int) -> memoryview | bytes:
        """Up to ``n`` bytes of the current member's content, without copying; b"" at its end."""
        if self.left == 0 or n == 0:
            return b""
        chunk = self._some(min(n, self.left))
        self.left -= len(chunk)
        if self.split is not None and self.keep_content:
            self.split.raw(chunk)
        return chunk

    def _take_padded(self, size: int) -> bytes:
        """An extension header's content (pax records, a GNU long name) and its padding."""
        if size > MAX_EXTENSION:
            raise tarfile.ReadError(f"an extended header of {size} bytes is larger than any real one")
        data = self._take(size)
        self._take(-size % BLOCK)
        return data

    def _skip_content(self) -> None:
        while self.left:
            self.read1(READ)
        if self.pad:
            self._take(self.pad)
            self.pad = 0

    def _end(self) -> None:
        """After the first zero block: read (and keep) whatever follows, to the end of the stream."""
        self.ended = True
        while self.at < len(self.buf) or self._more():
            self._take(len(self.buf) - self.at)
        if self.split is not None:
            self.split.end("sha256:" + self.hash.hexdigest(), self.size)


def _header(block: bytes) -> tarfile.TarInfo:
    """One 512-byte header block as a TarInfo (POSIX ustar; pax and GNU extensions applied later)."""
    checksum = _number(block[148:156])
    # the sum of the header's bytes, its checksum field counted as 8 spaces (POSIX ustar)
    if checksum != sum(block) - sum(block[148:156]) + 8 * 32 and checksum not in tarfile.calc_chksums(block):
        raise tarfile.ReadError("bad checksum")  # (some old tars summed signed bytes; calc_chksums tries both)
    info = tarfile.TarInfo()
    info.name = _text(block[0:100])
    info.mode = _number(block[100:108])
    info.uid = _number(block[108:116])
    info.gid = _number(block[116:124])
    info.size = _number(block[124:136])
    info.mtime = _number(block[136:148])
    info.type = block[156:157]
    info.linkname = _text(block[157:257])
    info.uname = _text(block[265:297])
    info.gname = _text(block[297:329])
    if info.type in (tarfile.CHRTYPE, tarfile.BLKTYPE):
        info.devmajor = _number(block[329:337])
        info.devminor = _number(block[337:345])
    if block[257:263] == POSIX_MAGIC:  # ustar: a long name is split between prefix and name (GNU: times)
        prefix = _text(block[345:500])
        if prefix:
            info.name = prefix + "/" + info.name
    if info.type == tarfile.GNUTYPE_SPARSE:
        raise tarfile.ReadError(f"member {info.name!r} is a sparse file, which layers do not hold")
    if info.type == tarfile.AREGTYPE and info.name.endswith("/"):
        info.type = tarfile.DIRTYPE  # old V7 tars mark a directory by its trailing slash
    if info.size < 0:
        raise tarfile.ReadError("negative size")
    return info


def _number(field: bytes) -> int:
    """An octal number, or GNU base-256 (first byte 0x80 or 0xff), as tarfile.nti reads them."""
    if field[0] in (0x80, 0xFF):
        return tarfile.nti(field)
    digits = field.split(b"\0", 1)[0].strip()
    try:
        return int(digits, 8) if digits else 0
    except ValueError:
        raise tarfile.ReadError("invalid header") from None


def _text(field: bytes) -> str:
    return field.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def _pax(data: bytes) -> dict[str, str]:
    """The records of a pax extended header: "LEN key=value\\n", LEN counting the whole record."""
    records, pos = {}, 0
    while pos < len(data) and data[pos] != 0:
        space = data.find(b" ", pos)
        try:
            length = int(data[pos:space])
        except ValueError:
            raise tarfile.ReadError("invalid pax header") from None
        record = data[space + 1:pos + length]
        if space < 0 or length <= 0 or pos + length > len(data) or not record.endswith(b"\n") \
                or b"=" not in record:
            raise tarfile.ReadError("invalid pax header")
        key, _, value = record[:-1].partition(b"=")
        records[key.decode("utf-8", "surrogateescape")] = value.decode("utf-8", "surrogateescape")
        pos += length
    return records


def _apply(info: tarfile.TarInfo, extended: dict[str, str]) -> None:
    """Let pax records and GNU long names override the header's fields."""
    if any(key.startswith("GNU.sparse.") for key in extended):
        raise tarfile.ReadError(f"member {extended.get('path', info.name)!r} is a sparse file, "
                                "which layers do not hold")
    for key, attr in PAX_FIELDS.items():
        if key in extended:
            setattr(info, attr, extended[key])
    try:
        for key, attr in PAX_NUMBERS.items():
            if key in extended:
                setattr(info, attr, int(extended[key]))
        if "mtime" in extended:
            mtime = float(extended["mtime"])
            info.mtime = int(mtime) if mtime.is_integer() else mtime
    except ValueError:
        raise tarfile.ReadError("invalid pax header") from None
    info.pax_headers = extended
    if info.isdir():
        info.name = info.name.rstrip("/")


class ChunkReader(io.RawIOBase):
    """Chunks of bytes (a tar as it arrives over HTTP, or as it is regenerated) read as a binary file."""

    def __init__(self, chunks: Iterable[bytes]):
        self._chunks, self._left = iter(chunks), memoryview(b"")

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        """Close the chunks' source too: a generator left half-way holds open files (a layer's), and as it
        refers back to its reader only the cyclic garbage collector would free them, some time later."""
        if not self.closed and hasattr(self._chunks, "close"):
            self._chunks.close()
        super().close()

    def readinto(self, buf) -> int:
        while not self._left:
            self._left = memoryview(next(self._chunks, b""))
            if not self._left:
                return 0
        n = min(len(buf), len(self._left))
        buf[:n] = self._left[:n]
        self._left = self._left[n:]
        return n


# -- writing ------------------------------------------------------------------

RECORD = 20 * BLOCK  # tarfile (like GNU tar) pads a whole archive to 10 KiB records
USTAR_LIMITS = {"uid": 8 ** 7, "gid": 8 ** 7, "size": 8 ** 11, "mtime": 8 ** 11}


def header_bytes(info: tarfile.TarInfo) -> bytes:
    """The header block(s) tarfile writes for ``info`` in PAX format, built by hand when they fit ustar.

    A layer header usually fits a plain ustar block (short ASCII names, small
    numbers); building that block directly is ten times faster than
    tarfile's ``tobuf``, which it equals byte for byte.  Anything else
    (long or non-ASCII names, huge numbers) is left to tarfile, which adds
    a pax header.
    """
    name = info.name + "/" if info.type == tarfile.DIRTYPE and not info.name.endswith("/") else info.name
    fits = (isinstance(info.mtime, int) and all(0 <= getattr(info, k) < v for k, v in USTAR_LIMITS.items())
            and len(name) <= 100 and len(info.linkname) <= 100 and len(info.uname) <= 32
            and len(info.gname) <= 32 and not info.pax_headers
            and (name + info.linkname + info.uname + info.gname).isascii())
    if not fits:
        return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
    if info.type in (tarfile.CHRTYPE, tarfile.BLKTYPE):
        devices = _octal(info.devmajor, 8) + _octal(info.devminor, 8)
    else:
        devices = bytes(16)
    block = b"".join([
        name.encode().ljust(100, b"\0"), _octal(info.mode & 0o7777, 8), _octal(info.uid, 8),
        _octal(info.gid, 8), _octal(info.size, 12), _octal(info.mtime, 12), b" " * 8, info.type,
        info.linkname.encode().ljust(100, b"\0"), POSIX_MAGIC + b"00", info.uname.encode().ljust(32, b"\0"),
        info.gname.encode().ljust(32, b"\0"), devices, bytes(155 + 12)])
    return block[:148] + b"%06o\0" % sum(block) + block[155:]


def _octal(n: int, digits: int) -> bytes:
    """A number as ustar writes it: zero-padded octal and a NUL (it must fit: checked by the caller)."""
    if not 0 <= n < 8 ** (digits - 1):
        raise ValueError(f"{n} does not fit a {digits}-byte tar field")
    return b"%0*o\0" % (digits - 1, n)


def end_bytes(offset: int) -> bytes:
    """What ends a tar of ``offset`` bytes: two zero blocks, then zeros to a whole record, as tarfile writes."""
    offset += 2 * BLOCK
    return bytes(2 * BLOCK + -offset % RECORD)

