"""Images through the Python API: IDs, lookup, references, rmi, prune, df, history."""

from __future__ import annotations

import io
import itertools
import json

import pytest

import minidock
from conftest import run_cli
from archives import docker_archive, image_config, one_line_error, sha, small_layer, store_files, stored_layer, add_layers
from minidock.errors import APIError, Conflict, ImageNotFound, InvalidReference
from minidock.images.image import MAX_LAYERS, Images


def bare_config(comment: str) -> bytes:
    """The config of an image with no layers: cheap to make by the hundred."""
    return json.dumps({"architecture": "amd64", "os": "linux", "comment": comment, "config": {},
                       "rootfs": {"type": "layers", "diff_ids": []}}).encode()


def colliding_configs(n_hex: int = 4) -> tuple[bytes, bytes]:
    """Two configs whose IDs share their first ``n_hex`` hex digits (a birthday search: ~300 tries)."""
    seen: dict[str, bytes] = {}
    for i in itertools.count():
        data = bare_config(f"try {i}")
        prefix = sha(data)[7:7 + n_hex]
        if prefix in seen:
            return seen[prefix], data
        seen[prefix] = data


# -- IDs --------------------------------------------------------------------------

def test_the_image_id_is_the_sha256_of_the_config_blob(small, client):
    config = client.store.read_blob(small.id)
    assert sha(config) == small.id
    for n, diff_id in enumerate(json.loads(config)["rootfs"]["diff_ids"]):
        assert sha(stored_layer(client, small, n)) == diff_id
    assert small.short_id == "sha256:" + small.id[7:19]


@pytest.mark.parametrize("n", [4, 5, 12, 64])
def test_any_prefix_of_four_hex_or_more_names_the_image(small, client, n):
    hexpart = small.id[7:]
    assert client.images.get(hexpart[:n]).id == small.id
    assert client.images.get("sha256:" + hexpart[:n]).id == small.id


def test_a_prefix_under_four_hex_is_a_name_not_an_id(small, client):
    """minidock's rule: 1-3 characters are too likely to be a repository name ("abc")."""
    with pytest.raises(ImageNotFound, match="No such image"):
        client.images.get(small.id[7:10])
    small.tag(small.id[7:10])
    assert client.images.get(small.id[7:10]).id == small.id


def test_an_ambiguous_prefix_is_refused_naming_the_candidates(client):
    first, second = colliding_configs()
    images = client.images.images
    ids = [images.add(first), images.add(second)]
    prefix = ids[0][7:11]
    with pytest.raises(APIError, match="ambiguous") as err:
        images.resolve(prefix)
    assert ids[0][7:19] in str(err.value) and ids[1][7:19] in str(err.value)
    common = next(i for i in range(4, 64) if ids[0][7 + i] != ids[1][7 + i])
    assert [images.resolve(i[7:7 + common + 1]) for i in ids] == ids
    err = one_line_error(run_cli("inspect", prefix), "ambiguous")
    assert ids[0][7:19] in err and ids[1][7:19] in err


def test_a_missing_image_is_image_not_found_an_api_error(client):
    assert issubclass(ImageNotFound, APIError)
    with pytest.raises(ImageNotFound, match="No such image: nosuch"):
        client.images.get("nosuch")
    with pytest.raises(ImageNotFound):
        client.images.get("sha256:" + "0" * 64)


def test_an_unknown_name_suggests_a_close_tag(busybox, client):
    with pytest.raises(ImageNotFound, match='did you mean "busybox"'):
        client.images.get("busybx")


# -- references -------------------------------------------------------------------

@pytest.mark.parametrize("name", ["busybox", "busybox:latest", "library/busybox", "docker.io/library/busybox",
                                  "docker.io/library/busybox:latest", "index.docker.io/library/busybox"])
def test_busybox_is_docker_io_library_busybox_latest(busybox, client, name):
    assert client.images.get(name).id == busybox.id


