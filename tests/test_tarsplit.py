"""Tar-split: a layer kept only as files gives back its exact tar, or says it cannot."""

from __future__ import annotations

import gzip
import io
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from archives import docker_archive, entry, sha, small_layer, tar_of
from minidock.images import tarsplit
from minidock.errors import DigestMismatch
from minidock.images.layer import apply_layer_tar



def split_and_back(tmp_path: Path, data: bytes, *, whiteouts: str = "overlay", inline: bool = False,
                   compress: bool = False) -> tuple[bytes, Path, dict]:
    """Extract ``data`` with a recorder, then regenerate the tar; return it, the layer dir and the moves."""
    root = tmp_path / "layer"
    with _record(root) as out:
        rec = tarsplit.Recorder(root, out, inline_unreadable=inline)
        stream = io.BytesIO(gzip.compress(data) if compress else data)
        apply_layer_tar(stream, root / "diff", whiteouts=whiteouts, split=rec)
    diff_id, size = rec.diff_id, rec.tar_size
    assert (diff_id, size) == (sha(data), len(data))
    with tarsplit.LayerTar(root, diff_id, size, rec.moved) as tar:
        return io.BufferedReader(tar).read(), root, rec.moved


def _record(root: Path):
    (root / "diff").mkdir(parents=True)
    return tarsplit.open_record(root)


def every_kind() -> bytes:
    return tar_of(
        entry("etc/", kind="dir"),
        entry("etc/passwd", b"root:x:0:0::/root:/bin/sh\n", uid=0, gid=0),
        entry("etc/empty"),
        entry("etc/link", kind="symlink", linkname="passwd"),
        entry("etc/hard", kind="hardlink", linkname="etc/passwd"),
        entry("d/" + "long-name-" * 20 + "/f", b"a pax header carries this name"),
        entry("big.bin", os.urandom(3 << 20)),
        entry("etc/.wh.motd"),
        entry("var/.wh..wh..opq"),
    )


@pytest.mark.root  # mknod of 0/0 whiteouts, trusted.* xattrs, mount(2)
def test_every_kind_of_entry_comes_back_byte_for_byte(tmp_path):
    data = every_kind()
    back, root, moved = split_and_back(tmp_path, data)
    assert back == data and moved == {}
    # the content is in the files, not in the record: 3 MiB of random bytes would not compress
    assert (root / tarsplit.RECORD).stat().st_size < 16 << 10


def test_a_compressed_layer_gives_back_its_uncompressed_tar(tmp_path):
    data = tar_of(entry("a", b"x" * 5000), entry("b/", kind="dir"), entry("b/c", b"y"))
    back, _, _ = split_and_back(tmp_path, data, whiteouts="keep", compress=True)
    assert back == data


def test_gnu_tar_output_with_its_trailing_blocks_comes_back(tmp_path):
    """GNU tar pads to 10 KiB records and writes long names as ././@LongLink entries."""
    src = tmp_path / "src"
    (src / ("x" * 150)).mkdir(parents=True)
    (src / ("x" * 150) / "f").write_bytes(b"gnu" * 1000)
    data = subprocess.run(["tar", "--format=gnu", "-C", str(src), "-cf", "-", "."],
                          capture_output=True, check=True).stdout
    assert len(data) % 10240 == 0
    back, _, _ = split_and_back(tmp_path / "t", data, whiteouts="keep")
    assert back == data


def test_a_path_written_twice_keeps_the_first_content_in_the_stash(tmp_path):
    data = tar_of(entry("f", b"first"), entry("d/", kind="dir"), entry("d/g", b"inside"),
                  entry("f", b"second"), entry("d", b"a file now"))
    back, root, moved = split_and_back(tmp_path, data, whiteouts="keep")
    assert back == data
    assert (root / "diff" / "f").read_bytes() == b"second" and (root / "diff" / "d").read_bytes() == b"a file now"
    assert sorted(moved) == ["0", "1"] and all(p.startswith(tarsplit.STASH + "/") for p in moved.values())


def test_an_unreadable_file_is_kept_in_the_record_when_asked(tmp_path):
    """Rootless: a mode-0 file (like /etc/shadow in some distros) cannot be read back by its owner."""
    data = tar_of(entry("shadow", b"secret" * 100, mode=0))
    back, root, _ = split_and_back(tmp_path, data, whiteouts="keep", inline=True)
    assert back == data
    with gzip.open(root / tarsplit.RECORD) as rec:
        assert b"secret" * 100 in rec.read()


@pytest.mark.parametrize("damage", ["rewrite", "grow", "remove"])
def test_a_layer_dir_changed_behind_our_back_is_refused(tmp_path, damage):
    data = tar_of(entry("a", b"original"), entry("b", b"other"))
    _, root, _ = split_and_back(tmp_path, data, whiteouts="keep")
    target = root / "diff" / "a"
    target.chmod(0o644)
    if damage == "rewrite":
        target.write_bytes(b"ORIGINAL")
    elif damage == "grow":
        target.write_bytes(b"original+")
    else:
        target.unlink()
    with pytest.raises(DigestMismatch, match="behind minidock's back"):
        io.BufferedReader(tarsplit.LayerTar(root, sha(data), len(data))).read()


def test_the_store_keeps_no_layer_tar_yet_save_gives_the_same_bytes(client):
    layers = [small_layer("bottom"), tar_of(entry("x/", kind="dir"), entry("x/y", os.urandom(100_000)))]
    (image,) = client.images.load(docker_archive(layers, tags=["two:1"]))
    blobs = {p.name for p in client.store.blobs.iterdir()}
    assert not blobs & {sha(layer)[7:] for layer in layers}  # configs (and manifests) only
    saved = b"".join(image.save())
    with tarfile.open(fileobj=io.BytesIO(saved)) as tar:
        for layer in layers:
            assert tar.extractfile(f"blobs/sha256/{sha(layer)[7:]}").read() == layer
