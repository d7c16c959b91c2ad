"""``/containers/{id}/archive``: what ``docker cp`` is made of (the engine's part: ``containers/copy.py``).

* ``HEAD ?path=`` -- the path's stat in the ``X-Docker-Container-Path-Stat`` header (base64 of
  JSON: name, size, mode as Go's os.FileMode, mtime, linkTarget); 404 if there is no such path;
* ``GET ?path=`` -- the same header, and the path as a tar;
* ``PUT ?path=DIR&noOverwriteDirNonDir=&copyUIDGID=`` -- a tar (plain, gzip, bzip2 or xz)
  extracted into the directory DIR: 200, or 400 for a hostile archive, 403 for a read-only
  root file system, 404 for a missing DIR -- and then nothing in the container has changed.
"""

from __future__ import annotations

import base64
import json

from ...containers import copy
from .server import HTTPError, route

NAME = r"(?P<name>[^/]+)"
STAT_HEADER = "X-Docker-Container-Path-Stat"


def _target(req, name: str) -> tuple:
    c = req.client.containers.containers
    path = req.arg("path")
    if not path:
        raise HTTPError(400, "bad parameter: path cannot be empty")
    return c, c.resolve(name), path


def stat_header(found: dict) -> dict:
    """The header moby sends: base64 (standard, padded) of the stat's JSON."""
    return {STAT_HEADER: base64.b64encode(json.dumps(found).encode()).decode()}


@route("HEAD", rf"/containers/{NAME}/archive")
def stat_path(req, name: str) -> None:
    c, cid, path = _target(req, name)
    req.reply_empty(200, extra=stat_header(copy.stat_path(c, cid, path, name)))


@route("GET", rf"/containers/{NAME}/archive")
def get_archive(req, name: str) -> None:
    c, cid, path = _target(req, name)
    found, chunks = copy.get_archive(c, cid, path, name)
    try:
        req.stream(chunks, "application/x-tar", extra=stat_header(found))
    finally:
        chunks.close()  # a client gone before the first chunk: the child still ends


@route("PUT", rf"/containers/{NAME}/archive")
def put_archive(req, name: str) -> None:
    c, cid, path = _target(req, name)
    body = req.body()
    try:
        copy.put_archive(c, cid, path, name, body, no_overwrite_dir_non_dir=req.flag("noOverwriteDirNonDir"),
                         copy_uid_gid=req.flag("copyUIDGID"))
    except Exception as e:
        for _ in body:  # read the rest, so the client, still sending, gets the answer (not a broken pipe)
            pass
        if isinstance(e, (copy.ReadOnly, copy.NotADirectory)):
            raise HTTPError(403 if isinstance(e, copy.ReadOnly) else 400, str(e)) from None
        raise
    req.reply_empty(200)