def test_tags_are_stored_canonical_and_shown_familiar(small, client):
    for ref in ["ouruser/sinatra:v2", "localhost:5000/team/app:v1", "docker.io/library/plain"]:
        small.tag(ref)
    tags = json.loads((client.store.root / "images.json").read_text())["tags"]
    assert set(tags) == {"docker.io/library/small:1", "docker.io/ouruser/sinatra:v2",
                         "localhost:5000/team/app:v1", "docker.io/library/plain:latest"}
    assert sorted(client.images.get("small:1").tags) == ["localhost:5000/team/app:v1", "ouruser/sinatra:v2",
                                                        "plain:latest", "small:1"]


def test_tagging_refuses_bad_references(small):
    with pytest.raises(InvalidReference):
        small.tag("Upper/Case")
    with pytest.raises(InvalidReference, match="digest"):
        small.tag("x@sha256:" + "a" * 64)


# -- the 127-layer limit --------------------------------------------------------------

def test_more_than_127_layers_is_refused_naming_aufs_and_nothing_is_stored(small, client):
    assert MAX_LAYERS == 127
    before = store_files(client.store.root)
    config = json.dumps({"rootfs": {"type": "layers", "diff_ids": [sha(str(i).encode()) for i in range(128)]}})
    with pytest.raises(APIError, match="AUFS"):
        client.images.images.add(config.encode())
    assert store_files(client.store.root) == before


# -- rmi ---------------------------------------------------------------------------

def test_rmi_untags_first_and_deletes_with_the_last_tag(small, client):
    small.tag("second", "2")
    layer_dirs = [client.store.layer_dir(c) for c in small.record.chain_ids]
    assert client.images.remove("second:2") == [("Untagged", "second:2")]
    assert client.images.get(small.id).tags == ["small:1"]
    lines = client.images.remove("small:1")
    assert lines[:2] == [("Untagged", "small:1"), ("Deleted", small.id)]
    assert {what for what, _ in lines} == {"Untagged", "Deleted"} and len(lines) == 4  # two layers
    assert not client.store.has_blob(small.id)
    assert not any(d.exists() for d in layer_dirs)
    assert client.store.blob_digests() == [] and list(client.store.layers.iterdir()) == []


def test_rmi_by_id_of_a_multiply_tagged_image_needs_force(small, client):
    small.tag("second", "2")
    with pytest.raises(Conflict, match="must be forced"):
        client.images.remove(small.id)
    assert client.images.get(small.id).tags == ["second:2", "small:1"]
    lines = client.images.remove(small.id[7:19], force=True)
    assert lines[:3] == [("Untagged", "second:2"), ("Untagged", "small:1"), ("Deleted", small.id)]
    assert client.images.list(all=True) == []


def test_rmi_refuses_an_image_a_container_uses_unless_forced(small, client):
    container = "c0ffee" + "0" * 58
    images = Images(client.store, in_use=lambda image_id: [container] if image_id == small.id else [])
    with pytest.raises(Conflict, match="container c0ffee000000 is using its referenced image"):
        images.remove("small:1")
    assert images.get("small:1").id == small.id
    assert ("Deleted", small.id) in images.remove("small:1", force=True)


def test_rmi_of_one_of_several_tags_untags_even_while_a_container_uses_the_image(small, client):
    images = Images(client.store, in_use=lambda image_id: ["c" * 64])
    small.tag("second", "2")
    assert images.remove("second:2") == [("Untagged", "second:2")]
    with pytest.raises(Conflict, match='repository reference "small:1"'):
        images.remove("small:1")


def test_rmi_of_the_last_tag_of_a_parent_only_untags_it(client):
    """docker: the image stays, untagged, while a child image needs it (images -a shows it)."""
    base, top = [small_layer("base")], [small_layer("base"), small_layer("top")]
    add_layers(client, top)
    images = client.images.images
    parent = images.add(image_config(base), tags=["parent:1"])
    images.add(image_config(top), tags=["child:1"], parent=parent)
    assert images.remove("parent:1") == [("Untagged", "parent:1")]
    assert images.get(parent).tags == []
    assert [r.id for r in images.list()] != [] and parent not in [r.id for r in images.list()]
    assert parent in [r.id for r in images.list(all=True)]


