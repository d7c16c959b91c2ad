"""``minidock system check [--repair]``: a store corrupted in many distinct ways, each found and repaired.

Each test breaks one promise of the store, then shows three things: ``system check`` finds it (exit 1,
its line), ``--repair`` mends what may be mended (then the check is clean) or leaves what an image or a
container needs, saying what to do, and nothing needed is gone: busybox still saves (every layer's tar
regenerated and hashed), and, as root, still runs.
"""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

import test_containers
from conftest import run_cli
from minidock.images.digest import sha256_bytes
from minidock.runtime import cgroups, network
from minidock.runtime.syscalls import MNT_DETACH, mount, umount2
from test_containers import eventually, mounts_of
from test_registry_server import registry  # noqa: F401  (the fixture, shared)

engine, subnet = test_containers.engine, test_containers.subnet  # the fixtures, shared
BUSYBOX = "sha256:7b3c52d10d08bd4e97f7402882e5d6575707721690d9e7887e72f28073831eeb"


def check(*flags: str) -> tuple[int, list[str]]:
    """``minidock system check FLAGS``: its exit status and its lines (never a traceback)."""
    proc = run_cli("system", "check", *flags)
    assert proc.stderr == b"", proc.stderr.decode()
    return proc.returncode, proc.stdout.decode().splitlines()


def found(*expected: str) -> list[str]:
    """Check: exit 1, and for each ``expected`` fragment a line holding it; the lines."""
    code, lines = check()
    assert code == 1, lines
    for fragment in expected:
        assert any(fragment in line for line in lines), (fragment, lines)
    return lines


def repaired_clean() -> list[str]:
    """``--repair`` mends everything (exit 0, each line "Repaired: ..."); a check afterwards finds nothing."""
    code, lines = check("--repair")
    assert code == 0, lines
    assert lines[-1].endswith("no problems left") and all(line.startswith("Repaired: ") for line in lines[:-1])
    assert check() == (0, ["No problems found"])
    return lines[:-1]


def saves(client, name: str = "busybox") -> None:
    """The image saves whole: every layer's tar regenerated from its files and checked against its DiffID."""
    rec = client.images.get(name).record
    archive = tarfile.open(fileobj=io.BytesIO(b"".join(client.images.get(name).save())))
    assert {f"blobs/sha256/{d[7:]}" for d in rec.diff_ids} <= set(archive.getnames())


def runs(name: str = "busybox") -> None:
    proc = run_cli("run", "--rm", "--network", "none", name, "true")
    assert proc.returncode == 0, proc.stderr.decode()


def layer_dir(root: Path) -> Path:
    (only,) = (root / "layers").iterdir()
    return only


def test_a_clean_store_has_no_problems(busybox, root):
    assert check() == (0, ["No problems found"])
    assert check("--repair") == (0, ["No problems found"])
    assert check("--quick") == (0, ["No problems found"])


def test_an_empty_store_has_no_problems(root):
    assert check() == (0, ["No problems found"])


def test_a_bad_max_is_a_usage_error(root):
    proc = run_cli("system", "check", "--max", "soon")
    assert proc.returncode == 125
    assert proc.stderr.decode().splitlines()[0] == \
        'minidock: invalid argument "soon" for "-m, --max" flag: time: invalid duration "soon"'


# -- 1. blobs ---------------------------------------------------------------

def test_a_blob_with_a_flipped_byte_and_an_empty_one_no_image_needs_are_removed(busybox, root, client):
    data = bytearray(b'{"architecture":"amd64","rootfs":{"type":"layers","diff_ids":[]}}')
    flipped = root / "blobs" / "sha256" / sha256_bytes(bytes(data))[7:]
    data[3] ^= 0x01
    flipped.write_bytes(bytes(data))
    empty = root / "blobs" / "sha256" / sha256_bytes(b"a truncated blob")[7:]
    empty.write_bytes(b"")
    found(f"blob sha256:{flipped.name}: torn (its bytes no longer hash to its name)",
          f"blob sha256:{empty.name}: torn")
    assert len(repaired_clean()) == 2
    assert not flipped.exists() and not empty.exists()
    saves(client)


def test_an_orphaned_blob_is_removed_and_quick_mode_still_sees_it(busybox, root, client):
    orphan = root / "blobs" / "sha256" / sha256_bytes(b"{}")[7:]
    orphan.write_bytes(b"{}")
    code, lines = check("--quick")
    assert code == 1 and lines == [f"blob sha256:{orphan.name}: no image uses it (orphaned)"]
    repaired_clean()
    saves(client)


