"""HTTP/1.1 as the Docker Engine API speaks it, on a unix socket (or loopback TCP).

What the ``docker`` CLI and docker-py rely on, and where each is kept here:

* every path may start with an API version, ``/v1.41/containers/json``; versions from
  ``MIN_API`` to ``MAX_API`` are served, others refused with Docker's message (``dispatch``);
* ``/_ping`` answers ``API-Version``: a newer CLI negotiates down to it (``system.py``);
* errors are ``{"message": "..."}`` with Docker's status codes: 400 a bad parameter, 404 no
  such object, 409 a conflict, 500 the engine failed (``STATUS``); 304 is "nothing to do"
  (start a running container) with no body; the CLI prints "Error response from daemon: " and the message;
* a stream of unknown length goes chunked: JSON lines (pull, push, build, stats, events) or
  the multiplexed frames of ``logs`` (``stream``);
* attach and exec *hijack* the connection: the answer is ``101 UPGRADED`` and from then on the
  socket carries the container's raw input and output both ways (``hijack``).

Each connection has its own engine (``Client``) on the daemon's store: the store's lock is a file
lock, so two connections, or the daemon and a ``minidock`` command, exclude each other as two
commands do.
"""

from __future__ import annotations

import json
import re
import socket
import sys
import time
from collections.abc import Callable, Iterable
from urllib.parse import parse_qs, unquote, urlsplit

from ... import __version__
from ...errors import (Conflict, Forbidden, InvalidArchive, InvalidParameter, InvalidReference, MinidockError,
                       NotFound, UsageError)
from ...httpd import BodyError, Handler
from ..client import Client

MIN_API, MAX_API = "1.24", "1.43"
JSON_MAX = 4 << 20           # a create or update body; images and contexts are streamed, not read whole
LOOPBACK = ("127.0.0.1", "::1", "localhost")

# (method, path pattern, handler); the first match wins
ROUTES: list[tuple[str, re.Pattern, Callable]] = []


def route(method: str, pattern: str):
    """Register ``handler(request, **groups)`` for ``method`` on paths matching ``pattern``."""
    def register(handler: Callable) -> Callable:
        ROUTES.append((method, re.compile(pattern), handler))
        return handler
    return register


class HTTPError(Exception):
    """An answer other than success: a status and Docker's one-line message."""

    def __init__(self, status: int, message: str = ""):
        super().__init__(message)
        self.status = status


def not_modified() -> HTTPError:
    """304: the container is already in the state asked for (start a running one, stop a stopped one)."""
    return HTTPError(304)


# the engine's errors as Docker's status codes (errdefs in moby): the first class that matches
STATUS = ((NotFound, 404), (Conflict, 409), (Forbidden, 403), (InvalidParameter, 400),
          (InvalidReference, 400), (UsageError, 400),
          (InvalidArchive, 400), (MinidockError, 500))


def status_of(error: Exception) -> int:
    if isinstance(error, (HTTPError, BodyError)):
        return error.status
    return next(status for kind, status in STATUS if isinstance(error, kind))


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


