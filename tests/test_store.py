"""The store on disk: where it is, atomic writes, one lock, and debris swept."""

from __future__ import annotations

import io
import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO, run_cli
from archives import entry, small_layer, tar_of
from minidock.images import store as storemod
from minidock.errors import DigestMismatch
from minidock.images.store import Store, default_root


# -- where the store is ---------------------------------------------------------

def test_minidock_root_chooses_the_store(monkeypatch, tmp_path):
    monkeypatch.setenv("MINIDOCK_ROOT", str(tmp_path / "here"))
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert default_root() == tmp_path / "here"


def test_root_uses_var_lib_minidock(monkeypatch):
    monkeypatch.delenv("MINIDOCK_ROOT", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", "/somewhere/else")
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert default_root() == Path("/var/lib/minidock")


def test_a_user_gets_the_xdg_data_dir(monkeypatch, tmp_path):
    monkeypatch.delenv("MINIDOCK_ROOT", raising=False)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_root() == tmp_path / "xdg" / "minidock"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_root() == tmp_path / "home" / ".local" / "share" / "minidock"


def test_the_cli_and_the_api_use_minidock_root(root):
    import minidock

    run_cli("import", "-", "here:1", input=small_layer(), check=True)
    assert "docker.io/library/here:1" in json.loads((root / "images.json").read_text())["tags"]
    assert minidock.from_env().store.root == root
    assert [i.tags for i in minidock.from_env().images.list()] == [["here:1"]]


def test_the_store_is_private_to_its_owner(tmp_path):
    """Layers hold setuid files and, as root, device nodes: other users must not reach them.

    Docker's data root is 0710 for this reason (CVE-2021-41091).
    """
    store = Store(tmp_path / "deep" / "store")
    assert stat.S_IMODE(store.root.stat().st_mode) & 0o077 == 0


# -- atomic writes ----------------------------------------------------------------

def test_write_atomic_replaces_the_whole_file(tmp_path):
    store = Store(tmp_path / "s")
    store.write_json("images.json", {"v": 1})
    store.write_json("images.json", {"v": 2, "more": list(range(100))})
    assert store.read_json("images.json", None)["v"] == 2
    assert list(store.tmp.iterdir()) == []


def test_a_write_that_fails_midway_leaves_the_old_file_and_no_debris(tmp_path, monkeypatch):
    store = Store(tmp_path / "s")
    store.write_json("images.json", {"v": 1})

    def crash(fd):
        raise OSError("disk on fire")

    monkeypatch.setattr(storemod.os, "fsync", crash)
    with pytest.raises(OSError, match="disk on fire"):
        store.write_json("images.json", {"v": 2})
    assert store.read_json("images.json", None) == {"v": 1}
    assert list(store.tmp.iterdir()) == []


def test_a_blob_appears_only_when_whole_and_verified(tmp_path):
    store = Store(tmp_path / "s")
    data = b"some layer bytes"
    digest, size = store.put_blob_stream(io.BytesIO(data))
    assert store.read_blob(digest) == data and size == len(data)
    with pytest.raises(DigestMismatch):
        store.put_blob_stream(io.BytesIO(b"other bytes"), expected=digest.replace(digest[-4:], "0000"))
    assert store.blob_digests() == [digest]
    assert list(store.tmp.iterdir()) == []


# -- the lock -----------------------------------------------------------------------

def start_cli(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "minidock", *args], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)


def test_a_command_waits_while_another_holds_the_lock(busybox, client):
    with client.store.lock():
        proc = start_cli("tag", "busybox", "waited:1")
        time.sleep(1.0)
        assert proc.poll() is None, proc.communicate()
        assert "waited:1" not in str(client.images.images._index()["tags"])
    assert proc.wait(timeout=30) == 0, proc.stderr.read()
    assert client.images.get("waited:1").id == busybox.id


def test_parallel_imports_and_tags_all_land(busybox, client, tmp_path):
    """Without the lock, read-modify-write of images.json would lose some of them."""
    procs = []
    for i in range(8):
        rootfs = tmp_path / f"rootfs{i}.tar"
        rootfs.write_bytes(tar_of(entry("etc/n", str(i).encode())))
        procs.append(start_cli("import", str(rootfs), f"par:{i}"))
    procs += [start_cli("tag", "busybox", f"same:{i}") for i in range(2)]
    for proc in procs:
        assert proc.wait(timeout=60) == 0, proc.stderr.read()
    index = json.loads((client.store.root / "images.json").read_text())
    assert len(index["images"]) == 9
    assert {f"docker.io/library/par:{i}" for i in range(8)} | {f"docker.io/library/same:{i}" for i in range(2)} \
        <= set(index["tags"])
    assert {index["tags"][f"docker.io/library/same:{i}"] for i in range(2)} == {busybox.id}
    assert list(client.store.tmp.iterdir()) == []


def test_debris_of_a_killed_command_is_swept_by_the_next_locked_one(busybox, client):
    before = sorted(p.name for p in client.store.blobs.iterdir())
    proc = start_cli("import", "-", "killed:1", stdin=subprocess.PIPE)
    proc.stdin.write(tar_of(entry("big", os.urandom(1 << 20)))[: 600 << 10])  # half a tar; stdin stays open
    proc.stdin.flush()
    deadline = time.monotonic() + 20
    while not any(client.store.tmp.rglob("*")) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdin.close()
    assert any(client.store.tmp.iterdir()), "the killed import left nothing to sweep"
    run_cli("images", check=True)  # reading takes no lock and sweeps nothing
    assert any(client.store.tmp.iterdir())
    run_cli("tag", "busybox", "after:1", check=True)
    assert list(client.store.tmp.iterdir()) == []
    assert sorted(p.name for p in client.store.blobs.iterdir()) == before
    assert [i.tags for i in client.images.list()] == [["after:1", "busybox:latest"]]


def test_remove_tree_opens_up_closed_directories_and_never_follows_links():
    """overlay's work/work is mode 000; a rootless user must open it before removing it."""
    import shutil
    import tempfile
    from minidock.images.store import remove_tree
    base = Path(tempfile.mkdtemp(prefix="minidock-rmtree-"))  # pytest's tmp dirs are root's alone
    try:
        os.chmod(base, 0o755)
        outside = base / "outside"
        outside.mkdir()
        os.chmod(outside, 0o555)
        tree = base / "tree"
        (tree / "work" / "work").mkdir(parents=True)
        (tree / "work" / "work" / "f").write_text("x")
        os.chmod(tree / "work" / "work", 0)
        (tree / "link").symlink_to(outside)
        if os.geteuid() == 0:  # root needs no permission: remove it as the user who owns it (rootless mode)
            for path in [base, tree, *tree.rglob("*")]:  # the parent too: removing tree writes to it
                os.lchown(path, 65534, 65534)
            pid = os.fork()
            if pid == 0:
                os.setgid(65534)
                os.setuid(65534)
                remove_tree(tree)
                os._exit(0)
            os.waitpid(pid, 0)
        else:
            remove_tree(tree)
        assert not tree.exists()
        assert outside.exists() and outside.stat().st_mode & 0o777 == 0o555
    finally:
        os.chmod(base / "outside", 0o755)
        shutil.rmtree(base)
