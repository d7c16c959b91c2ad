"""``/images/...``: list, inspect, history, tag, remove, pull and import, push, save and load, prune.

Image names hold slashes (``127.0.0.1:5000/course/busybox:v1``), so a route takes all of the path
up to its fixed tail.  Pull and push answer a stream of JSON progress lines, as Docker's do
(``{"status": "Pull complete", "id": "4b1e..."}``); an error after the stream began is a last line
``{"errorDetail": {"message": ...}, "error": ...}``, which the CLI prints and exits 1 for.
"""

from __future__ import annotations

import base64
import io
import json
import queue
import threading

from ...display import parse_rfc3339
from ...errors import InvalidArchive, MinidockError, NotFound
from ...images.reference import familiar
from .containers import client_gone
from .server import HTTPError, route

NAME = r"(?P<name>.+)"
LIST_FILTERS = ("reference", "dangling", "label", "before", "since")


@route("GET", r"/images/json")
def list_images(req) -> None:
    """The list is read without the store's lock: an image another client removes meanwhile takes its
    config blob with it, and the list is made again (a snapshot, as dockerd's)."""
    for attempt in range(3):
        try:
            return _list_images(req)
        except FileNotFoundError:
            if attempt == 2:
                raise


def _list_images(req) -> None:
    images = req.client.images.images
    filters = req.filters(LIST_FILTERS)
    counts = images.layer_counts()
    rows = []
    records = images.list(all=req.flag("all"))
    for rec in records:
        tags = [familiar(t) for t in rec.tags]
        if not _wanted(req, rec, tags, filters):
            continue
        size = images.size(rec)
        rows.append({"Id": rec.id, "ParentId": rec.parent or "", "RepoTags": tags,
                     "RepoDigests": [familiar(d) for d in rec.digests],
                     "Created": int(parse_rfc3339(rec.created)) if rec.created else 0,
                     "Size": size, "VirtualSize": size, "SharedSize": images.shared_size(rec, counts),
                     "Labels": (rec.config.get("config") or {}).get("Labels") or {}, "Containers": -1})
    req.reply_json(rows)


def _wanted(req, rec, tags: list[str], filters: dict) -> bool:
    import fnmatch
    if "dangling" in filters and (filters["dangling"][-1] in ("true", "1")) != (not rec.tags):
        return False
    if "reference" in filters:
        names = tags + [t.rsplit(":", 1)[0] for t in tags]
        if not any(fnmatch.fnmatchcase(n, pattern) for pattern in filters["reference"] for n in names):
            return False
    labels = (rec.config.get("config") or {}).get("Labels") or {}
    for spec in filters.get("label", []):
        key, eq, value = spec.partition("=")
        if key not in labels or (eq and labels[key] != value):
            return False
    for key, newer in (("before", False), ("since", True)):
        for name in filters.get(key, []):
            other = req.client.images.images.get(name)
            if (rec.created > other.created) != newer or rec.id == other.id:
                return False
    return True


@route("GET", rf"/images/{NAME}/json")
def inspect(req, name: str) -> None:
    req.reply_json(_image(req, name).attrs)


def _image(req, name: str):
    try:
        return req.client.images.get(name)
    except NotFound:
        raise NotFound(f"No such image: {name}") from None


@route("GET", rf"/images/{NAME}/history")
def history(req, name: str) -> None:
    rows = _image(req, name).history()
    req.reply_json([row | {"Created": int(parse_rfc3339(row["Created"])) if row["Created"] else 0}
                    for row in rows])


@route("POST", rf"/images/{NAME}/tag")
def tag(req, name: str) -> None:
    image = _image(req, name)
    repo, tag_name = req.arg("repo"), req.arg("tag")
    if not repo:
        raise HTTPError(400, "repository name must have at least one component")
    image.tag(repo, tag_name or None)
    req.reply_empty(201)


@route("DELETE", rf"/images/{NAME}")
def remove(req, name: str) -> None:
    try:
        lines = req.client.images.remove(name, force=req.flag("force"), noprune=req.flag("noprune"))
    except NotFound:
        raise NotFound(f"No such image: {name}") from None
    req.reply_json([{kind: what} for kind, what in lines])


