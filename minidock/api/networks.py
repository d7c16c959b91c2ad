"""Networks for clients, shaped like docker-py's: ``client.networks.create/get/list/prune``, ``Network``.

    >>> net = client.networks.create("front")
    >>> net.connect(container, aliases=["db"])
    >>> [c.name for c in net.reload().containers]

The engine's side (records, subnets, cabling, names) is ``containers/networks.py``
and ``containers/endpoints.py``; here only the shapes users know, and ``network ls``'s rows.
"""

from __future__ import annotations

import contextlib
import time

from ..containers import endpoints
from ..containers.networks import BUILTIN
from ..display import parse_rfc3339
from ..errors import APIError, Conflict, NotFound

LIST_FILTERS = ("name", "id", "driver", "label", "type", "dangling", "scope")
HEADERS = {"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE",
           "IPv6": "IPV6", "Internal": "INTERNAL", "Labels": "LABELS", "CreatedAt": "CREATED AT"}


class Network:
    """One network (docker-py's ``Network``): ``attrs`` is docker's inspect JSON."""

    def __init__(self, client, attrs: dict):
        self.client, self.attrs = client, attrs

    @property
    def id(self) -> str:
        return self.attrs["Id"]

    @property
    def short_id(self) -> str:
        return self.id[:12]

    @property
    def name(self) -> str:
        return self.attrs["Name"]

    @property
    def containers(self) -> list:
        """The containers running on it."""
        return [self.client.containers.get(cid) for cid in self.attrs.get("Containers") or {}]

    def reload(self) -> "Network":
        self.attrs = self.client.networks.get(self.id).attrs
        return self

    def connect(self, container, aliases: list[str] | None = None, **others) -> None:
        """Cable ``container`` (a Container, name or ID) to this network; live if it runs.  docker-py's
        other settings (``ipv4_address``, ``links``...) are refused unless empty: minidock picks the address."""
        _refuse_set(others, "connect")
        engine = self.client.containers.containers
        endpoints.connect(engine, self.id, engine.resolve(_ref(container)), list(aliases or []))

    def disconnect(self, container, force: bool = False) -> None:
        engine = self.client.containers.containers
        endpoints.disconnect(engine, self.id, engine.resolve(_ref(container)), force)

    def remove(self) -> None:
        self.client.networks.networks.remove(self.id)

    def __repr__(self) -> str:
        return f"<Network: {self.short_id}>"


def _refuse_set(options: dict, what: str) -> None:
    """docker-py's keyword arguments minidock does not carry out: refused unless at their zero value."""
    given = sorted(key for key, value in options.items() if value not in (None, False, "", [], {}))
    if given:
        raise APIError(f"minidock's network {what} does not support {', '.join(given)}")


def _ref(container) -> str:
    return container if isinstance(container, str) else container.id


class NetworkCollection:
    """``client.networks``, as docker-py's."""

    def __init__(self, client):
        self.client = client

    @property
    def networks(self):
        """The engine's networks of this store."""
        return self.client.containers.containers.networks

    def create(self, name: str, driver: str | None = None, options: dict | None = None, ipam: dict | None = None,
               internal: bool = False, labels: dict | None = None, **others) -> Network:
        """A bridge network; ``ipam``: docker-py's ``IPAMConfig`` (``{"Config": [{"Subnet", "Gateway"}]}``).
        ``check_duplicate`` and ``attachable`` change nothing here; ``enable_ipv6``, ``ingress`` are refused."""
        _refuse_set({k: v for k, v in others.items() if k not in ("check_duplicate", "attachable")
                     and (k, v) != ("scope", "local")}, "create")
        pool = ((ipam or {}).get("Config") or [{}])[0]
        nid = self.networks.create(name, pool.get("Subnet"), pool.get("Gateway"), labels=labels,
                                   internal=internal, driver=driver or "bridge", options=options)
        return self.get(nid)

    def get(self, network_id: str, **_options) -> Network:
        return Network(self.client, self.networks.inspect(self.networks.get(network_id)))

    def list(self, names: list[str] | None = None, ids: list[str] | None = None,
             filters: dict | None = None, **_options) -> list[Network]:
        """The networks, by name; ``filters`` as ``network ls --filter`` (``matching``)."""
        wanted = dict(filters or {})
        wanted = {k: [v] if isinstance(v, str) else list(v) for k, v in wanted.items()}
        found = [Network(self.client, self.networks.inspect(r)) for r in self.networks.list()]
        return [n for n in found if matching(n.attrs, wanted)
                and (names is None or n.name in names) and (ids is None or n.id in ids)]

    def prune(self, filters: dict | None = None) -> dict:
        """Remove every user-defined network no container runs on (``label`` filters: only those)."""
        labels = {k: v for k, v in (filters or {}).items() if k == "label"}
        if set(filters or {}) - {"label"}:
            raise APIError(f"invalid filter for network prune: {', '.join(sorted(set(filters) - {'label'}))}")
        gone = []
        for network in self.list(filters=labels):
            if network.name not in BUILTIN and not network.attrs["Containers"]:
                with contextlib.suppress(Conflict, NotFound):   # a container started on it meanwhile
                    self.networks.remove(network.id)
                    gone.append(network.name)
        return {"NetworksDeleted": gone}


def matching(attrs: dict, filters: dict[str, list[str]]) -> bool:
    """Docker's ``network ls`` filters: each key any of its values; ``name`` and ``id`` match a part / prefix."""
    builtin = attrs["Name"] in BUILTIN

    def label(spec: str) -> bool:
        key, eq, value = spec.partition("=")
        return key in attrs["Labels"] and (not eq or attrs["Labels"][key] == value)

    tests = {"name": lambda v: v in attrs["Name"], "id": attrs["Id"].startswith,
             "driver": lambda v: v == attrs["Driver"], "scope": lambda v: v == attrs["Scope"],
             "type": lambda v: v == ("builtin" if builtin else "custom"), "label": label,
             "dangling": lambda v: (v.lower() in ("true", "1")) == (not builtin and not attrs["Containers"])}
    return all(key == "label" and all(map(label, values)) or key != "label" and any(map(tests[key], values))
               for key, values in filters.items())


def ls_row(attrs: dict, no_trunc: bool = False) -> dict:
    """One row of ``network ls``: every column docker's ``--format`` knows."""
    return {"ID": attrs["Id"] if no_trunc else attrs["Id"][:12], "Name": attrs["Name"], "Driver": attrs["Driver"],
            "Scope": attrs["Scope"], "IPv6": str(attrs["EnableIPv6"]).lower(),
            "Internal": str(attrs["Internal"]).lower(),
            "Labels": ",".join(f"{k}={v}" for k, v in sorted(attrs["Labels"].items())),
            "CreatedAt": time.strftime("%Y-%m-%d %H:%M:%S +0000 UTC",
                                       time.gmtime(parse_rfc3339(attrs["Created"])))}
