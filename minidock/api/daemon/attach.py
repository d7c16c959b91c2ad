"""Attach: a container's output to a client, and the client's input to the container's stdin.

Two endpoints, one plumbing (``_attach``): the log so far with ``logs``, then, with ``stream``, the shim's
frames from now on: from its attach socket if the container runs, else from the session of its next start
(``sessions.py``: ``docker run`` attaches *before* it starts, to miss no byte). They differ only in how the
connection carries the bytes, each a small class with ``open``, ``send``, ``take_input`` and ``end``:

* ``POST /containers/{id}/attach`` hijacks the connection (``101 UPGRADED``): the raw stream with a TTY,
  stdcopy frames without, as the docker CLI and docker-py read it (``_Hijacked``);
* ``GET /containers/{id}/attach/ws`` upgrades it to a WebSocket (RFC 6455, ``websocket.py``), for clients
  that cannot hijack, such as a browser: the raw stream in data frames, never multiplexed (``_WebSocket``).
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading

from ...containers import container as ctr
from ...errors import Conflict, NotFound
from ...runtime.stdcopy import EXIT, STDERR, STDOUT, FrameReader, frame
from .. import detachkeys
from . import websocket
from .containers import MULTIPLEXED, NAME, RAW, client_gone, stream_names
from .server import HTTPError, route, version_tuple


@route("POST", rf"/containers/{NAME}/attach")
def attach(req, name: str) -> None:
    c = req.client.containers.containers
    cid = c.resolve(name)
    config = c.config(cid)
    stdin = req.flag("stdin") and config["OpenStdin"]
    streams = {STDOUT} if req.flag("stdout") else set()
    streams |= {STDERR} if req.flag("stderr") else set()
    logs, stream = req.flag("logs"), req.flag("stream", True)
    if not stream and not logs:
        raise HTTPError(400, "attach: want stream=1 or logs=1")
    _attach(req, cid, _Hijacked(req, config["Tty"]), stdin, streams, logs, stream)


@route("GET", rf"/containers/{NAME}/attach/ws")
def attach_ws(req, name: str) -> None:
    """dockerd's attach for browsers: the raw stream (never multiplexed) in WebSocket frames, binary from
    API 1.28 (text before, moby#28176); stdin, stdout and stderr are chosen from 1.42 on, all three before."""
    keys = detachkeys.parse(req.arg("detachKeys"))    # dockerd checks them first: 400 if they are bad
    c = req.client.containers.containers
    cid = c.resolve(name)
    config = c.config(cid)
    since_142 = version_tuple(req.api_version) >= (1, 42)
    stdin = (req.flag("stdin") if since_142 else True) and config["OpenStdin"]
    streams = {s for s, on in ((STDOUT, req.flag("stdout")), (STDERR, req.flag("stderr"))) if on or not since_142}
    try:
        accept = websocket.check_handshake(req.headers)    # before anything is attached
    except websocket.HandshakeError as e:
        req.reply_json({"message": str(e)}, 400, e.headers)
        return
    opcode = websocket.BINARY if version_tuple(req.api_version) >= (1, 28) else websocket.TEXT
    detach = detachkeys.Sequence(keys) if config["Tty"] else None    # dockerd spots them with a TTY only
    _attach(req, cid, _WebSocket(req, accept, opcode, detach), stdin, streams, req.flag("logs"), req.flag("stream"))


def _attach(req, cid: str, channel, stdin: bool, streams: set, logs: bool, stream: bool) -> None:
    """What both attaches share: the log so far (``logs``), then (``stream``) the shim's frames from now
    on, from its attach socket or, for a container not yet started, from the session of its next start;
    the client's input goes to the container's with ``stdin``. ``channel`` is the connection's framing."""
    c, sessions = req.client.containers.containers, req.daemon.sessions
    running = c.state(cid)["Status"] == "running"
    source = _shim_socket(req, cid, stdin) if running else sessions.pending(cid, stdin)
    c.emit(cid, "attach")
    try:
        channel.open()
        try:
            if logs:
                channel.send([(STDOUT if name == "stdout" else STDERR, line)
                              for name, line in ctr.log_entries(c, cid, streams=stream_names(streams))])
            if stream and not running:
                source, running = _await_start(req, cid, source, stdin)
            if stream and source is not None:
                relay(source, channel, streams, stdin)
        finally:
            channel.end()
    finally:
        if running:
            source.close()
        elif source is not None:
            sessions.abandon(cid, source)


class _Hijacked:
    """The POST attach's connection: ``101 UPGRADED``, then the raw stream with a TTY, stdcopy frames
    without (whose Content-Type says so from API 1.42)."""

    def __init__(self, req, tty: bool):
        self.req, self.tty = req, tty
        self.pump: threading.Thread | None = None    # reads the client (``take_input``)

    def open(self) -> None:
        muxed = not self.tty and version_tuple(self.req.api_version) >= (1, 42)
        self.conn = self.req.hijack(MULTIPLEXED if muxed else RAW)

    def send(self, pieces: list[tuple[int, bytes]]) -> None:
        self.conn.sendall(b"".join(data if self.tty else frame(stream, data) for stream, data in pieces))

    def take_input(self, source: socket.socket, stdin: bool) -> None:
        """Read the client on a thread of its own, with or without ``stdin``: a client that leaves a quiet
        container must end the relay too, and only reading its side shows that it left."""
        self.source = source
        self.pump = threading.Thread(target=self._pump, args=(source, stdin), daemon=True)
        self.pump.start()

    def _pump(self, source: socket.socket, stdin: bool) -> None:
        """The client's bytes to the container's stdin (with ``stdin``; else they are dropped); its end of
        input, the container's. The docker CLI half-closes (CloseWrite) at the end of its input, without
        ``-i`` at once, and reads on: only once the client is gone altogether, hang up on the source."""
        while data := self.req.read_raw():
            if stdin:
                with contextlib.suppress(OSError):
                    source.sendall(data)
        if stdin:
            with contextlib.suppress(OSError):
                source.shutdown(socket.SHUT_WR)
        _until_gone(self.conn)
        _hang_up(source)

    def end(self) -> None:
        """Hang up on the client, and wait for the thread that reads it: the connection is closed once the
        request returns, and a thread still polling its file descriptor would then wait on whatever file
        is given that number next (the soak found such threads, stuck for good)."""
        with contextlib.suppress(OSError):
            self.conn.shutdown(socket.SHUT_RDWR)
        if self.pump is not None:
            _hang_up(self.source)   # the relay is over; and a pump stuck writing to a full stdin gives up
            self.pump.join()


class _WebSocket:
    """The ws attach's connection: ``101 Switching Protocols``, then each piece of output one frame
    (stdout and stderr alike: nothing says which); the client's data frames are the container's stdin."""

    def __init__(self, req, accept: str, opcode: int, detach: detachkeys.Sequence | None):
        self.req, self.accept, self.opcode, self.detach = req, accept, opcode, detach
        self.reading = False                  # whether a thread reads the client's frames (``_pump``)
        self.listening = threading.Event()    # set once the client's frames are no longer read

    def open(self) -> None:
        req = self.req
        req.answered = True
        req.send_response(101, "Switching Protocols")
        req.send_header("Upgrade", "websocket")
        req.send_header("Connection", "Upgrade")
        req.send_header("Sec-WebSocket-Accept", self.accept)
        req.end_headers()
        req.wfile.flush()
        req.close_connection = True
        req.connection.settimeout(None)    # an attach may be quiet for hours; the server's idle limit is for HTTP
        self.ws = websocket.WebSocket(req.rfile, req.wfile, self.opcode)

    def send(self, pieces: list[tuple[int, bytes]]) -> None:
        if data := b"".join(data for _, data in pieces):
            self.ws.send(data)

    def take_input(self, source: socket.socket | None, stdin: bool) -> None:
        """Read the client's frames on a thread of their own, with or without ``stdin``: pings and a close
        must be answered either way."""
        self.reading = True
        threading.Thread(target=self._pump, args=(source, stdin), daemon=True).start()

    def _pump(self, source: socket.socket | None, stdin: bool) -> None:
        """The client's frames until it closes (pings answered): their data to stdin with ``stdin``;
        then hang up on the source, which ends the relay (a close ends the output too, RFC 6455 5.5.1).
        The detach keys, each in a frame of its own, hang up at once; the frames after are read, unused,
        until the client answers the close that follows."""
        try:
            for data in self.ws.received():
                if self.detach is not None:
                    data, detached = self.detach.feed(data)
                    if detached:
                        stdin = False
                        _hang_up(source)
                if stdin and data:
                    with contextlib.suppress(OSError):
                        source.sendall(data)
        finally:
            self.listening.set()
            _hang_up(source)

    def end(self) -> None:
        """The container ended (or the client left): close 1000, wait a moment for the client's close
        (7.1.1: the server hangs up the TCP connection after the closing handshake), hang up."""
        self.ws.close()
        if not self.reading:   # logs only: nobody read the client's frames yet
            self.take_input(None, False)
        self.listening.wait(2)
        with contextlib.suppress(OSError):
            self.req.connection.shutdown(socket.SHUT_RDWR)


def _hang_up(source: socket.socket | None) -> None:
    """End the relay from the source's side (its ``recv`` returns b""): the client is gone or detached."""
    if source is not None:
        with contextlib.suppress(OSError):
            source.shutdown(socket.SHUT_RDWR)


def _until_gone(conn: socket.socket) -> None:
    """Wait until the client's socket is closed in both directions (POLLHUP: its close on a unix socket,
    a reset, or our own shutdown as the relay ends), not only its sending half. (Over TCP a close is a
    FIN, as a half-close is: that client is found gone only when the relay next writes to it.)"""
    poller = select.poll()
    poller.register(conn, 0)     # POLLHUP and POLLERR are reported whatever the mask
    with contextlib.suppress(OSError):
        while not poller.poll():
            pass


def _await_start(req, cid: str, pending: socket.socket, stdin: bool) -> tuple[socket.socket | None, bool]:
    """Wait for the container to start: by this daemon (its session feeds ``pending``), or by someone
    else (``minidock start``, another daemon): then from its shim. (source, whether from the shim)."""
    c, sessions = req.client.containers.containers, req.daemon.sessions
    while sessions.still_waiting(cid, pending):   # until this daemon's start takes it, or:
        if client_gone(req.connection):
            return pending, False
        try:
            started_elsewhere = c.state(cid)["Status"] == "running" and sessions.still_waiting(cid, pending)
        except NotFound:
            return pending, False
        if not started_elsewhere:
            sessions.changed(0.1)
        else:
            sessions.abandon(cid, pending)
            try:
                return _shim_socket(req, cid, stdin), True
            except Conflict:    # it ended already: nothing more to relay
                return None, False
    return pending, False


def _shim_socket(req, cid: str, stdin: bool) -> socket.socket:
    try:
        return req.client.containers.get(cid).attach_socket(stdin=stdin)
    except OSError:
        raise Conflict(f"container {cid} is not running") from None


def relay(source: socket.socket, channel, streams: set, stdin: bool) -> None:
    """The shim's frames to the client, the client's input to the shim (``channel.take_input``, on a
    thread of its own), until the container ends or the client leaves."""
    channel.take_input(source, stdin)
    reader, ended = FrameReader(), False
    while not ended:
        try:
            data = source.recv(65536)
        except OSError:
            data = b""
        if not data:
            break
        out = []
        for stream, payload in reader.feed(data):
            if stream == EXIT:
                ended = True
            elif stream in streams:
                out.append((stream, payload))
        try:
            channel.send(out)
        except OSError:
            break