@pytest.mark.root
def test_a_flipped_byte_in_an_image_config_makes_the_image_unusable_until_removed(busybox, root, client):
    blob = root / "blobs" / "sha256" / BUSYBOX[7:]
    config = blob.read_bytes()
    at = config.index(b'"created":"') + len(b'"created":"')
    blob.write_bytes(config[:at] + (b"3" if config[at:at + 1] != b"3" else b"4") + config[at + 1:])  # one byte
    line = "image 7b3c52d10d08: its config no longer hashes to its ID; the image is unusable: " \
           "remove it with `minidock rmi 7b3c52d10d08`, then pull or load it again"
    assert found() == [line]
    assert check("--repair") == (1, [line])             # an image's config is never removed behind its back
    refused = run_cli("run", "--rm", "busybox", "true")
    assert refused.returncode == 125
    assert b"image busybox is unusable: its config no longer hashes to its ID" in refused.stderr
    assert b"Traceback" not in refused.stderr
    refused = run_cli("save", "-o", os.devnull, "busybox")
    assert refused.returncode == 1 and b"is unusable" in refused.stderr
    run_cli("rmi", "busybox", check=True)               # rmi still works on a damaged image
    assert check() == (0, ["No problems found"])
    run_cli("bootstrap", "busybox", check=True)
    runs()


def test_a_missing_config_blob_drops_the_image_and_its_tags(busybox, root, client):
    (root / "blobs" / "sha256" / BUSYBOX[7:]).unlink()
    found("image 7b3c52d10d08: its config blob is missing")
    repaired_clean()
    assert json.loads((root / "images.json").read_text())["tags"] == {}
    run_cli("bootstrap", "busybox", check=True)
    assert check() == (0, ["No problems found"])
    saves(client)


# -- 2. layer files against their tar-split record ------------------------------------------

def edit(diff: Path) -> None:
    with open(diff / "bin" / "busybox", "r+b") as f:
        f.seek(1000)
        byte = f.read(1)
        f.seek(1000)
        f.write(bytes([byte[0] ^ 0xFF]))


def delete(diff: Path) -> None:
    (diff / "bin" / "busybox").unlink()


@pytest.mark.root
@pytest.mark.parametrize("tamper, why", [(edit, "(the content of a file changed)"),
                                         (delete, "(layer file diff/bin/busybox cannot be read")], ids=["edited", "deleted"])
def test_a_changed_layer_file_marks_its_layer_damaged_and_its_image_is_never_served(busybox, root, client, tamper, why):
    layer = layer_dir(root)
    tamper(layer / "diff")
    lines = found(f"layer sha256:{layer.name}: its files no longer give back its DiffID", why,
                  "image 7b3c52d10d08 is unusable: remove it with `minidock rmi`, then pull or load again")
    assert len(lines) == 1
    assert (layer / "damaged").exists()                 # the mark run, save and push honour
    assert check("--repair") == (1, lines)              # never removed: the image needs it
    assert layer.exists()
    for args, code in ((["run", "--rm", "busybox", "true"], 125), (["save", "-o", os.devnull, "busybox"], 1),
                       (["create", "busybox"], 125)):
        refused = run_cli(*args)
        assert refused.returncode == code, args
        assert refused.stderr.decode().startswith(
            f"minidock: image busybox is unusable: `minidock system check` found its layer sha256:{layer.name} "
            "damaged"), refused.stderr
        assert refused.stderr.decode().rstrip().endswith(
            "remove it with `minidock rmi busybox`, then pull or load the image again")
    run_cli("rmi", "busybox", check=True)
    assert check() == (0, ["No problems found"])
    run_cli("bootstrap", "busybox", check=True)
    runs()


@pytest.mark.root
def test_a_container_on_a_layer_found_damaged_does_not_start_again(busybox, root, client):
    created = run_cli("create", "--name", "c1", "--network", "none", "busybox", "true", check=True)
    edit(layer_dir(root) / "diff")
    found("layer sha256:")
    refused = run_cli("start", "c1")
    assert refused.returncode == 1 and b"container c1 is unusable: `minidock system check` found" in refused.stderr
    assert b"remove it with `minidock rm c1`" in refused.stderr
    run_cli("rm", created.stdout.decode().strip(), check=True)