class Request(Handler):
    """One connection to the daemon; ``dispatch`` answers each request on it in turn."""

    server_version = f"minidock/{__version__}"
    sys_version = ""
    _client: Client | None = None

    def do_GET(self) -> None:
        self.dispatch()

    do_HEAD = do_PUT = do_POST = do_DELETE = do_GET

    @property
    def daemon(self):
        return self.server.daemon

    @property
    def client(self) -> Client:
        """This connection's engine on the daemon's store."""
        if self._client is None:
            self._client = Client(self.daemon.root)
        return self._client

    def send_response(self, code: int, message: str | None = None) -> None:
        self.status = code
        super().send_response(code, message)

    # -- dispatch -----------------------------------------------------------

    def dispatch(self) -> None:
        """Find the route, run it, and answer an error as Docker does; log the request with --debug."""
        started, self.status, self.answered = time.monotonic(), 0, False
        url = urlsplit(self.path)
        self.query = parse_qs(url.query, keep_blank_values=True)
        path = unquote(url.path)
        self.daemon.requests_begin()
        try:
            self.api_version, path = self._version(path)
            handler, groups = self._route(path)
            handler(self, **groups)
            if not self.answered:
                raise RuntimeError(f"{handler.__name__} gave no answer")
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        except Exception as e:
            self._fail(e)
        finally:
            self.daemon.requests_end()
            self.daemon.log_request(self.command, self.path, self.status, time.monotonic() - started)

    def _version(self, path: str) -> tuple[str, str]:
        match = re.fullmatch(r"/v([0-9]+\.[0-9]+)(/.*)", path)
        if not match:
            return MAX_API, path
        version = match.group(1)
        if version_tuple(version) > version_tuple(MAX_API):
            raise HTTPError(400, f"client version {version} is too new. Maximum supported API version is {MAX_API}")
        if version_tuple(version) < version_tuple(MIN_API):
            raise HTTPError(400, f"client version {version} is too old. Minimum supported API version is "
                                 f"{MIN_API}, please upgrade your client to a newer version")
        return version, match.group(2)

    def _route(self, path: str) -> tuple[Callable, dict]:
        method = "GET" if self.command == "HEAD" and not any(
            m == "HEAD" and p.fullmatch(path) for m, p, _ in ROUTES) else self.command
        allowed = False
        for want, pattern, handler in ROUTES:
            if match := pattern.fullmatch(path):
                if want == method:
                    return handler, match.groupdict()
                allowed = True
        if allowed:
            raise HTTPError(405, f"method {self.command} not allowed on {path}")
        raise HTTPError(404, "page not found")

    def _fail(self, error: Exception) -> None:
        """An error after the answer began cannot change its status: end the connection instead."""
        if not isinstance(error, (MinidockError, HTTPError, BodyError)):
            self.daemon.log_error(f"{self.command} {self.path}: {type(error).__name__}: {error}")
            import traceback
            traceback.print_exc(file=sys.stderr)
            error = HTTPError(500, f"{type(error).__name__}: {error}")
        if self.answered:
            self.close_connection = True
            return
        status = status_of(error)
        if status == 304:
            self.reply_empty(304)
        else:
            self.reply_json({"message": str(error)}, status)

    # -- the request --------------------------------------------------------

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def flag(self, name: str, default: bool = False) -> bool:
        """A boolean parameter as Docker reads one: 1/true/True on, 0/false/empty off."""
        value = self.arg(name)
        if value is None:
            return default
        if value.lower() in ("1", "true", "yes"):
            return True
        if value.lower() in ("0", "false", "no", ""):
            return False
        raise HTTPError(400, f"invalid value for {name}: {value!r}: want a boolean")

    def number(self, name: str, default: int | None = None) -> int | None:
        value = self.arg(name)
        if value in (None, ""):
            return default
        try:
            return int(value)
        except ValueError:
            raise HTTPError(400, f"invalid value for {name}: {value!r}: want an integer") from None

    def filters(self, known: tuple[str, ...]) -> dict[str, list[str]]:
        """``filters={"status": ["running"]}`` (or the old ``{"status": {"running": true}}``)."""
        raw = self.arg("filters")
        if not raw:
            return {}
        try:
            decoded = json.loads(raw)
            if not isinstance(decoded, dict):
                raise ValueError("not an object")
            found = {}
            for key, values in decoded.items():
                if isinstance(values, dict):
                    values = [v for v, on in values.items() if on]
                if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                    raise ValueError(f"the values of {key} are not a list of strings")
                found[key] = values
        except ValueError as e:
            raise HTTPError(400, f"invalid filter: {e}") from None
        for key in found:
            if key not in known:
                raise HTTPError(400, f"invalid filter '{key}'")
        return found

    def json_body(self, limit: int = JSON_MAX):
        """The body as JSON; an empty body is ``{}``."""
        data = self.read_body(limit)
        if not data.strip():
            return {}
        try:
            return json.loads(data)
        except ValueError as e:
            raise HTTPError(400, f"invalid JSON: {e}") from None

    # -- answers ------------------------------------------------------------

    def _headers(self, status: int, content_type: str | None, length: int | None, extra: dict | None = None) -> None:
        self.answered = True
        self.send_response(status)
        self.send_header("Api-Version", MAX_API)
        self.send_header("Docker-Experimental", "false")
        self.send_header("Ostype", "linux")
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        if content_type:
            self.send_header("Content-Type", content_type)
        if length is not None:
            self.send_header("Content-Length", str(length))
        else:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_unread()
        self.end_headers()

    def reply(self, body: bytes, status: int = 200, content_type: str = "text/plain; charset=utf-8",
              extra: dict | None = None) -> None:
        self._headers(status, content_type, len(body), extra)
        if self.command != "HEAD":
            self.wfile.write(body)

    def reply_json(self, obj, status: int = 200, extra: dict | None = None) -> None:
        self.reply(json.dumps(obj).encode() + b"\n", status, "application/json", extra)

    def reply_empty(self, status: int = 204, extra: dict | None = None) -> None:
        """No body (204, 304); a 201 or 200 with an empty body says Content-Length: 0."""
        self.answered = True
        self.send_response(status)
        self.send_header("Api-Version", MAX_API)
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        if status not in (204, 304):
            self.send_header("Content-Length", "0")
        self.end_unread()
        self.end_headers()

    def stream(self, chunks: Iterable[bytes], content_type: str = "application/json",
               extra: dict | None = None) -> None:
        """A body of unknown length, chunked; each piece is sent as it comes."""
        self._headers(200, content_type, None, extra)
        self.wfile.flush()
        for chunk in chunks:
            if chunk:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def stream_with(self, write, content_type: str) -> None:
        """A chunked body written by ``write(out)``, ``out`` a file-like that sends each write as a chunk
        (``export``, ``save``: the engine writes tars to files)."""
        self._headers(200, content_type, None)
        out = _ChunkWriter(self.wfile)
        write(out)
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def json_lines(self, messages: Iterable[dict]) -> None:
        """A stream of JSON messages, one per line (pull, push, build, load, stats, events). A generator of
        messages is closed at once when the client leaves: its clean-up (a cancelled build) runs now."""
        try:
            self.stream(json.dumps(m).encode() + b"\r\n" for m in messages)
        finally:
            if hasattr(messages, "close"):
                messages.close()

    def hijack(self, content_type: str = "application/vnd.docker.raw-stream") -> socket.socket:
        """Turn the connection into a raw stream: ``101 UPGRADED`` if the client asked to upgrade
        (the docker CLI and docker-py do), else ``200 OK`` and the same raw stream. The connection
        ends with the stream; what the client sends from now on is read through ``self.rfile``,
        which may already hold its first bytes."""
        upgrade = "upgrade" in self.headers.get("Connection", "").lower()
        self.answered = True
        self.send_response(101 if upgrade else 200, "UPGRADED" if upgrade else None)
        self.send_header("Content-Type", content_type)
        if upgrade:
            self.send_header("Connection", "Upgrade")
            self.send_header("Upgrade", self.headers.get("Upgrade", "tcp"))
        self.send_header("Api-Version", MAX_API)
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True
        _until_read(self.connection)
        return self.connection

    def read_raw(self) -> bytes:
        """After a hijack: the next bytes the client sent (b"" at its end of input)."""
        try:
            return self.rfile.read1(65536)
        except OSError:
            return b""


def _until_read(conn: socket.socket, timeout: float = 1.0) -> None:
    """Wait, a second at most, until the client has read the answer's head (SIOCOUTQ: what it has not read
    yet, on a unix socket). docker-py reads the head through a buffer and what follows it from the raw
    socket: output sent before it read the head (an exec's, an attach's to a running container) would
    stay in that buffer, lost. (On TCP the count is what is not yet acknowledged: 0 at once on loopback.)"""
    import fcntl
    import struct
    import termios
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            unread = struct.unpack("i", fcntl.ioctl(conn.fileno(), termios.TIOCOUTQ, b"\0\0\0\0"))[0]
        except OSError:
            return
        if unread == 0:
            return
        time.sleep(0.0005)


class _ChunkWriter:
    """A file-like ``write`` that sends each piece as one HTTP chunk."""

    def __init__(self, wfile):
        self.wfile = wfile

    def write(self, data: bytes) -> int:
        if data:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        return len(data)
