"""A registry test double on 127.0.0.1: just enough of the distribution API to pull, and ways to misbehave.

It serves one repository from a dict of blobs and manifests, can demand a
Bearer token from its own token endpoint (the spec's token flow), and can be
told to break: send a wrong blob, a wrong Content-Length, a 500 halfway
through a blob.  The real registry (Debian's docker-registry) cannot be made
to do any of that, which is what this is for.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Double:
    """``with Double(layers) as reg: reg.host`` serves ``REPO:latest`` made of the layer tars given."""

    REPO = "test/image"

    def __init__(self, layers: list[bytes], *, token_auth: tuple[str, str] | None = None):
        self.blobs: dict[str, bytes] = {sha(layer): layer for layer in layers}
        config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
                             "rootfs": {"type": "layers", "diff_ids": [sha(layer) for layer in layers]}}).encode()
        self.blobs[sha(config)] = config
        self.manifest = json.dumps({
            "schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": len(config),
                       "digest": sha(config)},
            "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar", "size": len(layer),
                        "digest": sha(layer)} for layer in layers]}).encode()
        self.manifests = {"latest": (self.manifest, DOCKER_MANIFEST)}  # tag or digest -> (bytes, type)
        self.token_auth = token_auth      # (user, password) the token endpoint wants
        self.faults: dict[str, str] = {}  # blob digest -> "wrong-bytes" | "long-length" | "cut-500" | "500" | "stall"
        self.stalled = threading.Event()  # a "stall" blob sent its first half and waits...
        self.release = threading.Event()  # ...for this (set at the end at the latest) to send the rest
        self.requests: list[str] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())

    def add_index(self, platforms: dict[str, bytes], blobs: dict[str, bytes]) -> None:
        """Serve ``multi``: an OCI index of the manifests given per "os/arch" (and their blobs)."""
        self.blobs.update(blobs)
        entries = []
        for platform, manifest in sorted(platforms.items()):
            os_, arch = platform.split("/")
            self.manifests[sha(manifest)] = (manifest, DOCKER_MANIFEST)
            entries.append({"mediaType": DOCKER_MANIFEST, "digest": sha(manifest), "size": len(manifest),
                            "platform": {"os": os_, "architecture": arch}})
        index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}).encode()
        self.manifests["multi"] = (index, OCI_INDEX)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> "Double":
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def _handler(self):
        double = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                double.requests.append(f"GET {self.path}")
                if self.path.startswith("/token"):
                    return self._token()
                if double.token_auth and self.headers.get("Authorization") != "Bearer good-token":
                    return self._send(401, b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}',
                                      {"WWW-Authenticate": f'Bearer realm="http://{double.host}/token",'
                                                           f'service="double",scope="repository:{double.REPO}:pull"'})
                if self.path == "/v2/":
                    return self._send(200, b"{}")
                prefix = f"/v2/{double.REPO}/manifests/"
                if self.path.startswith(prefix) and self.path[len(prefix):] in double.manifests:
                    data, media_type = double.manifests[self.path[len(prefix):]]
                    return self._send(200, data, {"Content-Type": media_type, "Docker-Content-Digest": sha(data)})
                prefix = f"/v2/{double.REPO}/blobs/"
                if self.path.startswith(prefix) and self.path[len(prefix):] in double.blobs:
                    return self._blob(self.path[len(prefix):])
                code = "MANIFEST_UNKNOWN" if "/manifests/" in self.path else "BLOB_UNKNOWN"
                self._send(404, json.dumps({"errors": [{"code": code, "message": "unknown"}]}).encode())

            def _token(self) -> None:
                user, password = double.token_auth
                expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
                if self.headers.get("Authorization") != expected:
                    return self._send(401, b'{"details":"wrong credentials"}')
                self._send(200, b'{"token": "good-token"}')

            def _blob(self, digest: str) -> None:
                data, fault = double.blobs[digest], double.faults.get(digest)
                if fault == "500":
                    return self._send(500, b'{"errors":[{"code":"UNKNOWN","message":"storage failed"}]}')
                if fault == "wrong-bytes":
                    data = data[:-1] + bytes([data[-1] ^ 1])
                length = len(data) + 100 if fault in ("long-length", "cut-500") else len(data)
                self.send_response(200)
                self.send_header("Content-Length", str(length))
                self.send_header("Docker-Content-Digest", digest)
                self.end_headers()
                if fault == "stall":   # a slow registry: a pull caught in the middle of a layer
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    double.stalled.set()
                    double.release.wait(60)
                    data = data[len(data) // 2:]
                self.wfile.write(data[: len(data) // 2] if fault == "cut-500" else data)
                if fault in ("long-length", "cut-500"):
                    self.close_connection = True  # announced more than it sends: the client sees it end early

            def _send(self, status: int, body: bytes, headers: dict | None = None) -> None:
                self.send_response(status)
                for key, value in {"Content-Type": "application/json", **(headers or {})}.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler
