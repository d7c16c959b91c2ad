"""A container on its networks: what its start is given, ``network connect``/``disconnect``, names.

A container's record names its networks under ``Networks`` (``{name:
{"NetworkID", "Aliases"}}``, docker's EndpointSettings), its first one also
as ``NetworkMode``.  At each start the bundle's spec lists them as
*segments* for the shim, which cables ``eth0``, ``eth1``... in that order
(``runtime/shim.py``); ``connect`` and ``disconnect`` cable or cut one
while it runs, as docker does, and are remembered for its next start.

Names (see ``networks.py``): the engine writes each running container's
``/etc/hosts`` with the names of the containers it shares a user-defined
network with: their name, their aliases on that network and their short ID.
"""

from __future__ import annotations

import contextlib

from ..errors import APIError, Conflict, Forbidden, NotFound
from ..images import journal
from ..runtime import network as net, slirp
from .networks import BUILTIN, MAX_INTERFACES, bridge_of


def choose(c, mode: str, endpoint: dict | None) -> tuple[str, dict]:
    """``--network`` at create: (NetworkMode, Networks) for the record; a user network by name or ID."""
    if mode in ("none", "host"):
        return mode, {mode: {"NetworkID": c.networks.get(mode)["Id"]}}
    if slirp.is_mode(mode):   # rootless: no network of the store, a slirp4netns of its own (runtime/slirp.py)
        return mode, {}
    record = c.networks.get(mode)
    aliases = list((endpoint or {}).get("Aliases") or [])
    if aliases and record["Name"] == "bridge":
        raise APIError("network-scoped aliases are only supported for user-defined networks")
    return record["Name"], {record["Name"]: {"NetworkID": record["Id"], "Aliases": aliases}}


def plan(c, cid: str, config: dict) -> dict:
    """The network part of the bundle's spec: mode, the segments to cable in order, the peers' names."""
    mode = config["NetworkMode"]
    if mode in ("none", "host"):
        return {"mode": mode, "segments": [], "hosts": []}
    if slirp.is_mode(mode):
        return {"mode": slirp.MODE, "options": slirp.parse_options(mode), "segments": [], "hosts": extra_hosts(config)}
    segments = []
    for name, endpoint in c.networks.attached(config).items():
        try:
            record = c.networks.get(endpoint.get("NetworkID") or name)
        except NotFound:
            raise NotFound(f"network {name} not found (it was removed; disconnect the container from it)") from None
        segment = c.networks.segment(record)
        segments.append(segment._asdict() if segment else None)
    if not segments:   # disconnected from every network: docker starts it with ``lo`` only
        return {"mode": "none", "segments": [], "hosts": []}
    return {"mode": "bridge", "segments": segments, "hosts": peers(c, cid, config)}


def extra_hosts(config: dict) -> list[list[str]]:
    """The container's ``--add-host`` entries as /etc/hosts lines ``[address, name]``."""
    return [[address, name] for name, _, address in (h.partition(":") for h in config.get("ExtraHosts") or [])]


def peers(c, cid: str, config: dict) -> list[list[str]]:
    """The /etc/hosts lines after its own: its ``--add-host`` entries, then ``[address, name, aliases...,
    short ID]`` of every running container that shares a user network with ``cid``."""
    lines = extra_hosts(config)
    for name, endpoint in c.networks.attached(config).items():
        if name in BUILTIN:
            continue   # docker's default bridge resolves no names
        with contextlib.suppress(NotFound):
            record = c.networks.get(endpoint.get("NetworkID") or name)
            for other, address in sorted(c.networks.endpoints(record).items()):
                if other == cid:
                    continue
                theirs = c.config(other)
                aliases = (theirs.get("Networks") or {}).get(record["Name"], {}).get("Aliases") or []
                lines.append([address, theirs["Name"], *dict.fromkeys(aliases), other[:12]])
    return lines


