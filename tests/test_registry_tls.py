"""The embedded registry over TLS with a private CA, and with its own token realm (``--auth token``).

A CA and a server certificate (SAN IP:127.0.0.1) are made with the openssl CLI in a temp
directory; every client is pointed at that directory (minidock's ``MINIDOCK_CERTS_D``, skopeo's
and podman's ``--cert-dir``), never at the machine's certificate stores.  The class: ``teacher``
may push and pull, ``student`` (``--read-only-user``) may only pull.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import ssl
import subprocess
import sys
import time
from http.client import HTTPConnection, HTTPSConnection
from pathlib import Path
from urllib.parse import urlencode

import pytest

from conftest import REPO, require_tool, run_cli
from dockerd import dockerd  # noqa: F401  (the private dockerd fixture)
from minidock.registry.server import RegistryServer
from minidock.registry.tokens import InvalidToken, Scope, Signer, allows, parse_scopes
from test_interop_images import HELLO, Podman
from test_registry_server import SCRIPT, htpasswd_file, podmen, skopeo  # noqa: F401  (podmen: a fixture)

TEACHER, STUDENT = ("teacher", "t3ach"), ("student", "stud1")


def openssl(*args: str, cwd: Path) -> None:
    proc = subprocess.run([require_tool("openssl"), *args], cwd=cwd, capture_output=True, text=True)
    assert proc.returncode == 0, f"openssl {' '.join(args)} failed: {proc.stderr}"


def make_ca(directory: Path, name: str) -> Path:
    """A self-signed CA (EC P-256): ``directory/ca.crt`` and ``ca.key``."""
    directory.mkdir(parents=True)
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
            "-subj", f"/CN={name}", "-keyout", "ca.key", "-out", "ca.crt", cwd=directory)
    return directory


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Path:
    """``ca/`` (the class's CA), ``server.crt``/``server.key`` it signed for 127.0.0.1, and ``stranger/``, another CA."""
    base = tmp_path_factory.mktemp("pki")
    make_ca(base / "ca", "minidock test CA")
    make_ca(base / "stranger", "someone else's CA")
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=127.0.0.1",
            "-keyout", "server.key", "-out", "server.csr", cwd=base)
    (base / "san.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca/ca.crt", "-CAkey", "ca/ca.key", "-CAcreateserial",
            "-days", "2", "-extfile", "san.cnf", "-out", "server.crt", cwd=base)
    return base


@pytest.fixture
def certs_d(tmp_path, monkeypatch) -> Path:
    """minidock's per-registry CAs and credentials, in the test's own config directory."""
    monkeypatch.setenv("MINIDOCK_CONFIG", str(tmp_path / "config"))
    monkeypatch.setenv("MINIDOCK_CERTS_D", str(tmp_path / "certs.d"))
    return tmp_path / "certs.d"


def trust(certs_d: Path, host: str, ca: Path) -> Path:
    """``certs.d/HOST/ca.crt``, as Docker's /etc/docker/certs.d; the directory (skopeo's --cert-dir)."""
    (certs_d / host).mkdir(parents=True, exist_ok=True)
    (certs_d / host / "ca.crt").write_bytes(ca.read_bytes())
    return certs_d / host


@pytest.fixture
def users(tmp_path) -> Path:
    path = htpasswd_file(tmp_path / "htpasswd", *TEACHER)
    other = htpasswd_file(tmp_path / "student.htpasswd", *STUDENT)
    path.write_text(path.read_text() + other.read_text())
    return path


@pytest.fixture
def tls_registry(pki, tmp_path):
    with RegistryServer(tmp_path / "reg", tls=(pki / "server.crt", pki / "server.key")) as server:
        yield server


@pytest.fixture
def class_registry(pki, users, tmp_path):
    """TLS and tokens: the teacher pushes, the student pulls."""
    with RegistryServer(tmp_path / "reg", htpasswd=users, tls=(pki / "server.crt", pki / "server.key"),
                        auth="token", read_only=[STUDENT[0]]) as server:
        yield server


