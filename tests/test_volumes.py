"""Volumes and bind mounts: the engine (``client.volumes``, ``-v``/``--mount``/``--tmpfs``), the
``minidock volume`` commands, and the same through ``minidock daemon`` with both docker CLIs and docker-py.

The mount grammar and the volume records need nothing; running containers needs root; the daemon's
tests the docker CLI too.  After every container test nothing of the store or of the test's host
directory may be left mounted (/proc/self/mountinfo) and no process of the store may live on.
"""

from __future__ import annotations

import errno
import json
import os
import tempfile
from pathlib import Path

import pytest

from conftest import require_tool, run_cli
from minidock.containers.mounts import parse_bind, parse_mount, parse_mount_flag, requests_of
from minidock.errors import Conflict, InvalidParameter, NotFound
from test_containers import eventually, mounts_of, remove_all, store_processes
from test_daemon import _all_containers, clis, daemon  # noqa: F401  (daemon: the fixture)
from test_rootless import NOBODY, as_nobody  # noqa: F401  (as_nobody: the fixture)


# -- the grammar of -v, --mount and --tmpfs (pure) ------------------------------------------

def test_binds_are_read_as_docker_reads_them():
    named, host, anonymous = (parse_bind(s) for s in ("data:/data", "/srv/../etc:/x:ro", "/cache"))
    assert (named["Type"], named["Source"], named["Target"], named["Mode"], named["CopyUp"]) == \
        ("volume", "data", "/data", "z", True)
    assert (host["Type"], host["Source"], host["ReadOnly"], host["Mode"], host["CopyUp"]) == \
        ("bind", "/etc", True, "ro", False)
    assert (anonymous["Type"], anonymous["Source"], anonymous["Target"]) == ("volume", "", "/cache")
    assert parse_bind("data:/data:ro,nocopy")["CopyUp"] is False


@pytest.mark.parametrize("spec, message", [
    ("a/b:/x", 'includes invalid characters for a local volume name'),
    ("../x:/x", 'includes invalid characters for a local volume name'),
    ("v:/x", "volume name is too short"),
    ("data:relative", "mount path must be absolute"),
    ("data:/", "destination can't be '/'"),
    ("data:/proc/kcore", 'located inside "/proc"'),
    ("a:/b:ro:d", "invalid volume specification"),
    ("data:/x:bogus", "invalid mode: bogus"),
    ("/srv:/x:rshared", 'propagation "rshared"'),
])
def test_bad_binds_are_refused_with_docker_s_message(spec, message):
    with pytest.raises(InvalidParameter, match=message.replace("(", r"\(")):
        parse_bind(spec)


def test_mounts_and_tmpfs():
    assert parse_mount({"Type": "bind", "Source": "/srv", "Target": "/s", "ReadOnly": True})["ReadOnly"] is True
    for bad, message in [({"Type": "nfs", "Target": "/x"}, "mount type unknown"),
                         ({"Type": "bind", "Target": "/x"}, "field Source must not be empty"),
                         ({"Type": "volume", "Source": "v1"}, "field Target must not be empty"),
                         ({"Type": "volume", "Target": "/x", "Bogus": 1}, "unknown field Bogus"),
                         ({"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": "1g"}}, "whole number"),
                         ({"Type": "tmpfs", "Target": "/t", "TmpfsOptions": []}, "must be an object"),
                         ({"Type": "bind", "Source": "/s", "Target": "/t", "BindOptions": {"Propagation": "shared"}},
                          'propagation "shared"'),
                         ({"Type": "volume", "Target": "/t", "VolumeOptions": {"DriverConfig": {"Name": "nfs"}}},
                          "no labels, drivers")]:
        with pytest.raises(InvalidParameter, match=message):
            parse_mount(bad)
    flag = parse_mount_flag("type=bind,src=/srv,dst=/s,readonly")
    assert flag == {"Type": "bind", "Source": "/srv", "Target": "/s", "ReadOnly": True}
    assert parse_mount_flag("type=tmpfs,target=/t,tmpfs-size=1m")["TmpfsOptions"] == {"SizeBytes": 1 << 20}
    with pytest.raises(InvalidParameter, match="unexpected key 'colour'"):
        parse_mount_flag("type=volume,target=/x,colour=red")
    requests = requests_of(["v1:/a"], [], {"/run": "size=64m,noexec"}, {"/a": {}, "/b": {}})
    assert [(r["Type"], r["Target"], r["Listed"]) for r in requests] == \
        [("volume", "/a", True), ("tmpfs", "/run", False), ("volume", "/b", True)]
    with pytest.raises(InvalidParameter, match="invalid tmpfs option"):
        requests_of([], [], {"/run": "size=1m,context=x"}, {})
    with pytest.raises(InvalidParameter, match="Duplicate mount point: /a"):
        requests_of(["v1:/a", "/srv:/a"], [], {}, {})