def test_a_layer_found_damaged_is_never_pushed(busybox, root, registry, tmp_path):
    edit(layer_dir(root) / "diff")
    found("its files no longer give back its DiffID")
    target = f"{registry.address}/course/busybox:1"
    run_cli("tag", "busybox", target, check=True)
    refused = run_cli("push", target)
    assert refused.returncode == 1
    assert refused.stderr.decode().startswith(f"minidock: image {target} is unusable: `minidock system check` found")
    stored = [p.name for p in (tmp_path / "registry").rglob("*") if p.is_file()]
    assert not any(name.startswith("sha256") or len(name) == 64 for name in stored), stored   # not one blob


@pytest.mark.root
def test_a_file_added_to_a_layer_dir_is_found_too(busybox, root):
    layer = layer_dir(root)
    (layer / "diff" / "etc" / "cron.d").mkdir(parents=True, exist_ok=True)
    (layer / "diff" / "etc" / "cron.d" / "evil").write_text("* * * * * root nc -e /bin/sh\n")
    found(f"layer sha256:{layer.name}: its files no longer give back its DiffID "
          "(layer file diff/etc/cron.d/evil is in no tar-split record: it was added)")
    assert run_cli("run", "--rm", "busybox", "true").returncode == 125


def test_whiteouts_opaque_dirs_links_and_a_path_named_twice_check_clean(root, client):
    from archives import docker_archive, entry, tar_of
    lower = tar_of(entry("etc/", kind="dir"), entry("etc/motd", b"hi"), entry("opt/", kind="dir"),
                   entry("opt/a", b"a"), entry("lib", kind="symlink", linkname="opt"))
    upper = tar_of(entry("etc/", kind="dir"), entry("etc/.wh.motd"), entry("opt/", kind="dir"),
                   entry("opt/.wh..wh..opq"), entry("opt/b", b"first"), entry("opt/b", b"second"),
                   entry("opt/c", kind="hardlink", linkname="opt/b"), entry(".wh..wh.plnk/", kind="dir"),
                   entry("empty"))
    client.images.load(docker_archive([lower, upper], tags=["tricky:1"]))
    assert check() == (0, ["No problems found"])
    saves(client, "tricky:1")


def test_quick_skips_regenerating_layer_tars(busybox, root):
    edit(layer_dir(root) / "diff")
    assert check("--quick") == (0, ["No problems found"])
    found("its files no longer give back its DiffID")


# -- 3. layer dirs nothing needs -------------------------------------------------------------

def test_an_orphaned_layer_dir_and_a_torn_one_are_removed(busybox, root, client, small):
    chains, config = small.record.chain_ids, root / "blobs" / "sha256" / small.id[7:]
    index = root / "images.json"
    idx = json.loads(index.read_text())
    del idx["images"][small.id], idx["tags"]["docker.io/library/small:1"]
    index.write_text(json.dumps(idx))                   # an rmi killed after the index was written
    torn = root / "layers" / ("e" * 64)
    (torn / "diff").mkdir(parents=True)                 # an extraction killed before its layer.json
    # young unused layers may be a pull's under way (podman's --max, 24 hours by default): not yet orphans
    assert len(found(f"blob {small.id}: no image uses it (orphaned)",
                     f"layer sha256:{'e' * 64}: torn (no readable layer.json) and nothing uses it")) == 2
    code, lines = check("--max", "0s")
    assert code == 1 and sum("(orphaned)" in line for line in lines) == 3, lines
    yesterday = time.time() - 25 * 3600
    for chain in chains:
        os.utime(root / "layers" / chain[7:], (yesterday, yesterday))
    found(*[f"layer {c}: no image or container uses it (orphaned)" for c in chains])
    assert len(repaired_clean()) == 4
    assert os.listdir(root / "layers") == [client.images.get("busybox").record.chain_ids[0][7:]]
    assert not config.exists()
    saves(client)


# -- 4. the image index ----------------------------------------------------------------------

def test_a_torn_images_json_is_rebuilt_from_the_configs_and_no_layer_is_lost(busybox, root, client):
    index = root / "images.json"
    index.write_bytes(index.read_bytes()[:20])          # a write torn mid-way
    found("images.json: torn (not the image index's JSON); --repair rebuilds it from the image configs in blobs/ (1 found; ")
    repaired_clean()
    assert client.images.get(BUSYBOX).id == BUSYBOX    # there, untagged
    run_cli("tag", BUSYBOX, "busybox", check=True)
    saves(client)