def refresh_hosts(c, cid: str) -> None:
    """Rewrite ``/etc/hosts`` of ``cid`` and of every container on its user networks, in place
    (it is bind-mounted into the container: a new file renamed over it would not be seen)."""
    try:
        config = c.config(cid)
    except FileNotFoundError:
        return
    neighbours = {cid}
    for name, endpoint in c.networks.attached(config).items():
        if name not in BUILTIN:
            with contextlib.suppress(NotFound):
                neighbours |= set(c.networks.endpoints(c.networks.get(endpoint.get("NetworkID") or name)))
    for other in sorted(neighbours):
        with contextlib.suppress(FileNotFoundError, NotFound):
            state = c.raw_state(other)
            if state["Status"] != "running":
                continue
            theirs = c.config(other)
            text = net.hosts_file(theirs["Hostname"], state.get("IPAddress"), peers(c, other, theirs))
            with open(c.dir(other) / "hosts", "r+") as f:
                f.write(text)
                f.truncate()


def connect(c, network: str, cid: str, aliases: list[str] = ()) -> None:
    """``network connect``: cable a running container (``ethN``, the next free one) and remember it."""
    record = c.networks.get(network)
    config = c.config(cid)
    if config["NetworkMode"] in ("none", "host") or record["Name"] in ("none", "host"):
        raise Forbidden(f"container cannot be disconnected from host network or connected to host network"
                        if "host" in (config["NetworkMode"], record["Name"]) else
                        "container cannot be connected to multiple networks with one of the networks in private "
                        "(none) mode")
    if aliases and record["Name"] == "bridge":
        raise APIError("network-scoped aliases are only supported for user-defined networks")
    attached = c.networks.attached(config)
    if record["Name"] in attached:
        raise Forbidden(f"endpoint with name {config['Name']} already exists in network {record['Name']}")
    state = c.state(cid)
    if state["Status"] == "running":
        _cable(c, cid, record, state["Pid"])
    attached = dict(attached, **{record["Name"]: {"NetworkID": record["Id"], "Aliases": list(aliases)}})
    c.update_config(cid, Networks=attached)
    refresh_hosts(c, cid)
    journal.record(c.store.root, "network", "connect", record["Id"], {"container": cid, "name": record["Name"],
                                                                      "type": "bridge"})


def _cable(c, cid: str, record: dict, pid: int) -> None:
    """A veth from the network's bridge into the running container, as the next free ``ethN``."""
    used = {ifname for _, ifname in net.held_by(cid)}
    ifname = next((f"eth{i}" for i in range(MAX_INTERFACES) if f"eth{i}" not in used), None)
    if ifname is None:
        raise Conflict(f"container {cid[:12]} is on {MAX_INTERFACES} networks already: minidock's limit")
    lease = net.allocate(c.store.root, cid, c.networks.segment(record), ifname)._replace(routed=False)
    try:
        net.attach(c.store.root, cid, pid, lease)
    except BaseException:
        net.release(cid, bridge=lease.bridge, remove_idle_bridge=True)
        raise


def disconnect(c, network: str, cid: str, force: bool = False) -> None:
    """``network disconnect``: cut the container's ``ethN`` on that network (if it runs) and forget it."""
    record = c.networks.get(network)
    config = c.config(cid)
    attached = c.networks.attached(config)
    if record["Name"] not in attached:
        if force:
            return
        raise Forbidden(f"container {cid} is not connected to network {record['Name']}")
    if record["Name"] in ("host", "none"):
        raise Forbidden(f"container cannot be disconnected from {record['Name']} network")
    bridge = bridge_of(record) or net.bridge_name()
    for held_bridge, ifname in net.held_by(cid):
        if held_bridge == bridge:
            net.detach(cid, ifname)
            net.release(cid, bridge=held_bridge, remove_idle_bridge=True)
    # what is left may be nothing: then it starts with ``lo`` only, as docker's does
    c.update_config(cid, Networks={name: e for name, e in attached.items() if name != record["Name"]})
    refresh_hosts(c, cid)
    for other in c.networks.endpoints(record):   # the peers it left forget it (one refresh reaches them all)
        refresh_hosts(c, other)
        break
    journal.record(c.store.root, "network", "disconnect", record["Id"], {"container": cid, "name": record["Name"],
                                                                         "type": "bridge"})
