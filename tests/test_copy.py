"""``docker cp``'s engine part on plain directories: paths resolve inside the root, hostile tars change nothing.

No root needed: ``containers/copy.py``'s functions take the root as a path, as its chrooted child does.
"""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from minidock.containers import copy
from minidock.errors import APIError, InvalidArchive, NotFound
from minidock.images import layer


@pytest.fixture
def rootfs(tmp_path) -> Path:
    """A small container root: /etc/passwd, /tmp, and symlinks that aim out of it."""
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (root / "tmp").mkdir()
    (root / "tmp" / "old").write_text("old")
    (root / "abs").symlink_to("/etc")              # absolute: /etc of the container
    (root / "up").symlink_to("../../../..")         # climbs: stops at the container's /
    (root / "tmp" / "passwd-link").symlink_to("../etc/passwd")
    return root


def put(rootfs: Path, path: str, stream, **options) -> None:
    """A PUT of ``stream`` into the directory ``path`` of the container ``rootfs``."""
    copy.extract_archive(str(rootfs), copy.extraction_point(str(rootfs), path, "c"), stream, **options)


def snapshot(*roots: Path) -> dict:
    """Every path below the roots with its kind, mode and content: what "nothing changed" compares."""
    found = {}
    for root in roots:
        for path in [root, *sorted(root.rglob("*"))]:
            st = os.lstat(path)
            content = path.read_bytes() if stat.S_ISREG(st.st_mode) else os.readlink(path) if path.is_symlink() else b""
            found[str(path)] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), content)
    return found


