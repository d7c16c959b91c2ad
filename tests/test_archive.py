"""save / load / import: the archive formats, compression, and hostile input.

Archives are built by hand with the helpers in ``archives.py``; the fixtures
``busybox``, ``small`` and ``canary`` come from ``conftest.py``.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import os
import stat
import tarfile
from pathlib import Path

import pytest

import minidock
from conftest import run_cli
from archives import assert_untouched, blob_name, docker_archive, entry, image_config, load_into, members, members_with_info, oci_only, one_line_error, saved, sha, small_layer, store_files, tar_of
from minidock.images import layer
from minidock.errors import InvalidArchive

# -- save ---------------------------------------------------------------------

def test_save_writes_the_docker_archive_and_an_oci_layout_that_agree(busybox, tmp_path):
    out = tmp_path / "bb.tar"
    run_cli("save", "-o", str(out), "busybox", check=True)
    files = members(out.read_bytes())
    assert {"manifest.json", "repositories", "oci-layout", "index.json"} <= set(files)
    for name, data in files.items():  # every blob is named by its digest
        if name.startswith("blobs/sha256/") and data is not None:
            assert sha(data) == "sha256:" + name.rsplit("/", 1)[1]
    (entry_,) = json.loads(files["manifest.json"])
    assert entry_["RepoTags"] == ["busybox:latest"]
    assert entry_["Config"] == "blobs/sha256/" + busybox.id[7:]
    assert entry_["Layers"] == ["blobs/sha256/" + d[7:] for d in busybox.attrs["RootFS"]["Layers"]]
    assert json.loads(files["repositories"]) == {"busybox": {"latest": busybox.id[7:]}}
    assert json.loads(files["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}
    (desc,) = json.loads(files["index.json"])["manifests"]
    assert desc["annotations"]["io.containerd.image.name"] == "docker.io/library/busybox:latest"
    manifest = json.loads(files["blobs/sha256/" + desc["digest"][7:]])
    assert manifest["config"]["digest"] == busybox.id
    assert [l["digest"] for l in manifest["layers"]] == busybox.attrs["RootFS"]["Layers"]


def test_saving_the_same_image_twice_gives_identical_bytes(busybox, tmp_path):
    a, b = tmp_path / "a.tar", tmp_path / "b.tar"
    run_cli("save", "-o", str(a), "busybox", check=True)
    run_cli("save", "--output", str(b), "busybox", check=True)
    to_stdout = run_cli("save", "busybox", check=True).stdout
    assert a.read_bytes() == b.read_bytes() == to_stdout


def test_save_of_several_images_lists_each_once(busybox, client, tmp_path):
    busybox.tag("second", "v2")
    client.images.import_image(io.BytesIO(small_layer()), "other:1")
    files = members(run_cli("save", "busybox", "second:v2", "other:1", check=True).stdout)
    entries = json.loads(files["manifest.json"])
    assert [e["RepoTags"] for e in entries] == [["busybox:latest"], ["second:v2"], ["other:1"]]
    assert json.loads(files["repositories"]) == {"busybox": {"latest": busybox.id[7:]},
                                                 "second": {"v2": busybox.id[7:]},
                                                 "other": {"1": client.images.get("other:1").id[7:]}}


def test_save_by_id_keeps_no_tags_like_docker(busybox):
    """docker save <ID> writes RepoTags null (moby#40910: "expected behavior"); so docker-py's image.save()."""
    (entry_,) = json.loads(members(run_cli("save", busybox.id[7:19], check=True).stdout)["manifest.json"])
    assert entry_["RepoTags"] is None
    assert json.loads(members(b"".join(busybox.save()))["manifest.json"])[0]["RepoTags"] is None
    named = json.loads(members(b"".join(busybox.save(named=True)))["manifest.json"])
    assert named[0]["RepoTags"] == ["busybox:latest"]


def test_save_of_a_missing_image_fails_and_writes_no_file(root, tmp_path):
    proc = run_cli("save", "-o", str(tmp_path / "x.tar"), "nosuch")
    one_line_error(proc, "No such image: nosuch")
    assert not (tmp_path / "x.tar").exists()


# -- load ---------------------------------------------------------------------

def test_load_restores_the_image_with_the_same_id(busybox, client, tmp_path):
    archive = saved(client, "busybox")
    path = tmp_path / "bb.tar"
    path.write_bytes(archive)
    env = os.environ | {"MINIDOCK_ROOT": str(tmp_path / "other")}
    proc = run_cli("load", "-i", str(path), env=env)
    assert proc.returncode == 0 and proc.stdout.decode() == "Loaded image: busybox:latest\n"
    assert run_cli("images", "-q", "--no-trunc", env=env).stdout.decode().split() == [busybox.id]
    assert saved(type(client)(tmp_path / "other"), "busybox") == archive  # nothing lost on the way


def test_load_reads_a_gzipped_archive_from_stdin(busybox, client, tmp_path):
    proc = load_into(tmp_path, gzip.compress(saved(client, "busybox")))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode() == "Loaded image: busybox:latest\n"


@pytest.mark.parametrize("compress", [bz2.compress, lzma.compress], ids=["bzip2", "xz"])
def test_load_reads_other_compressed_archives(client, compress):
    (image,) = client.images.load(compress(docker_archive([small_layer()], tags=["small:1"])))
    assert image.tags == ["small:1"]


def test_load_quiet_prints_nothing(small, client, tmp_path):
    proc = load_into(tmp_path, saved(client, "small:1"), "-q")
    assert proc.returncode == 0 and proc.stdout == b""


def test_load_of_an_untagged_archive_names_the_id(small, client, tmp_path):
    proc = load_into(tmp_path, saved(client, small.id))
    assert proc.stdout.decode() == f"Loaded image ID: {small.id}\n"


@pytest.mark.parametrize("top", ["", "busybox-oci/"], ids=["at-root", "nested"])
def test_load_reads_an_oci_layout(small, client, tmp_path, top):
    proc = load_into(tmp_path, oci_only(saved(client, "small:1"), top))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode() == "Loaded image: small:1\n"
    assert minidock.Client(tmp_path / "other").images.get("small:1").id == small.id


def test_load_of_a_hand_built_multi_layer_archive(client, tmp_path):
    layers = [small_layer("one"), small_layer("two"), tar_of(entry("etc/.wh.greeting"))]
    images = client.images.load(docker_archive(layers, tags=["hand:made"]))
    assert [i.tags for i in images] == [["hand:made"]]
    assert images[0].attrs["RootFS"]["Layers"] == [sha(l) for l in layers]


def test_load_with_a_127_layer_image_works_and_128_is_refused_naming_aufs(client, tmp_path):
    layers = [tar_of(entry(f"f{i}", str(i).encode())) for i in range(128)]
    before = store_files(client.store.root)
    proc = load_into(tmp_path, docker_archive(layers), name="store")
    one_line_error(proc, "AUFS", "128")
    assert store_files(client.store.root) == before
    assert client.images.load(docker_archive(layers[:127]))[0].attrs["RootFS"]["Layers"] == \
        [sha(l) for l in layers[:127]]


# -- import -------------------------------------------------------------------

@pytest.fixture
def rootfs(tmp_path) -> Path:
    """A small rootfs directory whose times predate any SOURCE_DATE_EPOCH used here."""
    path = tmp_path / "rootfs"
    (path / "etc").mkdir(parents=True)
    (path / "etc" / "os-release").write_text("NAME=tiny\n")
    (path / "bin").mkdir()
    (path / "bin" / "sh").symlink_to("busybox")
    for p in [path / "bin" / "sh", path / "etc" / "os-release", path / "etc", path / "bin", path]:
        os.utime(p, (1_000_000_000, 1_000_000_000), follow_symlinks=False)
    return path


def test_import_of_a_directory_is_reproducible(client, rootfs, monkeypatch):
    def diff_ids(name: str) -> list[str]:
        return client.images.get(name).attrs["RootFS"]["Layers"]

    # the Python API imports a directory (the CLI, as docker's, takes a tar only: test_cli)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    first = client.images.import_image(rootfs, "tiny:a").id
    again = client.images.import_image(rootfs, "tiny:b").id
    assert first == again and first.startswith("sha256:") and len(first) == 71
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000001")
    later = client.images.import_image(rootfs, "tiny:c").id
    assert later != first
    assert diff_ids("tiny:a") == diff_ids("tiny:c")
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    assert diff_ids(client.images.import_image(rootfs).id) == diff_ids("tiny:a")


@pytest.mark.parametrize("compress", [None, gzip.compress, lzma.compress, bz2.compress],
                         ids=["tar", "gzip", "xz", "bzip2"])
def test_import_reads_plain_and_compressed_tars(client, tmp_path, compress):
    plain = small_layer()
    path = tmp_path / "rootfs.tar"
    path.write_bytes(compress(plain) if compress else plain)
    image_id = run_cli("import", str(path), "file:1", check=True).stdout.decode().strip()
    assert client.images.get("file:1").id == image_id
    assert client.images.get("file:1").attrs["RootFS"]["Layers"] == [sha(plain)]


def test_the_seeds_import_from_a_pipe(root, tmp_path):
    """``cat x.tar.gz | minidock import - ubuntu:14.04``"""
    proc = run_cli("import", "-", "ubuntu:14.04", input=gzip.compress(small_layer()))
    assert proc.returncode == 0, proc.stderr
    image_id = proc.stdout.decode().strip()
    table = run_cli("images", "--no-trunc").stdout.decode().splitlines()
    assert table[1].split()[:3] == ["ubuntu", "14.04", image_id]
    history = run_cli("history", "--format", "{{.Comment}}", "ubuntu:14.04").stdout.decode()
    assert history == "Imported from -\n"


def test_import_applies_changes_and_the_message(root, tmp_path):
    path = tmp_path / "r.tar"
    path.write_bytes(small_layer())
    run_cli("import", "-c", 'CMD ["/bin/sh", "-c", "echo hi"]', "-c", "ENTRYPOINT /bin/init",
            "--change", "ENV A=1 B=two", "-c", "EXPOSE 80 53/udp", "-c", "WORKDIR /srv",
            "-c", 'LABEL maintainer="me" version=2', "-c", "USER nobody", "-m=hello world",
            str(path), "conf:1", check=True)
    attrs = json.loads(run_cli("inspect", "conf:1", check=True).stdout)[0]
    config = attrs["Config"]
    assert config["Cmd"] == ["/bin/sh", "-c", "echo hi"]
    assert config["Entrypoint"] == ["/bin/sh", "-c", "/bin/init"]
    assert config["Env"] == ["A=1", "B=two"]
    assert config["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}}
    assert config["WorkingDir"] == "/srv" and config["User"] == "nobody"
    assert config["Labels"] == {"maintainer": "me", "version": "2"}
    assert attrs["Comment"] == "hello world"


def test_import_refuses_a_change_docker_does_not_allow_and_stores_nothing(client, tmp_path):
    path = tmp_path / "r.tar"
    path.write_bytes(small_layer())
    before = store_files(client.store.root)
    one_line_error(run_cli("import", "-c", "RUN rm -rf /", str(path), "x:y"), "RUN")
    one_line_error(run_cli("import", "-c", "ENV", str(path), "x:y"), "ENV")
    assert store_files(client.store.root) == before


def test_import_from_a_url_says_there_is_no_network_after_checking_the_reference(root):
    one_line_error(run_cli("import", "http://example.com/rootfs.tar", "ok:1"), "no network")
    err = one_line_error(run_cli("import", "https://example.com/rootfs.tar", "Bad:Ref"), "Bad")
    assert "network" not in err


def test_import_of_a_missing_file(root, tmp_path):
    one_line_error(run_cli("import", str(tmp_path / "nope.tar")), "no such file")


# -- hostile and broken input ---------------------------------------------------

def _outer(canary: Path, kind: str) -> list:
    """Extra members of a docker-archive aimed outside the archive."""
    return {"dotdot": [entry("../../../../canary/pwned", b"x")],
            "absolute": [entry(str(canary / "pwned"), b"x")],
            "hardlink-out": [entry("h", kind="hardlink", linkname="../../../../canary/keep")]}[kind]


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "hardlink-out"])
def test_load_refuses_archive_members_that_point_outside(client, tmp_path, canary, kind):
    client.images.load(docker_archive([small_layer()], tags=["keep:1"]))
    before = store_files(client.store.root)
    archive = docker_archive([small_layer("evil")], extra=_outer(canary, kind))
    one_line_error(load_into(tmp_path, archive, name="store"), "outside")
    assert store_files(client.store.root) == before
    assert_untouched(canary)


