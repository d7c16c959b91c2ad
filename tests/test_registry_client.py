"""minidock's pull and push against the real distribution registry, real clients, and a misbehaving double.

The real registry is Debian's ``docker-registry`` (distribution 2.8), started
here on 127.0.0.1 with its own storage under the test's temp dir and stopped by
its PID.  Nothing talks to any other address.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import bcrypt
import pytest

import minidock
from archives import entry, sha, store_files, tar_of
from conftest import require_tool, run_cli
from registry_double import Double
from test_interop_images import CGROUP_PARENT, HELLO, Podman, _remove_new_cgroups, skopeo

pytestmark = pytest.mark.peers("docker-registry")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Distribution:
    """``docker-registry serve`` on 127.0.0.1:PORT, optionally behind an htpasswd file."""

    def __init__(self, base: Path, users: dict[str, str] | None = None):
        exe = require_tool("docker-registry")
        base.mkdir(parents=True)
        self.host = f"127.0.0.1:{free_port()}"
        config = ["version: 0.1", "log:", "  level: error", "storage:", "  filesystem:",
                  f"    rootdirectory: {base / 'data'}", "  delete:", "    enabled: true",
                  "http:", f"  addr: {self.host}"]
        if users:
            htpasswd = base / "htpasswd"
            htpasswd.write_text("".join(f"{u}:{bcrypt.hashpw(p.encode(), bcrypt.gensalt(5)).decode()}\n"
                                        for u, p in users.items()))
            config += ["auth:", "  htpasswd:", "    realm: minidock-test", f"    path: {htpasswd}"]
        (base / "config.yml").write_text("\n".join(config) + "\n")
        self.proc = subprocess.Popen([exe, "serve", str(base / "config.yml")], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(tuple(self.host.split(":")), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline and self.proc.poll() is None, self.proc.stderr.read()
                time.sleep(0.05)

    def stop(self) -> None:
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stderr.close()


@pytest.fixture
def registry(tmp_path):
    reg = Distribution(tmp_path / "registry")
    yield reg
    reg.stop()


@pytest.fixture
def locked_registry(tmp_path):
    reg = Distribution(tmp_path / "locked", users={"ann": "s3cret"})
    yield reg
    reg.stop()


@pytest.fixture(autouse=True)
def own_config(tmp_path, monkeypatch):
    """Credentials and mirrors in a config dir of the test's own."""
    monkeypatch.setenv("MINIDOCK_CONFIG", str(tmp_path / "config"))
    monkeypatch.delenv("MINIDOCK_REGISTRY_MIRROR", raising=False)


def other_store(tmp_path, name: str = "other") -> dict:
    return os.environ | {"MINIDOCK_ROOT": str(tmp_path / name)}


def cli(*args: str, env=None, input: bytes | None = None) -> subprocess.CompletedProcess:
    return run_cli(*args, env=env, input=input)


# -- against the real registry -------------------------------------------------

@pytest.fixture
def podman(tmp_path_factory):
    """An empty podman store (a short path: podman refuses a runroot over 50 characters)."""
    cgroups_before = set(Path("/sys/fs/cgroup").glob(f"*/{CGROUP_PARENT}"))
    yield Podman(tmp_path_factory.mktemp("pm"))
    _remove_new_cgroups(cgroups_before)


