"""The embedded registry (``minidock registry serve``) against the protocol and the real clients.

The protocol tests speak HTTP to it on 127.0.0.1 with http.client and check
the OCI distribution spec's statuses, headers and error codes; the interop
tests push and pull busybox with skopeo and podman, and check that the
image's ID (its config's digest) and DiffIDs come through intact.
"""

from __future__ import annotations

import base64
import hashlib
from http.client import HTTPConnection
import json
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import bcrypt
import pytest

import minidock
from conftest import REPO, require_tool, root_fixture
from minidock.registry.server import RegistryServer
from test_interop_images import CGROUP_PARENT, HELLO, Podman, _remove_new_cgroups

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
ALL_MANIFESTS = f"{OCI_MANIFEST}, {DOCKER_MANIFEST}, {OCI_INDEX}"
SCRIPT = "echo hello; cat /etc/passwd | head -1"   # prints HELLO in busybox


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Conversation:
    """One keep-alive HTTP connection to the registry; each call is a request and its whole answer."""

    def __init__(self, address: str, auth: tuple[str, str] | None = None):
        host, port = address.rsplit(":", 1)
        self.conn = HTTPConnection(host, int(port), timeout=30)
        self.auth = auth

    def __call__(self, method: str, path: str, body=None, headers: dict | None = None, chunked=False):
        headers = dict(headers or {})
        if self.auth:
            headers["Authorization"] = "Basic " + base64.b64encode(":".join(self.auth).encode()).decode()
        self.conn.request(method, path, body=body, headers=headers, encode_chunked=chunked)
        resp = self.conn.getresponse()
        resp.data = resp.read()
        if resp.will_close:  # a refused body ends the connection; carry on with a new one
            self.conn.close()
        return resp

    def error_code(self, method: str, path: str, status: int, **kwargs) -> str:
        """The (single) error code of a request that must fail with ``status``."""
        resp = self(method, path, **kwargs)
        assert resp.status == status, (resp.status, resp.data)
        if method == "HEAD":
            return ""
        (error,) = json.loads(resp.data)["errors"]
        assert error["message"] and "detail" in error
        return error["code"]

    def push_blob(self, name: str, data: bytes) -> str:
        """A monolithic upload: POST ``?digest=`` with the bytes."""
        digest = sha256(data)
        resp = self("POST", f"/v2/{name}/blobs/uploads/?digest={digest}", body=data)
        assert resp.status == 201, resp.data
        assert resp.headers["Location"] == f"/v2/{name}/blobs/{digest}"
        return digest

    def push_image(self, name: str, tag: str, media_type: str = OCI_MANIFEST) -> tuple[bytes, str]:
        """A config and a layer, and a manifest naming them under ``tag``: (manifest bytes, digest)."""
        config, layer = b'{"architecture":"amd64","os":"linux"}', b"not really a tar " + name.encode()
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": media_type,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": self.push_blob(name, config),
                       "size": len(config)},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": self.push_blob(name, layer),
                        "size": len(layer)}]}).encode()
        resp = self("PUT", f"/v2/{name}/manifests/{tag}", body=manifest, headers={"Content-Type": media_type})
        assert resp.status == 201, resp.data
        assert resp.headers["Docker-Content-Digest"] == sha256(manifest)
        return manifest, sha256(manifest)


@pytest.fixture
def registry(tmp_path) -> RegistryServer:
    with RegistryServer(tmp_path / "registry") as server:
        yield server


@pytest.fixture
def http(registry) -> Conversation:
    conversation = Conversation(registry.address)
    yield conversation
    conversation.conn.close()


# -- the protocol -----------------------------------------------------------------

def test_base_endpoint_says_registry_v2(http):
    resp = http("GET", "/v2/")
    assert (resp.status, resp.data) == (200, b"{}")
    assert resp.headers["Docker-Distribution-Api-Version"] == "registry/2.0"
    assert resp.headers["Content-Type"] == "application/json"


