"""Talking to a registry: the OCI distribution API over HTTP, with its auth challenges.

A registry is a small HTTP API (OCI distribution-spec, "Endpoints")::

    GET  /v2/                                   is this a registry? may I?
    GET  /v2/NAME/manifests/REF                 a manifest, by tag or digest
    HEAD /v2/NAME/blobs/DIGEST                  does it hold this blob?
    GET  /v2/NAME/blobs/DIGEST                  a blob (config or layer)
    POST /v2/NAME/blobs/uploads/                start an upload -> Location
    PATCH LOCATION                              send a chunk
    PUT  LOCATION?digest=DIGEST                 finish it; the registry checks the digest
    POST /v2/NAME/blobs/uploads/?mount=D&from=R mount a blob from another repository
    PUT  /v2/NAME/manifests/TAG                 publish the image

``Registry`` is one host; it keeps one connection open (keep-alive), answers
401 challenges (``auth``), and can record the conversation (``trace``), which
chapter 08 prints request by request.  Nothing here knows about the store.
"""

from __future__ import annotations

import http.client
import json
import os
import sys
import urllib.parse
from typing import BinaryIO

from ..errors import APIError, NotFound
from . import auth, tls

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
# distribution answers a converted schema1 manifest to a client that does not say what it takes (PEERS.md)
ACCEPT = ", ".join([DOCKER_MANIFEST, OCI_MANIFEST, DOCKER_LIST, OCI_INDEX])
BLOCK = 1 << 20
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1", "[::1]")


class RegistryError(APIError):
    """The registry answered with an error (its JSON error code, when it sent one)."""

    def __init__(self, message: str, status: int = 0, code: str = ""):
        super().__init__(message)
        self.status, self.code = status, code


def scheme_for(host: str, insecure: list[str] = ()) -> str:
    """``https`` for a registry with CAs in ``certs.d``; else ``http`` only for this machine or a
    registry listed as insecure, as Docker does; else ``https``."""
    if tls.ca_files(host):
        return "https"
    name = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0] + "]"
    return "http" if name in LOCAL_HOSTS or host in insecure or name in insecure else "https"


def connection(netloc: str, scheme: str, timeout: int) -> http.client.HTTPConnection:
    """A connection to ``netloc``; over TLS it trusts that host's ``certs.d`` CAs (else the machine's)."""
    if scheme == "https":
        return http.client.HTTPSConnection(netloc, timeout=timeout, blocksize=BLOCK,
                                           context=tls.client_context(netloc))
    return http.client.HTTPConnection(netloc, timeout=timeout, blocksize=BLOCK)