# -- volumes in the store (no container) ------------------------------------------------------

def test_create_list_inspect_remove_and_prune(client, root):
    named = client.volumes.create("data", labels={"course": "07"})
    anonymous = client.volumes.create()
    assert len(anonymous.name) == 64 and "com.docker.volume.anonymous" in anonymous.attrs["Labels"]
    attrs = named.attrs
    assert attrs["Driver"] == "local" and attrs["Scope"] == "local" and attrs["Labels"] == {"course": "07"}
    assert Path(attrs["Mountpoint"]) == root / "volumes" / "data" / "_data" and Path(attrs["Mountpoint"]).is_dir()
    assert json.loads((root / "volumes" / "data" / "volume.json").read_text()) == attrs
    assert client.volumes.create("data") == named   # docker answers an existing name as it is
    assert [v.name for v in client.volumes.list(filters={"label": "course=07"})] == ["data"]
    assert [v.name for v in client.volumes.list(filters={"name": "dat"})] == ["data"]
    assert {v.name for v in client.volumes.list(filters={"dangling": True})} == {"data", anonymous.name}
    (Path(attrs["Mountpoint"]) / "f").write_text("12345")
    assert client.volumes.prune() == {"VolumesDeleted": [anonymous.name], "SpaceReclaimed": 0}
    assert client.volumes.prune(all=True) == {"VolumesDeleted": ["data"], "SpaceReclaimed": 5}
    assert client.volumes.list() == [] and list((root / "volumes").iterdir()) == []
    with pytest.raises(NotFound, match="get data: no such volume"):
        client.volumes.get("data")
    client.volumes.volumes.remove("data", force=True)   # force: a missing volume is no error


@pytest.mark.parametrize("name", ["../evil", "a/b", "..", "/abs", "x", "-dash"])
def test_hostile_volume_names_make_nothing(client, root, name):
    with pytest.raises(InvalidParameter):
        client.volumes.create(name)
    assert list((root / "volumes").iterdir()) == []
    assert not (root.parent / "evil").exists()
    with pytest.raises(NotFound):
        client.volumes.get(name)


def test_the_volume_commands(root):
    assert run_cli("volume", "create", "--label", "a=b", "data", check=True).stdout == b"data\n"
    assert run_cli("volume", "create", "other", check=True).stdout == b"other\n"
    table = run_cli("volume", "ls", check=True).stdout.decode().splitlines()
    assert table == ["DRIVER    VOLUME NAME", "local     data", "local     other"]
    assert run_cli("volume", "ls", "-q", "-f", "label=a=b", check=True).stdout == b"data\n"
    listed = run_cli("volume", "ls", "--format", "{{.Name}} {{.Driver}}", check=True).stdout
    assert listed == b"data local\nother local\n"
    inspected = json.loads(run_cli("volume", "inspect", "data", check=True).stdout)
    assert inspected[0]["Name"] == "data" and inspected[0]["Labels"] == {"a": "b"}
    assert run_cli("inspect", "-f", "{{.Mountpoint}}", "data", check=True).stdout.decode() == \
        f"{root / 'volumes' / 'data' / '_data'}\n"   # docker inspect finds volumes too
    bad = run_cli("volume", "create", "../x")
    assert bad.returncode == 1 and b"includes invalid characters" in bad.stderr and b"Traceback" not in bad.stderr
    missing = run_cli("volume", "rm", "data", "nosuch")
    assert missing.returncode == 1 and missing.stdout == b"data\n"
    assert missing.stderr == b"Error response from daemon: get nosuch: no such volume\n"
    assert run_cli("volume", "prune", "-f", check=True).stdout == b"Total reclaimed space: 0B\n"
    pruned = run_cli("volume", "prune", "-a", input=b"y\n", check=True).stdout.decode()
    assert "all local volumes not used" in pruned and "Deleted Volumes:\nother\n" in pruned
    anonymous = run_cli("volume", "create", check=True).stdout.decode().strip()
    run_cli("volume", "create", "named", check=True)
    pruned = run_cli("system", "prune", "-f", "--volumes", check=True).stdout.decode()
    assert f"Deleted Volumes:\n{anonymous}\n" in pruned
    assert run_cli("volume", "ls", "-q", check=True).stdout == b"named\n"


