"""Layer tars: reproducible writing, faithful round trips, whiteouts, and hostile layers refused or contained."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import socket
import stat
import tarfile
from pathlib import Path

import pytest

from minidock.images import layer
from minidock.errors import InvalidArchive
from minidock.images.layer import apply_layer_tar, list_layer_tar, write_layer_tar

EPOCH = 1_700_000_000
IS_ROOT = os.geteuid() == 0
TYPES = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE,
         "hardlink": tarfile.LNKTYPE, "fifo": tarfile.FIFOTYPE, "chr": tarfile.CHRTYPE}


# -- helpers ----------------------------------------------------------------

def layer_bytes(src: Path, epoch: int | None = EPOCH) -> bytes:
    """The layer tar of `src`, in memory."""
    out = io.BytesIO()
    write_layer_tar(src, out, epoch=epoch)
    return out.getvalue()


def members(data: bytes) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return tar.getmembers()


def entry(name: str, kind: str = "file", data: bytes = b"", **fields) -> tuple[tarfile.TarInfo, bytes]:
    """One hand-made tar entry, hostile or not."""
    info = tarfile.TarInfo(name)
    info.type, info.size, info.mtime = TYPES[kind], len(data), EPOCH
    info.mode = 0o755 if kind == "dir" else 0o644
    for key, value in fields.items():
        setattr(info, key, value)
    return info, data


def tar_of(*entries: tuple[tarfile.TarInfo, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in entries:
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def apply(data: bytes, dest: Path, **kwargs) -> int:
    return apply_layer_tar(io.BytesIO(data), dest, **kwargs)


class Unseekable(io.RawIOBase):
    """A pipe-like stream: read or write, but no seek or tell."""

    def __init__(self, data: bytes = b""):
        self.data, self.written = io.BytesIO(data), bytearray()

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        chunk = self.data.read(len(buf))
        buf[: len(chunk)] = chunk
        return len(chunk)

    def write(self, b) -> int:
        self.written += b
        return len(b)


def build_tree(root: Path) -> None:
    """A tree with every kind of entry a layer holds."""
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "busybox").write_bytes(b"\x7fELF" + bytes(3000))
    os.chmod(root / "bin" / "busybox", 0o4755 if IS_ROOT else 0o755)  # users cannot extract setuid
    os.link(root / "bin" / "busybox", root / "bin" / "ash")  # "bin/ash" sorts first
    os.symlink("busybox", root / "bin" / "sh")
    os.symlink("/bin/busybox", root / "bin" / "ls")
    (root / "etc").mkdir()
    (root / "etc" / "hostname").write_text("minidock\n")
    (root / "empty").mkdir()
    os.chmod(root / "empty", 0o700)
    (root / "tmp").mkdir()
    os.chmod(root / "tmp", 0o1777)
    os.mkfifo(root / "tmp" / "fifo")
    (root / "ünïcødé.txt").write_text("ü\n")
    long_dir = root / ("d" * 60)
    long_dir.mkdir()
    (long_dir / ("f" * 70)).write_text("long\n")
    if IS_ROOT:
        os.lchown(root / "etc" / "hostname", 1000, 1000)


def touch_all(root: Path, when: float, atime: float | None = None) -> None:
    """Set every mtime below root (deepest first, so directories keep theirs)."""
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        for name in filenames + dirnames:
            os.utime(Path(dirpath, name), (atime or when, when), follow_symlinks=False)


def tree(root: Path) -> dict[str, tuple]:
    """Every entry below root: (type and mode, uid, gid, whole-second mtime, content or link target)."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            st = os.lstat(path)
            body = path.read_bytes() if stat.S_ISREG(st.st_mode) else (
                os.readlink(path) if stat.S_ISLNK(st.st_mode) else None)
            found[str(path.relative_to(root))] = (st.st_mode, st.st_uid, st.st_gid, int(st.st_mtime), body)
    return found


def snapshot(root: Path) -> list[tuple]:
    """Everything about a directory an attacker could change: names, types, modes, links, times, bytes."""
    rows = []
    for dirpath, dirnames, filenames in os.walk(root):
        for path in [Path(dirpath)] + [Path(dirpath, n) for n in filenames]:
            st = os.lstat(path)
            body = path.read_bytes() if stat.S_ISREG(st.st_mode) else None
            rows.append((str(path), st.st_mode, st.st_nlink, st.st_mtime_ns, st.st_uid, body))
    return rows


