"""``docker login`` against ``minidock daemon`` (``POST /auth``) and the credentials the docker CLI and
docker-py send with each push and pull (``X-Registry-Auth``): the daemon keeps none of its own."""

from __future__ import annotations

import base64
import json

import pytest

from minidock.api.registry import RegistryServer

from test_daemon import clis, daemon  # noqa: F401  (the fixture: a private minidock daemon)
from test_registry_server import htpasswd_file

pytestmark = [pytest.mark.root, pytest.mark.peers("docker")]


@pytest.fixture
def private_registry(tmp_path):
    with RegistryServer(tmp_path / "reg", htpasswd=htpasswd_file(tmp_path / "htpasswd", "alice", "s3cret")) as server:
        yield server.address.removeprefix("http://")


@pytest.mark.parametrize("cli", clis())
def test_docker_login_push_and_pull_through_the_daemon(daemon, private_registry, cli, tmp_path):
    daemon.env["MINIDOCK_CONFIG"] = str(tmp_path / "daemon-has-no-credentials")
    wrong = daemon.docker(cli, "login", "-u", "alice", "--password-stdin", private_registry, input=b"nope\n")
    assert wrong.returncode == 1
    assert f"Error response from daemon: login attempt to {private_registry} failed with status: 401 Unauthorized" \
        in wrong.stderr.decode()
    image = f"{private_registry}/course/busybox:v1"
    assert daemon.docker(cli, "tag", "busybox", image).returncode == 0
    anonymous = daemon.docker(cli, "push", image)
    assert anonymous.returncode == 1 and b"unauthorized" in anonymous.stderr, anonymous.stderr
    ok = daemon.docker(cli, "login", "-u", "alice", "--password-stdin", private_registry, input=b"s3cret\n")
    assert ok.returncode == 0 and b"Login Succeeded" in ok.stdout, ok.stderr
    saved = json.loads((tmp_path / "docker-config" / "config.json").read_text())
    assert base64.b64decode(saved["auths"][private_registry]["auth"]) == b"alice:s3cret"   # the CLI keeps them
    assert not (tmp_path / "daemon-has-no-credentials").exists()                           # the daemon does not
    pushed = daemon.docker(cli, "push", image)
    assert pushed.returncode == 0, pushed.stderr
    assert daemon.docker(cli, "rmi", image).returncode == 0
    pulled = daemon.docker(cli, "pull", image)
    assert pulled.returncode == 0 and image.encode() in pulled.stdout, pulled.stderr


def test_docker_py_sends_auth_config(daemon, private_registry):
    docker = pytest.importorskip("docker")
    client = docker.DockerClient(base_url=daemon.env["DOCKER_HOST"])
    assert client.login("alice", "s3cret", registry=private_registry)["Status"] == "Login Succeeded"
    with pytest.raises(docker.errors.APIError) as refused:
        client.login("alice", "wrong", registry=private_registry, reauth=True)
    assert refused.value.status_code == 401
    image = client.images.get("busybox")
    image.tag(f"{private_registry}/py/busybox", "v2")
    out = client.images.push(f"{private_registry}/py/busybox", "v2", auth_config={"username": "alice", "password": "s3cret"})
    assert '"error"' not in out
    client.images.remove(f"{private_registry}/py/busybox:v2")
    pulled = client.images.pull(f"{private_registry}/py/busybox", "v2", auth_config={"username": "alice", "password": "s3cret"})
    assert pulled.id == image.id
    client.images.remove(f"{private_registry}/py/busybox:v2")
    with pytest.raises(docker.errors.APIError):   # docker-py reads past the stream's error, then finds no image
        client.images.pull(f"{private_registry}/py/busybox", "v2", auth_config={"username": "alice", "password": "x"})
    client.close()


@pytest.mark.parametrize("method, path, body, headers", [
    ("POST", "/auth", b"[1]", {}),
    ("POST", "/auth", b'{"password": "x"}', {}),
    ("POST", "/auth", b"{not json", {}),
    ("POST", "/images/create?fromImage=127.0.0.1:1/x&tag=v1", b"", {"X-Registry-Auth": "%%%"}),
    ("POST", "/images/create?fromImage=127.0.0.1:1/x&tag=v1", b"", {"X-Registry-Auth": "WzFd"}),   # [1]
])
def test_malformed_credentials_are_a_400(daemon, method, path, body, headers):
    status, data = daemon.request(method, path, body, headers)
    assert status == 400 and json.loads(data)["message"], data


@pytest.mark.parametrize("cli", clis())
def test_what_fails_before_the_pull_begins_is_the_daemons_error_response(daemon, private_registry, cli):
    assert daemon.docker(cli, "login", "-u", "alice", "--password-stdin", private_registry, input=b"s3cret\n").returncode == 0
    missing = daemon.docker(cli, "pull", f"{private_registry}/nosuch:v1")
    assert missing.returncode == 1 and missing.stdout == b""
    assert missing.stderr.decode().startswith(f"Error response from daemon: {private_registry}: name unknown")
    run = daemon.docker(cli, "run", "--rm", f"{private_registry}/nosuch:v1")
    assert run.returncode == 125 and b"docker: Error response from daemon" in run.stderr
