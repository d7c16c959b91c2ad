"""Config, HostConfig and ExecConfig: the Engine API's names, and docker-py's keyword arguments mapped into them."""

from __future__ import annotations

import pytest

from minidock.api.containers import create_config, port_bindings
from minidock.containers.config import Config, ExecConfig, HostConfig
from minidock.containers.container import publish_specs
from minidock.errors import APIError
from minidock.runtime.network import parse_publish


def test_defaults_are_the_engine_apis_and_never_shared():
    a, b = Config(Image="busybox"), Config(Image="busybox")
    a.Env.append("A=1")
    assert b.Env == [] and b.Labels == {} and b.Cmd is None and b.Entrypoint is None
    assert HostConfig().NetworkMode == "bridge" and HostConfig().PortBindings == {}
    assert ExecConfig(Cmd=["sh"]).AttachStdout is True


def test_an_unknown_field_is_refused():
    with pytest.raises(TypeError, match="HostConfig has no field Memroy"):
        HostConfig(Memroy=1)


def test_records_compare_and_show_what_differs_from_the_defaults():
    assert HostConfig(Memory=5) == HostConfig(Memory=5) != HostConfig(Memory=6)
    assert repr(HostConfig(Memory=5)) == "HostConfig(Memory=5)"


def test_docker_py_keyword_arguments_become_config_and_host_config():
    config, host = create_config(
        "busybox", "sh -c 'echo hi'", environment={"A": "1"}, working_dir="/tmp", user="nobody", tty=True,
        stdin_open=True, labels=["x"], entrypoint="/bin/env -i", network_mode="none", mem_limit="64m",
        pids_limit=10, nano_cpus=500_000_000, read_only=True, init=True, auto_remove=True, hostname=None)
    assert config == Config(Image="busybox", Cmd=["sh", "-c", "echo hi"], Env=["A=1"], WorkingDir="/tmp",
                            User="nobody", Tty=True, OpenStdin=True, Labels={"x": ""},
                            Entrypoint=["/bin/env", "-i"])
    assert host == HostConfig(NetworkMode="none", Memory=64 << 20, PidsLimit=10, NanoCpus=500_000_000,
                              ReadonlyRootfs=True, Init=True, AutoRemove=True)


def test_an_unknown_keyword_argument_is_refused_as_docker_py_refuses_it():
    with pytest.raises(TypeError, match="unexpected keyword argument 'mem_limt'"):
        create_config("busybox", mem_limt="1g")


@pytest.mark.parametrize("ports, bindings", [
    ({"80/tcp": 8080}, {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}),
    ({80: ("127.0.0.2", 8080)}, {"80/tcp": [{"HostIp": "127.0.0.2", "HostPort": "8080"}]}),
    ({"80/tcp": None}, {"80/tcp": [{"HostIp": "", "HostPort": ""}]}),
    ({"80/tcp": [8080, 8081]}, {"80/tcp": [{"HostIp": "", "HostPort": "8080"}, {"HostIp": "", "HostPort": "8081"}]}),
    (["8080:80", "127.0.0.1::81"], {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}],
                                    "81/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}]}),
])
def test_ports_as_port_bindings_and_back(ports, bindings):
    assert port_bindings(ports) == bindings
    published = [parse_publish(spec) for spec in publish_specs(bindings)]
    wanted = [(b["HostIp"] or "127.0.0.1", int(b["HostPort"]) if b["HostPort"] else None, int(p.split("/")[0]), "tcp")
              for p, hosts in bindings.items() for b in hosts]
    assert published == wanted


def test_a_published_port_off_loopback_is_refused_on_the_way_in():
    with pytest.raises(APIError, match="only on 127.0.0.0/8"):
        port_bindings(["0.0.0.0:8080:80"])
    with pytest.raises(APIError, match="only on 127.0.0.0/8"):
        [parse_publish(s) for s in publish_specs({"80/tcp": [{"HostIp": "10.0.0.1", "HostPort": "80"}]})]


def test_the_bundle_spec_says_in_the_kernels_terms_what_the_record_says(tmp_path):
    """``spec.json`` is OCI-shaped: the process, the root, the mounts, the limits; the overlay and network are ours."""
    from minidock.containers.bundle import spec_of, write_spec
    from minidock.images.store import Store
    from minidock.runtime import spec as specfile
    from minidock.runtime.syscalls import DEFAULT_CAPABILITIES
    store = Store(tmp_path / "store")
    config = {"Id": "c" * 64, "Driver": "overlay", "Layers": ["sha256:" + "a" * 64, "sha256:" + "b" * 64],
              "Tty": True, "Path": "sh", "Args": ["-c", "true"], "Env": ["A=1"], "WorkingDir": "/srv",
              "User": "nobody", "ReadonlyRootfs": True, "Hostname": "box", "Memory": 64 << 20, "PidsLimit": None,
              "Cpus": 1.5, "NetworkMode": "none", "Ports": [], "OpenStdin": False, "Init": True}
    spec = spec_of(config, store)
    caps = ["CAP_" + c for c in DEFAULT_CAPABILITIES]   # Docker's defaults: no field says otherwise
    assert spec["process"] == {"terminal": True, "args": ["sh", "-c", "true"], "env": ["A=1"], "cwd": "/srv",
                               "user": {"username": "nobody"}, "noNewPrivileges": False,
                               "capabilities": {"bounding": caps, "effective": caps, "permitted": caps}}
    assert spec["linux"]["seccomp"]["defaultAction"] == "SCMP_ACT_ERRNO"
    assert spec["root"] == {"path": "merged", "readonly": True} and spec["hostname"] == "box"
    assert [m["destination"] for m in spec["mounts"]] == ["/etc/hosts", "/etc/hostname", "/etc/resolv.conf"]
    assert spec["linux"]["resources"]["memory"]["limit"] == 64 << 20 and specfile.cpus(spec) == 1.5
    lowers = spec["minidock"]["overlay"]["lowerdir"]
    assert lowers[0].endswith("/init") and lowers[1] == str(store.layer_dir("sha256:" + "b" * 64) / "diff")
    vfs = spec_of(config | {"Driver": "vfs"}, store)
    assert vfs["root"]["path"] == "rootfs" and vfs["minidock"]["overlay"] is None
    (store.root / "containers" / config["Id"]).mkdir(parents=True)
    assert specfile.read(write_spec(config, store)) == spec