@pytest.mark.parametrize("target", ["absolute", "relative"])
def test_load_refuses_a_layer_that_is_a_symlink_out_of_the_archive(client, tmp_path, canary, target):
    layer_ = small_layer()
    link = str(canary / "keep") if target == "absolute" else "../../../../canary/keep"
    manifest = [{"Config": "c.json", "RepoTags": ["x:y"], "Layers": ["layer.tar"]}]
    archive = tar_of(entry("c.json", image_config([layer_])), entry("layer.tar", kind="symlink", linkname=link),
                     entry("manifest.json", json.dumps(manifest).encode()))
    before = store_files(client.store.root)
    one_line_error(load_into(tmp_path, archive, name="store"))
    assert store_files(client.store.root) == before
    assert_untouched(canary)


def hostile_layers(canary: Path) -> dict[str, bytes]:
    """Layer tars that try to write outside the directory they are applied to."""
    return {
        "dotdot": tar_of(entry("../../../../../../../../canary/pwned", b"x")),
        "dotdot-inside": tar_of(entry("etc", kind="dir"), entry("etc/../../canary/pwned", b"x")),
        "hardlink-out": tar_of(entry("h", kind="hardlink", linkname=str(canary / "keep"))),
    }


@pytest.mark.parametrize("kind", ["dotdot", "dotdot-inside", "hardlink-out"])
def test_load_refuses_a_hostile_layer_and_keeps_the_store_as_it_was(client, tmp_path, canary, kind):
    client.images.load(docker_archive([small_layer()], tags=["keep:1"]))
    before = store_files(client.store.root)
    # the hostile layer on top of two good ones: the good ones must not stay behind either
    layers = [small_layer("a"), small_layer("b"), hostile_layers(canary)[kind]]
    one_line_error(load_into(tmp_path, docker_archive(layers), name="store"))
    assert store_files(client.store.root) == before
    assert_untouched(canary)