def test_a_tag_and_a_parent_pointing_at_missing_images_are_dropped(busybox, root, client):
    index = root / "images.json"
    idx = json.loads(index.read_text())
    ghost = "sha256:" + "0" * 64
    idx["tags"]["docker.io/library/ghost:1"] = ghost
    idx["images"][BUSYBOX]["parent"] = ghost
    index.write_text(json.dumps(idx))
    found("tag docker.io/library/ghost:1: points at image 000000000000, which is gone",
          "image 7b3c52d10d08: its parent 000000000000 is gone")
    assert len(repaired_clean()) == 2
    assert client.images.get("busybox").tags == ["busybox:latest"]
    saves(client)


# -- 5. containers -----------------------------------------------------------------------------

def test_a_container_whose_image_layer_is_gone_is_reported_and_kept(busybox, root, client):
    container = client.containers.create("busybox", "true", name="orphan", network_mode="none")
    layer = layer_dir(root)
    os.rename(layer, root / "gone")
    lines = found(f"container {container.id[:12]}: its image's layer sha256:{layer.name} is gone; "
                  "it cannot start again: remove it with `minidock rm orphan`",
                  f"image 7b3c52d10d08: its layer sha256:{layer.name} is missing")
    assert check("--repair") == (1, lines)              # neither the container nor the image is removed
    assert (root / "containers" / container.id / "config.json").exists()
    os.rename(root / "gone", layer)                     # put back: the store is whole again
    assert check() == (0, ["No problems found"])
    container.remove()


def test_a_container_recorded_running_whose_shim_is_dead_is_set_to_exited(busybox, root, client):
    container = client.containers.create("busybox", "true", name="ghost", network_mode="none")
    dead = subprocess.Popen(["true"])
    dead.wait()
    state = root / "containers" / container.id / "state.json"
    state.write_text(json.dumps(json.loads(state.read_text()) | {"Status": "running", "Pid": dead.pid,
                                                                  "ShimPid": dead.pid, "ShimStart": 1}))
    found(f"container {container.id[:12]}: recorded running, but its shim (PID {dead.pid}) is dead")
    repaired_clean()
    recorded = json.loads(state.read_text())
    assert recorded["Status"] == "exited" and "shim is gone" in recorded["Error"]
    container.remove()


def test_torn_container_volume_and_name_records_are_rebuilt_or_removed(busybox, root, client):
    kept = client.containers.create("busybox", "true", name="kept", network_mode="none")
    client.volumes.create("data")
    (root / "volumes" / "data" / "_data" / "file").write_text("precious")
    (root / "volumes" / "data" / "volume.json").write_text("")
    (root / "containers" / kept.id / "state.json").write_text('{"Sta')
    torn = root / "containers" / ("f" * 64)
    torn.mkdir()                                        # a container dir with no record
    (root / "names.json").write_text(json.dumps({"kept": kept.id, "gone": "a" * 64}))
    found("volume data: its volume.json is torn or missing", f"container {kept.id[:12]}: its state.json is torn",
          f"container {'f' * 12}: torn (no readable config.json)", "name gone: names container aaaaaaaaaaaa")
    repaired_clean()
    assert (root / "volumes" / "data" / "_data" / "file").read_text() == "precious"
    assert client.volumes.get("data").name == "data"
    assert client.containers.get("kept").status == "exited" and not torn.exists()
    kept.remove()


def test_a_torn_cache_is_removed_and_torn_network_records_are_only_reported(busybox, root, client):
    (root / "build-cache.json").write_text('{"sha256:')
    (root / "distribution.json").write_bytes(b"")
    found("build-cache.json: torn (not JSON); it is a cache", "distribution.json: torn (not JSON); it is a cache")
    assert len(repaired_clean()) == 2
    (root / "networks.json").write_text("{")
    line = "networks.json: torn (not JSON); its user networks are lost: remove the file, " \
           "then create them again and `network connect` their containers"
    assert found() == [line]
    assert check("--repair") == (1, [line])
    assert (root / "networks.json").read_text() == "{"


# -- 6. debris and links -------------------------------------------------------------------------

def test_debris_in_tmp_and_a_dangling_short_link_are_removed(busybox, root, client):
    debris = root / "tmp" / "999999999-half"
    debris.mkdir()
    (debris / "t").write_bytes(b"half a layer")
    mine = root / "tmp" / f"{os.getpid()}-in-use"       # a living writer's: not debris
    mine.mkdir()
    (root / "l").mkdir(exist_ok=True)
    (root / "l" / "AB12").symlink_to(root / "layers" / ("d" * 64) / "diff")
    found("tmp/999999999-half: debris of a command that ended mid-write", "link l/AB12: dangling")
    assert len(repaired_clean()) == 2
    assert not debris.exists() and mine.exists() and not (root / "l" / "AB12").is_symlink()
    saves(client)