@route("POST", r"/images/prune")
def prune(req) -> None:
    filters = req.filters(("dangling", "until", "label"))
    dangling_only = filters.get("dangling", ["true"])[-1] in ("true", "1")
    req.reply_json(req.client.images.prune(all=not dangling_only))


# -- pull, import, push -----------------------------------------------------------

@route("POST", r"/images/create")
def create(req) -> None:
    """``fromImage``: pull; ``fromSrc=-``: import the body as a root file system."""
    if req.arg("fromSrc") is not None:
        return _import(req)
    image = req.arg("fromImage")
    if not image:
        raise HTTPError(400, "fromImage or fromSrc is required")
    tag = req.arg("tag") or None
    auth = _credentials(req)
    if tag is None and "@" not in image and ":" not in image.rsplit("/", 1)[-1]:
        tag = "latest"   # docker pull busybox: the CLI asks for tag=latest; docker-py may send none
    req.read_body(1 << 16)
    platform = req.arg("platform") or None
    req.json_lines(progress(req, lambda say: req.client.images.pull(image, tag, platform=platform, say=say,
                                                                     auth_config=auth)))


def _credentials(req) -> dict | None:
    """``X-Registry-Auth``: base64url JSON of the user's credentials for this one request."""
    header = req.headers.get("X-Registry-Auth")
    if not header:
        return None
    try:
        auth = json.loads(base64.b64decode(header + "=" * (-len(header) % 4), altchars=b"-_", validate=True) or b"{}")
    except ValueError:
        raise HTTPError(400, "X-Registry-Auth is not base64url-encoded JSON") from None
    if not isinstance(auth, dict):
        raise HTTPError(400, "X-Registry-Auth is not a JSON object")
    return auth or None


def _import(req) -> None:
    source = req.arg("fromSrc")
    if source != "-":
        raise HTTPError(400, "minidock imports only from the request body (fromSrc=-), it fetches no URL")
    repo, tag_name = req.arg("repo") or None, req.arg("tag") or None
    changes = req.query.get("changes", [])
    message = req.arg("message") or None
    image = req.client.images.import_image(BodyReader(req), repo, tag_name, changes, message)
    req.json_lines([{"status": image.id}])


@route("POST", r"/commit")
def commit(req) -> None:
    """``docker commit``: the container's writable layer as a new image (``changes``: Dockerfile lines)."""
    c = req.client.containers.containers
    name = req.arg("container")
    if not name:
        raise HTTPError(400, "commit: the container to commit is missing (container=NAME)")
    cid = c.resolve(name)
    body = req.json_body()
    if isinstance(body, dict) and any(v not in (None, "", [], {}, False, 0) for v in body.values()):
        raise HTTPError(400, "minidock's commit takes the new image's configuration as changes (--change), "
                             "not as a Config body")
    repo, tag = req.arg("repo") or None, req.arg("tag") or None
    ref = None
    if repo:
        ref = f"{repo}:{tag}" if tag else repo
    image_id = c.commit(cid, ref, req.arg("comment") or "", req.arg("author") or "", req.query.get("changes", []))
    req.reply_json({"Id": image_id}, 201)


@route("POST", rf"/images/{NAME}/push")
def push(req, name: str) -> None:
    auth = _credentials(req)
    tag = req.arg("tag") or None
    _image(req, f"{name}:{tag}" if tag else name)
    req.json_lines(progress(req, lambda say: req.client.images.push(name, tag, say=say, auth_config=auth)))


class ClientGone(MinidockError):
    """The client hung up: the work it asked for stops at the next line it would have been told."""