def https(server: RegistryServer, ca: Path) -> HTTPSConnection:
    host, port = server.address.split(":")
    return HTTPSConnection(host, int(port), timeout=10, context=ssl.create_default_context(cafile=str(ca)))


def call(conn, method: str, path: str, headers: dict | None = None, body: bytes | None = None):
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    resp.data = resp.read()
    return resp


def basic(user: str, password: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def token(server, ca: Path, creds: tuple[str, str], *scopes: str) -> dict:
    query = urlencode([("service", "minidock-registry"), *[("scope", s) for s in scopes]])
    resp = call(https(server, ca), "GET", f"/token?{query}", basic(*creds))
    assert resp.status == 200, resp.data
    return json.loads(resp.data)


def claims(jwt: str) -> dict:
    part = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def bearer(doc: dict) -> dict:
    return {"Authorization": f"Bearer {doc['token']}"}


# -- tokens, as pure functions -----------------------------------------------------

def test_scopes_parse_as_distribution_writes_them():
    assert parse_scopes(["repository:library/busybox:pull,push", "registry:catalog:* repository(plugin):a/b:pull",
                         "junk", "repository::pull"]) == [
        Scope("repository", "library/busybox", ("pull", "push")), Scope("registry", "catalog", ("*",)),
        Scope("repository", "a/b", ("pull",))]
    assert str(Scope("repository", "a", ("pull", "push"))) == "repository:a:pull,push"


def test_a_token_holds_until_it_expires_and_only_with_its_key():
    signer = Signer("svc", ttl=60)
    doc = signer.issue("ann", [Scope("repository", "a", ("pull",))], now=1000)
    assert signer.verify(doc["token"], now=1059)["sub"] == "ann"
    assert allows(doc, Scope("repository", "a", ("pull",))) and not allows(doc, Scope("repository", "a", ("push",)))
    assert not allows(doc, Scope("repository", "b", ("pull",)))
    for now, why in [(1060, "expired"), (900, "not valid yet")]:
        with pytest.raises(InvalidToken, match=why):
            signer.verify(doc["token"], now=now)
    with pytest.raises(InvalidToken, match="signature"):
        Signer("svc").verify(doc["token"], now=1001)           # another start of the registry: another key
    with pytest.raises(InvalidToken, match="another service"):
        Signer("svc", key=b"k").verify(Signer("other", key=b"k").issue("x", [], now=1000)["token"], now=1001)
    header, body, _ = doc["token"].split(".")
    unsigned = base64.urlsafe_b64encode(b'{"typ":"JWT","alg":"none"}').rstrip(b"=").decode()
    for forged in [f"{unsigned}.{body}.", f"{header}.{body}.AAAA", "a.b", "x.y.z"]:
        with pytest.raises(InvalidToken):
            signer.verify(forged, now=1001)


# -- TLS ------------------------------------------------------------------------------

def test_https_with_a_private_ca(tls_registry, pki):
    assert tls_registry.url == f"https://{tls_registry.address}"
    resp = call(https(tls_registry, pki / "ca" / "ca.crt"), "GET", "/v2/")
    assert (resp.status, resp.data) == (200, b"{}")
    with pytest.raises(ssl.SSLCertVerificationError):      # the machine's store does not know the class's CA
        call(https(tls_registry, pki / "stranger" / "ca.crt"), "GET", "/v2/")
    host, port = tls_registry.address.split(":")
    plain = call(HTTPConnection(host, int(port), timeout=10), "GET", "/v2/")   # as Go's servers answer
    assert plain.status == 400 and plain.data == b"Client sent an HTTP request to an HTTPS server.\n"


def test_a_silent_client_holds_up_no_one(tls_registry, pki):
    """The handshake runs in the connection's thread: a client that connects and says nothing (or
    garbage) does not stop others, and ``stop`` still ends at once."""
    host, port = tls_registry.address.split(":")
    silent = socket.create_connection((host, int(port)))
    garbage = socket.create_connection((host, int(port)))
    garbage.sendall(b"\x16\x03\x01\x00\x05junk")
    started = time.monotonic()
    assert call(https(tls_registry, pki / "ca" / "ca.crt"), "GET", "/v2/").status == 200
    assert time.monotonic() - started < 5
    tls_registry.stop()
    assert time.monotonic() - started < 10
    assert silent.recv(1) == b"" and garbage.recv(100) == b""  # hung up on
    silent.close(), garbage.close()


@pytest.mark.parametrize("flags, message", [
    (["--tls-cert", "CERT"], "--tls-cert and --tls-key go together: give both, or neither"),
    (["--tls-key", "KEY"], "--tls-cert and --tls-key go together: give both, or neither"),
    (["--tls-cert", "CERT", "--tls-key", "CA_KEY"], "key values mismatch"),
    (["--tls-cert", "CERT", "--tls-key", "MISSING"], "no such file"),
    (["--auth", "token"], "--auth token and --read-only-user need --htpasswd"),
    (["--auth", "jwt", "--htpasswd", "USERS"], 'invalid --auth "jwt": want basic or token'),
    (["--htpasswd", "USERS", "--read-only-user", "student"], "--read-only-user needs --auth token"),
    (["--htpasswd", "USERS", "--auth", "token", "--read-only-user", "nobody"], "nobody: no such user"),
], ids=["cert-alone", "key-alone", "mismatch", "missing", "token-no-users", "bad-auth", "ro-basic", "ro-unknown"])
def test_registry_serve_refuses_bad_tls_and_auth_flags(flags, message, pki, users, root, tmp_path):
    paths = {"CERT": pki / "server.crt", "KEY": pki / "server.key", "CA_KEY": pki / "ca" / "ca.key",
             "MISSING": tmp_path / "missing.key", "USERS": users}
    proc = run_cli("registry", "serve", "--addr", "127.0.0.1:0", *[str(paths.get(f, f)) for f in flags])
    assert proc.returncode == 125 and proc.stdout == b"", proc.stderr
    (line,) = proc.stderr.decode().splitlines()
    assert line.startswith("minidock: ") and message in line


def test_registry_serve_over_tls_with_tokens_from_the_command_line(pki, users, root):
    proc = subprocess.Popen([sys.executable, "-m", "minidock", "registry", "serve", "--addr", "127.0.0.1:0",
                             "--tls-cert", str(pki / "server.crt"), "--tls-key", str(pki / "server.key"),
                             "--htpasswd", str(users), "--auth", "token", "--read-only-user", STUDENT[0]],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("minidock registry listening on https://127.0.0.1:"), proc.stderr.read()
        host, port = line.split("//")[1].strip().split(":")
        conn = HTTPSConnection(host, int(port), timeout=10,
                               context=ssl.create_default_context(cafile=str(pki / "ca" / "ca.crt")))
        challenge = call(conn, "GET", "/v2/").headers["WWW-Authenticate"]
        assert challenge == f'Bearer realm="https://{host}:{port}/token",service="minidock-registry"'
        proc.terminate()
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# -- the token realm, over the wire ------------------------------------------------

def test_the_token_flow_as_the_spec_draws_it(class_registry, pki):
    ca = pki / "ca" / "ca.crt"
    conn = https(class_registry, ca)
    refused = call(conn, "GET", "/v2/class/app/manifests/v1")
    assert refused.status == 401
    assert refused.headers["WWW-Authenticate"] == (
        f'Bearer realm="https://{class_registry.address}/token",service="minidock-registry",'
        'scope="repository:class/app:pull"')
    assert json.loads(refused.data)["errors"][0]["code"] == "UNAUTHORIZED"
    doc = token(class_registry, ca, TEACHER, "repository:class/app:pull,push")
    assert doc["token"] == doc["access_token"] and doc["expires_in"] == 300
    assert time.strptime(doc["issued_at"], "%Y-%m-%dT%H:%M:%SZ")
    assert claims(doc["token"])["access"] == [{"type": "repository", "name": "class/app", "actions": ["pull", "push"]}]
    assert call(conn, "GET", "/v2/", bearer(doc)).status == 200
    assert call(conn, "GET", "/v2/class/app/manifests/v1", bearer(doc)).status == 404   # allowed; not there
    blob = call(conn, "POST", "/v2/class/app/blobs/uploads/", bearer(doc))
    assert blob.status == 202


def test_the_student_gets_pull_only_and_is_refused_a_push(class_registry, pki):
    ca = pki / "ca" / "ca.crt"
    doc = token(class_registry, ca, STUDENT, "repository:class/app:pull,push")
    assert claims(doc["token"])["access"] == [{"type": "repository", "name": "class/app", "actions": ["pull"]}]
    conn = https(class_registry, ca)
    assert call(conn, "GET", "/v2/class/app/tags/list", bearer(doc)).status == 404   # may look: NAME_UNKNOWN
    push = call(conn, "PUT", "/v2/class/app/manifests/v1", {**bearer(doc), "Content-Type": "x"}, b"{}" * 100)
    assert push.status == 401 and 'error="insufficient_scope"' in push.headers["WWW-Authenticate"]
    assert 'scope="repository:class/app:pull,push"' in push.headers["WWW-Authenticate"]
    assert json.loads(push.data)["errors"][0]["detail"] == [
        {"Type": "repository", "Class": "", "Name": "class/app", "Action": a} for a in ("pull", "push")]
    assert not push.will_close and call(conn, "GET", "/v2/", bearer(doc)).status == 200  # the body was read
    nothing = token(class_registry, ca, STUDENT, "repository:class/app:push")
    assert claims(nothing["token"])["access"] == []


def test_a_wrong_password_or_no_password_gets_no_token(class_registry, pki):
    conn = https(class_registry, pki / "ca" / "ca.crt")
    for headers in [basic(TEACHER[0], "wrong"), basic("nobody", "x"), {}]:
        resp = call(conn, "GET", "/token?service=minidock-registry&scope=repository:a:pull", headers)
        assert resp.status == 401 and resp.headers["WWW-Authenticate"] == 'Basic realm="minidock-registry"'
    other = call(conn, "GET", "/token?service=elsewhere", basic(*TEACHER))
    assert other.status == 400


def test_a_token_for_one_repository_does_not_open_another(class_registry, pki):
    ca = pki / "ca" / "ca.crt"
    doc = token(class_registry, ca, TEACHER, "repository:team-a/app:pull,push")
    conn = https(class_registry, ca)
    assert call(conn, "POST", "/v2/team-a/app/blobs/uploads/", bearer(doc)).status == 202
    for method, path in [("GET", "/v2/team-b/app/tags/list"), ("POST", "/v2/team-b/app/blobs/uploads/"),
                         ("GET", "/v2/_catalog"), ("DELETE", "/v2/team-a/app/manifests/v1"),
                         ("POST", "/v2/team-a/app/blobs/uploads/?mount=sha256:" + "0" * 64 + "&from=team-b/app")]:
        resp = call(conn, method, path, bearer(doc))
        assert resp.status == 401 and 'error="insufficient_scope"' in resp.headers["WWW-Authenticate"], path
    catalog = token(class_registry, ca, STUDENT, "registry:catalog:*")
    assert json.loads(call(conn, "GET", "/v2/_catalog", bearer(catalog)).data) == {"repositories": []}


def test_an_expired_or_forged_token_is_refused(pki, users, tmp_path):
    with RegistryServer(tmp_path / "reg", htpasswd=users, tls=(pki / "server.crt", pki / "server.key"),
                        auth="token", token_ttl=1) as server:
        ca = pki / "ca" / "ca.crt"
        doc = token(server, ca, TEACHER, "repository:a:pull")
        conn = https(server, ca)
        assert call(conn, "GET", "/v2/a/tags/list", bearer(doc)).status == 404
        time.sleep(2.1)  # a token of ttl 1 lives 1 to 2 seconds (whole seconds, exp rounded up)
        expired = call(conn, "GET", "/v2/a/tags/list", bearer(doc))
        assert expired.status == 401 and 'error="invalid_token"' in expired.headers["WWW-Authenticate"]
        forged = Signer("minidock-registry").issue(TEACHER[0], [Scope("repository", "a", ("pull",))])
        assert call(conn, "GET", "/v2/a/tags/list", bearer(forged)).status == 401
    with RegistryServer(tmp_path / "plain") as plain:
        host, port = plain.address.split(":")
        assert call(HTTPConnection(host, int(port)), "GET", "/token").status == 404   # no realm without tokens


# -- minidock, skopeo, podman and docker as clients ------------------------------

def login(registry, creds: tuple[str, str]) -> subprocess.CompletedProcess:
    return run_cli("login", "-u", creds[0], "--password-stdin", registry.address, input=f"{creds[1]}\n".encode())


def other_store(tmp_path: Path, name: str = "other") -> dict:
    return os.environ | {"MINIDOCK_ROOT": str(tmp_path / name)}


def test_minidock_trusts_a_registry_by_its_certs_d(busybox, tls_registry, certs_d, pki, tmp_path):
    target = f"{tls_registry.address}/library/busybox:tls"
    run_cli("tag", "busybox", target, check=True)
    plain = run_cli("push", target)   # 127.0.0.1 without certs.d: plain HTTP, which a TLS port refuses
    assert plain.returncode == 1
    assert plain.stderr.decode() == (f"minidock: {tls_registry.address} serves HTTPS: put its CA certificate in "
                                     f"{certs_d / tls_registry.address / 'ca.crt'}\n")
    trust(certs_d, tls_registry.address, pki / "stranger" / "ca.crt")
    untrusted = run_cli("push", target)
    assert untrusted.returncode == 1 and b"x509: unable to get local issuer certificate" in untrusted.stderr
    trust(certs_d, tls_registry.address, pki / "ca" / "ca.crt")
    assert run_cli("push", target, check=True).stdout.decode().splitlines()[-1].startswith("tls: digest: sha256:")
    run_cli("pull", "-q", target, env=other_store(tmp_path), check=True)
    pulled = run_cli("inspect", "--format", "{{.Id}}", target, env=other_store(tmp_path), check=True)
    assert pulled.stdout.decode().strip() == busybox.id


def test_minidock_logs_in_pushes_and_is_refused_as_the_token_says(busybox, class_registry, certs_d, pki, tmp_path):
    trust(certs_d, class_registry.address, pki / "ca" / "ca.crt")
    target = f"{class_registry.address}/class/bb:1"
    run_cli("tag", "busybox", target, check=True)
    anonymous = run_cli("push", target)
    assert anonymous.returncode == 1 and f"run 'minidock login {class_registry.address}'" in anonymous.stderr.decode()
    wrong = login(class_registry, (TEACHER[0], "nope"))
    assert wrong.returncode == 1 and b"incorrect username or password" in wrong.stderr
    assert login(class_registry, STUDENT).stdout == b"Login Succeeded\n"
    denied = run_cli("push", target)
    assert denied.returncode == 1 and denied.stderr.decode().count("\n") == 1
    assert "denied: requested access to the resource is denied" in denied.stderr.decode()
    assert not list((tmp_path / "reg" / "repositories").glob("class/bb/_tags/*"))
    assert login(class_registry, TEACHER).returncode == 0
    run_cli("push", target, check=True)
    assert login(class_registry, STUDENT).returncode == 0
    run_cli("pull", "-q", target, env=other_store(tmp_path), check=True)   # the student pulls what was pushed


@pytest.mark.peers("skopeo")
def test_skopeo_over_tls_with_tokens(busybox, class_registry, certs_d, pki, tmp_path):
    cert_dir = trust(certs_d, class_registry.address, pki / "ca" / "ca.crt")
    assert login(class_registry, TEACHER).returncode == 0
    run_cli("tag", "busybox", f"{class_registry.address}/class/bb:1", check=True)
    run_cli("push", f"{class_registry.address}/class/bb:1", check=True)
    ref = f"docker://{class_registry.address}/class/bb:1"
    student = f"--creds={':'.join(STUDENT)}"
    info = json.loads(skopeo("inspect", f"--cert-dir={cert_dir}", student, ref).stdout)
    assert info["Layers"] == busybox.attrs["RootFS"]["Layers"]   # uncompressed layers: digest = DiffID
    untrusted = skopeo("inspect", student, ref, check=False)      # the machine's store does not know the CA
    assert untrusted.returncode != 0 and "x509: certificate signed by unknown authority" in untrusted.stderr
    wrong = skopeo("inspect", f"--cert-dir={cert_dir}", f"--creds={TEACHER[0]}:nope", ref, check=False)
    assert wrong.returncode != 0 and "invalid username/password" in wrong.stderr
    archive = tmp_path / "bb.tar"
    run_cli("save", "-o", str(archive), "busybox", check=True)
    copy = ["copy", "-q", f"--dest-cert-dir={cert_dir}", f"docker-archive:{archive}",
            f"docker://{class_registry.address}/sk/bb:latest"]
    denied = skopeo(*copy, f"--dest-creds={':'.join(STUDENT)}", check=False)
    assert denied.returncode != 0 and "denied: requested access to the resource is denied" in denied.stderr
    skopeo(*copy, f"--dest-creds={':'.join(TEACHER)}")
    assert login(class_registry, STUDENT).returncode == 0
    env = other_store(tmp_path)
    run_cli("pull", "-q", f"{class_registry.address}/sk/bb", env=env, check=True)
    pulled = run_cli("inspect", "--format", "{{.Id}}", f"{class_registry.address}/sk/bb", env=env, check=True)
    assert pulled.stdout.decode().strip() == busybox.id   # skopeo gzipped the layer; the image is the same


def refused(podman: Podman, *args: str) -> str:
    """Run ``podman ARGS``, which must fail; its stderr."""
    proc = subprocess.run([podman.exe, *podman.flags, *args], capture_output=True, text=True, env=podman.env)
    assert proc.returncode != 0, f"podman {' '.join(args)} should have failed"
    return proc.stderr


@pytest.mark.root  # podmen: two podman stores of their own, their cgroups removed after
@pytest.mark.peers("podman")
def test_podman_over_tls_with_tokens(busybox, class_registry, certs_d, pki, podmen):
    cert_dir = trust(certs_d, class_registry.address, pki / "ca" / "ca.crt")
    assert login(class_registry, TEACHER).returncode == 0
    ref = f"{class_registry.address}/class/bb:1"
    run_cli("tag", "busybox", ref, check=True)
    run_cli("push", ref, check=True)
    student, teacher = podmen
    tls, as_student = f"--cert-dir={cert_dir}", f"--creds={':'.join(STUDENT)}"
    student("pull", "-q", tls, as_student, ref)
    assert student.image_id(ref) == busybox.id and student.run(ref, SCRIPT) == HELLO
    mine = f"docker://{class_registry.address}/student/bb:1"
    assert "denied: requested access to the resource is denied" in refused(student, "push", tls, as_student, ref, mine)
    assert "invalid username/password" in refused(student, "pull", tls, f"--creds={STUDENT[0]}:nope", ref)
    student("push", "-q", tls, f"--creds={':'.join(TEACHER)}", ref, mine)
    teacher("pull", "-q", tls, as_student, mine[len("docker://"):])
    assert teacher.image_id(mine[len("docker://"):]) == busybox.id


@pytest.mark.peers("dockerd", "docker")
def test_docker_logs_in_pulls_and_is_refused_a_push(busybox, class_registry, certs_d, pki, dockerd, tmp_path):
    """The real docker CLI and a private dockerd follow the token flow over TLS.  dockerd counts
    127.0.0.0/8 as an insecure registry whatever its config, so it does not verify the certificate
    here (its certs.d, /etc/docker/certs.d, is the machine's and is never touched)."""
    trust(certs_d, class_registry.address, pki / "ca" / "ca.crt")
    assert login(class_registry, TEACHER).returncode == 0
    ref = f"{class_registry.address}/class/bb:1"
    run_cli("tag", "busybox", ref, check=True)
    run_cli("push", ref, check=True)
    env = {"DOCKER_CONFIG": str(tmp_path / "docker-client")}

    def docker(*args: str, creds: tuple[str, str] | None = None) -> subprocess.CompletedProcess:
        return dockerd.docker(*args, env=env, input=f"{creds[1]}\n".encode() if creds else None)

    mine = f"{class_registry.address}/student/bb:1"
    try:
        wrong = docker("login", "-u", TEACHER[0], "--password-stdin", class_registry.address, creds=("", "nope"))
        assert wrong.returncode == 1 and b"unauthorized" in wrong.stderr, wrong.stderr
        ok = docker("login", "-u", STUDENT[0], "--password-stdin", class_registry.address, creds=STUDENT)
        assert ok.returncode == 0 and b"Login Succeeded" in ok.stdout, ok.stderr
        assert docker("pull", "-q", ref).returncode == 0
        pulled = docker("image", "inspect", "--format", "{{.Id}}", ref).stdout.decode().strip()
        assert pulled == busybox.id
        assert docker("tag", ref, mine).returncode == 0
        denied = docker("push", mine)
        assert denied.returncode == 1, denied.stdout
        assert b"denied: requested access to the resource is denied" in denied.stderr, denied.stderr
        assert docker("login", "-u", TEACHER[0], "--password-stdin", class_registry.address,
                      creds=TEACHER).returncode == 0
        pushed = docker("push", mine)
        assert pushed.returncode == 0, pushed.stderr
    finally:
        docker("rmi", ref, mine)
    assert (tmp_path / "reg" / "repositories" / "student" / "bb" / "_tags" / "1").exists()


def test_a_hostile_name_never_reaches_a_header(class_registry, pki):
    conn = https(class_registry, pki / "ca" / "ca.crt")
    for path in ["/v2/a/blobs/uploads/?from=x%22%0d%0aSet-Cookie:%20y&mount=sha256:" + "0" * 64,
                 "/v2/A%0d%0aX:%20y/blobs/uploads/"]:
        resp = call(conn, "POST", path)
        assert resp.status in (400, 404) and "Set-Cookie" not in resp.headers and "X" not in resp.headers
        assert json.loads(resp.data)["errors"][0]["code"] in ("NAME_INVALID", "UNSUPPORTED")


def test_minidock_asks_again_when_its_token_expires(pki, users, certs_d, tmp_path):
    from minidock.registry.client import Registry
    with RegistryServer(tmp_path / "reg", htpasswd=users, tls=(pki / "server.crt", pki / "server.key"),
                        auth="token", token_ttl=1) as server:
        trust(certs_d, server.address, pki / "ca" / "ca.crt")
        realm = f"{server.address}/token?service=minidock-registry"
        trace: list = []
        registry = Registry(server.address, trace=trace, credentials=TEACHER)
        assert registry.scheme == "https"
        try:
            registry.ping()
            time.sleep(2.1)  # a token of ttl 1 lives 1 to 2 seconds (whole seconds, exp rounded up)
            registry.ping()   # the token has expired: 401 invalid_token, a new token, the same request again
        finally:
            registry.close()
    assert trace == [("GET", "/v2/", 401), ("GET", realm, 200), ("GET", "/v2/", 200),
                     ("GET", "/v2/", 401), ("GET", realm, 200), ("GET", "/v2/", 200)]
