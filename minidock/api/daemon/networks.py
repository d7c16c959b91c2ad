"""The Engine API's networks: ``/networks`` list, inspect, create, remove, connect, disconnect, prune.

What each answers is docker's (the Engine API reference, "Network"): create
answers 201 ``{"Id", "Warning"}``, a name in use 409, removing a network
with running containers 409 ("has active endpoints"), a pre-defined one 403.
The engine's side is ``containers/networks.py`` and ``containers/endpoints.py``.
"""

from __future__ import annotations

from ...containers import endpoints
from .. import networks as api
from .server import HTTPError, route

NAME = r"(?P<name>[^/]+)"


def _networks(req):
    return req.client.networks.networks


def _strings(value, what: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise HTTPError(400, f"{what} must be a list of strings")
    return value


@route("GET", r"/networks")
def list_networks(req) -> None:
    filters = req.filters(api.LIST_FILTERS)
    req.reply_json([n.attrs for n in req.client.networks.list(filters=filters)])


@route("GET", rf"/networks/{NAME}")
def inspect(req, name: str) -> None:
    req.flag("verbose")   # accepted: a local network has no more to tell
    scope = req.arg("scope")
    network = req.client.networks.get(name)
    if scope not in (None, "", "local"):
        raise HTTPError(404, f"network {name} not found")
    req.reply_json(network.attrs)


@route("POST", r"/networks/create")
def create(req) -> None:
    body = req.json_body()
    if not isinstance(body, dict) or not isinstance(body.get("Name"), str) or not body["Name"]:
        raise HTTPError(400, "Name is required: the network's name")
    if body.get("EnableIPv6"):
        raise HTTPError(400, "minidock's networks are IPv4 only: EnableIPv6 is not supported")
    ipam = body.get("IPAM") or {}
    if not isinstance(ipam, dict) or not isinstance(ipam.get("Config") or [], list):
        raise HTTPError(400, "IPAM must be an object with a Config list")
    if len(ipam.get("Config") or []) > 1:
        raise HTTPError(400, "minidock's networks have one subnet: IPAM.Config holds one entry at most")
    for key in ("Labels", "Options"):
        if not isinstance(body.get(key) or {}, dict):
            raise HTTPError(400, f"{key} must be an object")
    pool = (ipam.get("Config") or [{}])[0]
    if not isinstance(pool, dict) or pool.get("IPRange") or pool.get("AuxiliaryAddresses"):
        raise HTTPError(400, "minidock supports Subnet and Gateway in IPAM.Config, not IPRange or AuxiliaryAddresses")
    nid = _networks(req).create(body["Name"], pool.get("Subnet") or None, pool.get("Gateway") or None,
                                labels=body.get("Labels"), internal=bool(body.get("Internal")),
                                driver=body.get("Driver") or "bridge", options=body.get("Options"))
    req.reply_json({"Id": nid, "Warning": ""}, 201)


@route("DELETE", rf"/networks/{NAME}")
def remove(req, name: str) -> None:
    _networks(req).remove(name)
    req.reply_empty(204)


def _container(req, body) -> str:
    if not isinstance(body, dict) or not isinstance(body.get("Container"), str) or not body["Container"]:
        raise HTTPError(400, "Container is required: the container to connect or disconnect")
    return req.client.containers.containers.resolve(body["Container"])


@route("POST", rf"/networks/{NAME}/connect")
def connect(req, name: str) -> None:
    body = req.json_body()
    cid = _container(req, body)
    endpoint = body.get("EndpointConfig") or {}
    if not isinstance(endpoint, dict):
        raise HTTPError(400, "EndpointConfig must be an object")
    if ((endpoint.get("IPAMConfig") or {}).get("IPv4Address")) or endpoint.get("Links"):
        raise HTTPError(400, "minidock chooses the address itself and has no links: "
                             "EndpointConfig.IPAMConfig and Links are not supported")
    endpoints.connect(req.client.containers.containers, name, cid,
                      _strings(endpoint.get("Aliases"), "EndpointConfig.Aliases"))
    req.reply_empty(200)


@route("POST", rf"/networks/{NAME}/disconnect")
def disconnect(req, name: str) -> None:
    body = req.json_body()
    endpoints.disconnect(req.client.containers.containers, name, _container(req, body), bool(body.get("Force")))
    req.reply_empty(200)


@route("POST", r"/networks/prune")
def prune(req) -> None:
    req.reply_json(req.client.networks.prune(req.filters(("label",))))