@pytest.fixture
def sandbox(tmp_path):
    """(dest, outside): extract into dest; outside/passwd is what a hostile layer is after.

    After the test, outside must be exactly as it was and nothing new may sit beside dest.
    """
    outside, dest = tmp_path / "outside", tmp_path / "dest"
    outside.mkdir()
    (outside / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    dest.mkdir()
    before = snapshot(outside)
    yield dest, outside
    assert snapshot(outside) == before, "the layer changed something outside dest"
    assert sorted(os.listdir(tmp_path)) == ["dest", "outside"], "the layer wrote beside dest"


def refused(data: bytes, dest: Path, *words: str, **kwargs) -> str:
    """Apply a layer that must be refused; return the message after checking it names `words`."""
    with pytest.raises(InvalidArchive) as caught:
        apply(data, dest, **kwargs)
    message = str(caught.value)
    assert "\n" not in message
    for word in words:
        assert word in message
    return message


# -- writing: reproducible --------------------------------------------------

def test_same_tree_twice_gives_identical_bytes(tmp_path):
    build_tree(tmp_path / "src")
    assert layer_bytes(tmp_path / "src") == layer_bytes(tmp_path / "src")


def test_copies_with_other_times_newer_than_epoch_give_identical_bytes(tmp_path):
    build_tree(tmp_path / "a")
    build_tree(tmp_path / "b")
    touch_all(tmp_path / "a", EPOCH + 10)
    touch_all(tmp_path / "b", EPOCH + 99_999, atime=12345)
    assert layer_bytes(tmp_path / "a") == layer_bytes(tmp_path / "b")


def test_mtimes_are_whole_seconds_clamped_to_epoch(tmp_path):
    (tmp_path / "old").write_text("x")
    (tmp_path / "new").write_text("y")
    os.utime(tmp_path / "old", (0, EPOCH - 100.7))
    os.utime(tmp_path / "new", (0, EPOCH + 50.2))
    clamped = {m.name: m.mtime for m in members(layer_bytes(tmp_path))}
    assert clamped == {"new": EPOCH, "old": EPOCH - 101}
    assert {m.name: m.mtime for m in members(layer_bytes(tmp_path, epoch=None))} == {
        "new": EPOCH + 50, "old": EPOCH - 101}


def test_owners_are_numeric_and_no_pax_header_is_added(tmp_path):
    (tmp_path / "file").write_text("x")
    if IS_ROOT:
        os.chown(tmp_path / "file", 1234, 5678)
    data = layer_bytes(tmp_path)
    [member] = members(data)
    st = os.stat(tmp_path / "file")
    assert (member.uid, member.gid, member.uname, member.gname) == (st.st_uid, st.st_gid, "", "")
    assert member.pax_headers == {}
    assert b"atime" not in data and b"ctime" not in data and b"PaxHeader" not in data


def test_entries_come_in_walk_order_with_docker_style_dir_names(tmp_path):
    for name in (".x", "B", "a-b", "a/z", "a/b"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).touch()
    data = layer_bytes(tmp_path)
    # every entry is one 512-byte header (empty files, short names): read the raw name field
    raw = [data[i:i + 100].rstrip(b"\0") for i in range(0, 6 * 512, 512)]
    assert raw == [b".x", b"B", b"a/", b"a/b", b"a/z", b"a-b"]


def test_hard_links_point_to_the_first_name_in_tar_order(tmp_path):
    build_tree(tmp_path)
    found = {m.name: m for m in members(layer_bytes(tmp_path))}
    assert found["bin/ash"].isreg() and found["bin/ash"].size == 3004
    assert found["bin/busybox"].islnk() and found["bin/busybox"].linkname == "bin/ash"


def test_symlinks_fifos_and_devices_are_stored_as_such_and_sockets_skipped(tmp_path):
    os.symlink("/etc/passwd", tmp_path / "link")
    os.mkfifo(tmp_path / "fifo")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(tmp_path / "sock"))
        if IS_ROOT:
            os.mknod(tmp_path / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
        found = {m.name: m for m in members(layer_bytes(tmp_path))}
    assert found["link"].issym() and found["link"].linkname == "/etc/passwd"
    assert found["fifo"].isfifo()
    assert "sock" not in found
    if IS_ROOT:
        assert found["null"].ischr() and (found["null"].devmajor, found["null"].devminor) == (1, 3)


def test_long_and_unicode_names_survive(tmp_path):
    build_tree(tmp_path)
    names = {m.name for m in members(layer_bytes(tmp_path))}
    assert "ünïcødé.txt" in names and f"{'d' * 60}/{'f' * 70}" in names


def test_writes_to_an_unseekable_stream(tmp_path):
    build_tree(tmp_path)
    sink = Unseekable()
    write_layer_tar(tmp_path, sink, epoch=EPOCH)
    assert bytes(sink.written) == layer_bytes(tmp_path)


@pytest.mark.root
def test_overlay_whiteouts_are_written_in_tar_form(tmp_path):
    (tmp_path / "etc").mkdir()
    os.mknod(tmp_path / "etc" / "motd", stat.S_IFCHR, os.makedev(0, 0))
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "-first").touch()  # sorts before ".wh..wh..opq" byte-wise
    os.chmod(tmp_path / "cache" / "-first", 0o644)
    os.chmod(tmp_path / "etc", 0o755)
    os.chmod(tmp_path / "cache", 0o755)
    os.setxattr(tmp_path / "cache", "trusted.overlay.opaque", b"y")
    found = [(m.name, m.type, m.size, m.mode) for m in members(layer_bytes(tmp_path))]
    assert found == [("cache", tarfile.DIRTYPE, 0, 0o755),
                     ("cache/.wh..wh..opq", tarfile.REGTYPE, 0, 0o755),
                     ("cache/-first", tarfile.REGTYPE, 0, 0o644),
                     ("etc", tarfile.DIRTYPE, 0, 0o755),
                     ("etc/.wh.motd", tarfile.REGTYPE, 0, 0o600)]