def tar_of(*members: tuple) -> io.BytesIO:
    """A tar from (name, kind, data-or-target) triples; kind: file, dir, sym, link, chr."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, data in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
                continue
            info.type = {"dir": tarfile.DIRTYPE, "sym": tarfile.SYMTYPE, "link": tarfile.LNKTYPE,
                         "chr": tarfile.CHRTYPE}[kind]
            info.mode = 0o755 if kind == "dir" else 0o644
            info.linkname = data or ""
            tar.addfile(info)
    out.seek(0)
    return out


@pytest.mark.parametrize("path, split", [
    ("/etc/passwd", ("/etc", "passwd")), ("etc/passwd", ("/etc", "passwd")), ("/etc/", ("/etc", "")),
    ("/etc/.", ("/etc", ".")), ("/", ("", "")), ("/a/../../b", ("", "b")), ("/a//b/./c", ("/a/b", "c")),
])
def test_paths_split_as_moby_s_resolve_path(path, split):
    assert copy.split_path(path) == split


def test_symlinks_resolve_inside_the_root(rootfs):
    assert copy.host_path(str(rootfs), "/abs/passwd", follow_last=False) == str(rootfs / "etc" / "passwd")
    assert copy.host_path(str(rootfs), "/up/etc/passwd", follow_last=False) == str(rootfs / "etc" / "passwd")
    assert copy.host_path(str(rootfs), "/../../etc", follow_last=False) == str(rootfs / "etc")
    assert copy.host_path(str(rootfs), "/abs", follow_last=False) == str(rootfs / "abs")
    assert copy.host_path(str(rootfs), "/abs", follow_last=True) == str(rootfs / "etc")


def test_stat_says_what_docker_says(rootfs):
    found = copy.path_stat(str(rootfs), "/etc/passwd", "c")
    assert (found["name"], found["size"], found["mode"], found["linkTarget"]) == ("passwd", 30, 0o644, "")
    assert found["mtime"].endswith("Z")
    assert copy.path_stat(str(rootfs), "/etc/", "c")["mode"] == copy.GO_DIR | 0o755
    link = copy.path_stat(str(rootfs), "/tmp/passwd-link", "c")
    assert link["mode"] & (1 << 27) and link["linkTarget"] == "/etc/passwd"
    assert copy.path_stat(str(rootfs), "/up", "c")["linkTarget"] == "/"
    with pytest.raises(NotFound, match="Could not find the file /nope in container c"):
        copy.path_stat(str(rootfs), "/nope", "c")
    with pytest.raises(NotFound):
        copy.path_stat(str(rootfs), "/etc/passwd/x", "c")


@pytest.mark.parametrize("path, names", [
    ("/etc/passwd", ["passwd"]), ("/etc", ["etc", "etc/passwd"]), ("/etc/.", [".", "./passwd"]),
    ("/abs", ["abs"]), ("/abs/", ["abs", "abs/passwd"]),
])
def test_a_path_s_tar_is_named_by_its_last_element(rootfs, path, names):
    out = io.BytesIO()
    copy.write_archive(str(rootfs), path, copy.path_stat(str(rootfs), path, "c"), out)
    out.seek(0)
    with tarfile.open(fileobj=out) as tar:
        assert [m.name for m in tar.getmembers()] == names


def test_a_tar_goes_in_merging_directories_and_replacing_files(rootfs):
    tar = tar_of(("tmp", "dir", None), ("tmp/new", "file", b"new"), ("tmp/old", "file", b"replaced"),
                 ("tmp/passwd-link", "file", b"not through the link"), ("tmp/sub/deep", "file", b"deep"))
    put(rootfs, "/", tar)
    assert (rootfs / "tmp" / "new").read_text() == "new"
    assert (rootfs / "tmp" / "old").read_text() == "replaced"
    assert not (rootfs / "tmp" / "passwd-link").is_symlink()  # the symlink was replaced, not written through
    assert (rootfs / "etc" / "passwd").read_text().startswith("root:")
    assert (rootfs / "tmp" / "sub" / "deep").read_text() == "deep"
    assert not [p for p in (rootfs / "tmp").iterdir() if p.name.startswith(copy.TEMP_PREFIX)]


def test_a_directory_keeps_its_mode_unless_the_tar_names_it(rootfs):
    os.chmod(rootfs / "tmp", 0o1777)
    put(rootfs, "/", tar_of(("tmp/made-on-the-way", "file", b"x")))
    assert stat.S_IMODE((rootfs / "tmp").stat().st_mode) == 0o1777
    put(rootfs, "/", tar_of(("tmp", "dir", None)))
    assert stat.S_IMODE((rootfs / "tmp").stat().st_mode) == 0o755


def test_the_destination_resolves_inside_the_root(rootfs, canary):
    put(rootfs, "/up/tmp", tar_of(("x", "file", b"x")))
    assert (rootfs / "tmp" / "x").read_text() == "x"
    with pytest.raises(NotFound):
        put(rootfs, "/nodir", tar_of(("x", "file", b"x")))
    with pytest.raises(copy.NotADirectory, match="extraction point is not a directory"):
        put(rootfs, "/etc/passwd", tar_of(("x", "file", b"x")))


HOSTILE = {
    "climbs out": [("ok", "file", b"first"), ("../../canary/keep", "file", b"pwned")],
    "absolute name": [("ok", "file", b"first"), ("/etc/passwd", "file", b"pwned")],
    "through its own symlink": [("ok", "file", b"first"), ("evil", "sym", "/"), ("evil/etc/passwd", "file", b"pwned")],
    "through a climbing symlink": [("evil", "sym", "../../../../.."), ("evil/x", "file", b"pwned")],
    "symlink out of the destination": [("ok", "file", b"first"), ("evil", "sym", "../../canary")],
    "hardlink to a file outside": [("ok", "file", b"first"), ("evil", "link", "/etc/passwd")],
    "hardlink climbing out": [("ok", "file", b"first"), ("evil", "link", "../canary/keep")],
    "corrupt": None,
}


@pytest.mark.parametrize("case", HOSTILE)
def test_a_hostile_tar_is_refused_and_changes_nothing(rootfs, canary, case):
    if HOSTILE[case] is None:
        stream = io.BytesIO(tar_of(("ok", "file", b"x" * 4000)).getvalue()[:1500])
    else:
        stream = tar_of(*HOSTILE[case])
    before = snapshot(rootfs, canary)
    with pytest.raises(InvalidArchive):
        put(rootfs, "/tmp", stream)
    assert snapshot(rootfs, canary) == before


def test_a_device_node_is_refused_without_root(rootfs, monkeypatch):
    monkeypatch.setattr(layer, "_is_root", lambda: False)
    before = snapshot(rootfs)
    with pytest.raises(InvalidArchive, match="device node"):
        put(rootfs, "/tmp", tar_of(("ok", "file", b"x"), ("null", "chr", None)))
    assert snapshot(rootfs) == before


@pytest.mark.parametrize("members, message", [
    ([("a", "file", b"a"), ("etc", "file", b"not a dir")], 'cannot overwrite directory "/etc" with non-directory'),
    ([("a", "file", b"a"), ("tmp/old", "dir", None)], 'cannot overwrite non-directory "/tmp/old" with directory'),
])
def test_no_overwrite_dir_non_dir_refuses_before_anything_moves(rootfs, members, message):
    before = snapshot(rootfs)
    with pytest.raises(APIError, match=message):
        put(rootfs, "/", tar_of(*members), no_overwrite_dir_non_dir=True)
    assert snapshot(rootfs) == before


def test_rebase_renames_the_top_entry(rootfs):
    tar = tar_of(("passwd", "file", b"copied"), ("passwd2", "file", b"other"))
    put(rootfs, "/tmp", tar, rebase=("passwd", "renamed"))
    assert (rootfs / "tmp" / "renamed").read_text() == "copied"
    assert (rootfs / "tmp" / "passwd2").read_text() == "other"


def test_go_file_modes():
    assert copy.go_mode(stat.S_IFDIR | 0o755) == (1 << 31) | 0o755
    assert copy.go_mode(stat.S_IFREG | 0o4755) == (1 << 23) | 0o755
    assert copy.go_mode(stat.S_IFCHR | 0o666) == (1 << 26) | (1 << 21) | 0o666
    assert copy.go_mode(stat.S_IFLNK | 0o777) == (1 << 27) | 0o777


def test_the_root_of_a_user_namespace_makes_no_device_node(rootfs):
    before = snapshot(rootfs)
    with pytest.raises(InvalidArchive, match="device node: creating one needs root"):
        put(rootfs, "/tmp", tar_of(("ok", "file", b"x"), ("null", "chr", None)), devices=False)
    assert snapshot(rootfs) == before