def test_unknown_blob_manifest_name_and_upload(http):
    http.push_image("known", "v1")
    blob = sha256(b"nothing")
    assert http.error_code("GET", f"/v2/known/blobs/{blob}", 404) == "BLOB_UNKNOWN"
    assert http.error_code("HEAD", f"/v2/known/blobs/{blob}", 404) == ""
    assert http.error_code("GET", "/v2/known/manifests/v2", 404) == "MANIFEST_UNKNOWN"
    assert http.error_code("GET", f"/v2/known/manifests/{blob}", 404) == "MANIFEST_UNKNOWN"
    assert http.error_code("GET", "/v2/unknown/tags/list", 404) == "NAME_UNKNOWN"
    assert http.error_code("GET", "/v2/unknown/manifests/latest", 404) == "NAME_UNKNOWN"
    assert http.error_code("PATCH", "/v2/known/blobs/uploads/no-such-upload", 404, body=b"x") == "BLOB_UPLOAD_UNKNOWN"
    assert http.error_code("GET", "/v2/known/blobs/sha256:abc", 400) == "DIGEST_INVALID"
    assert http.error_code("PUT", "/v2/known/manifests/-bad-tag", 400, body=b"{}") == "TAG_INVALID"
    assert http.error_code("DELETE", "/v2/", 405) == "UNSUPPORTED"
    assert http("GET", "/v2/").status == 200  # the connection (or a new one) still works


@pytest.mark.parametrize("name", ["../x", "A", "a//b", "a/../../b", "_x", "a/.b", "a-", "x" * 256])
def test_invalid_names_are_refused_and_touch_nothing(name, http, registry, tmp_path):
    before = sorted(p for p in tmp_path.rglob("*"))
    assert http.error_code("POST", f"/v2/{name}/blobs/uploads/", 400) == "NAME_INVALID"
    assert http.error_code("GET", f"/v2/{name}/tags/list", 400) == "NAME_INVALID"
    assert http.error_code("PUT", f"/v2/{name}/manifests/latest", 400, body=b"{}",
                           headers={"Content-Type": OCI_MANIFEST}) == "NAME_INVALID"
    assert sorted(p for p in tmp_path.rglob("*")) == before


def test_a_digest_mismatch_stores_nothing(http, registry):
    storage = registry.storage
    resp = http("POST", "/v2/a/blobs/uploads/")
    assert resp.status == 202 and resp.headers["Range"] == "0-0"
    wrong = sha256(b"something else")
    assert http.error_code("PUT", resp.headers["Location"] + f"?digest={wrong}", 400, body=b"data") == "DIGEST_INVALID"
    assert http.error_code("POST", f"/v2/a/blobs/uploads/?digest={wrong}", 400, body=b"data") == "DIGEST_INVALID"
    assert http.error_code("HEAD", f"/v2/a/blobs/{wrong}", 404) == ""
    assert list(storage.blobs.iterdir()) == [] and list(storage.uploads.iterdir()) == []
    assert http.error_code("PUT", resp.headers["Location"] + f"?digest={sha256(b'data')}", 404) == "BLOB_UPLOAD_UNKNOWN"


def test_chunked_upload_with_content_range(http):
    data = b"".join(bytes([i]) * 1000 for i in range(30))
    resp = http("POST", "/v2/lib/chunky/blobs/uploads/")
    assert resp.status == 202 and resp.headers["Docker-Upload-UUID"] in resp.headers["Location"]
    location = resp.headers["Location"]
    for start in range(0, 30000, 10000):
        resp = http("PATCH", location, body=data[start:start + 10000],
                    headers={"Content-Range": f"{start}-{start + 9999}", "Content-Type": "application/octet-stream"})
        assert (resp.status, resp.headers["Range"]) == (202, f"0-{start + 9999}")
        location = resp.headers["Location"]
    # a chunk out of order: 416, and where the upload stands
    resp = http("PATCH", location, body=b"late", headers={"Content-Range": "100-103"})
    assert (resp.status, resp.headers["Range"]) == (416, "0-29999")
    assert json.loads(resp.data)["errors"][0]["code"] == "RANGE_INVALID"
    assert http("GET", location).headers["Range"] == "0-29999"
    resp = http("PUT", f"{location}?digest={sha256(data)}")
    assert (resp.status, resp.headers["Docker-Content-Digest"]) == (201, sha256(data))
    resp = http("GET", resp.headers["Location"])
    assert (resp.status, resp.data, resp.headers["Content-Length"]) == (200, data, "30000")
    assert resp.headers["Docker-Content-Digest"] == sha256(data)


