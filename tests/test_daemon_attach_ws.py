"""Attach over a WebSocket (``GET /containers/{id}/attach/ws``).

First the framing alone (``minidock/api/daemon/websocket.py``, over byte buffers: RFC 6455's own examples,
the three length encodings, masking, fragments, ping, close, a frame too big, an unmasked one); then a real
daemon driven by docker-py's ``attach_socket(..., ws=True)`` (the ``websocket-client`` package; docker-py
only speaks WebSocket over TCP, so the daemon listens on loopback too); then dockerd beside it.
"""

from __future__ import annotations

import base64
import io
import json
import os
import socket
import struct
import time

import pytest

from minidock.errors import UsageError
from minidock.api import detachkeys
from minidock.api.daemon import websocket as ws
from dockerd import dockerd  # noqa: F401  (the session's private dockerd)
from test_daemon import running_daemon
from test_daemon_attach import response_head

KEY = base64.b64encode(b"0123456789abcdef").decode()
MASK = b"\x37\xfa\x21\x3d"


def client_frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    return ws.frame(opcode, payload, mask=MASK, fin=fin)


def server_frames(data: bytes) -> list[tuple[int, bytes]]:
    """(opcode, payload) of each whole unmasked frame the server wrote (a partial one at the end left out)."""
    frames = []
    while len(data) >= 2:
        opcode, size, at = data[0] & 0x0F, data[1] & 0x7F, 2
        assert not data[1] & 0x80, "a server never masks"
        if size == 126:
            size, at = struct.unpack(">H", data[2:4])[0], 4
        elif size == 127:
            size, at = struct.unpack(">Q", data[2:10])[0], 10
        if len(data) < at + size:
            break
        frames.append((opcode, data[at:at + size]))
        data = data[at + size:]
    return frames


def session(*frames: bytes, limit: int = ws.MAX_PAYLOAD) -> tuple[list[bytes], list[tuple[int, bytes]]]:
    """What ``received()`` yields from the client's frames, and what the server answered."""
    out = io.BytesIO()
    conn = ws.WebSocket(io.BytesIO(b"".join(frames)), out, limit=limit)
    return list(conn.received()), server_frames(out.getvalue())


def close_code(payload: bytes) -> int:
    return struct.unpack(">H", payload[:2])[0]


# -- the handshake -------------------------------------------------------------------

def test_the_accept_key_is_rfc_6455_s_example():
    assert ws.accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="    # section 1.3


def test_a_handshake_without_upgrade_version_13_or_a_16_byte_key_is_refused():
    good = {"Upgrade": "websocket", "Connection": "keep-alive, Upgrade", "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": KEY}
    assert ws.check_handshake(good) == ws.accept_key(KEY)
    for change, message in (({"Upgrade": ""}, "not websocket protocol"),
                            ({"Connection": "keep-alive"}, "not websocket protocol"),
                            ({"Sec-WebSocket-Version": "8"}, "missing or bad WebSocket Version"),
                            ({"Sec-WebSocket-Key": ""}, "missing or bad Sec-WebSocket-Key"),
                            ({"Sec-WebSocket-Key": "not base64!"}, "missing or bad Sec-WebSocket-Key"),
                            ({"Sec-WebSocket-Key": base64.b64encode(b"short").decode()}, "missing or bad Sec-WebSocket-Key")):
        with pytest.raises(ws.HandshakeError, match=message) as refused:
            ws.check_handshake(good | change)
        if "Sec-WebSocket-Version" in change:
            assert refused.value.headers == {"Sec-WebSocket-Version": "13"}    # 4.4: the version we speak


# -- frames --------------------------------------------------------------------------

def test_rfc_6455_s_masked_hello_is_read():
    masked = bytes([0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58])    # section 5.7
    assert ws.read_frame(io.BytesIO(masked)) == (True, ws.TEXT, b"Hello")
    assert client_frame(ws.TEXT, b"Hello") == masked
    assert ws.frame(ws.TEXT, b"Hello") == bytes([0x81, 0x05]) + b"Hello"    # a server's, unmasked


@pytest.mark.parametrize("size, header", [(125, bytes([0x82, 125])), (126, bytes([0x82, 126, 0, 126])),
                                          (65535, bytes([0x82, 126, 0xff, 0xff])),
                                          (65536, bytes([0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]))])