@pytest.mark.root
def test_overlay_form_and_tar_form_of_whiteouts_give_identical_bytes(tmp_path):
    overlay, plain = tmp_path / "overlay", tmp_path / "plain"
    for root in (overlay, plain):
        (root / "cache" / "z").mkdir(parents=True)
    os.mknod(overlay / "cache" / "gone", stat.S_IFCHR, os.makedev(0, 0))
    os.setxattr(overlay / "cache", "user.overlay.opaque", b"y")
    (plain / "cache" / ".wh.gone").touch(mode=0o600)
    (plain / "cache" / ".wh..wh..opq").touch()
    os.chmod(plain / "cache" / ".wh.gone", 0o600)
    os.chmod(plain / "cache" / ".wh..wh..opq", 0o755)
    touch_all(overlay, EPOCH + 1)
    touch_all(plain, EPOCH + 1)
    assert layer_bytes(overlay) == layer_bytes(plain)


# -- round trip -------------------------------------------------------------

def test_round_trip_keeps_every_detail_and_gives_the_same_bytes(tmp_path):
    src, dest = tmp_path / "src", tmp_path / "dest"
    build_tree(src)
    touch_all(src, EPOCH - 3600)
    data = layer_bytes(src)
    written = apply(data, dest)
    links = sum(len(os.fsencode(os.readlink(p))) for p in src.rglob("*") if p.is_symlink())
    assert links   # Docker counts a symlink as the length of its target (moby's directory.Size)
    assert written == 3004 + len("minidock\n") + len("ü\n".encode()) + len("long\n") + links
    assert tree(dest) == tree(src)
    assert os.stat(dest / "bin" / "ash").st_ino == os.stat(dest / "bin" / "busybox").st_ino
    assert stat.S_ISFIFO(os.lstat(dest / "tmp" / "fifo").st_mode)
    assert layer_bytes(dest) == data


