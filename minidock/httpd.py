"""What minidock's two servers share: HTTP/1.1 over the standard library's ``http.server``.

The embedded registry (``registry/server.py``) and the daemon (``api/daemon/``) both

* keep connections open between requests (HTTP/1.1 keep-alive: podman, skopeo, the docker CLI and
  docker-py all reuse them),
* read request bodies sent with a Content-Length or chunked (Go's clients send a stream of unknown
  size so: ``docker load``, ``docker build``, a registry push),
* run one thread per connection, and on ``stop`` hang up on every client (idle keep-alive ones, and
  long streams such as ``logs -f``) so that every thread ends and nothing is left behind;
* may speak TLS over TCP (an ``ssl.SSLContext``): the handshake happens in the connection's own
  thread, so a client that connects and says nothing never holds up the accept loop.

A flat module: it imports nothing of minidock, so both the ``registry`` and the ``api`` packages use it.
"""

from __future__ import annotations

import os
import re
import socket
import socketserver
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

CHUNK = 1 << 20


class BodyError(Exception):
    """A request body that cannot be read as HTTP says (400), or is larger than allowed (413)."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


class Handler(BaseHTTPRequestHandler):
    """One connection: requests answered in turn, as HTTP/1.1 keep-alive allows."""

    protocol_version = "HTTP/1.1"
    timeout = 300                   # an idle connection is closed after five minutes

    def log_message(self, format, *args) -> None:
        """Requests are logged nowhere by default: stderr stays quiet."""

    def address_string(self) -> str:
        """The client: HOST for TCP; a unix socket's client has no address."""
        return self.client_address[0] if isinstance(self.client_address, tuple) else "unix"

    def setup(self) -> None:
        super().setup()
        self.body_read = True

    def parse_request(self) -> bool:
        """The request line and headers; then whether a body is still waiting in the socket."""
        if not super().parse_request():
            return False
        self.body_read = (self.headers.get("Content-Length", "0") == "0"
                          and "Transfer-Encoding" not in self.headers)
        return True

    # -- the request body ---------------------------------------------------

    def body(self) -> Iterator[bytes]:
        """The request body in pieces: by Content-Length, or chunked."""
        length = self.headers.get("Content-Length") or "0"
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            yield from self._chunked()
        elif length.isdigit():
            yield from self._exactly(int(length))
        else:
            raise BodyError(f"invalid Content-Length: {length}")
        self.body_read = True

    def read_body(self, limit: int) -> bytes:
        """The whole body, refused (413) past ``limit`` bytes."""
        length = self.headers.get("Content-Length") or "0"
        if length.isdigit() and int(length) > limit:
            raise BodyError(f"request body larger than {limit} bytes", 413)
        data = bytearray()
        for chunk in self.body():
            data += chunk
            if len(data) > limit:
                raise BodyError(f"request body larger than {limit} bytes", 413)
        return bytes(data)

    def _exactly(self, size: int) -> Iterator[bytes]:
        while size > 0:
            chunk = self.rfile.read(min(size, CHUNK))
            if not chunk:
                raise ConnectionResetError("the client went away in the middle of a body")
            size -= len(chunk)
            yield chunk

    def _chunked(self) -> Iterator[bytes]:
        """RFC 9112 chunked coding: ``<hex size>[;ext]CRLF <bytes> CRLF`` ... ``0 CRLF [trailers] CRLF``."""
        while size := self._chunk_size():
            yield from self._exactly(size)
            self.rfile.readline()
        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
            pass

    def _chunk_size(self) -> int:
        line = self.rfile.readline(100).split(b";")[0].strip()
        if not re.fullmatch(rb"[0-9a-fA-F]{1,15}", line):
            raise BodyError("malformed chunked transfer coding")
        return int(line, 16)

    def discard_body(self, limit: int) -> None:
        """Read and drop a body of at most ``limit`` bytes that an answer refused, so the connection stays
        usable: closing a socket with unread bytes in it sends a TCP reset, which may destroy the answer
        before the client reads it (RFC 9112 9.6). A larger body still ends the connection (``end_unread``)."""
        length = self.headers.get("Content-Length", "")
        if self.body_read or "Transfer-Encoding" in self.headers or not length.isdigit() or int(length) > limit:
            return
        for _ in self.body():
            pass

    def end_unread(self) -> None:
        """Called before the headers of an answer: if the request's body is still in the socket
        (an error answered before reading it), this answer is the connection's last."""
        if not self.body_read:
            self.send_header("Connection", "close")
            self.close_connection = True