def test_the_7_16_and_64_bit_lengths(size, header):
    payload = os.urandom(size)
    assert ws.frame(ws.BINARY, payload) == header + payload
    masked = client_frame(ws.BINARY, payload)
    assert masked[len(header) + 4:] != payload    # masked on the wire
    assert ws.read_frame(io.BytesIO(masked)) == (True, ws.BINARY, payload)


def test_a_fragmented_message_arrives_in_its_pieces_with_a_ping_between():
    received, answers = session(client_frame(ws.TEXT, b"hel", fin=False), client_frame(ws.PING, b"are you there"),
                                client_frame(ws.CONTINUATION, b"lo\n"), client_frame(ws.CLOSE, b""))
    assert received == [b"hel", b"lo\n"]
    assert answers == [(ws.PONG, b"are you there"), (ws.CLOSE, struct.pack(">H", 1000))]


@pytest.mark.parametrize("frames", [
    [client_frame(ws.CONTINUATION, b"no start")],
    [client_frame(ws.TEXT, b"one", fin=False), client_frame(ws.BINARY, b"another before its end")],
    [client_frame(ws.PING, b"x" * 126)],                       # a control frame is at most 125 bytes
    [client_frame(ws.PING, b"x", fin=False)],                  # and never fragmented
    [client_frame(0x3, b"reserved opcode")],
    [bytes([0xC2, 0x81]) + MASK + b"\x00"],                     # RSV1 set, no extension agreed
])
def test_a_frame_out_of_order_closes_with_1002(frames):
    received, answers = session(*frames)
    assert answers[-1][0] == ws.CLOSE and close_code(answers[-1][1]) == ws.PROTOCOL_ERROR


def test_an_unmasked_client_frame_closes_with_1002_and_is_not_passed_on():
    received, answers = session(ws.frame(ws.BINARY, b"unmasked"), client_frame(ws.BINARY, b"after"))
    assert received == []
    assert [(op, close_code(p)) for op, p in answers] == [(ws.CLOSE, ws.PROTOCOL_ERROR)]


def test_a_frame_over_the_limit_closes_with_1009_before_its_payload_is_read():
    big = client_frame(ws.BINARY, b"x" * 2000)
    rfile = io.BytesIO(big)
    with pytest.raises(ws.ProtocolError) as refused:
        ws.read_frame(rfile, limit=1000)
    assert refused.value.code == ws.TOO_BIG and rfile.tell() == 4    # the header only
    received, answers = session(client_frame(ws.BINARY, b"ok"), big, limit=1000)
    assert received == [b"ok"] and close_code(answers[-1][1]) == ws.TOO_BIG


def test_a_close_is_echoed_once_and_nothing_is_sent_after_it():
    out = io.BytesIO()
    conn = ws.WebSocket(io.BytesIO(client_frame(ws.CLOSE, struct.pack(">H", 1001) + b"going away")), out)
    assert list(conn.received()) == []
    with pytest.raises(BrokenPipeError):
        conn.send(b"too late")
    conn.close()
    assert server_frames(out.getvalue()) == [(ws.CLOSE, struct.pack(">H", 1001))]
    for payload, code in ((b"\x03", 1002), (struct.pack(">H", 1005), 1002), (struct.pack(">H", 999), 1002)):
        assert close_code(session(client_frame(ws.CLOSE, payload))[1][0][1]) == code


def test_a_client_that_hangs_up_mid_frame_ends_the_input_quietly():
    received, answers = session(client_frame(ws.BINARY, b"whole"), client_frame(ws.BINARY, b"cut short")[:5])
    assert (received, answers) == ([b"whole"], [])


# -- detach keys ----------------------------------------------------------------------

def test_detach_keys_are_docker_s_grammar():
    assert detachkeys.parse(None) == detachkeys.parse("") == b"\x10\x11"
    assert detachkeys.parse("ctrl-x,x") == b"\x18x"
    assert detachkeys.parse("ctrl-@,ctrl-_") == b"\x00\x1f"
    for bad in ("ctrl-xx", "ctrl", "ab", "x,"):
        with pytest.raises(UsageError, match=rf"Invalid detach keys \({bad}\) provided"):
            detachkeys.parse(bad)