def test_a_stream_of_unknown_length_arrives_chunked(http):
    """Go's client sends a blob it compresses on the fly with Transfer-Encoding: chunked."""
    pieces = [b"a" * 70000, b"b" * 3, b"c" * 123456]
    location = http("POST", "/v2/stream/blobs/uploads/").headers["Location"]
    resp = http("PATCH", location, body=iter(pieces), chunked=True)
    assert (resp.status, resp.headers["Range"]) == (202, f"0-{sum(map(len, pieces)) - 1}")
    digest = sha256(b"".join(pieces))
    assert http("PUT", f"{resp.headers['Location']}?digest={digest}", body=iter([b""]), chunked=True).status == 201
    assert http("GET", f"/v2/stream/blobs/{digest}").data == b"".join(pieces)


def test_a_malformed_body_is_refused_quietly(http, capfd):
    location = http("POST", "/v2/bad/blobs/uploads/").headers["Location"]
    assert http.error_code("PATCH", location, 400, headers={"Content-Length": "many"}) == "BLOB_UPLOAD_INVALID"
    http.conn.connect()
    http.conn.sock.sendall(f"PATCH {location} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                           "zz\r\n".encode())
    answer = http.conn.sock.makefile("rb").read().decode()  # up to the close the server announces
    assert answer.startswith("HTTP/1.1 400 ") and "BLOB_UPLOAD_INVALID" in answer
    http.conn.close()
    assert http("GET", "/v2/").status == 200
    assert capfd.readouterr().err == ""


def test_cross_repository_mount(http):
    digest = http.push_blob("team/a", b"shared layer")
    assert http.error_code("HEAD", f"/v2/team/b/blobs/{digest}", 404) == ""  # linked to a only
    resp = http("POST", f"/v2/team/b/blobs/uploads/?mount={digest}&from=team/a")
    assert (resp.status, resp.headers["Location"]) == (201, f"/v2/team/b/blobs/{digest}")
    assert http("GET", f"/v2/team/b/blobs/{digest}").data == b"shared layer"
    # from a repository without the blob: an ordinary upload session instead
    resp = http("POST", f"/v2/team/c/blobs/uploads/?mount={digest}&from=team/nothing")
    assert resp.status == 202 and "/v2/team/c/blobs/uploads/" in resp.headers["Location"]


def test_manifests_by_tag_and_digest_as_pushed(http):
    manifest, digest = http.push_image("library/demo", "v1")
    for reference in ("v1", digest):
        resp = http("GET", f"/v2/library/demo/manifests/{reference}", headers={"Accept": ALL_MANIFESTS})
        assert (resp.status, resp.data, resp.headers["Content-Type"]) == (200, manifest, OCI_MANIFEST)
        assert resp.headers["Docker-Content-Digest"] == digest
        head = http("HEAD", f"/v2/library/demo/manifests/{reference}", headers={"Accept": OCI_MANIFEST})
        assert (head.status, head.data, head.headers["Content-Length"]) == (200, b"", str(len(manifest)))
    # an OCI manifest for a client that only takes docker's: unknown, as distribution says
    assert http.error_code("GET", "/v2/library/demo/manifests/v1", 404,
                           headers={"Accept": DOCKER_MANIFEST}) == "MANIFEST_UNKNOWN"
    resp = http("PUT", f"/v2/library/demo/manifests/{digest}", body=manifest, headers={"Content-Type": OCI_MANIFEST})
    assert (resp.status, resp.headers["Location"]) == (201, f"/v2/library/demo/manifests/{digest}")


def test_manifest_put_checks_bytes_and_blobs(http):
    manifest, digest = http.push_image("checked", "v1", DOCKER_MANIFEST)
    missing = json.loads(manifest)
    missing["layers"][0]["digest"] = sha256(b"never pushed")
    put = {"headers": {"Content-Type": DOCKER_MANIFEST}}
    assert http.error_code("PUT", "/v2/checked/manifests/v2", 400, body=json.dumps(missing).encode(),
                           **put) == "MANIFEST_BLOB_UNKNOWN"
    assert http.error_code("PUT", "/v2/checked/manifests/v2", 400, body=b"not json", **put) == "MANIFEST_INVALID"
    assert http.error_code("PUT", "/v2/checked/manifests/v2", 400, body=manifest,
                           headers={"Content-Type": OCI_MANIFEST}) == "MANIFEST_INVALID"  # says it is docker's
    assert http.error_code("PUT", f"/v2/checked/manifests/{sha256(b'other')}", 400, body=manifest,
                           **put) == "DIGEST_INVALID"
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": DOCKER_MANIFEST, "digest": digest, "size": len(manifest)}]}).encode()
    assert http("PUT", "/v2/checked/manifests/multi", body=index, headers={"Content-Type": OCI_INDEX}).status == 201
    assert http("GET", "/v2/checked/tags/list").data == b'{"name": "checked", "tags": ["multi", "v1"]}'


def test_manifest_delete_by_tag_and_by_digest(http):
    _, digest = http.push_image("gone", "v1")
    http.push_image("gone", "v2")
    http.push_image("gone", "v3")
    assert http("DELETE", "/v2/gone/manifests/v3").status == 202           # a tag: untag only
    assert json.loads(http("GET", "/v2/gone/tags/list").data)["tags"] == ["v1", "v2"]
    assert http("DELETE", f"/v2/gone/manifests/{digest}").status == 202    # a digest: with its tags
    assert json.loads(http("GET", "/v2/gone/tags/list").data)["tags"] == []
    assert http.error_code("GET", f"/v2/gone/manifests/{digest}", 404) == "MANIFEST_UNKNOWN"
    assert http.error_code("DELETE", "/v2/gone/manifests/v1", 404) == "MANIFEST_UNKNOWN"


def test_tags_list_and_catalog_with_paging(http):
    for tag in ("b", "a", "c"):
        http.push_image("paged/repo", tag)
    http.push_image("other", "latest")
    assert json.loads(http("GET", "/v2/paged/repo/tags/list").data) == {"name": "paged/repo", "tags": ["a", "b", "c"]}
    resp = http("GET", "/v2/paged/repo/tags/list?n=2")
    assert json.loads(resp.data)["tags"] == ["a", "b"]
    assert resp.headers["Link"] == '</v2/paged/repo/tags/list?n=2&last=b>; rel="next"'
    resp = http("GET", "/v2/paged/repo/tags/list?n=2&last=b")
    assert json.loads(resp.data)["tags"] == ["c"] and "Link" not in resp.headers
    assert json.loads(http("GET", "/v2/_catalog").data) == {"repositories": ["other", "paged/repo"]}
    assert json.loads(http("GET", "/v2/_catalog?n=1").data) == {"repositories": ["other"]}
    assert http.error_code("GET", "/v2/_catalog?n=many", 400) == "PAGINATION_NUMBER_INVALID"


def test_uploads_do_not_survive_a_restart(tmp_path):
    with RegistryServer(tmp_path / "reg") as first:
        http = Conversation(first.address)
        location = http("POST", "/v2/a/blobs/uploads/").headers["Location"]
        assert http("PATCH", location, body=b"half").status == 202
    assert list((tmp_path / "reg" / "uploads").iterdir())
    with RegistryServer(tmp_path / "reg") as second:
        assert list((tmp_path / "reg" / "uploads").iterdir()) == []
        assert Conversation(second.address).error_code("PATCH", location, 404, body=b"x") == "BLOB_UPLOAD_UNKNOWN"


def test_stop_hangs_up_on_idle_clients_and_frees_the_port(tmp_path):
    threads = threading.active_count()
    server = RegistryServer(tmp_path / "reg").start()
    host, port = server.address.split(":")
    idle = [Conversation(server.address) for _ in range(3)]
    for http in idle:
        assert http("GET", "/v2/").status == 200   # each connection stays open, waiting for more
    server.stop()
    assert threading.active_count() == threads
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((host, int(port)), timeout=5)


def htpasswd_file(path: Path, user: str, password: str) -> Path:
    """An htpasswd line as ``htpasswd -B`` writes it (bcrypt, ``$2y$``)."""
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode().replace("$2b$", "$2y$", 1)
    path.write_text(f"{user}:{hashed}\n")
    return path


def test_htpasswd_asks_for_basic_auth(tmp_path):
    with RegistryServer(tmp_path / "reg", htpasswd=htpasswd_file(tmp_path / "htpasswd", "alice", "s3cret")) as server:
        anonymous = Conversation(server.address)
        assert anonymous.error_code("GET", "/v2/", 401) == "UNAUTHORIZED"
        assert anonymous("GET", "/v2/_catalog").headers["WWW-Authenticate"] == 'Basic realm="minidock-registry"'
        assert Conversation(server.address, ("alice", "wrong")).error_code("GET", "/v2/", 401) == "UNAUTHORIZED"
        assert Conversation(server.address, ("bob", "s3cret")).error_code("GET", "/v2/", 401) == "UNAUTHORIZED"
        alice = Conversation(server.address, ("alice", "s3cret"))
        assert alice("GET", "/v2/").status == 200
        alice.push_image("private", "v1")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_registry_serve_stops_cleanly_on_a_signal(sig, root, tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "minidock", "registry", "serve", "--addr", "127.0.0.1:0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("minidock registry listening on http://127.0.0.1:"), proc.stderr.read()
        address = line.split("//")[1].strip()
        http = Conversation(address)
        assert http("GET", "/v2/").status == 200
        http.push_image("from/cli", "v1")
        proc.send_signal(sig)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.stdout.read() == "" and proc.stderr.read() == ""
    assert (root / "registry" / "repositories" / "from" / "cli" / "_tags" / "v1").exists()
    host, port = address.split(":")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((host, int(port)), timeout=5)


def test_registry_serve_refuses_a_bad_address(root):
    from conftest import run_cli
    proc = run_cli("registry", "serve", "--addr", "localhost")
    assert proc.returncode == 125 and b"invalid --addr" in proc.stderr and b"Traceback" not in proc.stderr


# -- real clients -------------------------------------------------------------------

def skopeo(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([require_tool("skopeo"), *args], capture_output=True, text=True)
    assert not check or proc.returncode == 0, f"skopeo {' '.join(args)} failed: {proc.stderr}"
    return proc


@pytest.fixture
def busybox_archive(busybox, client, tmp_path) -> Path:
    """``minidock save busybox:latest``."""
    path = tmp_path / "busybox.tar"
    with open(path, "wb") as f:
        client.images.save_to(["busybox:latest"], f)
    return path


@pytest.mark.peers("skopeo")
def test_skopeo_copies_to_and_from_the_registry(busybox, busybox_archive, registry, client, tmp_path):
    ref = f"docker://{registry.address}/library/busybox:latest"
    skopeo("copy", "-q", "--dest-tls-verify=false", f"docker-archive:{busybox_archive}", ref)
    config = skopeo("inspect", "--tls-verify=false", "--raw", "--config", ref).stdout.encode()
    assert sha256(config) == busybox.id
    assert json.loads(config)["rootfs"]["diff_ids"] == busybox.attrs["RootFS"]["Layers"]
    raw = skopeo("inspect", "--tls-verify=false", "--raw", ref).stdout.encode()
    http = Conversation(registry.address)
    head = http("HEAD", "/v2/library/busybox/manifests/latest", headers={"Accept": ALL_MANIFESTS})
    assert head.headers["Docker-Content-Digest"] == sha256(raw)
    assert json.loads(skopeo("inspect", "--tls-verify=false", ref).stdout)["Digest"] == sha256(raw)
    # and back: to an OCI layout and to a docker-archive that minidock loads as the same image
    skopeo("copy", "-q", "--src-tls-verify=false", ref, f"oci:{tmp_path / 'layout'}:latest")
    blobs = tmp_path / "layout" / "blobs" / "sha256"
    assert all(sha256(blob.read_bytes()) == "sha256:" + blob.name for blob in blobs.iterdir())
    index = json.loads((tmp_path / "layout" / "index.json").read_text())
    # skopeo converts the manifest and config to OCI's types, so only the layers keep their digests
    oci = json.loads((blobs / index["manifests"][0]["digest"].split(":")[1]).read_bytes())
    oci_config = json.loads((blobs / oci["config"]["digest"].split(":")[1]).read_bytes())
    assert oci_config["rootfs"]["diff_ids"] == busybox.attrs["RootFS"]["Layers"]
    assert [layer["digest"] for layer in oci["layers"]] == [layer["digest"] for layer in json.loads(raw)["layers"]]
    skopeo("copy", "-q", "--src-tls-verify=false", ref, f"docker-archive:{tmp_path / 'back.tar'}:busybox:back")
    (loaded,) = client.images.load(open(tmp_path / "back.tar", "rb").read())
    assert loaded.id == busybox.id and loaded.attrs["RootFS"]["Layers"] == busybox.attrs["RootFS"]["Layers"]


@pytest.mark.peers("skopeo")
def test_skopeo_with_htpasswd_needs_credentials(busybox_archive, tmp_path):
    users = htpasswd_file(tmp_path / "htpasswd", "pusher", "pa55")
    with RegistryServer(tmp_path / "reg", htpasswd=users) as registry:
        ref = f"docker://{registry.address}/private/busybox:latest"
        proc = skopeo("copy", "-q", "--dest-tls-verify=false", f"docker-archive:{busybox_archive}", ref, check=False)
        assert proc.returncode != 0 and ("401" in proc.stderr or "unauthorized" in proc.stderr.lower()), proc.stderr
        assert not list((tmp_path / "reg" / "blobs" / "sha256").iterdir())
        skopeo("copy", "-q", "--dest-tls-verify=false", "--dest-creds=pusher:pa55",
               f"docker-archive:{busybox_archive}", ref)
        skopeo("inspect", "--tls-verify=false", "--creds=pusher:pa55", ref)


@root_fixture
def podmen(tmp_path_factory):
    """Two podman stores of their own: one pushes, the other pulls (short paths: runroot < 50 chars)."""
    cgroups_before = set(Path("/sys/fs/cgroup").glob(f"*/{CGROUP_PARENT}"))
    yield Podman(tmp_path_factory.mktemp("push")), Podman(tmp_path_factory.mktemp("pull"))
    _remove_new_cgroups(cgroups_before)


@pytest.mark.peers("podman")
def test_podman_pushes_and_pulls_through_the_registry(busybox, busybox_archive, registry, podmen):
    pusher, puller = podmen
    pusher("load", "-q", "-i", str(busybox_archive))
    ref = f"{registry.address}/library/busybox:latest"
    pusher("push", "-q", "--tls-verify=false", "docker.io/library/busybox:latest", f"docker://{ref}")
    puller("pull", "-q", "--tls-verify=false", ref)
    assert puller.image_id(ref) == busybox.id
    assert puller.diff_ids(ref) == busybox.attrs["RootFS"]["Layers"]
    assert puller.run(ref, SCRIPT) == HELLO