def test_load_of_two_images_whose_second_is_hostile_loads_neither(client, tmp_path, canary):
    good, bad = [small_layer("good")], [small_layer("a"), hostile_layers(canary)["dotdot"]]
    images = [(image_config(good), good, "good:1"), (image_config(bad), bad, "bad:1")]
    manifest = [{"Config": blob_name(c), "RepoTags": [t], "Layers": [blob_name(l) for l in ls]}
                for c, ls, t in images]
    blobs = {blob_name(b): b for c, ls, _ in images for b in [c, *ls]}
    archive = tar_of(*(entry(n, b) for n, b in blobs.items()), entry("manifest.json", json.dumps(manifest).encode()))
    before = store_files(client.store.root)
    one_line_error(load_into(tmp_path, archive, name="store"), "outside")
    assert store_files(client.store.root) == before
    assert_untouched(canary)


@pytest.mark.parametrize("kind", ["dotdot", "dotdot-inside", "hardlink-out"])
def test_import_refuses_a_hostile_tar_and_keeps_the_store_as_it_was(client, tmp_path, canary, kind):
    client.images.load(docker_archive([small_layer()], tags=["keep:1"]))
    before = store_files(client.store.root)
    one_line_error(run_cli("import", "-", "x:y", input=hostile_layers(canary)[kind]))
    assert store_files(client.store.root) == before
    assert_untouched(canary)


