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