@pytest.mark.parametrize("compress", [gzip.compress, bz2.compress, lzma.compress], ids=["gzip", "bz2", "xz"])
def test_compressed_layers_from_unseekable_streams(tmp_path, compress):
    build_tree(tmp_path / "src")
    touch_all(tmp_path / "src", EPOCH - 60)
    apply_layer_tar(Unseekable(compress(layer_bytes(tmp_path / "src"))), tmp_path / "dest")
    assert tree(tmp_path / "dest") == tree(tmp_path / "src")


def test_without_root_owners_are_kept_and_setuid_dropped(tmp_path, monkeypatch):
    monkeypatch.setattr(layer, "_is_root", lambda: False)
    apply(tar_of(entry("su", mode=0o4755, uid=1234, gid=1234), entry("tmp", "dir", mode=0o1777)), tmp_path)
    assert stat.S_IMODE(os.stat(tmp_path / "su").st_mode) == 0o755
    assert stat.S_IMODE(os.stat(tmp_path / "tmp").st_mode) == 0o1777
    assert os.stat(tmp_path / "su").st_uid == os.geteuid()


@pytest.mark.root
def test_as_root_owners_and_setuid_are_applied(tmp_path):
    apply(tar_of(entry("su", mode=0o4755, uid=1234, gid=4321), entry("s", "symlink", linkname="su", uid=7, gid=8)),
          tmp_path)
    st = os.stat(tmp_path / "su")
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o4755, 1234, 4321)
    assert (os.lstat(tmp_path / "s").st_uid, os.lstat(tmp_path / "s").st_gid) == (7, 8)


def test_directory_mtimes_are_set_after_their_contents(tmp_path):
    apply(tar_of(entry("d", "dir", mtime=1000), entry("d/f", mtime=2000), entry("d/g", "dir", mtime=3000),
                 entry("d/g/h", "symlink", linkname="/nowhere", mtime=4000)), tmp_path)
    assert [os.lstat(tmp_path / p).st_mtime for p in ("d", "d/f", "d/g", "d/g/h")] == [1000, 2000, 3000, 4000]