# -- containers with volumes, binds and tmpfs (root) ----------------------------------------

@pytest.fixture
def engine(busybox, client, root, tmp_path):
    """busybox's store; afterwards every container removed and nothing of the store or the test's host
    directories left mounted or running."""
    try:
        yield client
    finally:
        remove_all(client)
        assert eventually(lambda: not store_processes(root)), f"processes left: {store_processes(root)}"
        assert mounts_of(tmp_path) == []


def run(client, command: str, **kwargs) -> bytes:
    return client.containers.run("busybox", ["sh", "-c", command], network_mode="none", remove=True,
                                 stderr=True, **kwargs)


@pytest.mark.root
def test_a_named_volume_outlives_its_container_and_is_copied_up_from_the_image(engine, root):
    run(engine, "echo kept > /data/note", volumes={"notes": {"bind": "/data", "mode": "rw"}})
    assert (root / "volumes" / "notes" / "_data" / "note").read_text() == "kept\n"
    assert run(engine, "cat /data/note", volumes=["notes:/data"]) == b"kept\n"
    # copy-up: an empty new volume at /etc starts with the image's /etc, owner and mode too
    assert b"root:x:0:0" in run(engine, "cat /etc/passwd", volumes=["etcvol:/etc"])
    passwd = root / "volumes" / "etcvol" / "_data" / "passwd"
    assert passwd.read_text().startswith("root:") and passwd.stat().st_uid == 0
    passwd.write_text("changed\n")   # not empty any more: never copied over again
    assert run(engine, "cat /etc/passwd", volumes=["etcvol:/etc"]) == b"changed\n"
    # a bind is never filled; nocopy leaves a volume empty
    # nocopy: only the mount points of hosts, hostname and resolv.conf
    assert run(engine, "ls /etc | wc -l", volumes=["bare:/etc:nocopy"]).split() == [b"3"]


@pytest.mark.root
def test_read_only_mounts_refuse_writes(engine, tmp_path):
    (tmp_path / "host").mkdir()
    script = "touch /ro/f 2>&1; echo $?"
    out = run(engine, script, volumes=["vol:/ro:ro"]).decode()
    assert out.endswith("\n1\n") and os.strerror(errno.EROFS) in out
    out = run(engine, script, mounts=[{"Type": "bind", "Source": str(tmp_path / "host"), "Target": "/ro",
                                       "ReadOnly": True}]).decode()
    assert os.strerror(errno.EROFS) in out and list((tmp_path / "host").iterdir()) == []


@pytest.mark.root
def test_bind_mounts_both_ways_and_a_symlinked_source_is_resolved_on_the_host(engine, tmp_path):
    host = tmp_path / "host"
    host.mkdir()
    (host / "from-host").write_text("hello\n")
    assert run(engine, "cat /h/from-host; echo back > /h/from-container", volumes=[f"{host}:/h"]) == b"hello\n"
    assert (host / "from-container").read_text() == "back\n"
    # the host's symlink is followed on the host (Docker), not inside the container's root
    (tmp_path / "link").symlink_to(host)
    assert run(engine, "cat /h/from-host", volumes=[f"{tmp_path / 'link'}:/h"]) == b"hello\n"
    # -v makes a missing host directory; --mount type=bind refuses it, as Docker
    run(engine, "true", volumes=[f"{tmp_path / 'made'}:/m"])
    assert (tmp_path / "made").is_dir()
    with pytest.raises(InvalidParameter, match="bind source path does not exist"):
        run(engine, "true", mounts=[{"Type": "bind", "Source": str(tmp_path / "nosuch"), "Target": "/m"}])
    assert engine.containers.list(all=True) == []


@pytest.mark.root
def test_tmpfs(engine):
    out = run(engine, "echo x > /t/f && grep ' /t ' /proc/mounts", tmpfs={"/t": "size=1m"}).decode()
    assert out.startswith("tmpfs /t tmpfs rw,nosuid,nodev,noexec") and "size=1024k" in out