def test_the_sequence_is_spotted_in_single_keys_and_held_back_until_it_breaks():
    seq = detachkeys.Sequence(b"\x10\x11")
    assert [seq.feed(k) for k in (b"a", b"\x10", b"b")] == [(b"a", False), (b"", False), (b"\x10b", False)]
    assert [seq.feed(k) for k in (b"\x10", b"\x11")] == [(b"", False), (b"", True)]
    assert seq.feed(b"\x10\x11") == (b"\x10\x11", False)    # pasted, not typed: passed on (moby's escape proxy)


# -- against a real daemon -------------------------------------------------------------

def _free_port() -> int:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


@pytest.fixture
def tcp_daemon(tmp_path):
    """A minidock daemon on its unix socket and on loopback TCP (``.tcp``), where docker-py speaks WebSocket."""
    tcp = f"tcp://127.0.0.1:{_free_port()}"
    for daemon in running_daemon(tmp_path, tcp):    # the loop's second turn is the daemon's teardown
        daemon.tcp = tcp
        yield daemon


def _api(daemon, version: str | None = None):
    import docker
    return docker.APIClient(base_url=daemon.tcp, version=version or "auto", timeout=30)


def _container(api, cmd: list[str], **config) -> str:
    return api.create_container("busybox", cmd, host_config=api.create_host_config(network_mode="none"), **config)["Id"]


def _until_close(conn) -> tuple[set[int], bytes, int]:
    """The data frames' opcodes and payloads up to the server's close, and the close's code."""
    opcodes, data = set(), b""
    while True:
        opcode, payload = conn.recv_data(control_frame=True)
        if opcode == ws.CLOSE:
            return opcodes, data, close_code(payload)
        opcodes.add(opcode)
        data += payload


@pytest.mark.root
def test_docker_py_reads_echo_hi_in_binary_frames_then_a_close(tcp_daemon):
    api = _api(tcp_daemon)
    cid = _container(api, ["sh", "-c", "echo hi; echo err >&2"])
    conn = api.attach_socket(cid, params={"stdout": 1, "stderr": 1, "stream": 1}, ws=True)
    conn.settimeout(20)
    api.start(cid)
    opcodes, data, code = _until_close(conn)
    assert (opcodes, sorted(data.splitlines()), code) == ({ws.BINARY}, [b"err", b"hi"], 1000)
    conn.close()
    cid = _container(api, ["sh", "-c", "echo out; echo err >&2"])    # stdout only (honoured from API 1.42)
    conn = api.attach_socket(cid, params={"stdout": 1, "stream": 1}, ws=True)
    conn.settimeout(20)
    api.start(cid)
    assert _until_close(conn) == ({ws.BINARY}, b"out\n", 1000)
    conn = api.attach_socket(cid, params={"stdout": 1, "logs": 1}, ws=True)    # logs only: what it wrote, then close
    conn.settimeout(20)
    assert _until_close(conn) == ({ws.BINARY}, b"out\n", 1000)


@pytest.mark.root
def test_before_api_1_28_the_frames_are_text_and_every_stream_is_sent(tcp_daemon):
    api = _api(tcp_daemon, "1.27")
    cid = _container(api, ["sh", "-c", "echo old >&2"])
    conn = api.attach_socket(cid, params={"stdout": 1, "stream": 1}, ws=True)   # before 1.42 all streams come
    conn.settimeout(20)
    api.start(cid)
    assert _until_close(conn) == ({ws.TEXT}, b"old\n", 1000)


@pytest.mark.root
def test_input_reaches_cat_in_pieces_and_a_ping_is_answered(tcp_daemon):
    import websocket
    api = _api(tcp_daemon)
    cid = _container(api, ["cat"], stdin_open=True)
    api.start(cid)
    conn = api.attach_socket(cid, params={"stdin": 1, "stdout": 1, "stream": 1}, ws=True)
    conn.settimeout(20)
    conn.ping("still there?")
    assert conn.recv_data(control_frame=True) == (websocket.ABNF.OPCODE_PONG, b"still there?")
    conn.send_binary(b"through the socket\n")
    conn.send_frame(websocket.ABNF.create_frame(b"hel", websocket.ABNF.OPCODE_TEXT, fin=0))
    conn.send_frame(websocket.ABNF.create_frame(b"lo\n", websocket.ABNF.OPCODE_CONT, fin=1))
    echoed = b""
    while not echoed.endswith(b"hello\n"):
        opcode, payload = conn.recv_data(control_frame=True)
        assert opcode == ws.BINARY, payload
        echoed += payload
    assert echoed == b"through the socket\nhello\n"
    conn.send_close()
    assert conn.recv_data(control_frame=True) == (ws.CLOSE, struct.pack(">H", 1000))    # echoed