# -- 7. what the kernel holds (root) ---------------------------------------------------------------

@pytest.mark.root
def test_a_killed_shim_leaves_state_cgroup_and_veth_that_the_repair_frees(engine, root):
    cid = run_cli("run", "-d", "--name", "victim", "busybox", "sleep", "60", check=True).stdout.decode().strip()
    shim = json.loads((root / "containers" / cid / "state.json").read_text())["ShimPid"]
    os.kill(shim, signal.SIGKILL)
    assert eventually(lambda: not Path(f"/proc/{shim}").exists())
    # the veth went with the container's network namespace; its cgroup and its address stay until freed
    bridge = os.environ["MINIDOCK_BRIDGE"]
    found(f"container {cid[:12]}: recorded running, but its shim (PID {shim}) is dead",
          f"container {cid[:12]}: not running, but its cgroup and its address on {bridge} remain")
    repaired_clean()
    assert not cgroups.exists(cid) and network.held_by(cid) == []
    run_cli("start", "victim", check=True)              # it starts again, whole
    run_cli("rm", "-f", "victim", check=True)


def links() -> set[str]:
    return {name for _, name in socket.if_nameindex()}


@pytest.mark.root
def test_a_mount_a_cgroup_and_a_veth_left_by_a_removed_container_are_freed(engine, root):
    cid = run_cli("create", "busybox", "true", check=True).stdout.decode().strip()
    run_cli("rm", cid, check=True)
    merged = root / "containers" / cid / "merged"
    merged.mkdir(parents=True)                          # an rm that died half-way: its dir, a mount, a cgroup, a veth
    mount("tmpfs", merged, "tmpfs")
    cgroups.Cgroup.create(cid)
    host, peer = network.veth_names(cid)
    subprocess.run(["ip", "link", "add", host, "type", "veth", "peer", "name", peer], check=True)
    try:
        found(f"mount {merged}: left over (container {cid[:12]} does not run)",
              f"container {cid[:12]}: removed, but its cgroup and {host} remain",
              f"container {cid[:12]}: torn (no readable config.json)")
        repaired_clean()
        assert not mounts_of(root) and not cgroups.exists(cid) and not merged.exists()
        assert host not in links() and peer not in links()
    finally:
        if mounts_of(root):
            umount2(merged, MNT_DETACH)
        if cgroups.exists(cid):
            cgroups.Cgroup.open(cid).remove()
        if host in links():
            subprocess.run(["ip", "link", "del", host])
    runs()


@pytest.mark.root
def test_another_stores_cgroups_are_not_ours_to_judge(busybox, root):
    stranger = os.urandom(32).hex()                     # a container of some other store
    cgroups.Cgroup.create(stranger)
    try:
        assert check() == (0, ["No problems found"])
    finally:
        cgroups.Cgroup.open(stranger).remove()



# -- 8. the daemon ---------------------------------------------------------------------------------

def test_the_daemon_checks_the_store_at_start_and_logs_each_problem(tmp_path):
    from test_daemon import MINIDOCK, Daemon
    store = tmp_path / "store"
    env = dict(os.environ, MINIDOCK_ROOT=str(store))
    subprocess.run(MINIDOCK + ["bootstrap", "busybox"], env=env, check=True, capture_output=True)
    orphan = store / "blobs" / "sha256" / sha256_bytes(b"{}")[7:]
    orphan.write_bytes(b"{}")
    (store / "tmp" / "999999999-debris").mkdir()
    d = Daemon(tmp_path).start()
    try:
        log = tmp_path / "daemon.log"
        assert eventually(lambda: "problem" in log.read_text(), timeout=20), log.read_text()
        text = log.read_text()
        assert f"system check: blob sha256:{orphan.name}: no image uses it (orphaned)\n" in text
        assert "system check: 1 problem found; `minidock system check --repair` mends what can be mended" in text
        assert "debris" not in text                     # swept at start, as dockerd empties its tmp/
        assert orphan.exists()                          # read-only: the daemon repairs nothing
    finally:
        assert d.stop() == 0
    assert subprocess.run(MINIDOCK + ["system", "check"], env=env, capture_output=True).returncode == 1