def test_push_is_read_by_skopeo_and_run_by_podman(busybox, registry, podman):
    target = f"{registry.host}/library/busybox:1"
    run_cli("tag", "busybox", target, check=True)
    pushed = run_cli("push", target, check=True).stdout.decode().splitlines()
    assert pushed[0] == f"The push refers to repository [{registry.host}/library/busybox]"
    assert pushed[1].endswith(": Pushed") and pushed[-1].startswith("1: digest: sha256:")
    info = skopeo("inspect", "--tls-verify=false", f"docker://{target}")
    assert busybox.attrs["RootFS"]["Layers"] == json.loads(info)["Layers"]
    podman("pull", "-q", "--tls-verify=false", target)
    assert podman.run(target, "echo hello; cat /etc/passwd | head -1") == HELLO
    # again: nothing to send; to another repository: mounted, not sent
    assert run_cli("push", target, check=True).stdout.decode().splitlines()[1].endswith(": Layer already exists")
    run_cli("tag", "busybox", f"{registry.host}/other/bb:2", check=True)
    mounted = run_cli("push", f"{registry.host}/other/bb:2", check=True).stdout.decode().splitlines()
    assert mounted[1].endswith(": Mounted from library/busybox")


def test_pull_of_a_skopeo_push_runs_and_shares_layers(busybox, registry, tmp_path):
    archive = tmp_path / "bb.tar"
    run_cli("save", "-o", str(archive), "busybox", check=True)
    skopeo("copy", "-q", "--dest-tls-verify=false", f"docker-archive:{archive}",
           f"docker://{registry.host}/sk/bb:latest")  # skopeo gzips the layer on the way
    env = other_store(tmp_path)
    lines = cli("pull", f"{registry.host}/sk/bb", env=env).stdout.decode().splitlines()
    assert lines[0] == "Using default tag: latest" and lines[1] == "latest: Pulling from sk/bb"
    assert lines[-2] == f"Status: Downloaded newer image for {registry.host}/sk/bb:latest"
    assert lines[-1] == f"{registry.host}/sk/bb:latest"
    image = minidock.Client(tmp_path / "other").images.get(f"{registry.host}/sk/bb")
    assert image.id == busybox.id  # the same config: the same image, whatever the compression on the way
    proc = cli("run", "--rm", "--network", "none", f"{registry.host}/sk/bb", "echo", "hi", env=env)
    assert proc.stdout == b"hi\n", proc.stderr
    again = cli("pull", "-q", f"{registry.host}/sk/bb", env=env).stdout.decode()
    assert again == f"{registry.host}/sk/bb:latest\n"
    digests = cli("images", "--digests", "--format", "{{.Digest}}", env=env).stdout.decode().split()
    assert digests and digests[0].startswith("sha256:")


def test_htpasswd_registry_needs_login(busybox, locked_registry, tmp_path):
    target = f"{locked_registry.host}/private/bb:1"
    run_cli("tag", "busybox", target, check=True)
    refused = run_cli("push", target)
    assert refused.returncode == 1
    assert f"run 'minidock login {locked_registry.host}'" in refused.stderr.decode()
    wrong = run_cli("login", "-u", "ann", "--password-stdin", locked_registry.host, input=b"nope\n")
    assert wrong.returncode == 1 and b"unauthorized" in wrong.stderr.lower()
    ok = run_cli("login", "-u", "ann", "--password-stdin", locked_registry.host, input=b"s3cret\n")
    assert ok.stdout == b"Login Succeeded\n", ok.stderr
    auth_file = tmp_path / "config" / "auth.json"
    assert auth_file.stat().st_mode & 0o777 == 0o600 and b"s3cret" not in auth_file.read_bytes()
    run_cli("push", target, check=True)
    env = other_store(tmp_path)
    assert cli("pull", "-q", target, env=env).returncode == 0
    skopeo("inspect", "--tls-verify=false", "--creds", "ann:s3cret", f"docker://{target}")
    assert run_cli("logout", locked_registry.host).stdout == f"Removing login credentials for {locked_registry.host}\n".encode()
    assert cli("pull", target, env=other_store(tmp_path, "third")).returncode == 1


