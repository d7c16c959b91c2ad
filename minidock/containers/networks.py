"""Networks: docker's ``bridge``, ``host`` and ``none``, and the user-defined bridge networks.

``docker network create NAME`` makes a network of the bridge driver: a Linux
bridge of its own, named ``br-`` and the first 12 hex digits of the network's
ID (as docker names it), and a subnet of its own.  A container on it gets a
veth pair and an address there, as on the default bridge (``runtime/network.py``
does the cabling); ``network connect`` gives a running container one more
(``eth1``, ``eth2``...), ``network disconnect`` takes it away.

Subnets come from ``MINIDOCK_NETWORK_POOL`` (default ``10.112.0.0/16``), one
``/24`` each: beside the default bridge's 10.87.0.0/16, clear of docker's
172.17-31 and 192.168 pools, podman's 10.88-10.89 and kubernetes'
10.96.0.0/12; a subnet that overlaps another network of the store or a route
on the host is refused (docker: "Pool overlaps with other one on this address space").

**Names.**  On a user-defined network, containers reach each other by name,
by network alias and by short ID; the default bridge does not resolve names
(as in docker).  Docker answers these names from an embedded DNS server at
127.0.0.11; minidock, deliberately, writes them into each container's
``/etc/hosts`` instead (in place: it is bind-mounted), when a container
starts or stops, connects or disconnects.  So ``getent hosts web`` and
``ping web`` work as in docker, but a name appears a moment after its
container started, and ``nslookup`` (which asks a DNS server) finds nothing.

**Isolation.**  A user-defined network's bridge forwards nothing
(``net.ipv4.conf.BRIDGE.forwarding=0``): its containers reach each other and
the host, no other network, even on a host that forwards (docker uses
iptables for this).  The bridge is made when its first container starts and
goes when its last one stops, as minidock0 does: nothing is left on the host
while nothing runs.

The records are ``ROOT/networks.json`` (``{id: record}``, docker's inspect
shape without ``Containers``, which is read live from the leases).
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
import time

from ..display import rfc3339
from ..errors import APIError, Conflict, Forbidden, InvalidParameter, NotFound
from ..images import journal
from ..images.digest import resolve_prefix
from ..runtime import network as net

FILE = "networks.json"
POOL = "10.112.0.0/16"
BUILTIN = {"bridge": "bridge", "host": "host", "none": "null"}  # name -> driver
NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
MAX_INTERFACES = 10   # eth0..eth9: a veth's name must fit IFNAMSIZ (runtime/network.py: veth_names)


def pool() -> ipaddress.IPv4Network:
    """Where user-defined networks' subnets come from: ``MINIDOCK_NETWORK_POOL``, else ``POOL``."""
    return net.parse_subnet(os.environ.get("MINIDOCK_NETWORK_POOL") or POOL, "MINIDOCK_NETWORK_POOL", 24)


def bridge_of(record: dict) -> str | None:
    """The Linux bridge of a network: ``br-`` + 12 hex digits of its ID (docker's); None: the default bridge."""
    return None if record["Name"] == "bridge" else "br-" + record["Id"][:12]


def endpoint_id(network_id: str, cid: str) -> str:
    """A stable endpoint ID for a container on a network (docker's are random; this one needs no record)."""
    return hashlib.sha256(f"{network_id}/{cid}".encode()).hexdigest()


