"""``/volumes/...``: ``docker volume create/ls/inspect/rm/prune`` over the Engine API.

The local driver only: a volume is a directory in the store (``containers/volumes.py``).  A name
with "/" or ".." is refused with 400 before anything is made; a volume in use is not removed
(409 "volume is in use - [container IDs]").  Since API 1.42 (Docker 23) ``prune`` removes only
anonymous volumes unless the ``all=true`` filter asks for every unused one; an older client's
prune removes every unused volume, as the dockerd it was made for did.
"""

from __future__ import annotations

from .server import HTTPError, route, version_tuple

NAME = r"(?P<name>[^/]+)"


def _volumes(req):
    return req.client.containers.containers.volumes


@route("GET", r"/volumes")
def list_volumes(req) -> None:
    filters = req.filters(("dangling", "name", "label", "driver"))
    req.reply_json({"Volumes": _volumes(req).list(filters), "Warnings": None})


@route("POST", r"/volumes/create")
def create(req) -> None:
    body = req.json_body()
    if not isinstance(body, dict):
        raise HTTPError(400, "the body must be a JSON object")
    unknown = sorted(set(body) - {"Name", "Driver", "DriverOpts", "Labels", "ClusterVolumeSpec"})
    if unknown:
        raise HTTPError(400, f"unknown field {unknown[0]}")
    if body.get("ClusterVolumeSpec"):
        raise HTTPError(400, "minidock has no swarm: cluster volumes are not supported")
    name, labels = body.get("Name") or None, body.get("Labels") or {}
    if name is not None and not isinstance(name, str) or not isinstance(labels, dict):
        raise HTTPError(400, "Name must be a string and Labels an object")
    record = _volumes(req).create(name, labels, body.get("Driver") or "local", body.get("DriverOpts") or None)
    req.reply_json(record, 201)


@route("GET", rf"/volumes/{NAME}")
def inspect(req, name: str) -> None:
    req.reply_json(_volumes(req).get(name))


@route("DELETE", rf"/volumes/{NAME}")
def remove(req, name: str) -> None:
    _volumes(req).remove(name, force=req.flag("force"))
    req.reply_empty(204)


@route("POST", r"/volumes/prune")
def prune(req) -> None:
    filters = req.filters(("label", "all"))
    every = filters.get("all", ["false"])[-1].lower() in ("true", "1") or version_tuple(req.api_version) < (1, 42)
    result = _volumes(req).prune(every, {"label": filters["label"]} if "label" in filters else None)
    req.reply_json(result)