def test_docker_io_goes_to_the_mirror_or_nowhere(busybox, registry, tmp_path, monkeypatch):
    run_cli("tag", "busybox", f"{registry.host}/library/busybox:latest", check=True)
    run_cli("push", f"{registry.host}/library/busybox:latest", check=True)
    env = other_store(tmp_path)
    refused = cli("pull", "busybox", env=env)
    assert refused.returncode == 1 and b"no network" in refused.stderr and b"MINIDOCK_REGISTRY_MIRROR" in refused.stderr
    pulled = cli("pull", "busybox", env=env | {"MINIDOCK_REGISTRY_MIRROR": f"http://{registry.host}"})
    assert pulled.stdout.decode().splitlines()[-1] == "docker.io/library/busybox:latest", pulled.stderr
    assert cli("push", "busybox", env=env).stderr.decode().startswith("minidock: cannot push to Docker Hub")


# -- the token flow and a registry that misbehaves -------------------------------------

LAYERS = [tar_of(entry("one", b"1" * 5000)), tar_of(entry("two", b"2" * 7000))]


def test_bearer_token_flow(client, tmp_path):
    from minidock.registry import auth
    with Double(LAYERS, token_auth=("bob", "pw")) as double:
        with pytest.raises(minidock.errors.APIError, match="token server refused"):
            client.images.pull(f"{double.host}/{double.REPO}")
        auth.save(double.host, "bob", "pw")
        trace: list = []
        image = client.images.pull(f"{double.host}/{double.REPO}", trace=trace)
        assert image.attrs["RootFS"]["Layers"] == [sha(layer) for layer in LAYERS]
        assert [status for _, _, status in trace[:3]] == [401, 200, 200]  # challenged, token, manifest


@pytest.mark.parametrize("fault", ["wrong-bytes", "long-length", "cut-500", "500"])
def test_a_bad_blob_is_one_clear_error_and_the_store_is_unchanged(client, fault):
    before = store_files(client.store.root)
    with Double(LAYERS) as double:
        double.faults[next(d for d in double.blobs if double.blobs[d] == LAYERS[1])] = fault
        with pytest.raises(minidock.errors.MinidockError) as err:
            client.images.pull(f"{double.host}/{double.REPO}")
    assert "\n" not in str(err.value) and str(err.value)
    assert store_files(client.store.root) == before


def test_an_unknown_tag_is_one_line_exit_1(tmp_path):
    with Double(LAYERS) as double:
        proc = cli("pull", f"{double.host}/{double.REPO}:nope", env=other_store(tmp_path))
    assert proc.returncode == 1
    assert proc.stderr.decode().startswith("minidock: ") and "manifest unknown" in proc.stderr.decode()
    assert len(proc.stderr.splitlines()) == 1


def test_an_interrupted_pull_resumes_with_the_layers_it_verified(client):
    with Double(LAYERS) as double:
        name = f"{double.host}/{double.REPO}"

        def interrupt(line: str) -> None:
            if line.endswith("Pull complete"):
                raise KeyboardInterrupt
        with pytest.raises(KeyboardInterrupt):
            client.images.pull(name, say=interrupt)
        lines: list[str] = []
        client.images.pull(name, say=lines.append)
    assert lines[1].endswith(": Already exists") and lines[2].endswith(": Pulling fs layer")
    blob_gets = [r for r in double.requests if "/blobs/" in r]
    assert len(blob_gets) == 2 + 2  # config and layer one; then config again and layer two only


def test_chunked_upload_to_the_real_registry(busybox, registry, monkeypatch, tmp_path):
    """Blobs over the threshold go up in PATCH chunks; distribution must take them and keep the digest."""
    from minidock.registry import distribution
    monkeypatch.setattr(distribution, "CHUNKED_ABOVE", 1 << 20)
    monkeypatch.setattr(distribution, "CHUNK", 300_000)
    trace: list = []
    busybox.tag(f"{registry.host}/chunked/bb", "1")
    busybox.client.images.push(f"{registry.host}/chunked/bb", "1", trace=trace)
    patches = [status for method, _, status in trace if method == "PATCH"]
    assert len(patches) >= 7 and set(patches) == {202}
    env = other_store(tmp_path)
    assert cli("pull", "-q", f"{registry.host}/chunked/bb:1", env=env).returncode == 0
    assert minidock.Client(tmp_path / "other").images.get(f"{registry.host}/chunked/bb:1").id == busybox.id