def contained_layers(canary: Path) -> dict[str, bytes]:
    """Layer tars whose escapes are contained, as docker does: absolute names and links mean the image's /."""
    return {
        "absolute-name": tar_of(entry(str(canary / "pwned"), b"x")),
        "symlink-then-write": tar_of(entry("evil", kind="symlink", linkname=str(canary)),
                                     entry("evil/pwned", b"x")),
        "relative-symlink-then-write": tar_of(entry("evil", kind="symlink", linkname="../../../../../../canary"),
                                              entry("evil/pwned", b"x")),
    }


@pytest.mark.parametrize("kind", ["absolute-name", "symlink-then-write", "relative-symlink-then-write"])
def test_import_contains_absolute_names_and_symlinks_inside_the_image(client, tmp_path, canary, kind):
    """Absolute symlinks are normal in images (bin/sh -> /bin/busybox); they must resolve inside it."""
    run_cli("import", "-", "x:y", input=contained_layers(canary)[kind], check=True)
    assert_untouched(canary)
    (layer_dir,) = [p for p in client.store.layers.iterdir()]
    written = [p for p in (layer_dir / "diff").rglob("pwned")]
    assert len(written) == 1 and written[0].read_bytes() == b"x"


def test_a_device_node_is_refused_without_root_and_the_store_is_unchanged(client, monkeypatch):
    monkeypatch.setattr(layer, "_is_root", lambda: False)
    before = store_files(client.store.root)
    disk = tar_of(entry("dev", kind="dir"), entry("dev/sda", kind="blk", devmajor=8, devminor=0, mode=0o666))
    with pytest.raises(InvalidArchive, match="device"):
        client.images.load(docker_archive([small_layer(), disk]))
    with pytest.raises(InvalidArchive, match="device"):
        client.images.import_image(io.BytesIO(disk), "x:y")
    assert store_files(client.store.root) == before


