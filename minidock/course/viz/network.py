"""The bridge network: the host's bridge, a veth pair per container, each container's eth0.

What ``runtime/network.py`` builds, read back live: the bridge ``minidock0``
holds the gateway address; each running container on it has a veth pair,
one end (``vethXXXXXXXX``) plugged into the bridge on the host, the other
end inside the container's network namespace, renamed ``eth0``, with an
address from the pool.  Published ports are sockets on the host's
127.0.0.1 whose connections a proxy copies to the container.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..lang import say
from . import dotlang


@dataclass(frozen=True)
class Endpoint:
    """One container's connection to the bridge."""

    container: str          # its name
    interface: str          # "eth0"
    address: str            # "10.87.0.2/16"
    mac: str
    host_end: str           # the veth's other end, on the host: "veth1a2b3c4d"
    plugged: bool           # whether that end is a port of the bridge
    ports: tuple[str, ...]  # "127.0.0.1:8080 -> 80/tcp"


@dataclass(frozen=True)
class Network:
    bridge: str
    gateway: str                       # the bridge's own address: "10.87.0.1/16"
    endpoints: tuple[Endpoint, ...]    # sorted by container name


def network_of(client, containers=None) -> Network:
    """The bridge and the running ``containers`` on it (default: every running one of ``client``)."""
    from ...api.system import network

    net = network.subnet(client.store.root)
    chosen = client.containers.list() if containers is None else containers

    def read() -> list[Endpoint | None]:
        on_bridge = set(network.bridge_ports())
        return [_endpoint(c, on_bridge) for c in chosen if c.pid]

    endpoints = _in_a_thread(read)
    return Network(network.bridge_name(), f"{network.gateway(net)}/{net.prefixlen}",
                   tuple(sorted((e for e in endpoints if e), key=lambda e: e.container)))


def _in_a_thread(read):
    """``read()``, in a thread of its own: pyroute2 (0.9) runs an asyncio loop of its own and fails
    with "This event loop is already running" in a thread that runs one, like a Jupyter kernel's."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(read).result()


def _endpoint(container, on_bridge: set[str]) -> Endpoint | None:
    """The container's eth0 and the host end of its veth pair; None when it has no eth0 (--network none)."""
    from ...api.system import network
    eth0 = next((i for i in container.interfaces() if i["name"] == "eth0"), None)
    if eth0 is None:
        return None
    host_end = network.veth_names(container.id)[0]
    bindings = container.attrs["NetworkSettings"]["Ports"]
    ports = sorted(f"{b['HostIp']}:{b['HostPort']} -> {port}" for port, binds in bindings.items() for b in binds)
    return Endpoint(container.name, eth0["name"], ", ".join(eth0["addresses"]), eth0["mac"],
                    host_end, host_end in on_bridge, tuple(ports))


def network_text(data: Network) -> str:
    """The text twin: a tree from the bridge down to each container's interface."""
    lines = [f"{data.bridge}  {data.gateway}  " + say("(the bridge, on the host)", "（网桥，在宿主机上）")]
    for i, e in enumerate(data.endpoints):
        last = i == len(data.endpoints) - 1
        cable = "==" if e.plugged else say("  (not on the bridge)  ==", "  （不在网桥上）  ==")
        lines.append(f"{'└──' if last else '├──'} {e.host_end} {cable} {e.interface}  {e.address}  "
                     f"{e.mac}  " + say(f"in {e.container}", f"在 {e.container} 中"))
        lines += [f"{'    ' if last else '│   '}    " + say(f"published: {port}", f"发布端口：{port}") for port in e.ports]
    if data.endpoints and _gloss():
        lines.append(_gloss())
    return "\n".join(lines) + "\n"


def _gloss() -> str:
    """What the Chinese edition says once of the English term it keeps ("" in the English edition)."""
    return say("", "veth pair（虚拟网卡对）：一根两头的网线，一头插在网桥上，另一头在容器里改名为 eth0")


def network_dot(data: Network) -> str:
    """The host (bridge, veth ends, published ports) above, one box per container below."""
    host = [dotlang.node("bridge", label=f"{data.bridge}\n{data.gateway}", shape="box", style="filled",
                         fillcolor="lightblue")]
    body, edges = [], []
    for e in data.endpoints:
        veth, eth0 = f"veth:{e.container}", f"eth0:{e.container}"
        host.append(dotlang.node(veth, label=e.host_end, shape="box"))
        body += dotlang.cluster(e.container, say(f"{e.container} (own network namespace)",
                                                 f"{e.container}（自己的网络命名空间）"),
                                [dotlang.node(eth0, label=f"{e.interface}\n{e.address}\n{e.mac}", shape="box",
                                              style="filled", fillcolor="khaki")])
        if e.plugged:
            edges.append(dotlang.edge("bridge", veth, arrowhead="none", label=say("port", "网桥端口")))
        edges.append(dotlang.edge(veth, eth0, dir="both", penwidth="2", label="veth pair"))
        for port in e.ports:
            listener, _, target = port.partition(" -> ")
            host.append(dotlang.node(f"port:{port}", label=listener, shape="cds"))
            edges.append(dotlang.edge(f"port:{port}", eth0, style="dashed",
                                      label=say(f"proxy to {target}", f"代理转发到 {target}")))
    return dotlang.digraph("network", dotlang.cluster("host", say("host", "宿主机"), host) + body + edges,
                           label=(_gloss() if data.endpoints else "") or None)