@pytest.mark.root
def test_in_use_volumes_are_kept_and_anonymous_ones_go_with_rm_v_and_auto_remove(engine):
    holder = engine.containers.create("busybox", "true", volumes=["data:/data"], network_mode="none")
    with pytest.raises(Conflict, match=f"remove data: volume is in use - \\[{holder.id}\\]"):
        engine.volumes.get("data").remove()
    assert engine.volumes.prune(all=True)["VolumesDeleted"] == []
    assert [c.id for c in engine.containers.list(all=True, filters=None)] == [holder.id]
    holder.remove()
    engine.volumes.get("data").remove()
    kept = engine.containers.create("busybox", "true", volumes=["/anon"], network_mode="none")
    (anonymous,) = engine.volumes.list()
    kept.remove()   # without v: the anonymous volume stays, as Docker's
    assert engine.volumes.list() == [anonymous]
    anonymous.remove()
    gone = engine.containers.create("busybox", "true", volumes=["/anon"], network_mode="none")
    gone.remove(v=True)
    assert engine.volumes.list() == []
    run(engine, "true", volumes=["/anon"])   # --rm: the shim removes the container and its anonymous volume
    assert eventually(lambda: engine.volumes.list() == [])
    assert engine.containers.list(all=True) == []


@pytest.mark.root
def test_inspect_and_ps_show_the_mounts(engine, root, tmp_path):
    c = engine.containers.create("busybox", "true", volumes=["data:/data", f"{tmp_path}:/h:ro", "/anon"],
                                 tmpfs={"/t": ""}, network_mode="none")
    mounts = {m["Destination"]: m for m in c.attrs["Mounts"]}
    assert set(mounts) == {"/data", "/h", "/anon"}   # --tmpfs is not listed, as in Docker
    assert mounts["/data"] == {"Type": "volume", "Name": "data", "Source": str(root / "volumes/data/_data"),
                               "Destination": "/data", "Driver": "local", "Mode": "z", "RW": True, "Propagation": ""}
    assert mounts["/h"] == {"Type": "bind", "Source": str(tmp_path), "Destination": "/h", "Mode": "ro", "RW": False,
                            "Propagation": "rprivate"}
    assert c.attrs["HostConfig"]["Tmpfs"] == {"/t": ""}
    assert run_cli("ps", "-aq", "--filter", "volume=data", check=True).stdout.decode().strip() == c.short_id
    assert run_cli("ps", "-aq", "--filter", "volume=other", check=True).stdout == b""


@pytest.mark.root
def test_run_flags_of_the_cli(engine, root, tmp_path):
    (tmp_path / "h").mkdir()
    out = run_cli("run", "--rm", "--network", "none", "-v", "data:/data", "-v", f"{tmp_path / 'h'}:/h",
                  "--mount", "type=volume,source=more,target=/more", "--tmpfs", "/t:size=1m",
                  "busybox", "sh", "-c",
                  "echo 1 > /data/a; echo 2 > /h/b; echo 3 > /more/c; grep -c ' /t ' /proc/mounts",
                  check=True)
    assert out.stdout == b"1\n"
    assert (root / "volumes/data/_data/a").read_text() == "1\n" and (tmp_path / "h" / "b").read_text() == "2\n"
    assert (root / "volumes/more/_data/c").read_text() == "3\n"
    bad = run_cli("run", "--rm", "--mount", "type=volume,bogus=1,target=/x", "busybox", "true")
    assert bad.returncode == 125
    assert b'invalid argument "type=volume,bogus=1,target=/x" for "--mount" flag' in bad.stderr
    bad = run_cli("run", "--rm", "-v", "../x:/x", "busybox", "true")
    assert bad.returncode == 125 and b"includes invalid characters" in bad.stderr
    assert run_cli("volume", "ls", "-q", check=True).stdout == b"data\nmore\n"
    assert run_cli("ps", "-aq", check=True).stdout == b""


# -- through minidock daemon: both docker CLIs and docker-py --------------------------------