def test_push_and_pull_all_tags(busybox, registry, tmp_path):
    for tag in ("a", "b"):
        run_cli("tag", "busybox", f"{registry.host}/many/bb:{tag}", check=True)
    lines = run_cli("push", "-a", f"{registry.host}/many/bb", check=True).stdout.decode().splitlines()
    assert [line.split(":")[0] for line in lines if ": digest: " in line] == ["a", "b"]
    env = other_store(tmp_path)
    assert cli("pull", "-a", "-q", f"{registry.host}/many/bb", env=env).stdout.decode() == f"{registry.host}/many/bb\n"
    tags = minidock.Client(tmp_path / "other").images.get(f"{registry.host}/many/bb:a").tags
    assert tags == [f"{registry.host}/many/bb:a", f"{registry.host}/many/bb:b"]


def test_an_index_gives_the_platform_asked_for(client):
    amd, arm = [tar_of(entry("arch", b"amd64"))], [tar_of(entry("arch", b"arm64"))]
    with Double(amd) as double, Double(arm) as other:
        double.add_index({"linux/amd64": double.manifest, "linux/arm64": other.manifest}, other.blobs)
        name = f"{double.host}/{double.REPO}:multi"
        assert client.images.pull(name).attrs["RootFS"]["Layers"] == [sha(amd[0])]
        assert client.images.pull(name, platform="linux/arm64").attrs["RootFS"]["Layers"] == [sha(arm[0])]
        with pytest.raises(minidock.errors.APIError, match="no matching manifest for linux/s390x"):
            client.images.pull(name, platform="linux/s390x")


def test_the_registry_picture_and_its_text_twin(busybox, tmp_path):
    from minidock.registry.server import RegistryServer
    from minidock.course.viz import registry as picture
    with RegistryServer(tmp_path / "reg") as server:
        for repo in ("one/bb", "two/bb"):
            busybox.tag(f"{server.address}/{repo}", "latest")
            busybox.client.images.push(f"{server.address}/{repo}", "latest")
        data = picture.registry_contents(server.address)
    layer = busybox.attrs["RootFS"]["Layers"][0].split(":")[1][:12]
    text = picture.registry_text(data)
    assert [t.repository for t in data] == ["one/bb", "two/bb"] and data[0].manifest == data[1].manifest
    assert text.endswith("layers named by more than one manifest: none")  # one manifest, named twice
    dot = picture.registry_dot(data)
    assert dot.count(f'label="layer {layer}') == 1 and dot.count(f'"{data[0].manifest}" [') == 1


def test_which_scheme_and_which_registry(tmp_path, monkeypatch):
    """http:// only for this machine or an insecure registry (as Docker); docker.io through a configured mirror."""
    from minidock.registry import distribution
    from minidock.registry.client import scheme_for
    assert scheme_for("127.0.0.1:5000") == scheme_for("localhost") == scheme_for("[::1]:5000") == "http"
    assert scheme_for("registry.example:5000") == "https"
    assert scheme_for("registry.example:5000", ["registry.example:5000"]) == "http"
    config = tmp_path / "config"
    config.mkdir()
    (config / "config.json").write_text(json.dumps({"registry-mirrors": ["http://127.0.0.1:5999"],
                                                    "insecure-registries": ["lab.example:5000"]}))
    assert distribution.endpoint("docker.io") == ("127.0.0.1:5999", "http")
    assert distribution.endpoint("lab.example:5000") == ("lab.example:5000", "http")
    assert distribution.endpoint("other.example") == ("other.example", "https")
    with pytest.raises(minidock.errors.APIError, match="cannot push to Docker Hub"):
        distribution.endpoint("docker.io", pushing=True)