def test_later_entries_replace_earlier_ones_of_another_type(tmp_path):
    for name in ("x", "y/child", "z/keep"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("lower")
    apply(tar_of(entry("x", "dir"), entry("y", data=b"file"), entry("z", "dir"), entry("z/new")), tmp_path)
    assert (tmp_path / "x").is_dir()
    assert (tmp_path / "y").read_text() == "file"
    assert sorted(os.listdir(tmp_path / "z")) == ["keep", "new"]  # a directory over a directory merges


def test_root_entry_sets_the_roots_mode_but_cannot_replace_it(tmp_path):
    os.chmod(tmp_path, 0o700)
    apply(tar_of(entry("./", "dir", mode=0o755)), tmp_path)
    assert stat.S_IMODE(os.stat(tmp_path).st_mode) == 0o755
    refused(tar_of(entry("./", "file")), tmp_path, "would replace the layer root")


def test_list_layer_tar_names_every_kind(tmp_path):
    data = tar_of(entry("./bin", "dir"), entry("bin/sh", data=b"#!"), entry("bin/ash", "hardlink", linkname="bin/sh"),
                  entry("bin/ls", "symlink", linkname="sh"), entry("dev/null", "chr", devmajor=1, devminor=3),
                  entry("run/fifo", "fifo"), entry("etc/.wh.motd"), entry("tmp/.wh..wh..opq"))
    assert list_layer_tar(io.BytesIO(gzip.compress(data))) == [
        ("bin", "dir", 0), ("bin/sh", "file", 2), ("bin/ash", "hardlink", 0), ("bin/ls", "symlink", 0),
        ("dev/null", "device", 0), ("run/fifo", "fifo", 0), ("etc/.wh.motd", "whiteout", 0),
        ("tmp/.wh..wh..opq", "opaque", 0)]


# -- whiteouts ----------------------------------------------------------------

def lower_layers(dest: Path) -> None:
    """What earlier layers left in a flattened tree."""
    for name in ("etc/motd", "var/cache/apt/pkgcache.bin", "dir/lower", "dir/sub/lower"):
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        (dest / name).write_text("lower")


def no_markers_left(dest: Path) -> bool:
    return not any(n.startswith(".wh.") for _, dirs, files in os.walk(dest) for n in dirs + files)


def test_whiteout_deletes_a_file_or_a_tree(tmp_path):
    lower_layers(tmp_path)
    apply(tar_of(entry("etc/.wh.motd"), entry("var/.wh.cache")), tmp_path)
    assert not (tmp_path / "etc" / "motd").exists() and (tmp_path / "etc").is_dir()
    assert os.listdir(tmp_path / "var") == []
    assert no_markers_left(tmp_path)


@pytest.mark.parametrize("marker_first", [True, False])
def test_opaque_marker_applies_first_wherever_it_sits(tmp_path, marker_first):
    lower_layers(tmp_path)
    marker = [entry("dir/.wh..wh..opq")]
    ours = [entry("dir", "dir"), entry("dir/new", data=b"new"), entry("dir/sub", "dir"), entry("dir/sub/x")]
    apply(tar_of(*(marker + ours if marker_first else ours + marker)), tmp_path)
    assert sorted(str(p.relative_to(tmp_path)) for p in (tmp_path / "dir").rglob("*")) == [
        "dir/new", "dir/sub", "dir/sub/x"]
    assert no_markers_left(tmp_path)


def test_whiteouts_hide_only_lower_layers_not_their_own(tmp_path):
    lower_layers(tmp_path)
    apply(tar_of(entry("etc/motd", data=b"ours"), entry("etc/.wh.motd"),
                 entry("var/cache/mine"), entry("var/.wh.cache")), tmp_path)
    assert (tmp_path / "etc" / "motd").read_text() == "ours"
    assert os.listdir(tmp_path / "var" / "cache") == ["mine"]


def test_whiteout_through_a_symlinked_parent_stays_inside(tmp_path):
    (tmp_path / "usr" / "lib").mkdir(parents=True)
    (tmp_path / "usr" / "lib" / "libfoo.so").touch()
    os.symlink("/usr/lib", tmp_path / "lib")
    apply(tar_of(entry("lib/.wh.libfoo.so")), tmp_path)
    assert os.listdir(tmp_path / "usr" / "lib") == [] and (tmp_path / "lib").is_symlink()


def test_whiteout_of_something_absent_creates_nothing(tmp_path):
    apply(tar_of(entry("a/b/.wh.c"), entry("x/.wh..wh..opq")), tmp_path)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("name", ["etc/.wh.", "etc/.wh..", "etc/.wh..."])
def test_whiteouts_without_a_real_name_are_refused(tmp_path, name):
    lower_layers(tmp_path)
    refused(tar_of(entry(name)), tmp_path, "not a valid whiteout", name)
    assert (tmp_path / "etc" / "motd").exists()


def test_keep_mode_writes_markers_as_plain_files(tmp_path):
    lower_layers(tmp_path)
    apply(tar_of(entry("etc/.wh.motd", mode=0o600), entry("dir/.wh..wh..opq")), tmp_path, whiteouts="keep")
    assert (tmp_path / "etc" / "motd").exists() and (tmp_path / "dir" / "lower").exists()
    assert (tmp_path / "etc" / ".wh.motd").is_file() and (tmp_path / "dir" / ".wh..wh..opq").is_file()


@pytest.mark.root
@pytest.mark.parametrize("prefix", ["trusted", "user"])
def test_overlay_mode_writes_char_devices_and_opaque_xattrs(tmp_path, prefix):
    apply(tar_of(entry("etc", "dir"), entry("etc/.wh.motd"), entry("dir", "dir"), entry("dir/.wh..wh..opq"),
                 entry("dir/new")), tmp_path, whiteouts="overlay", xattr_prefix=prefix)
    st = os.lstat(tmp_path / "etc" / "motd")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    assert os.getxattr(tmp_path / "dir", f"{prefix}.overlay.opaque") == b"y"
    assert (tmp_path / "dir" / "new").is_file() and no_markers_left(tmp_path)


@pytest.mark.root
def test_overlay_mode_lets_a_file_win_over_its_own_whiteout(tmp_path):
    apply(tar_of(entry("a", data=b"ours"), entry(".wh.a"), entry(".wh.b"), entry("b", data=b"also")),
          tmp_path, whiteouts="overlay")
    assert (tmp_path / "a").read_text() == "ours" and (tmp_path / "b").read_text() == "also"


# -- hostile layers -----------------------------------------------------------

@pytest.mark.parametrize("name", ["../outside/passwd", "a/../../outside/passwd", "/../outside/passwd",
                                  "./../outside/passwd", "../outside/.wh.passwd"])
def test_names_that_climb_out_are_refused(sandbox, name):
    dest, _ = sandbox
    refused(tar_of(entry(name, data=b"pwned")), dest, "outside the layer root", name)


def test_a_name_with_a_nul_byte_is_refused(sandbox):
    dest, _ = sandbox  # only a pax header can carry one: ustar names end at the first NUL
    refused(tar_of(entry("x", pax_headers={"path": "etc\0passwd"})), dest, "outside the layer root")


def test_absolute_and_dotted_names_are_made_relative(sandbox):
    dest, _ = sandbox
    apply(tar_of(entry("/etc/passwd", data=b"a"), entry("./etc/group", data=b"b"),
                 entry("etc/../etc/hosts", data=b"c")), dest)
    assert sorted(os.listdir(dest / "etc")) == ["group", "hosts", "passwd"]


@pytest.mark.parametrize("target", ["OUTSIDE", "../outside", "../../../../../../..", "/etc", "a/../../.."])
def test_no_entry_is_written_through_a_symlink_out_of_dest(sandbox, target):
    dest, outside = sandbox
    target = target.replace("OUTSIDE", str(outside))
    apply(tar_of(entry("evil", "symlink", linkname=target), entry("evil/passwd", data=b"pwned")), dest)
    assert os.readlink(dest / "evil") == target  # kept as is: absolute links are normal in images
    # contained: followed as if dest were "/", as a chroot would
    landed = [p for p in dest.rglob("passwd")]
    assert len(landed) == 1 and landed[0].read_bytes() == b"pwned"


def test_the_classic_etc_passwd_through_a_symlink_lands_in_dest(sandbox):
    dest, _ = sandbox
    apply(tar_of(entry("evil", "symlink", linkname="/etc"), entry("evil/passwd", data=b"pwned")), dest)
    assert (dest / "etc" / "passwd").read_bytes() == b"pwned"


@pytest.mark.parametrize("same_tar", [True, False])
def test_a_symlink_at_the_entrys_own_name_is_replaced_not_followed(sandbox, same_tar):
    dest, outside = sandbox
    link = entry("passwd", "symlink", linkname=str(outside / "passwd"))
    if not same_tar:
        apply(tar_of(link), dest)
    apply(tar_of(*([link] if same_tar else []), entry("passwd", data=b"pwned")), dest)
    assert not (dest / "passwd").is_symlink() and (dest / "passwd").read_bytes() == b"pwned"


def test_a_directory_entry_replaces_a_symlink_to_a_directory(sandbox):
    dest, outside = sandbox
    apply(tar_of(entry("d", "symlink", linkname=str(outside)), entry("d", "dir", mode=0o777), entry("d/x")), dest)
    assert (dest / "d").is_dir() and not (dest / "d").is_symlink() and (dest / "d" / "x").exists()


def test_a_later_symlink_cannot_redirect_a_directorys_mode_and_mtime(sandbox):
    dest, outside = sandbox
    apply(tar_of(entry("d", "dir", mode=0o777, mtime=0), entry("d", "symlink", linkname=str(outside))), dest)
    assert (dest / "d").is_symlink()


def test_a_hardlink_out_of_dest_is_refused(sandbox):
    dest, _ = sandbox
    refused(tar_of(entry("h", "hardlink", linkname="../outside/passwd")), dest, "hardlink target", '"h"')
    assert not os.path.lexists(dest / "h")


@pytest.mark.parametrize("linkname", ["OUTSIDE/passwd", "evil/passwd"])
def test_a_hardlink_to_a_path_outside_resolves_inside_and_is_refused(sandbox, linkname):
    dest, outside = sandbox
    linkname = linkname.replace("OUTSIDE", str(outside))
    refused(tar_of(entry("evil", "symlink", linkname=str(outside)), entry("h", "hardlink", linkname=linkname)),
            dest, "is not a file in the layer", linkname)


def test_a_hardlink_to_a_symlink_links_the_symlink_itself(sandbox):
    dest, outside = sandbox
    apply(tar_of(entry("s", "symlink", linkname=str(outside / "passwd")), entry("h", "hardlink", linkname="s")), dest)
    assert os.readlink(dest / "h") == str(outside / "passwd")  # nlink of outside/passwd checked by the fixture


def test_a_hardlink_with_an_absolute_name_points_inside(sandbox):
    dest, _ = sandbox
    apply(tar_of(entry("etc/x", data=b"x"), entry("y", "hardlink", linkname="/etc/x")), dest)
    assert os.stat(dest / "y").st_ino == os.stat(dest / "etc" / "x").st_ino


def test_symlink_loops_are_refused(sandbox):
    dest, _ = sandbox
    refused(tar_of(entry("a", "symlink", linkname="b"), entry("b", "symlink", linkname="a"), entry("a/x")),
            dest, "too many levels of symbolic links")


def test_a_file_where_a_directory_is_needed_is_refused(sandbox):
    dest, _ = sandbox
    refused(tar_of(entry("f"), entry("f/x")), dest, '"f/x"', "to be a directory")


def test_device_nodes_are_refused_without_root(sandbox, monkeypatch):
    dest, _ = sandbox
    monkeypatch.setattr(layer, "_is_root", lambda: False)
    refused(tar_of(entry("dev/sda", "chr", devmajor=8, devminor=0)), dest, '"dev/sda"', "needs root")
    assert not os.path.lexists(dest / "dev" / "sda")


@pytest.mark.root
def test_device_nodes_are_created_as_root(sandbox):
    dest, _ = sandbox
    apply(tar_of(entry("dev/null", "chr", devmajor=1, devminor=3, mode=0o666)), dest)
    st = os.lstat(dest / "dev" / "null")
    assert stat.S_ISCHR(st.st_mode) and (os.major(st.st_rdev), os.minor(st.st_rdev)) == (1, 3)


def test_unknown_entry_types_and_empty_link_targets_are_refused(sandbox):
    dest, _ = sandbox
    refused(tar_of(entry("odd", type=b"Z")), dest, '"odd"', "unsupported tar type")
    refused(tar_of(entry(".wh.odd", type=b"Z")), dest, "unsupported tar type", whiteouts="keep")
    refused(tar_of(entry("s", "symlink", linkname="")), dest, '"s"', "link target")
    assert os.listdir(dest) == []


def test_a_kept_whiteout_is_checked_by_its_type_too(sandbox, monkeypatch):
    dest, _ = sandbox
    monkeypatch.setattr(layer, "_is_root", lambda: False)
    refused(tar_of(entry(".wh.sda", "chr", devmajor=8)), dest, "needs root", whiteouts="keep")


def test_listing_shows_a_hostile_layer_without_applying_it(tmp_path):
    data = tar_of(entry("../../etc/passwd"), entry("/abs", "symlink", linkname="/etc"), entry("odd", type=b"Z"))
    assert list_layer_tar(io.BytesIO(data)) == [("../../etc/passwd", "file", 0), ("abs", "symlink", 0),
                                                ("odd", "other", 0)]


# -- damaged input ------------------------------------------------------------

def damaged() -> dict[str, bytes]:
    data = tar_of(entry("a", data=bytes(512)), entry("b", data=b"hello"))
    return {"empty": b"", "garbage": b"this is not a tar" * 64, "mid-data": data[:700],
            "mid-header": data[:1024 + 100], "at-a-header": data[:1024],
            "gzip-cut": gzip.compress(data)[:-30], "xz-cut": lzma.compress(data)[:-30],
            "bz2-corrupt": bz2.compress(data)[:20] + b"\0" * 40}


@pytest.mark.parametrize("case", sorted(damaged()))
def test_truncated_or_corrupt_layers_are_refused_in_one_line(tmp_path, case):
    message = refused(damaged()[case], tmp_path, "layer is truncated or corrupt")
    assert "Traceback" not in message
    with pytest.raises(InvalidArchive, match="truncated or corrupt"):
        list_layer_tar(io.BytesIO(damaged()[case]))
