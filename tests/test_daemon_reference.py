"""The status codes of ``minidock daemon`` and of a private dockerd, side by side, for the same
requests: what the docker CLI and docker-py see when something goes wrong (``Error response from
daemon``, the exit code) must not depend on which daemon answered."""

from __future__ import annotations

import http.client
import json
import socket

import pytest

from dockerd import dockerd  # noqa: F401  (the session's private dockerd)
from test_daemon import daemon  # noqa: F401  (a private minidock daemon)

pytestmark = [pytest.mark.root, pytest.mark.peers("docker", "dockerd")]


def request(sock_path, method: str, path: str, body: bytes | None = None) -> tuple[int, dict | None]:
    conn = http.client.HTTPConnection("localhost", timeout=60)
    conn.sock = socket.socket(socket.AF_UNIX)
    conn.sock.connect(str(sock_path))
    conn.request(method, path, body=body, headers={"Content-Type": "application/json"} if body is not None else {})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    try:
        return resp.status, json.loads(data) if data else None
    except ValueError:
        return resp.status, None


def created(sock_path, name: str, cmd: list[str]) -> str:
    status, body = request(sock_path, "POST", f"/v1.41/containers/create?name={name}",
                           json.dumps({"Image": "busybox", "Cmd": cmd, "HostConfig": {"NetworkMode": "none"}}).encode())
    assert status == 201, body
    return body["Id"]


# (method, path, body): the same request to both daemons; ``{cid}`` is a container made for it
CASES = [
    ("GET", "/v1.41/containers/nosuch/json", None),
    ("POST", "/v1.41/containers/nosuch/start", None),
    ("POST", "/v1.41/containers/nosuch/stop", None),
    ("POST", "/v1.41/containers/nosuch/kill", None),
    ("DELETE", "/v1.41/containers/nosuch", None),
    ("GET", "/v1.41/containers/nosuch/logs?stdout=1", None),
    ("DELETE", "/v1.41/images/nosuch:latest", None),
    ("GET", "/v1.41/images/nosuch/json", None),
    ("GET", "/v1.41/images/nosuch/history", None),
    ("POST", "/v1.41/images/nosuch/tag?repo=other", None),
    ("POST", "/v1.41/containers/create", b'{"Image": "nosuch"}'),
    ("POST", "/v1.41/containers/create?name=a/b", b'{"Image": "busybox"}'),
    ("GET", "/v1.41/exec/nosuch/json", None),
    ("POST", "/v1.41/exec/nosuch/start", b"{}"),
    ("GET", "/v9.99/version", None),
    ("GET", "/v1.41/volumes/nosuch", None),
    ("DELETE", "/v1.41/volumes/nosuch", None),
    ("GET", "/v1.41/networks/nosuch", None),
    ("DELETE", "/v1.41/networks/nosuch", None),
    ("DELETE", "/v1.41/networks/none", None),
    ("POST", "/v1.41/containers/{cid}/stop", None),        # created, not running: nothing to do
    ("POST", "/v1.41/containers/{cid}/kill", None),
    ("POST", "/v1.41/containers/{cid}/rename?name=a/b", None),
    ("GET", "/v1.41/containers/{cid}/archive?path=/nosuch", None),
    ("POST", "/v1.41/containers/{cid}/exec", b'{"Cmd": ["true"]}'),
    ("POST", "/v1.41/containers/{cid}/pause", None),
    ("POST", "/v1.41/containers/{running}/start", None),    # running already: 304
    ("POST", "/v1.41/containers/{running}/kill?signal=NOPE", None),
    ("DELETE", "/v1.41/containers/{running}", None),
    ("POST", "/v1.41/images/create?fromImage=127.0.0.1:1/x&tag=v1", b""),
]

# Where Debian's dockerd 20.10 answers otherwise, and minidock answers as later Docker does (and as
# the Engine API issue asks): (method, path, body) -> (minidock's status, dockerd 20.10's, why)
DELIBERATE = [
    (("POST", "/v1.41/containers/create", b"{"), 400, 500,
     "malformed JSON is the client's mistake: 400 (dockerd 20.10: 500 'unexpected EOF')"),
    (("POST", "/v1.41/containers/{cid}/wait?condition=bogus", None), 400, 200,
     "an unknown condition is refused, not read as not-running"),
    (("POST", "/v1.41/containers/{running}/unpause", None), 409, 500,
     "unpausing a container that is not paused is a conflict (dockerd 20.10: 500)"),
]


@pytest.fixture
def both(daemon, dockerd):
    """Each daemon with a created and a running container of the same names."""
    made = []
    for d in (daemon, dockerd):
        cid = created(d.sock, "made", ["true"])
        running = created(d.sock, "running", ["sleep", "60"])
        assert request(d.sock, "POST", f"/v1.41/containers/{running}/start")[0] == 204
        made.append((d, cid, running))
    yield made
    for d, cid, running in made:
        for c in (cid, running):
            request(d.sock, "DELETE", f"/v1.41/containers/{c}?force=1")


@pytest.mark.parametrize("method, path, body", CASES, ids=[f"{m} {p}" for m, p, _ in CASES])
def test_the_same_status_as_dockerd(both, method, path, body):
    answers = []
    for d, cid, running in both:
        status, answer = request(d.sock, method, path.format(cid=cid, running=running), body)
        answers.append((status, answer))
    (mine, my_body), (docker, docker_body) = answers
    assert mine == docker, f"minidock {mine} {my_body}, dockerd {docker} {docker_body}"
    if mine >= 400:
        assert my_body and my_body.get("message"), my_body      # a message the CLI prints


@pytest.mark.parametrize("case, mine, theirs, why", DELIBERATE, ids=[f"{c[0]} {c[1]}" for c, *_ in DELIBERATE])
def test_where_minidock_answers_as_later_docker_does(both, case, mine, theirs, why):
    method, path, body = case
    got = [request(d.sock, method, path.format(cid=cid, running=running), body)[0] for d, cid, running in both]
    assert got == [mine, theirs], why
