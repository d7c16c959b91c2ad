"""The embedded registry: the OCI distribution API over HTTP, served by the standard library.

    >>> with RegistryServer("/tmp/reg") as registry:
    ...     registry.url                        # push to it: 127.0.0.1:PORT/library/busybox:latest
    'http://127.0.0.1:40123'

Each request is one route below and one ``<method>_<route>`` handler; the
files are ``storage.py``'s.  What clients rely on (OCI distribution spec,
and distribution, whose behaviour podman and skopeo were written against):

* every response says ``Docker-Distribution-Api-Version: registry/2.0`` and
  has a Content-Length, and connections stay open (HTTP/1.1 keep-alive);
* a manifest is served as the bytes and media type it was pushed with; a
  client whose Accept header excludes that type gets 404 MANIFEST_UNKNOWN;
* a blob arrives by POST (an upload session, 202 + Location), PATCH chunks
  (202 + ``Range: 0-<last byte>``), and a PUT ``?digest=`` that the bytes
  must hash to; or in one POST ``?digest=``; or by a mount from another repository;
* errors are ``{"errors": [{"code", "message", "detail"}]}`` with the spec's codes.

Who may ask is ``access.py``'s (Basic auth, or bearer tokens from the realm at
``/token``); HTTPS is ``httpd.TCPServer``'s, given a context from ``tls.py``.
"""

from __future__ import annotations

import json
import os
import re
import threading
from pathlib import Path
from urllib.parse import parse_qs, parse_qsl, quote, urlsplit

from ..errors import UsageError
from ..httpd import CHUNK, BodyError, Handler, TCPServer
from .access import BasicGate, Htpasswd, TokenGate, needed, realm_host
from .storage import RegistryError, Storage, Upload

API_VERSION = "registry/2.0"
MANIFEST_MAX = 4 << 20  # the spec: registries should accept manifests of at least 4 MiB

# First match wins; a name may hold "/", so the fixed tail of each path says what it is.
ROUTES = [
    (re.compile(r"/token"), "token"),   # the token realm (``--auth token``), outside the API
    (re.compile(r"/v2/"), "base"),
    (re.compile(r"/v2/_catalog"), "catalog"),
    (re.compile(r"/v2/(?P<name>.+)/tags/list"), "tags"),
    (re.compile(r"/v2/(?P<name>.+)/manifests/(?P<reference>[^/]+)"), "manifest"),
    (re.compile(r"/v2/(?P<name>.+)/blobs/uploads/(?P<upload_id>[^/]*)"), "upload"),
    (re.compile(r"/v2/(?P<name>.+)/blobs/(?P<digest>[^/]+)"), "blob"),
]


def accepts(media_type: str, accept_headers: list[str]) -> bool:
    """Whether a client's Accept headers allow ``media_type``.

    Without any Accept header, anything goes (curl's case); distribution
    would convert a docker manifest to schema 1, which no one needs today.
    """
    types = {part.split(";")[0].strip() for header in accept_headers for part in header.split(",")} - {""}
    return not types or media_type in types or "*/*" in types


def page(items: list[str], query: dict) -> tuple[list[str], str | None]:
    """The spec's pagination: names after ``last``, at most ``n``; and the ``last`` of the next page."""
    if query.get("last"):
        items = [i for i in items if i > query["last"]]
    if "n" not in query:
        return items, None
    if not query["n"].isdigit():
        raise RegistryError("PAGINATION_NUMBER_INVALID", query["n"])
    n = int(query["n"])
    return items[:n], (items[n - 1] if 0 < n < len(items) else None)