class Registry:
    """One registry host, e.g. ``Registry("127.0.0.1:5000")``."""

    def __init__(self, host: str, scheme: str | None = None, trace: list | None = None,
                 credentials: tuple[str, str] | None = None):
        self.host = host
        self.credentials = credentials  # (user, password) to use instead of the saved ones (login)
        self.scheme = scheme or scheme_for(host)
        self.trace = trace if trace is not None else ([] if os.environ.get("MINIDOCK_TRACE") else None)
        self._conn: http.client.HTTPConnection | None = None
        self._authorization: dict[str, str] = {}  # scope ("" for Basic) -> Authorization header

    # -- HTTP -------------------------------------------------------------

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            self._conn = connection(self.host, self.scheme, 120)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def request(self, method: str, path: str, *, body: BinaryIO | bytes | None = None,
                headers: dict | None = None, scope: str = "", ok=(200,)) -> http.client.HTTPResponse:
        """Send one request (answering an auth challenge once); the response, its body unread."""
        for attempt in range(2):
            resp = self._send(method, path, body, dict(headers or {}), scope)
            if resp.status != 401 or attempt:
                break
            challenge = resp.getheader("WWW-Authenticate", "")
            resp.read()
            self._answer(challenge, scope)
            if hasattr(body, "seek"):
                body.seek(0)
        if resp.status not in ok:
            raise self._error(method, path, resp)
        return resp

    def _send(self, method: str, path: str, body, headers: dict, scope: str) -> http.client.HTTPResponse:
        authorization = self._authorization.get(scope) or self._authorization.get("")
        if authorization:
            headers["Authorization"] = authorization
        for attempt in range(2):  # a kept-alive connection the server closed meanwhile: reconnect once
            conn = self._connection()
            try:
                conn.request(method, path, body=body, headers=headers)
                resp = conn.getresponse()
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.close()
                if attempt or (body is not None and not isinstance(body, bytes)):
                    raise APIError(f"{self.host} closed the connection during {method} {path}") from None
            except OSError as e:
                self.close()
                raise APIError(f"cannot reach registry {self.host}: {tls.hint(self.host, e)}") from None
        if self.trace is not None:
            self.trace.append((method, path, resp.status))
            if os.environ.get("MINIDOCK_TRACE"):
                print(f"{method} {path} -> {resp.status}", file=sys.stderr)
        return resp

    def _answer(self, challenge: str, scope: str) -> None:
        """Get the Authorization header a 401 challenge asks for (Basic, or a Bearer token)."""
        kind, params = auth.parse_challenge(challenge)
        creds = self.credentials or auth.credentials(self.host)
        if kind == "basic":
            if creds is None:
                raise RegistryError(f"unauthorized: {self.host} wants credentials: run 'minidock login {self.host}'",
                                    401, "UNAUTHORIZED")
            self._authorization[""] = auth.basic(*creds)
        elif kind == "bearer":
            self._authorization[scope] = "Bearer " + self._token(params, creds)
        else:
            raise RegistryError(f"unauthorized: {self.host} asks for {kind or 'an unknown'} authentication",
                                401, "UNAUTHORIZED")

    def _token(self, params: dict, creds: tuple[str, str] | None) -> str:
        """The token flow: ask the realm for a token for this service and scope."""
        realm = urllib.parse.urlsplit(params.get("realm", ""))
        if realm.scheme not in ("http", "https") or not realm.netloc:
            raise RegistryError(f"{self.host} sent a Bearer challenge without a usable realm", 401, "UNAUTHORIZED")
        query = urllib.parse.urlencode({k: params[k] for k in ("service", "scope") if k in params})
        conn = connection(realm.netloc, realm.scheme, 60)
        try:
            headers = {"Authorization": auth.basic(*creds)} if creds else {}
            conn.request("GET", f"{realm.path or '/'}?{query}", headers=headers)
            resp = conn.getresponse()
            body = resp.read()
            if self.trace is not None:
                self.trace.append(("GET", f"{realm.netloc}{realm.path}?{query}", resp.status))
        except OSError as e:
            raise APIError(f"cannot reach the token server {realm.netloc}: {tls.hint(realm.netloc, e)}") from None
        finally:
            conn.close()
        if resp.status != 200:
            what = "incorrect username or password" if creds else f"run 'minidock login {self.host}'"
            raise RegistryError(f"unauthorized: the token server refused ({resp.status}): {what}", 401, "UNAUTHORIZED")
        try:
            doc = json.loads(body)
            return doc.get("token") or doc["access_token"]
        except (ValueError, KeyError, AttributeError):
            raise RegistryError("the token server sent no token", 401, "UNAUTHORIZED") from None

    def _error(self, method: str, path: str, resp: http.client.HTTPResponse) -> RegistryError:
        """A registry error as one line: the spec's error code and message when the body has them."""
        body = resp.read(1 << 16)
        # Go's servers answer plain HTTP on a TLS port with a bare HTTP/1.0 400 (its body unseen after a HEAD)
        if resp.status == 400 and (tls.SPEAKS_HTTPS in body or (resp.version == 10 and not resp.getheaders())):
            return RegistryError(tls.https_hint(self.host), 400)
        challenge = resp.getheader("WWW-Authenticate", "")
        if resp.status == 401 and 'error="insufficient_scope"' in challenge:  # a token, but not for this
            wanted = auth.parse_challenge(challenge)[1].get("scope", "")
            return RegistryError(f"{self.host}: denied: requested access to the resource is denied "
                                 f"(the token server did not grant {wanted}; {method} {path})", 401, "DENIED")
        code, message = "", ""
        try:
            first = json.loads(body)["errors"][0]
            code, message = first.get("code", ""), first.get("message", "")
        except (ValueError, KeyError, IndexError, TypeError):
            pass
        what = f"{code.lower().replace('_', ' ')}: {message}" if code else f"{resp.status} {resp.reason}"
        cls = RegistryNotFound if resp.status == 404 else RegistryError
        return cls(f"{self.host}: {what} ({method} {path})", resp.status, code)

    # -- the API ----------------------------------------------------------

    def ping(self) -> None:
        """``GET /v2/``: a registry answers 200 (or 401 before credentials)."""
        self.request("GET", "/v2/").read()

    def manifest(self, name: str, reference: str) -> tuple[bytes, str, str]:
        """(bytes, media type, Docker-Content-Digest header) of a manifest or index."""
        resp = self.request("GET", f"/v2/{name}/manifests/{reference}", headers={"Accept": ACCEPT},
                            scope=pull_scope(name))
        data = resp.read()
        media_type = resp.getheader("Content-Type", "").split(";")[0].strip()
        return data, media_type, resp.getheader("Docker-Content-Digest", "")

    def blob(self, name: str, digest: str) -> http.client.HTTPResponse:
        """A blob's response, to be read as a stream (it may be large)."""
        resp = self.request("GET", f"/v2/{name}/blobs/{digest}", scope=pull_scope(name), ok=(200, 307, 302))
        if resp.status in (302, 307):  # storage elsewhere (S3-backed registries): follow once
            resp.read()
            location = resp.getheader("Location", "")
            target = urllib.parse.urlsplit(location)
            other = Registry(target.netloc or self.host, target.scheme or self.scheme, self.trace)
            return other.request("GET", target.path + (f"?{target.query}" if target.query else ""))
        return resp

    def has_blob(self, name: str, digest: str) -> bool:
        """``HEAD`` a blob: whether the registry holds it for this repository."""
        resp = self.request("HEAD", f"/v2/{name}/blobs/{digest}", scope=push_scope(name), ok=(200, 404))
        resp.read()
        return resp.status == 200

    def mount(self, name: str, digest: str, source: str) -> bool:
        """Cross-repository mount: link a blob the registry has under ``source``; whether it did."""
        query = urllib.parse.urlencode({"mount": digest, "from": source})
        resp = self.request("POST", f"/v2/{name}/blobs/uploads/?{query}", scope=push_scope(name, source),
                            ok=(201, 202), headers={"Content-Length": "0"})
        resp.read()
        if resp.status == 202:  # not mounted: the registry opened an upload instead; leave it
            self._cancel(resp.getheader("Location", ""))
        return resp.status == 201

    def upload(self, name: str, digest: str, stream: BinaryIO, size: int, chunk: int | None = None) -> None:
        """Upload a blob: POST, then one PUT with all of it, or PATCH ``chunk`` bytes at a time then PUT."""
        scope = push_scope(name)
        resp = self.request("POST", f"/v2/{name}/blobs/uploads/", scope=scope, ok=(202,),
                            headers={"Content-Length": "0"})
        resp.read()
        location = self._location(resp)
        if chunk is not None and size > chunk:
            start = 0
            while start < size:
                data = stream.read(min(chunk, size - start))
                if not data:
                    raise APIError(f"blob {digest} ended early while uploading it")
                resp = self.request("PATCH", location, body=data, scope=scope, ok=(202,), headers={
                    "Content-Type": "application/octet-stream", "Content-Length": str(len(data)),
                    "Content-Range": f"{start}-{start + len(data) - 1}"})
                resp.read()
                location, start = self._location(resp), start + len(data)
            body, length = b"", 0
        else:
            body, length = stream, size
        sep = "&" if "?" in location else "?"
        resp = self.request("PUT", f"{location}{sep}digest={urllib.parse.quote(digest)}", body=body, scope=scope,
                            ok=(201,), headers={"Content-Type": "application/octet-stream",
                                                "Content-Length": str(length)})
        resp.read()

    def put_manifest(self, name: str, reference: str, data: bytes, media_type: str) -> str:
        """Publish a manifest under a tag; the digest the registry gives it."""
        resp = self.request("PUT", f"/v2/{name}/manifests/{reference}", body=data, scope=push_scope(name),
                            ok=(201,), headers={"Content-Type": media_type, "Content-Length": str(len(data))})
        resp.read()
        return resp.getheader("Docker-Content-Digest", "")

    def tags(self, name: str) -> list[str]:
        """``GET /v2/NAME/tags/list``."""
        doc = json.loads(self.request("GET", f"/v2/{name}/tags/list", scope=pull_scope(name)).read())
        return sorted(doc.get("tags") or [])

    def _location(self, resp: http.client.HTTPResponse) -> str:
        """An upload's Location as a path on this host (registries may send it absolute)."""
        location = resp.getheader("Location", "")
        if not location:
            raise RegistryError(f"{self.host} opened an upload without a Location", resp.status)
        parts = urllib.parse.urlsplit(location)
        return parts.path + (f"?{parts.query}" if parts.query else "")

    def _cancel(self, location: str) -> None:
        """Give up an upload session (a registry also forgets idle ones by itself)."""
        if location:
            path = urllib.parse.urlsplit(location)
            try:
                self.request("DELETE", path.path + (f"?{path.query}" if path.query else ""), ok=(204, 200)).read()
            except RegistryError:
                pass


class RegistryNotFound(RegistryError, NotFound):
    """404: no such repository, tag, manifest or blob."""


def pull_scope(name: str) -> str:
    return f"repository:{name}:pull"


def push_scope(name: str, source: str | None = None) -> str:
    scope = f"repository:{name}:pull,push"
    return f"{scope} repository:{source}:pull" if source else scope