class Networks:
    """The networks of one store.  ``containers`` is the store's ``Containers`` (for who is attached)."""

    def __init__(self, store, containers):
        self.store, self.containers = store, containers

    # -- records ----------------------------------------------------------

    def _records(self) -> dict:
        """Every network by ID; the three pre-defined ones are made on first use (IDs random, as docker's)."""
        records = self.store.read_json(FILE, {})
        if {r["Name"] for r in records.values()} >= set(BUILTIN):
            return records
        with self.store.lock():
            records = self.store.read_json(FILE, {})
            have = {r["Name"] for r in records.values()}
            for name, driver in BUILTIN.items():
                if name not in have:
                    nid = os.urandom(32).hex()
                    records[nid] = _record(nid, name, driver, {}, {})
            self.store.write_json(FILE, records)
        return records

    def list(self) -> list[dict]:
        """Every network's record, by name."""
        return sorted(self._records().values(), key=lambda r: r["Name"])

    def get(self, name: str) -> dict:
        """The network a name, ID or ID prefix names (docker: a full name first, then an ID)."""
        records = self._records()
        for record in records.values():
            if record["Name"] == name or record["Id"] == name:
                return record
        if re.fullmatch(r"[0-9a-f]{1,64}", name):
            try:
                return records[resolve_prefix(name, ["sha256:" + i for i in records], what="network")[7:]]
            except NotFound:
                pass
        raise NotFound(f"network {name} not found")

    def segment(self, record: dict) -> net.Segment | None:
        """What the runtime needs of a bridge network (None: the default bridge)."""
        if record["Name"] == "bridge":
            return None
        ipam = record["IPAM"]["Config"][0]
        return net.Segment(bridge_of(record), ipam["Subnet"], ipam["Gateway"], record["Internal"])

    def subnet_of(self, record: dict) -> ipaddress.IPv4Network | None:
        if record["Name"] == "bridge":
            return net.subnet(self.store.root)
        config = record["IPAM"]["Config"]
        return ipaddress.IPv4Network(config[0]["Subnet"]) if config else None

    # -- create, remove, prune ----------------------------------------------

    def create(self, name: str, subnet: str | None = None, gateway: str | None = None, *,
               labels: dict | None = None, internal: bool = False, driver: str = "bridge",
               options: dict | None = None) -> str:
        """``network create``: a bridge network with its own subnet; its ID.  Its bridge comes with its first container."""
        if driver != "bridge":
            raise InvalidParameter(f"plugin \"{driver}\" not found: minidock's networks use the bridge driver")
        if not NAME_RE.match(name or ""):
            raise InvalidParameter(f"invalid network name {name!r}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
        with self.store.lock():
            records = self._records()
            if any(r["Name"] == name for r in records.values()):
                raise Conflict(f"network with name {name} already exists")
            chosen = self._subnet(records, subnet)
            gw = _gateway(chosen, gateway)
            nid = os.urandom(32).hex()
            records[nid] = _record(nid, name, "bridge", labels or {}, {"Subnet": str(chosen), "Gateway": gw},
                                   internal=internal) | {"Options": dict(options or {})}
            self.store.write_json(FILE, records)
        journal.record(self.store.root, "network", "create", nid, {"name": name, "type": "bridge"})
        return nid

    def _subnet(self, records: dict, asked: str | None) -> ipaddress.IPv4Network:
        """The asked subnet if it overlaps nothing, else the pool's first free /24."""
        taken = [s for s in (self.subnet_of(r) for r in records.values()) if s is not None]
        taken += [route for _, route in net.host_routes() if route.prefixlen > 0]
        if asked is not None:
            wanted = net.parse_subnet(asked)
            if any(wanted.overlaps(t) for t in taken):
                raise Forbidden(f"Pool overlaps with other one on this address space: {wanted}")
            return wanted
        free = next((s for s in pool().subnets(new_prefix=24) if not any(s.overlaps(t) for t in taken)), None)
        if free is None:
            raise APIError(f"could not find an available, non-overlapping IPv4 address pool among {pool()} "
                           "(MINIDOCK_NETWORK_POOL) to assign to the network")
        return free

    def remove(self, name: str) -> None:
        """``network rm``: refused for the pre-defined networks and while a container runs on it."""
        record = self.get(name)
        if record["Name"] in BUILTIN:
            raise Forbidden(f"{record['Name']} is a pre-defined network and cannot be removed")
        with self.store.lock():
            if self.endpoints(record):
                raise Conflict(f"error while removing network: network {record['Name']} id {record['Id']} "
                               "has active endpoints")
            records = self._records()
            records.pop(record["Id"], None)
            self.store.write_json(FILE, records)
        net.forget_bridge(bridge_of(record))
        journal.record(self.store.root, "network", "destroy", record["Id"], {"name": record["Name"], "type": "bridge"})

    # -- who is on a network ------------------------------------------------

    def endpoints(self, record: dict) -> dict[str, str]:
        """Container ID -> address, for each running container of this store on the network."""
        held = net.leases(self.store.root, bridge_of(record))
        return {cid: address for cid, address in held.items() if self.containers.dir(cid).exists()}

    def attached(self, config: dict) -> dict[str, dict]:
        """The networks a container's record names: {network name: its endpoint settings}."""
        return config["Networks"] if "Networks" in config else {config["NetworkMode"]: {}}

    def inspect(self, record: dict) -> dict:
        """NetworkInspect: the record, the default bridge's live subnet, and ``Containers`` from the leases."""
        found = dict(record)
        if record["Name"] == "bridge":
            subnet = net.subnet(self.store.root)
            found["IPAM"] = dict(record["IPAM"], Config=[{"Subnet": str(subnet), "Gateway": net.gateway(subnet)}])
        prefix = self.subnet_of(record).prefixlen if record["Driver"] == "bridge" else 0
        found["Containers"] = {
            cid: {"Name": self.containers.name_of(cid), "EndpointID": endpoint_id(record["Id"], cid),
                  "MacAddress": net.mac_for(address), "IPv4Address": f"{address}/{prefix}", "IPv6Address": ""}
            for cid, address in sorted(self.endpoints(record).items())}
        return found

    def settings(self, cid: str, config: dict, running: bool) -> dict:
        """NetworkSettings.Networks of a container: each network's address, gateway, MAC, IDs, aliases."""
        found = {}
        for name, endpoint in self.attached(config).items():
            try:
                record = self.get(endpoint.get("NetworkID") or name)
            except NotFound:
                record = {"Id": endpoint.get("NetworkID", ""), "Name": name, "Driver": "null"}
            address = self.endpoints(record).get(cid) if running and record["Driver"] == "bridge" else None
            subnet = self.subnet_of(record) if address else None
            aliases = endpoint.get("Aliases") or []
            if record["Name"] not in BUILTIN:   # docker lists the short ID among a user network's aliases
                aliases = [*aliases, cid[:12]]
            found[name] = {"IPAMConfig": None, "Links": None, "Aliases": aliases or None,
                           "NetworkID": record["Id"], "EndpointID": endpoint_id(record["Id"], cid) if address else "",
                           "Gateway": self._gateway_of(record) if address else "", "IPAddress": address or "",
                           "IPPrefixLen": subnet.prefixlen if subnet else 0, "IPv6Gateway": "",
                           "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
                           "MacAddress": net.mac_for(address) if address else "", "DriverOpts": None}
        return found

    def _gateway_of(self, record: dict) -> str:
        if record["Name"] == "bridge":
            return net.gateway(net.subnet(self.store.root))
        return record["IPAM"]["Config"][0]["Gateway"]


def _gateway(subnet: ipaddress.IPv4Network, asked: str | None) -> str:
    """``--gateway``, which must lie in the subnet; else the subnet's first address (docker's default)."""
    if asked is None:
        return net.gateway(subnet)
    try:
        address = ipaddress.IPv4Address(asked)
    except ValueError:
        raise InvalidParameter(f"invalid gateway address {asked}") from None
    if address not in subnet or address in (subnet.network_address, subnet.broadcast_address):
        raise InvalidParameter(f"no matching subnet for gateway {asked}")
    return str(address)


def _record(nid: str, name: str, driver: str, labels: dict, ipam: dict, internal: bool = False) -> dict:
    """A network as docker's inspect shows it (``Containers`` is added when read)."""
    return {"Name": name, "Id": nid, "Created": rfc3339(time.time()), "Scope": "local", "Driver": driver,
            "EnableIPv6": False, "IPAM": {"Driver": "default", "Options": None, "Config": [ipam] if ipam else []},
            "Internal": internal, "Attachable": False, "Ingress": False, "ConfigFrom": {"Network": ""},
            "ConfigOnly": False, "Options": {}, "Labels": labels}