class RegistryHandler(Handler):
    """One connection: requests answered in turn (HTTP/1.1 keep-alive: podman and skopeo reuse connections)."""

    server_version = "minidock-registry"

    def do_GET(self) -> None:
        self.dispatch()

    do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = do_GET

    @property
    def storage(self) -> Storage:
        return self.server.storage

    def dispatch(self) -> None:
        """Find the route and its handler; answer a RegistryError as the spec's JSON error."""
        url = urlsplit(self.path)
        self.query = dict(parse_qsl(url.query))
        try:
            for pattern, route in ROUTES:
                if match := pattern.fullmatch(url.path):
                    break
            else:
                raise RegistryError("UNSUPPORTED", f"no such endpoint: {url.path}", status=404)
            if self.server.gate and route != "token":
                self.server.gate.admit(needed(self.command, route, match.groupdict().get("name"),
                                              self.query.get("from")),
                                       self.headers.get("Authorization"),
                                       realm_host(self.headers.get("Host"), self.server.address))
            method = "get" if self.command == "HEAD" else self.command.lower()
            handler = getattr(self, f"{method}_{route}", None)
            if handler is None:
                raise RegistryError("UNSUPPORTED", f"{self.command} {url.path}")
            try:
                handler(**match.groupdict())
            except BodyError as e:
                raise RegistryError("BLOB_UPLOAD_INVALID", str(e)) from None
        except RegistryError as e:
            if e.status == 401:  # a manifest PUT refused before its bytes were read: keep the connection
                self.discard_body(MANIFEST_MAX)
            self.reply(e.status, e.headers, json.dumps(e.body()).encode(), "application/json")

    # -- answers ----------------------------------------------------------

    def reply(self, status: int, headers: dict | None = None, body: bytes = b"", content_type: str | None = None,
              length: int | None = None) -> None:
        """Status, headers and (except for HEAD) body; ``length`` when the body follows separately."""
        self.send_response(status)
        self.send_header("Docker-Distribution-Api-Version", API_VERSION)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if content_type:
            self.send_header("Content-Type", content_type)
        if status != 204:  # RFC 9110: a 204 has no body and no Content-Length
            self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_unread()  # the rest of the request is still in the socket: end the connection
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def reply_json(self, obj, headers: dict | None = None) -> None:
        self.reply(200, headers, json.dumps(obj).encode(), "application/json")

    def reply_file(self, path: Path, headers: dict, content_type: str) -> None:
        """Stream a file from disk, a megabyte at a time."""
        with open(path, "rb") as f:
            self.reply(200, headers, content_type=content_type, length=os.fstat(f.fileno()).st_size)
            while self.command != "HEAD" and (chunk := f.read(CHUNK)):
                self.wfile.write(chunk)

    def read_manifest(self) -> bytes:
        try:
            return self.read_body(MANIFEST_MAX)
        except BodyError as e:
            raise RegistryError("MANIFEST_INVALID" if e.status == 413 else "BLOB_UPLOAD_INVALID", str(e)) from None

    # -- routes -------------------------------------------------------------

    def get_base(self) -> None:
        self.reply_json({})

    def get_token(self) -> None:
        """The token realm: a token for the scopes asked, as far as the user (Basic auth) may have them."""
        if not isinstance(self.server.gate, TokenGate):
            raise RegistryError("UNSUPPORTED", "this registry issues no tokens (serve it with --auth token)",
                                status=404)
        grant = self.server.gate.grant(self.headers.get("Authorization"), parse_qs(urlsplit(self.path).query))
        self.reply_json(grant, {"Cache-Control": "no-store"})  # RFC 6749 5.1: token answers are not cached

    def get_catalog(self) -> None:
        names, last = page(self.storage.catalog(), self.query)
        self.reply_json({"repositories": names}, self.next_link("/v2/_catalog", last))

    def get_tags(self, name: str) -> None:
        tags, last = page(self.storage.tags(name), self.query)
        self.reply_json({"name": name, "tags": tags}, self.next_link(f"/v2/{name}/tags/list", last))

    def next_link(self, path: str, last: str | None) -> dict:
        """RFC 5988 ``Link`` to the next page, when there is one."""
        return {"Link": f'<{path}?n={self.query["n"]}&last={quote(last)}>; rel="next"'} if last else {}

    def get_manifest(self, name: str, reference: str) -> None:
        digest, media_type, path = self.storage.manifest(name, reference)
        if not accepts(media_type, self.headers.get_all("Accept") or []):
            raise RegistryError("MANIFEST_UNKNOWN", f"{media_type} is not in the request's Accept header")
        self.reply_file(path, {"Docker-Content-Digest": digest}, media_type)

    def put_manifest(self, name: str, reference: str) -> None:
        media_type = self.headers.get("Content-Type", "").split(";")[0].strip()
        digest = self.storage.put_manifest(name, reference, self.read_manifest(), media_type)
        self.reply(201, {"Location": f"/v2/{name}/manifests/{digest}", "Docker-Content-Digest": digest})

    def delete_manifest(self, name: str, reference: str) -> None:
        self.storage.delete_manifest(name, reference)
        self.reply(202)

    def get_blob(self, name: str, digest: str) -> None:
        path = self.storage.blob(name, digest)
        self.reply_file(path, {"Docker-Content-Digest": digest}, "application/octet-stream")

    def delete_blob(self, name: str, digest: str) -> None:
        self.storage.delete_blob(name, digest)
        self.reply(202)

    def post_upload(self, name: str, upload_id: str) -> None:
        """Start an upload; or mount a blob from another repository; or take a whole blob (``?digest=``)."""
        if upload_id:
            raise RegistryError("UNSUPPORTED", "POST to an upload session")
        mount, source = self.query.get("mount"), self.query.get("from")
        if mount and source and self.storage.mount_blob(name, mount, source):
            return self.blob_created(name, mount)
        upload = self.storage.start_upload(name)  # a failed mount falls back to an upload, as the spec says
        if "digest" in self.query:
            return self.put_upload(name, upload.uuid)
        self.upload_accepted(upload, 202)

    def patch_upload(self, name: str, upload_id: str) -> None:
        """Append a chunk; a Content-Range must start where the upload ends (else 416)."""
        upload = self.storage.upload(name, upload_id)
        given = self.headers.get("Content-Range")
        if given is not None:
            start = re.fullmatch(r"(?:bytes[ =])?(\d+)-(\d+)(?:/\d+|/\*)?", given.strip())
            if not start or int(start.group(1)) != upload.size:
                raise RegistryError("RANGE_INVALID", f"{given}: the upload has {upload.size} bytes",
                                    self.upload_headers(upload))
        upload.append(self.body())
        self.upload_accepted(upload, 202)

    def put_upload(self, name: str, upload_id: str) -> None:
        """The last chunk (possibly empty) and the digest everything uploaded must hash to."""
        upload = self.storage.upload(name, upload_id)
        upload.append(self.body())
        self.storage.finish_upload(upload, self.query.get("digest", ""))
        self.blob_created(name, self.query["digest"])

    def get_upload(self, name: str, upload_id: str) -> None:
        self.upload_accepted(self.storage.upload(name, upload_id), 204)

    def delete_upload(self, name: str, upload_id: str) -> None:
        self.storage.cancel_upload(self.storage.upload(name, upload_id))
        self.reply(204)

    def upload_headers(self, upload: Upload) -> dict:
        """Where the session is and how much it holds (``Range`` is inclusive; empty is ``0-0``)."""
        return {"Location": f"/v2/{upload.name}/blobs/uploads/{upload.uuid}", "Docker-Upload-UUID": upload.uuid,
                "Range": f"0-{max(upload.size - 1, 0)}"}

    def upload_accepted(self, upload: Upload, status: int) -> None:
        self.reply(status, self.upload_headers(upload))

    def blob_created(self, name: str, digest: str) -> None:
        self.reply(201, {"Location": f"/v2/{name}/blobs/{digest}", "Docker-Content-Digest": digest})