@pytest.mark.root
@pytest.mark.peers("docker")
@pytest.mark.parametrize("cli", clis())
def test_the_docker_cli_drives_volumes(daemon, cli, tmp_path):
    def docker(*args, code=0):
        proc = daemon.docker(cli, *args)
        assert proc.returncode == code, proc.stderr
        return proc.stdout.decode() + proc.stderr.decode()

    assert docker("volume", "create", "vol1") == "vol1\n"
    assert docker("volume", "ls").splitlines() == ["DRIVER    VOLUME NAME", "local     vol1"]
    assert json.loads(docker("volume", "inspect", "vol1"))[0]["Mountpoint"] == \
        str(tmp_path / "store" / "volumes" / "vol1" / "_data")
    docker("run", "--rm", "--network", "none", "-v", "vol1:/data", "busybox", "sh", "-c", "echo one > /data/f")
    out = docker("run", "--rm", "--network", "none", "-v", "vol1:/data:ro", "busybox", "sh", "-c",
                 "cat /data/f; touch /data/x", code=1)
    assert "one" in out and "Read-only file system" in out
    assert docker("run", "--rm", "--network", "none", "--mount", "type=volume,src=vol1,dst=/d", "--tmpfs", "/t",
                  "busybox", "sh", "-c", "cat /d/f; grep -c ' /t ' /proc/mounts") == "one\n1\n"
    out = docker("run", "--rm", "--mount", "type=bind,source=/nonexist,target=/x", "busybox", "true", code=125)
    assert "bind source path does not exist: /nonexist" in out
    out = docker("run", "--rm", "--mount", "type=nfs,target=/x", "busybox", "true", code=125)
    assert 'invalid mount config for type "nfs": mount type unknown' in out
    cid = docker("run", "-d", "--network", "none", "-v", "vol1:/data", "busybox", "sleep", "30").strip()
    assert f"remove vol1: volume is in use - [{cid}]" in docker("volume", "rm", "vol1", code=1)
    assert docker("ps", "-q", "--no-trunc", "--filter", "volume=vol1").strip() == cid
    mounts = json.loads(docker("inspect", "-f", "{{json .Mounts}}", cid))
    assert [(m["Type"], m["Name"], m["Destination"]) for m in mounts] == [("volume", "vol1", "/data")]
    docker("rm", "-f", cid)
    docker("run", "--rm", "--network", "none", "-v", "/anon", "busybox", "true")
    assert docker("volume", "ls", "-q") == "vol1\n"   # --rm took the anonymous volume along
    assert "includes invalid characters" in docker("volume", "create", "../x", code=1)
    assert not (tmp_path / "store" / "x").exists() and not (tmp_path / "x").exists()
    docker("volume", "rm", "vol1")
    assert docker("volume", "ls", "-q") == ""
    assert mounts_of(tmp_path) == []


@pytest.mark.root
@pytest.mark.peers("docker")
def test_docker_py_drives_volumes(daemon, tmp_path):
    docker = pytest.importorskip("docker", reason="needs the docker package (make setup installs the test extra)")
    client = docker.DockerClient(base_url=f"unix://{daemon.sock}")
    volume = client.volumes.create("pyvol", labels={"by": "docker-py"})
    assert client.volumes.get("pyvol").attrs["Labels"] == {"by": "docker-py"}
    assert [v.name for v in client.volumes.list()] == ["pyvol"]
    out = client.containers.run("busybox", ["sh", "-c", "echo py > /v/f; cat /v/f"], network_mode="none",
                                volumes={"pyvol": {"bind": "/v", "mode": "rw"}}, remove=True)
    assert out == b"py\n"
    assert client.containers.run("busybox", ["cat", "/v/f"], network_mode="none", volumes=["pyvol:/v:ro"],
                                 remove=True) == b"py\n"
    anonymous = client.volumes.create()
    pruned = client.volumes.prune()
    assert anonymous.name in pruned["VolumesDeleted"] and "SpaceReclaimed" in pruned
    with pytest.raises(docker.errors.NotFound):
        client.volumes.get("nosuch")
    with pytest.raises(docker.errors.APIError) as bad:
        client.volumes.create("../evil")
    assert bad.value.status_code == 400
    volume.remove()
    assert client.volumes.list() == []
    client.close()
    assert mounts_of(tmp_path) == []


@pytest.mark.root
@pytest.mark.peers("docker")
@pytest.mark.parametrize("body, message", [
    ({"Image": "busybox", "HostConfig": {"Binds": ["a:b:c:d"]}}, "invalid volume specification: 'a:b:c:d'"),
    ({"Image": "busybox", "HostConfig": {"Binds": ["../etc:/x"]}}, "includes invalid characters"),
    ({"Image": "busybox", "HostConfig": {"Mounts": [{"Type": "nfs", "Target": "/x"}]}},
     "mount type unknown"),
    ({"Image": "busybox", "HostConfig": {"Tmpfs": {"/t": "context=x"}}}, "invalid tmpfs option"),
    ({"Image": "busybox", "HostConfig": {"Binds": "notalist"}}, "HostConfig.Binds has the wrong type"),
])
def test_bad_mounts_are_400_and_make_nothing(daemon, body, message, tmp_path):
    status, data = daemon.request("POST", "/v1.43/containers/create", json.dumps(body).encode(),
                                  {"Content-Type": "application/json"})
    assert status == 400 and message in json.loads(data)["message"]
    assert _all_containers(daemon) == [] and list((tmp_path / "store" / "volumes").iterdir()) == []
    status, data = daemon.request("POST", "/volumes/create", json.dumps({"Name": "../evil"}).encode())
    assert status == 400 and list((tmp_path / "store" / "volumes").iterdir()) == []
    assert daemon.request("GET", "/volumes/..")[0] == 404
    status, data = daemon.request("GET", "/volumes")
    assert status == 200 and json.loads(data) == {"Volumes": [], "Warnings": None}