@pytest.mark.root  # only root may create device nodes
def test_as_root_a_device_node_is_made_inside_the_layer_only(client, canary):
    """Docker as root creates a layer's device nodes; the store's mode keeps other users away (test_store)."""
    disk = tar_of(entry("dev", kind="dir"), entry("dev/sda", kind="blk", devmajor=8, devminor=0, mode=0o666))
    image = client.images.import_image(io.BytesIO(disk), "x:y")
    node = client.store.layer_dir(image.attrs["RootFS"]["Layers"][0]) / "diff" / "dev" / "sda"
    assert stat.S_ISBLK(os.lstat(node).st_mode)


def test_a_tampered_layer_is_refused(small, client, tmp_path):
    files = members_with_info(saved(client, "small:1"))
    layer_name = "blobs/sha256/" + small.attrs["RootFS"]["Layers"][0][7:]
    tampered = [(i, d.replace(b"hello", b"jello") if i.name == layer_name else d) for i, d in files]
    assert tampered != files
    one_line_error(load_into(tmp_path, tar_of(*tampered)), "digest")
    assert not (tmp_path / "other" / "images.json").exists()


def test_a_tampered_config_is_refused(small, client, tmp_path):
    files = members_with_info(saved(client, "small:1"))
    config_name = "blobs/sha256/" + small.id[7:]
    tampered = [(i, d.replace(b'"Cmd": ["sh"]', b'"Cmd": ["id"]') if i.name == config_name else d)
                for i, d in files]
    assert tampered != files
    one_line_error(load_into(tmp_path, tar_of(*tampered)), "digest")
    one_line_error(load_into(tmp_path, oci_only(tar_of(*tampered))), "digest")
    assert not (tmp_path / "other" / "images.json").exists()


@pytest.mark.parametrize("cut", ["half", "header"])
def test_a_truncated_archive_is_refused(small, client, tmp_path, cut):
    archive = saved(client, "small:1")
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        headers = [m.offset for m in tar]
    size = len(archive) // 2 if cut == "half" else headers[len(headers) // 2]  # a cut tarfile cannot see
    before = store_files(client.store.root)
    one_line_error(load_into(tmp_path, archive[:size], name="store"))
    assert store_files(client.store.root) == before


def test_a_corrupt_gzip_is_refused_by_load_and_import(client, tmp_path):
    client.images.load(docker_archive([small_layer()], tags=["keep:1"]))
    before = store_files(client.store.root)
    broken = bytearray(gzip.compress(docker_archive([small_layer("other")] * 3)))
    broken[len(broken) // 2: len(broken) // 2 + 64] = b"\0" * 64
    one_line_error(load_into(tmp_path, bytes(broken), name="store"))
    one_line_error(run_cli("import", "-", "x:y", input=bytes(broken)))
    one_line_error(run_cli("import", "-", "x:y", input=gzip.compress(small_layer())[:-20]))
    assert store_files(client.store.root) == before


def test_garbage_is_not_an_archive(root, tmp_path):
    one_line_error(load_into(tmp_path, b"this is not a tar file at all" * 40, name="store"))
    one_line_error(load_into(tmp_path, tar_of(entry("hello.txt", b"hi")), name="store"), "no image")