def test_rmi_refuses_an_image_with_children(client):
    base, top = [small_layer("base")], [small_layer("base"), small_layer("top")]
    add_layers(client, top)
    images = client.images.images
    parent = images.add(image_config(base))
    images.add(image_config(top), tags=["child:1"], parent=parent)
    with pytest.raises(Conflict, match="dependent child images"):
        images.remove(parent, force=True)
    images.remove("child:1", prune=False)   # --no-prune: the untagged parent stays
    assert images.remove(parent)[0] == ("Deleted", parent)


def test_rmi_deletes_the_untagged_parents_nothing_else_needs(client):
    """Docker's rule (``--no-prune`` off): a build's untagged steps go with the image, up to the first
    parent that is tagged, has another child or is used by a container."""
    layers = [small_layer("base"), small_layer("middle"), small_layer("top"), small_layer("other")]
    add_layers(client, layers[:3])
    images = client.images.images
    base = images.add(image_config(layers[:1]), tags=["base:1"])
    middle = images.add(image_config(layers[:2]), parent=base)
    top = images.add(image_config(layers[:3]), tags=["top:1"], parent=middle)
    lines = images.remove("top:1")
    assert [what for what, _ in lines if what == "Untagged"] == ["Untagged"]
    assert {top, middle} <= {subject for _, subject in lines} and base not in {s for _, s in lines}
    assert [i.id for i in client.images.list(all=True) if i.id in (base, middle, top)] == [base]
    # a parent with another child stays
    add_layers(client, layers[:3])
    add_layers(client, layers[:2] + layers[3:])
    middle = images.add(image_config(layers[:2]), parent=base)
    images.add(image_config(layers[:3]), tags=["top:1"], parent=middle)
    images.add(image_config(layers[:2] + layers[3:]), tags=["other:1"], parent=middle)
    images.remove("top:1")
    assert middle in {i.id for i in client.images.list(all=True)}


# -- prune and df -----------------------------------------------------------------------

def test_prune_removes_dangling_images_and_stray_layer_dirs(small, client):
    (untagged,) = client.images.load(docker_archive([small_layer("loaded untagged")], tags=()))
    first = client.images.import_image(io.BytesIO(small_layer("v1")), "moving:tag")
    client.images.import_image(io.BytesIO(small_layer("v2")), "moving:tag")  # first is dangling now
    stray = client.store.layers / ("ab" * 32)
    (stray / "diff").mkdir(parents=True)
    (stray / "diff" / "junk").write_bytes(b"x" * 10000)
    result = client.images.prune()
    deleted = [item["Deleted"] for item in result["ImagesDeleted"] if "Deleted" in item]
    assert {untagged.id, first.id} <= set(deleted) and "sha256:" + "ab" * 32 in deleted
    assert result["SpaceReclaimed"] >= 10000
    assert sorted(t for i in client.images.list(all=True) for t in i.tags) == ["moving:tag", "small:1"]
    assert not stray.exists()
    assert not client.store.layer_dir(first.attrs["RootFS"]["Layers"][0]).exists()


def test_prune_keeps_what_a_container_uses(client):
    (untagged,) = client.images.load(docker_archive([small_layer()], tags=()))
    images = Images(client.store, in_use=lambda image_id: ["c" * 64])
    assert images.prune()[0] == []
    assert images.get(untagged.id)


def test_df_counts_a_shared_base_layer_once(busybox, client):
    base = stored_layer(client, busybox)
    top = small_layer("on top")
    client.images.load(docker_archive([base, top], tags=["derived:1"]))
    df = client.df()
    rows = {r["RepoTags"][0]: r for r in df["Images"]}
    bb, derived = rows["busybox:latest"], rows["derived:1"]
    assert bb["Size"] == bb["SharedSize"] > 0 and bb["UniqueSize"] == 0
    assert derived["SharedSize"] == bb["Size"]
    assert derived["UniqueSize"] == derived["Size"] - bb["Size"] == len(b"on top")
    assert df["LayersSize"] == derived["Size"]
    assert len(list(client.store.layers.iterdir())) == 2


# -- history --------------------------------------------------------------------------

