"""WebSocket (RFC 6455), as ``GET /containers/{id}/attach/ws`` speaks it: the opening handshake, then frames.

A browser cannot hijack an HTTP connection, so dockerd also offers attach over a WebSocket. The client
asks with ``Upgrade: websocket``, a random ``Sec-WebSocket-Key`` and ``Sec-WebSocket-Version: 13``; the
server proves it understood by answering ``101 Switching Protocols`` with ``Sec-WebSocket-Accept``, the
base64 SHA-1 of the key and a fixed GUID (section 4.2.2). From then on both sides send *frames*:

    FIN RSV1-3 opcode | MASK len7 | [len16 | len64] | [mask key, 4 bytes] | payload

``len7`` is the length up to 125; 126 says a 16-bit length follows, 127 a 64-bit one (5.2). A client
masks every frame (XOR with its 4-byte key, so a proxy cannot be fooled into caching what a script sent),
and a server closes the connection on an unmasked one with 1002, protocol error (5.1); a server never
masks. Opcodes: 0 continuation, 1 text, 2 binary; the control frames 8 close, 9 ping (answered by a pong
with the same payload), 10 pong. A control frame is never fragmented and carries at most 125 bytes (5.5).

Pure functions over bytes and file-likes, so each rule is tested without a container.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import struct
import threading
from collections.abc import Iterator

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"    # RFC 6455 section 1.3
CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
NORMAL, PROTOCOL_ERROR, TOO_BIG = 1000, 1002, 1009
MAX_PAYLOAD = 1 << 20    # a client frame's payload: stdin comes in small pieces; beyond this, close 1009


class HandshakeError(ValueError):
    """The request is not a WebSocket opening handshake this server accepts (answered 400)."""

    def __init__(self, message: str, headers: dict | None = None):
        super().__init__(message)
        self.headers = headers or {}


class ProtocolError(Exception):
    """The client broke a framing rule: the connection is closed with ``code``."""

    def __init__(self, code: int, reason: str):
        super().__init__(reason)
        self.code = code


def accept_key(key: str) -> str:
    """``Sec-WebSocket-Accept`` for a client's ``Sec-WebSocket-Key`` (4.2.2, step 5.4)."""
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


def check_handshake(headers) -> str:
    """The ``Sec-WebSocket-Accept`` answering a valid opening handshake; else ``HandshakeError`` with the
    message dockerd gives (its golang.org/x/net/websocket server's) where it gives one."""
    connection = {token.strip().lower() for token in headers.get("Connection", "").split(",")}
    if headers.get("Upgrade", "").lower() != "websocket" or "upgrade" not in connection:
        raise HandshakeError("not websocket protocol")
    if headers.get("Sec-WebSocket-Version", "").strip() != "13":
        # 4.4: answer the versions this server speaks; a client may try again with one of them
        raise HandshakeError("missing or bad WebSocket Version", {"Sec-WebSocket-Version": "13"})
    key = headers.get("Sec-WebSocket-Key", "").strip()
    try:
        nonce = base64.b64decode(key, validate=True)
    except binascii.Error:
        nonce = b""
    if len(nonce) != 16:    # 4.1: a random 16-byte value, base64-encoded
        raise HandshakeError("missing or bad Sec-WebSocket-Key: want 16 random bytes in base64")
    return accept_key(key)


def frame(opcode: int, payload: bytes, mask: bytes | None = None, fin: bool = True) -> bytes:
    """One frame; a client passes its 4-byte ``mask``, a server none (5.1)."""
    head = bytes([(0x80 if fin else 0) | opcode])
    bit = 0x80 if mask else 0
    size = len(payload)
    if size < 126:
        head += bytes([bit | size])
    elif size < 1 << 16:
        head += bytes([bit | 126]) + struct.pack(">H", size)
    else:
        head += bytes([bit | 127]) + struct.pack(">Q", size)
    return head + (mask + unmask(payload, mask) if mask else payload)