# -- the other run modes ----------------------------------------------------------------------

def test_emulated_mode_binds_with_proot_and_refuses_what_proot_cannot_do(busybox, tmp_path):
    require_tool("proot")
    env = os.environ | {"MINIDOCK_MODE": "chroot-emulated"}
    host = tmp_path / "host"
    host.mkdir()
    (host / "f").write_text("from host\n")
    out = run_cli("run", "--rm", "-v", "ev:/etc", "-v", f"{host}:/h", "busybox", "sh", "-c",
                  "cat /h/f; echo back > /h/b; head -c 5 /etc/passwd; echo; cat /etc/hostname", env=env)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.decode().splitlines()
    assert lines[:2] == ["from host", "root:"] and len(lines) == 3 and lines[2]   # copy-up, and /etc/hostname
    assert (host / "b").read_text() == "back\n"
    for flags in (["-v", "ev:/etc:ro"], ["--tmpfs", "/t"]):
        refused = run_cli("run", "--rm", *flags, "busybox", "true", env=env)
        assert refused.returncode == 125 and refused.stderr.count(b"\n") == 1
        assert b"not supported in chroot-emulated mode" in refused.stderr
    assert run_cli("ps", "-aq", env=env).stdout == b""


@pytest.mark.root
@pytest.mark.peers("setpriv")
def test_rootless_volumes_and_binds_of_what_the_user_can_read(as_nobody):
    as_nobody("bootstrap", "busybox")
    shared = as_nobody.home / "shared"
    shared.mkdir()
    os.chown(shared, NOBODY, NOBODY)
    out = as_nobody("run", "--rm", "-v", "rv:/data", "-v", f"{shared}:/s", "--tmpfs", "/t", "busybox", "sh", "-c",
                    "echo 1 > /data/a; echo 2 > /s/b; echo 3 > /t/c; cat /data/a /s/b /t/c").stdout
    assert out.split() == ["1", "2", "3"]
    assert (shared / "b").stat().st_uid == NOBODY   # root inside is the user outside
    assert as_nobody("run", "--rm", "-v", "rv:/data:ro", "busybox", "cat", "/data/a").stdout == "1\n"
    secret = Path(tempfile.mkdtemp(prefix="minidock-secret-"))   # root's, mode 0700
    try:
        refused = as_nobody("run", "--rm", "-v", f"{secret}:/x", "busybox", "true", check=False)
        assert refused.returncode == 125 and "is not readable by this user" in refused.stderr
    finally:
        os.rmdir(secret)
    assert as_nobody("volume", "ls", "-q").stdout == "rv\n"


@pytest.mark.root
def test_an_image_s_volume_is_an_anonymous_volume_as_in_docker(engine, tmp_path):
    """VOLUME in a Dockerfile: each container gets an anonymous volume there, filled from the image;
    a later RUN's writes under it are not in the image (the classic builder's well-known rule)."""
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "Dockerfile").write_text("FROM busybox\nRUN mkdir /data && echo image > /data/f\n"
                                                 "VOLUME /data\nRUN echo lost > /data/g\n")
    run_cli("build", "-q", "-t", "withvol:1", str(tmp_path / "ctx"), check=True)
    assert engine.volumes.list() == []   # the build's containers took their anonymous volumes along
    c = engine.containers.create("withvol:1", ["sh", "-c", "ls /data; echo run > /data/h"], network_mode="none")
    (mount,) = c.attrs["Mounts"]
    assert mount["Type"] == "volume" and mount["Destination"] == "/data" and len(mount["Name"]) == 64
    c.start()
    assert c.wait()["StatusCode"] == 0 and c.logs() == b"f\n"
    assert Path(mount["Source"], "h").read_text() == "run\n"
    assert c.diff() == []   # the volume's files are not the container's layer
    c.remove(v=True)
    assert engine.volumes.list() == []