def test_history_of_a_loaded_image_has_missing_below_the_top(client):
    layers = [small_layer("a"), small_layer("bb"), small_layer("ccc")]
    (image,) = client.images.load(docker_archive(layers, tags=["three:1"]))
    rows = image.history()
    assert [r["Id"] for r in rows] == [image.id, "<missing>", "<missing>"]
    assert [r["CreatedBy"] for r in rows] == ["/bin/sh -c step 2", "/bin/sh -c step 1", "/bin/sh -c step 0"]
    assert [r["Size"] for r in rows] == [3, 2, 1]
    assert rows[0]["Tags"] == ["three:1"] and rows[1]["Tags"] == []


def test_history_names_local_parents(client):
    base, top = [small_layer("base")], [small_layer("base"), small_layer("top")]
    add_layers(client, top)
    images = client.images.images
    parent = images.add(image_config(base), tags=["parent:1"])
    child = images.add(image_config(top), tags=["child:1"], parent=parent)
    rows = client.images.get(child).history()
    assert [(r["Id"], r["Tags"]) for r in rows] == [(child, ["child:1"]), (parent, ["parent:1"])]
    assert client.images.get(child).attrs["Parent"] == parent


# -- the docker-py-like API ------------------------------------------------------------------

def test_from_env_lists_gets_and_inspects_like_docker_py(small, root):
    client = minidock.from_env()
    assert client.images.list() == [small]
    assert client.images.list(name="small") == [small] and client.images.list(name="other") == []
    image = client.images.get("small:1")
    assert image.id == small.id and image.tags == ["small:1"] and repr(image) == "<Image: 'small:1'>"
    attrs = image.attrs
    assert {"Id", "RepoTags", "RepoDigests", "Parent", "Comment", "Created", "Config", "Architecture",
            "Os", "Size", "RootFS"} <= set(attrs)
    assert attrs["Id"] == image.id and attrs["RepoTags"] == ["small:1"] and attrs["Parent"] == ""
    assert attrs["Config"]["Cmd"] == ["sh"] and attrs["Config"]["Entrypoint"] is None
    assert attrs["Architecture"] == "amd64" and attrs["Os"] == "linux"
    assert attrs["Size"] == len("hello") + len("world")
    assert attrs["RootFS"] == {"Type": "layers", "Layers": [sha(small_layer("hello")), sha(small_layer("world"))]}


def test_image_tag_and_remove(small, client):
    assert small.tag("again", tag="v2") is True
    assert small.tags == ["again:v2", "small:1"]
    assert client.images.remove("again:v2") == [("Untagged", "again:v2")]


def test_image_save_yields_chunks_of_a_loadable_archive(small, tmp_path):
    chunks = list(small.save(chunk_size=1024, named=True))
    assert len(chunks) > 1 and all(len(c) <= 1024 for c in chunks)
    other = minidock.Client(tmp_path / "other")
    (loaded,) = other.images.load(b"".join(chunks))
    assert loaded.id == small.id and loaded.tags == ["small:1"]
    (by_id,) = minidock.Client(tmp_path / "third").images.load(io.BytesIO(b"".join(small.save())))
    assert by_id.id == small.id and by_id.tags == []


def test_import_image_from_a_file_a_stream_and_a_directory(client, tmp_path):
    path = tmp_path / "rootfs.tar"
    path.write_bytes(small_layer())
    from_file = client.images.import_image(path, "imp", "file", changes=["CMD ls"], message="by file")
    from_stream = client.images.import_image(io.BytesIO(small_layer()), "imp:stream")
    (tmp_path / "dir" / "etc").mkdir(parents=True)
    (tmp_path / "dir" / "etc" / "greeting").write_text("hello")
    from_dir = client.images.import_image(tmp_path / "dir", "imp", "dir")
    assert from_file.tags == ["imp:file"] and from_stream.tags == ["imp:stream"] and from_dir.tags == ["imp:dir"]
    assert from_file.attrs["Config"]["Cmd"] == ["/bin/sh", "-c", "ls"]
    assert from_file.attrs["Comment"] == "by file"
    assert from_file.attrs["RootFS"] == from_stream.attrs["RootFS"]