def progress(req, work, message=None, cancel=None):
    """Run ``work(say)`` on a thread; each line it says as a Docker progress message (``message(line)``,
    by default ``status_message``). An error before the first line is raised (an HTTP error the CLI
    prints as such); after it, the stream's last line, with the error's ``code`` if it has one (a
    failed RUN's exit status, which ``docker build`` exits with).

    A client that hangs up (a write fails, or it closes while the work is quiet) cancels the work, as
    dockerd cancels a request's context: its next ``say`` raises ``ClientGone``, so it fails as on any
    error and removes what it half made; ``cancel()``, if given, interrupts what says nothing for long
    (a build's RUN). The request's thread waits for the work to end: nothing it holds outlives it."""
    message = message or status_message
    lines: queue.Queue = queue.Queue()
    gone = threading.Event()

    def say(line) -> None:
        if gone.is_set():
            raise ClientGone("the client went away")
        lines.put(("line", line))

    def run() -> None:
        try:
            work(say)
            lines.put(("done", None))
        except BaseException as e:  # handed to the request's thread, which reports it
            lines.put(("error", e))

    def stop(ended: bool) -> None:
        """Wait for the work to end; stop it first if it has not (the client left)."""
        if not ended:
            gone.set()
            if cancel is not None:
                cancel()
        worker.join()

    worker = threading.Thread(target=run, daemon=True, name="progress")
    worker.start()
    try:
        kind, value = _next(req, lines)
    except ConnectionError:   # gone before the first line
        stop(ended=False)
        raise
    if kind == "error":
        raise value

    def messages():
        nonlocal kind, value
        try:
            while kind != "done":
                if kind == "error":
                    text = str(value) if isinstance(value, MinidockError) else f"{type(value).__name__}: {value}"
                    code = getattr(value, "code", None)   # a number only: the CLI reads it as Go's int
                    code = code if isinstance(code, int) and not isinstance(code, bool) else None
                    yield {"errorDetail": {"code": code, "message": text} if code else {"message": text}, "error": text}
                    return
                yield message(value)
                kind, value = _next(req, lines)
        finally:   # the stream ended (the work too), or the client left, closing this generator
            stop(ended=kind in ("done", "error"))
    return messages()


def _next(req, lines: queue.Queue) -> tuple[str, object]:
    """The work's next (kind, value); while it is quiet, see every half second whether the client left."""
    while True:
        try:
            return lines.get(timeout=0.5)
        except queue.Empty:
            if client_gone(req.connection):
                raise ConnectionResetError("the client went away") from None


def status_message(line: str) -> dict:
    """``4b1e81a3e5c5: Pull complete`` -> ``{"status": "Pull complete", "id": "4b1e81a3e5c5"}``."""
    ident, sep, status = line.partition(": ")
    if sep and " " not in ident and ident not in ("Digest", "Status"):
        return {"status": status, "progressDetail": {}, "id": ident}
    return {"status": line}


# -- save and load --------------------------------------------------------------

@route("GET", rf"/images/{NAME}/get")
def save_one(req, name: str) -> None:
    _save(req, [name])


@route("GET", r"/images/get")
def save(req) -> None:
    names = req.query.get("names", [])
    if not names:
        raise HTTPError(400, "names is required: the images to save")
    _save(req, names)


def _save(req, names: list[str]) -> None:
    images = req.client.images
    for name in names:   # a missing image is a 404, a damaged one a 500, before the tar begins
        images.images.refuse_damaged(_image(req, name).record, name)
    req.stream_with(lambda out: images.save_to(names, out), "application/x-tar")


@route("POST", r"/images/load")
def load(req) -> None:
    try:
        req.client.images.load(BodyReader(req))
    except InvalidArchive as e:
        raise HTTPError(400, str(e)) from None
    loaded = req.client.images.last_load
    lines = [{"stream": f"{kind}: {name}\n"} for kind, name in loaded]
    req.json_lines(lines)


class BodyReader(io.RawIOBase):
    """The request body as a binary file (``load`` and ``import`` read archives from files)."""

    def __init__(self, req):
        self.pieces = req.body()
        self.left = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self.left:
            try:
                self.left = next(self.pieces)
            except StopIteration:
                return 0
        n = min(len(buffer), len(self.left))
        buffer[:n] = self.left[:n]
        self.left = self.left[n:]
        return n