@pytest.mark.root
def test_detach_keys_end_the_attach_and_leave_the_container_running(tcp_daemon):
    api = _api(tcp_daemon)
    cid = _container(api, ["cat"], stdin_open=True, tty=True)
    api.start(cid)
    params = {"stdin": 1, "stdout": 1, "stream": 1, "detachKeys": "ctrl-x,x"}
    conn = api.attach_socket(cid, params=params, ws=True)
    conn.settimeout(20)
    conn.send_binary(b"a")
    assert conn.recv_data() == (ws.BINARY, b"a")    # the terminal's echo
    for key in (b"\x18", b"x"):              # one key a frame, as a terminal in raw mode types them
        conn.send_binary(key)
    assert _until_close(conn) == (set(), b"", 1000)
    assert api.inspect_container(cid)["State"]["Running"]
    conn = api.attach_socket(cid, params={"stdin": 1, "stdout": 1, "stream": 1}, ws=True)
    conn.settimeout(20)
    conn.send_binary(b"\n")                  # the line cat got: the keys were held back, not typed
    line = b""
    while not line.endswith(b"a\r\n"):
        line += conn.recv_data()[1]
        assert b"\x18" not in line and b"x" not in line
    status, body = tcp_daemon.request("GET", f"/v1.43/containers/{cid}/attach/ws?stream=1&detachKeys=ctrl-xx")
    assert (status, json.loads(body)) == (400, {"message": "Invalid detach keys (ctrl-xx) provided"})


def _daemon_holds(daemon) -> tuple[int, int]:
    """The daemon's threads and open files."""
    pid = daemon.proc.pid
    threads = next(int(line.split()[1]) for line in open(f"/proc/{pid}/status") if line.startswith("Threads:"))
    return threads, len(os.listdir(f"/proc/{pid}/fd"))


@pytest.mark.root
def test_attaches_that_end_leave_no_thread_or_socket_behind(tcp_daemon):
    api = _api(tcp_daemon)
    quiet = _container(api, ["sleep", "60"])
    api.start(quiet)
    before = None
    for round in range(4):             # the client leaves a quiet container: the relay must not wait for output
        if round == 1:                 # counted after one round: what the daemon opens once and keeps (a cache,
            before = _daemon_holds(tcp_daemon)   # the journal) is no leak; what each attach leaves behind is
        conn = api.attach_socket(quiet, params={"stdout": 1, "stream": 1}, ws=True)
        conn.settimeout(20)
        conn.ping("x")
        assert conn.recv_data(control_frame=True) == (ws.PONG, b"x")
        conn.close()
        cid = _container(api, ["echo", "done"])     # attached before its start: the session's way
        conn = api.attach_socket(cid, params={"stdout": 1, "stream": 1}, ws=True)
        conn.settimeout(20)
        api.start(cid)
        assert _until_close(conn) == ({ws.BINARY}, b"done\n", 1000)
        conn.close()
        api.wait(cid)
        api.remove_container(cid)
    deadline = time.monotonic() + 10
    while _daemon_holds(tcp_daemon) != before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _daemon_holds(tcp_daemon) == before


def _request(cid: str, headers: str, version: str = "v1.43") -> str:
    return (f"GET /{version}/containers/{cid}/attach/ws?stream=1&stdout=1&stdin=1 HTTP/1.1\r\nHost: docker\r\n"
            f"{headers}\r\n")


def _head(path: str, request: str) -> bytes:
    head, sock = response_head(path, request)
    sock.close()
    return head


UPGRADE = f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\n"


