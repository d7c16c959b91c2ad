"""``pause``, ``unpause`` and ``update``: a running container's cgroup, through the Engine API.

The engine's part is ``containers/resources.py``; here are Docker's answers:
204 for pause and unpause, 409 when the container is not in the state for it,
and ``{"Warnings": []}`` for an update.
"""

from __future__ import annotations

from ...containers import resources
from . import configs
from .server import route

NAME = r"(?P<name>[^/]+)"


@route("POST", rf"/containers/{NAME}/pause")
def pause(req, name: str) -> None:
    c = req.client.containers.containers
    resources.pause(c, c.resolve(name))
    req.reply_empty(204)


@route("POST", rf"/containers/{NAME}/unpause")
def unpause(req, name: str) -> None:
    c = req.client.containers.containers
    resources.unpause(c, c.resolve(name))
    req.reply_empty(204)


@route("POST", rf"/containers/{NAME}/update")
def update(req, name: str) -> None:
    c = req.client.containers.containers
    cid = c.resolve(name)
    resources.update(c, cid, **configs.update_config(req.json_body()))
    req.reply_json({"Warnings": []})