class _Connections:
    """A thread per connection; ``close_connections`` hangs up on every client so their threads end."""

    daemon_threads = False
    block_on_close = True  # server_close() joins the handler threads
    # listen(2)'s backlog: socketserver's 5 makes a busy unix socket refuse connections (EAGAIN)
    # when a few clients connect at once; dockerd's (Go's) is the kernel's SOMAXCONN
    request_queue_size = socket.SOMAXCONN

    def track(self) -> None:
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()

    def process_request(self, request, client_address) -> None:
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Hang up on every client, idle keep-alive ones too."""
        with self.connections_lock:
            for conn in self.connections:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def handle_error(self, request, client_address) -> None:
        """A client that went away is not an error worth a traceback; a bug is."""
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class TCPServer(_Connections, socketserver.ThreadingMixIn, HTTPServer):
    """HTTP over TCP, a thread per connection; HTTPS when given an ``ssl.SSLContext`` (``tls``)."""

    handshake_timeout = 30  # seconds a client may take to say hello and finish the TLS handshake

    def __init__(self, addr: tuple[str, int], handler: type[Handler], tls=None):
        self.track()
        self.tls = tls
        super().__init__(addr, handler)

    def finish_request(self, request, client_address) -> None:
        """In the connection's thread: the TLS handshake (when serving TLS), then the requests."""
        if self.tls is None:
            return super().finish_request(request, client_address)
        secure = self._handshake(request)
        if secure is None:
            return
        try:
            super().finish_request(secure, client_address)
        finally:
            self._forget(secure)

    def _forget(self, secure) -> None:
        with self.connections_lock:
            self.connections.discard(secure)
        secure.close()

    def _handshake(self, request):
        """The connection as TLS, or None (the client left, or spoke plain HTTP, or no TLS we take)."""
        import ssl  # only a TLS server pays for the module
        request.settimeout(self.handshake_timeout)
        secure = None
        try:
            if request.recv(1, socket.MSG_PEEK).isalpha():  # "GET ...": a TLS record starts with 0x16
                # what Go's servers (distribution, dockerd) answer, so clients print a known hint
                request.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n")
                return None
            # The SSL socket takes over the descriptor: swap it in the hang-up list before the handshake
            # can block, so that ``close_connections`` reaches a client stalled in the handshake too.
            with self.connections_lock:
                secure = self.tls.wrap_socket(request, server_side=True, do_handshake_on_connect=False)
                self.connections.discard(request)
                self.connections.add(secure)
            secure.do_handshake()
        except (OSError, ssl.SSLError):
            if secure is not None:
                self._forget(secure)
            return None
        secure.settimeout(None)
        return secure


class UnixServer(_Connections, socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    """HTTP over a unix socket (dockerd's ``-H unix://PATH``), a thread per connection.

    The socket is made with ``mode`` (0660: the API is root-equivalent, only its owner and ``group``
    may connect) before it listens, so no client ever finds it open wider.
    """

    def __init__(self, path: str, handler: type[Handler], mode: int = 0o660, group: int | None = None):
        self.track()
        self.path, self._bound = path, False
        with _umask(0o777 & ~mode):
            super().__init__(path, handler, bind_and_activate=False)
            try:
                self.server_bind()
                self._bound = True
                os.chmod(path, mode)
                if group is not None:
                    os.chown(path, -1, group)
                self.server_activate()
            except BaseException:
                self.server_close()
                raise

    def server_close(self) -> None:
        super().server_close()
        if self._bound:  # ours; a socket we failed to bind over is another server's
            self._bound = False
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass


class _umask:
    """The process's umask, set for a block (bind(2) makes the socket file by it)."""

    def __init__(self, mask: int):
        self.mask = mask

    def __enter__(self) -> None:
        self.saved = os.umask(self.mask)

    def __exit__(self, *exc) -> None:
        os.umask(self.saved)