@pytest.mark.root
def test_a_bad_handshake_is_a_400_and_attaches_nothing(tcp_daemon):
    api = _api(tcp_daemon)
    cid = _container(api, ["cat"], stdin_open=True)
    since = int(time.time()) - 1
    for headers, message in (("", "not websocket protocol"),
                             (UPGRADE + "Sec-WebSocket-Version: 8\r\n", "missing or bad WebSocket Version"),
                             (UPGRADE.replace(KEY, "c2hvcnQ=") + "Sec-WebSocket-Version: 13\r\n",
                              "missing or bad Sec-WebSocket-Key")):
        head, sock = response_head(str(tcp_daemon.sock), _request(cid, headers))
        body = sock.recv(4096)
        sock.close()
        assert head.startswith(b"HTTP/1.1 400 "), head
        assert json.loads(body)["message"].startswith(message)
    assert b"Sec-WebSocket-Version: 13\r\n" in _head(str(tcp_daemon.sock), _request(
        cid, UPGRADE + "Sec-WebSocket-Version: 7\r\n"))
    head, sock = response_head(str(tcp_daemon.sock), _request("nosuch", UPGRADE + "Sec-WebSocket-Version: 13\r\n"))
    assert head.startswith(b"HTTP/1.1 404 ") and json.loads(sock.recv(4096)) == {"message": "No such container: nosuch"}
    events = api.events(since=since, until=int(time.time()) + 1, decode=True, filters={"event": "attach"})
    assert list(events) == []         # nothing was attached
    api.start(cid)
    assert api.inspect_container(cid)["State"]["Running"]


@pytest.mark.root
def test_an_unmasked_frame_from_the_client_is_closed_with_1002(tcp_daemon):
    api = _api(tcp_daemon)
    cid = _container(api, ["cat"], stdin_open=True)
    api.start(cid)
    head, sock = response_head(str(tcp_daemon.sock), _request(cid, UPGRADE + "Sec-WebSocket-Version: 13\r\n"))
    assert head.startswith(b"HTTP/1.1 101 ") and f"Sec-WebSocket-Accept: {ws.accept_key(KEY)}".encode() in head
    sock.sendall(ws.frame(ws.BINARY, b"unmasked\n"))
    answer = b""
    while chunk := sock.recv(4096):
        answer += chunk
    sock.close()
    assert server_frames(answer)[-1][0] == ws.CLOSE and close_code(server_frames(answer)[-1][1]) == 1002
    assert b"unmasked" not in answer  # it never reached cat


# -- beside dockerd ----------------------------------------------------------------------

def _one_attach(sock_path: str, version: str) -> tuple:
    """Create ``sh -c 'echo hi; echo err >&2'``, attach over a WebSocket at API ``version``, start it: the data
    frames' opcodes, their lines (sorted: stdout and stderr race), the close code; and the answers to two bad
    handshakes (status line, the version header)."""
    import docker
    api = docker.APIClient(base_url=f"unix://{sock_path}", version="1.41", timeout=30)
    cid = _container(api, ["sh", "-c", "echo hi; echo err >&2"])
    head, sock = response_head(sock_path, _request(cid, UPGRADE + "Sec-WebSocket-Version: 13\r\n", version))
    assert head.startswith(b"HTTP/1.1 101 "), head
    api.start(cid)
    answer = b""
    while chunk := sock.recv(65536):
        answer += chunk
        if server_frames(answer) and server_frames(answer)[-1][0] == ws.CLOSE:
            break
    sock.close()
    frames = server_frames(answer)
    data = [(op, p) for op, p in frames if op != ws.CLOSE]
    refusals = [_head(sock_path, _request(cid, headers, version)).split(b"\r\n")[0]
                for headers in ("", UPGRADE + "Sec-WebSocket-Version: 8\r\n")]
    api.remove_container(cid, force=True)
    return ({op for op, _ in data}, sorted(b"".join(p for _, p in data).splitlines()),
            close_code(frames[-1][1]), refusals)


@pytest.mark.root
@pytest.mark.peers("dockerd", "docker")
@pytest.mark.parametrize("version", ["v1.41", "v1.27"])
def test_the_frames_are_dockerd_s(tcp_daemon, dockerd, version):
    ours = _one_attach(str(tcp_daemon.sock), version)
    theirs = _one_attach(str(dockerd.sock), version)
    assert ours == theirs
    assert ours[:3] == ({ws.BINARY if version == "v1.41" else ws.TEXT}, [b"err", b"hi"], 1000)
