"""The streaming tar reader: it reads what tarfile (and GNU tar) write as tarfile does, and refuses the rest."""

from __future__ import annotations

import io
import random
import subprocess
import tarfile

import pytest

from minidock.images.tarstream import TarStream, end_bytes, header_bytes

FIELDS = ("name", "type", "size", "mode", "uid", "gid", "mtime", "linkname", "uname", "gname")


class Trickle(io.RawIOBase):
    """An unseekable stream that hands out a few bytes at a time, to cross every buffer boundary."""

    def __init__(self, data: bytes, step: int = 7):
        self.data, self.step = data, step

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        chunk, self.data = self.data[:self.step], self.data[self.step:]
        return chunk


def ours(data: bytes, step: int | None = None) -> list[tuple]:
    tar = TarStream(Trickle(data, step) if step else io.BytesIO(data))
    rows = []
    while (m := tar.next()) is not None:
        rows.append((*(getattr(m, f) for f in FIELDS), bytes(tar.read())))
    return rows


def theirs(data: bytes) -> list[tuple]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return [(*(getattr(m, f) for f in FIELDS), tar.extractfile(m).read() if m.isreg() else b"")
                for m in tar]


def made_by_tarfile(fmt: int) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        def add(name, data=b"", **fields):
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.uname = len(data), 1_700_000_000, "root"
            for key, value in fields.items():
                setattr(info, key, value)
            tar.addfile(info, io.BytesIO(data))
        add("dir/", type=tarfile.DIRTYPE, mode=0o755)
        add("dir/file", b"x" * 1000)
        add("a/" * 60 + "long", b"a name longer than 100 bytes")
        add("link", type=tarfile.SYMTYPE, linkname="t/" * (70 if fmt != tarfile.USTAR_FORMAT else 40))
        add("hard", type=tarfile.LNKTYPE, linkname="dir/file")
        add("big-uid", b"y", uid=3_000_000_000 if fmt != tarfile.USTAR_FORMAT else 7)
        add("dev", type=tarfile.CHRTYPE, devmajor=1, devminor=3)
        add("empty")
    return buf.getvalue()


@pytest.mark.parametrize("fmt", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT],
                         ids=["ustar", "gnu", "pax"])
@pytest.mark.parametrize("step", [None, 7, 511])
def test_members_are_read_as_tarfile_reads_them(fmt, step):
    data = made_by_tarfile(fmt)
    assert ours(data, step) == theirs(data)


def test_gnu_tar_output_is_read_as_tarfile_reads_it(tmp_path):
    (tmp_path / ("d" * 120)).mkdir()
    (tmp_path / ("d" * 120) / "f").write_bytes(b"gnu tar")
    for fmt in ("gnu", "posix", "v7"):
        argv = ["tar", f"--format={fmt}", "-C", str(tmp_path), "-cf", "-", "."]
        data = subprocess.run(argv, capture_output=True, check=fmt != "v7").stdout
        if data:
            assert ours(data) == theirs(data)


def test_the_whole_stream_is_hashed_trailing_blocks_included():
    data = made_by_tarfile(tarfile.PAX_FORMAT) + bytes(4096)
    tar = TarStream(io.BytesIO(data))
    while tar.next() is not None:
        pass
    assert tar.size == len(data)


def damaged(kind: str) -> bytes:
    data = bytearray(made_by_tarfile(tarfile.PAX_FORMAT))
    if kind == "checksum":
        data[0] ^= 1
    elif kind == "cut-at-header":
        return bytes(data[:512 * 3])
    elif kind == "cut-in-content":
        return bytes(data[:512 * 2 + 100])
    elif kind == "huge-pax":
        info = tarfile.TarInfo("x")
        info.type, info.size = tarfile.XHDTYPE, 1 << 30
        return info.tobuf(tarfile.USTAR_FORMAT) + bytes(512)
    elif kind == "sparse":
        info = tarfile.TarInfo("s")
        info.type = tarfile.GNUTYPE_SPARSE
        return info.tobuf(tarfile.GNU_FORMAT) + bytes(1024)
    elif kind == "pax-garbage":
        info = tarfile.TarInfo("p")
        body = b"99 path=nonsense\n"
        info.type, info.size = tarfile.XHDTYPE, len(body)
        return info.tobuf(tarfile.USTAR_FORMAT) + body.ljust(512, b"\0") + bytes(1024)
    return bytes(data)


@pytest.mark.parametrize("kind", ["checksum", "cut-at-header", "cut-in-content", "huge-pax", "sparse",
                                  "pax-garbage"])
def test_damaged_or_unsupported_tars_are_refused(kind):
    with pytest.raises(tarfile.ReadError):
        ours(damaged(kind))


def random_headers(n: int):
    rng = random.Random(3)
    for _ in range(n):
        info = tarfile.TarInfo(rng.choice(["a", "bin/sh", "x" * 99, "x" * 100, "x" * 101, "é", "d/"]))
        info.type = rng.choice([tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE,
                                tarfile.CHRTYPE, tarfile.FIFOTYPE])
        info.mode = rng.choice([0o755, 0o644, 0o4755, 0o600, 0o17777])
        info.uid, info.gid = rng.choice([0, 1000, 65534, 8 ** 7 - 1, 8 ** 7]), rng.choice([0, 5, 8 ** 7])
        info.size = rng.choice([0, 1, 512, 8 ** 11 - 1, 8 ** 11]) if info.isreg() else 0
        info.mtime = rng.choice([0, 1_700_000_000, 8 ** 11 - 1, 8 ** 11, 1.5])
        if info.issym() or info.islnk():
            info.linkname = rng.choice(["", "/bin/busybox", "l" * 100, "l" * 101])
        info.devmajor, info.devminor = rng.choice([0, 1, 8 ** 7 - 1]), rng.choice([0, 3])
        yield info


def test_headers_written_by_hand_equal_tarfile_s_byte_for_byte():
    """The fast ustar path and tarfile's PAX writer must agree, or every DiffID would change."""
    for info in random_headers(5000):
        assert header_bytes(info) == info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"), info.get_info()


@pytest.mark.parametrize("offset", [0, 512, 9216, 9728, 10240])
def test_the_end_pads_to_a_whole_record_as_tarfile_does(offset):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        if offset:
            info = tarfile.TarInfo("f")
            info.size = offset - 512
            tar.addfile(info, io.BytesIO(bytes(info.size)))
    assert len(buf.getvalue()) == offset + len(end_bytes(offset))