class _HTTPServer(TCPServer):
    """A thread per connection; ``stop`` ends every connection and waits for every thread."""

    def __init__(self, addr: tuple[str, int], storage: Storage, gate: BasicGate | TokenGate | None, tls=None):
        self.storage, self.gate = storage, gate
        super().__init__(addr, RegistryHandler, tls)
        host, port = self.server_address[:2]
        self.address = f"{host}:{port}"


class RegistryServer:
    """The registry on a background thread: ``start()``/``stop()``, or ``with RegistryServer(root) as r:``.

    ``htpasswd`` alone asks for Basic auth; with ``auth="token"`` the registry issues bearer tokens
    (``token_ttl`` seconds each) at ``/token`` to the htpasswd's users, pull only to ``read_only`` ones.
    ``tls=(cert, key)`` (PEM files) serves HTTPS.
    """

    def __init__(self, root: str | os.PathLike, addr: tuple[str, int] = ("127.0.0.1", 0),
                 htpasswd: str | os.PathLike | None = None, *, tls: tuple[str, str] | None = None,
                 auth: str = "basic", read_only: list[str] = (), token_ttl: int = 300):
        if auth not in ("basic", "token"):
            raise UsageError(f'invalid --auth "{auth}": want basic or token')
        if (auth == "token" or read_only) and not htpasswd:
            raise UsageError("--auth token and --read-only-user need --htpasswd (the users tokens are issued to)")
        if read_only and auth != "token":
            raise UsageError("--read-only-user needs --auth token (Basic auth cannot tell pull from push)")
        self.storage = Storage(root)
        self.addr = addr
        self.tls = None
        if tls:
            from .tls import server_context  # only an HTTPS registry pays for ssl
            self.tls = server_context(*tls)
        users = Htpasswd(htpasswd) if htpasswd else None
        self.gate = (TokenGate(users, list(read_only), self.scheme, token_ttl) if auth == "token"
                     else BasicGate(users) if users else None)
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> RegistryServer:
        """Bind (port 0: any free one) and serve on a background thread."""
        self._httpd = _HTTPServer(self.addr, self.storage, self.gate, self.tls)
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="minidock-registry", daemon=True)
        self._thread.start()
        return self

    @property
    def address(self) -> str:
        """``HOST:PORT`` as bound, the registry part of an image reference."""
        return self._httpd.address

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.address}"

    def stop(self) -> None:
        """Stop accepting, hang up on every client, wait for every thread, free the port."""
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.close_connections()
        self._httpd.server_close()
        self._thread.join()
        self._httpd = None

    def __enter__(self) -> RegistryServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