def unmask(data: bytes, mask: bytes) -> bytes:
    """XOR with the 4-byte key, repeated (5.3); the same operation masks."""
    if not data:
        return data
    key = (mask * (len(data) // 4 + 1))[:len(data)]
    return (int.from_bytes(data, "big") ^ int.from_bytes(key, "big")).to_bytes(len(data), "big")


def close_payload(code: int, reason: str = "") -> bytes:
    return struct.pack(">H", code) + reason.encode()[:123]


def read_frame(rfile, limit: int = MAX_PAYLOAD) -> tuple[bool, int, bytes]:
    """(fin, opcode, payload) of the client's next frame, unmasked; ``EOFError`` at the connection's end,
    ``ProtocolError`` on a frame this server must refuse (checked before its payload is read)."""
    first, second = _exactly(rfile, 2)
    fin, opcode = bool(first & 0x80), first & 0x0F
    if first & 0x70:
        raise ProtocolError(PROTOCOL_ERROR, "reserved bits set, and no extension was agreed")
    if opcode not in (CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG):
        raise ProtocolError(PROTOCOL_ERROR, f"reserved opcode {opcode:#x}")
    size = second & 0x7F
    if size == 126:
        size = struct.unpack(">H", _exactly(rfile, 2))[0]
    elif size == 127:
        size = struct.unpack(">Q", _exactly(rfile, 8))[0]
        if size >> 63:
            raise ProtocolError(PROTOCOL_ERROR, "a 64-bit length with its top bit set")
    if not second & 0x80:
        raise ProtocolError(PROTOCOL_ERROR, "a client frame must be masked")
    if opcode >= CLOSE and (not fin or size > 125):
        raise ProtocolError(PROTOCOL_ERROR, "a control frame is at most 125 bytes and never fragmented")
    if size > limit:
        raise ProtocolError(TOO_BIG, f"frame of {size} bytes; the limit is {limit}")
    mask = _exactly(rfile, 4)
    return fin, opcode, unmask(_exactly(rfile, size), mask)


def _exactly(rfile, size: int) -> bytes:
    data = rfile.read(size) if size else b""
    if len(data) != size:
        raise EOFError("the client hung up")
    return data


class WebSocket:
    """The server's end of one connection: ``send`` data, iterate ``received()`` for the client's data;
    pings are answered and a close is echoed on the way. Sends are serialised: the container's output
    and the answers to control frames come from two threads."""

    def __init__(self, rfile, wfile, opcode: int = BINARY, limit: int = MAX_PAYLOAD):
        self.rfile, self.wfile, self.opcode, self.limit = rfile, wfile, opcode, limit
        self.lock = threading.Lock()
        self.closed = False    # we sent our close frame: no data frame may follow (5.5.1)

    def send(self, data: bytes) -> None:
        """One data frame (``OSError`` once the connection is closed)."""
        self._write(self.opcode, data)

    def close(self, code: int = NORMAL, reason: str = "") -> None:
        """Send the close frame, once."""
        with contextlib.suppress(OSError):
            self._write(CLOSE, close_payload(code, reason))

    def _write(self, opcode: int, payload: bytes) -> None:
        with self.lock:
            if self.closed:
                raise BrokenPipeError("the WebSocket is closed")
            self.closed = opcode == CLOSE
            self.wfile.write(frame(opcode, payload))
            self.wfile.flush()

    def received(self) -> Iterator[bytes]:
        """The payload of each data frame as it comes: a fragmented message arrives in its pieces (the
        container's stdin is a stream: message boundaries mean nothing to it). Ends when the client
        closes (its close echoed), hangs up, or breaks a rule (closed with the rule's code)."""
        fragmented = False
        while True:
            try:
                fin, opcode, payload = read_frame(self.rfile, self.limit)
            except ProtocolError as e:
                self.close(e.code, str(e))
                return
            except (EOFError, OSError, ValueError):
                return
            if opcode == PING:
                with contextlib.suppress(OSError):
                    self._write(PONG, payload)
            elif opcode == CLOSE:
                self.close(*_echo(payload))
                return
            elif opcode != PONG:
                if (opcode == CONTINUATION) != fragmented:    # 5.4: pieces follow a start, and only then
                    self.close(PROTOCOL_ERROR, "continuation out of place")
                    return
                fragmented = not fin
                if payload:
                    yield payload


def _echo(payload: bytes) -> tuple[int, str]:
    """The close to answer a client's with: its code echoed (5.5.1), 1000 if it gave none, 1002 if
    it gave one no endpoint may send (7.4.1: 1005, 1006 and 1015 are never on the wire)."""
    if not payload:
        return NORMAL, ""
    if len(payload) < 2:
        return PROTOCOL_ERROR, "a close payload has a 2-byte code"
    code = struct.unpack(">H", payload[:2])[0]
    if not 1000 <= code < 5000 or code in (1004, 1005, 1006, 1015):
        return PROTOCOL_ERROR, f"close code {code} is not for the wire"
    return code, ""
