"""rtnetlink, lean: the few requests a container start makes, with pyroute2's message classes.

Importing ``pyroute2`` runs its package ``__init__``, which imports all of
it, asyncio included: about 0.25 s, more than the rest of ``minidock run``.
A container start needs five kinds of request (a bridge, a veth pair, an
address, a link up or on a bridge, a default route); the classroom's
sandboxes two more (a dummy link, a route to one address on a link).  So this module loads
only pyroute2's *message classes* (``ifaddrmsg``, ``rtmsg``: they encode the
netlink messages) and sends them on a plain ``AF_NETLINK`` socket, as ``ip
link``/``ip addr`` do.  For links it declares its own ``linkmsg`` on
pyroute2's ``nlmsg``/``nla`` with just the six attributes it sends:
pyroute2's ``ifinfmsg`` knows every kind of link there is, and loading its
plugins took longer than all the rest of pyroute2 that a start needs.  The
rest of pyroute2 (``IPRoute``, used to read the network for the pictures)
still loads in full the first time anything else is asked of the package.

Each request asks for an acknowledgement (NLM_F_ACK); the kernel answers
with an ``nlmsgerr`` whose error is 0 or a negative errno (netlink(7)).
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import socket
import struct
import sys
import types

NETLINK_ROUTE = 0
NLMSG_ERROR = 2
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE = 0x1, 0x4, 0x200, 0x400
RTM_NEWLINK, RTM_DELLINK, RTM_NEWADDR, RTM_NEWROUTE = 16, 17, 20, 24
IFF_UP = 0x1
RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE, RT_SCOPE_LINK, RTN_UNICAST = 254, 3, 0, 253, 1


@functools.cache
def _messages():
    """pyroute2's message classes, without running the package's heavy ``__init__``."""
    if "pyroute2" not in sys.modules:
        spec = importlib.util.find_spec("pyroute2")
        package = types.ModuleType("pyroute2")
        package.__path__, package.__spec__, package.__file__ = list(spec.submodule_search_locations), spec, spec.origin

        def load_rest(name: str):
            """A submodule is imported alone; any other name runs the real ``__init__`` here, once."""
            if importlib.util.find_spec(f"pyroute2.{name}") is not None:
                return importlib.import_module(f"pyroute2.{name}")
            del package.__getattr__
            spec.loader.exec_module(package)
            return getattr(package, name)

        package.__getattr__ = load_rest
        sys.modules["pyroute2"] = package
    from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
    from pyroute2.netlink.rtnl.rtmsg import rtmsg
    return _linkmsg(), ifaddrmsg, rtmsg


def _linkmsg():
    """``struct ifinfomsg`` with the attributes we send (numbers from ``linux/if_link.h``, ``veth.h``)."""
    from pyroute2.netlink import nla, nlmsg
    ifinfomsg = (("family", "B"), ("__align", "x"), ("ifi_type", "H"), ("index", "i"), ("flags", "I"), ("change", "I"))

    class link_fields:
        fields = ifinfomsg
        nla_map = ((1, "IFLA_ADDRESS", "l2addr"), (3, "IFLA_IFNAME", "asciiz"), (10, "IFLA_MASTER", "uint32"),
                   (18, "IFLA_LINKINFO", "linkinfo"), (19, "IFLA_NET_NS_PID", "uint32"),
                   (28, "IFLA_NET_NS_FD", "uint32"))

        class linkinfo(nla):
            nla_map = ((1, "IFLA_INFO_KIND", "asciiz"), (2, "IFLA_INFO_DATA", "veth_data"))

            class veth_data(nla):
                nla_map = ((1, "VETH_INFO_PEER", "veth_peer"),)

                class veth_peer(nla):  # the peer: an ifinfomsg of its own, then its attributes
                    fields = ifinfomsg
                    nla_map = ((3, "IFLA_IFNAME", "asciiz"), (19, "IFLA_NET_NS_PID", "uint32"),
                               (28, "IFLA_NET_NS_FD", "uint32"))

    class linkmsg(link_fields, nlmsg):
        pass

    return linkmsg


class NetlinkError(OSError):
    """The kernel refused a request; ``code`` is the errno, as pyroute2's NetlinkError has it."""

    def __init__(self, code: int):
        super().__init__(code, __import__("os").strerror(code))
        self.code = code


class Rtnl:
    """One NETLINK_ROUTE socket, in the network namespace of the process that opens it."""

    def __init__(self):
        self.linkmsg, self.ifaddrmsg, self.rtmsg = _messages()
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
        self.sock.bind((0, 0))
        self.seq = 0

    def __enter__(self) -> "Rtnl":
        return self

    def __exit__(self, *exc) -> None:
        self.sock.close()

    def _request(self, msg, kind: int, flags: int = 0) -> None:
        """Send one message and wait for the kernel's acknowledgement of it."""
        self.seq += 1
        msg["header"]["type"] = kind
        msg["header"]["flags"] = NLM_F_REQUEST | NLM_F_ACK | flags
        msg["header"]["sequence_number"] = self.seq
        msg.encode()
        self.sock.send(bytes(msg.data))
        while True:
            data = self.sock.recv(65536)
            offset = 0
            while offset + 16 <= len(data):
                length, mtype, _, seq, _ = struct.unpack_from("=IHHII", data, offset)
                if mtype == NLMSG_ERROR and seq == self.seq:
                    error = -struct.unpack_from("=i", data, offset + 16)[0]
                    if error:
                        raise NetlinkError(error)
                    return
                offset += max(length, 16)

    def _link(self, index: int = 0, up: bool | None = None, **attrs):
        msg = self.linkmsg()
        msg["family"], msg["index"] = socket.AF_UNSPEC, index
        if up is not None:
            msg["flags"], msg["change"] = (IFF_UP if up else 0), IFF_UP
        msg["attrs"] = [(name, value) for name, value in attrs.items()]
        return msg

    # -- the requests -------------------------------------------------------

    def add_bridge(self, name: str) -> None:
        """``ip link add NAME type bridge``."""
        self.add_link(name, "bridge")

    def add_link(self, name: str, kind: str) -> None:
        """``ip link add NAME type KIND``, for kinds with no data of their own (bridge, dummy)."""
        msg = self._link(IFLA_IFNAME=name, IFLA_LINKINFO={"attrs": [("IFLA_INFO_KIND", kind)]})
        self._request(msg, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL)

    def add_veth(self, name: str, peer: str, peer_pid: int | None = None, peer_netns_fd: int | None = None) -> None:
        """``ip link add NAME type veth peer name PEER netns PID`` (or ``netns NAME``: an open fd of
        /run/netns/NAME): the peer is born in that namespace."""
        where = ("IFLA_NET_NS_PID", peer_pid) if peer_netns_fd is None else ("IFLA_NET_NS_FD", peer_netns_fd)
        peer_info = {"attrs": [("IFLA_IFNAME", peer), where]}
        info = {"attrs": [("IFLA_INFO_KIND", "veth"), ("IFLA_INFO_DATA", {"attrs": [("VETH_INFO_PEER", peer_info)]})]}
        self._request(self._link(IFLA_IFNAME=name, IFLA_LINKINFO=info), RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL)

    def set_link(self, index: int, *, up: bool | None = None, name: str | None = None, mac: str | None = None,
                 master: int | None = None) -> None:
        """``ip link set``: up, a new name, a MAC address, a bridge to be a port of."""
        attrs = {"IFLA_IFNAME": name, "IFLA_ADDRESS": mac, "IFLA_MASTER": master}
        self._request(self._link(index, up, **{k: v for k, v in attrs.items() if v is not None}), RTM_NEWLINK)

    def delete_link(self, index: int) -> None:
        """``ip link del``."""
        self._request(self._link(index), RTM_DELLINK)

    def add_address(self, index: int, address: str, prefixlen: int) -> None:
        """``ip addr add ADDRESS/PREFIXLEN dev INDEX``."""
        msg = self.ifaddrmsg()
        msg["family"], msg["prefixlen"], msg["index"] = socket.AF_INET, prefixlen, index
        msg["attrs"] = [("IFA_LOCAL", address), ("IFA_ADDRESS", address)]
        self._request(msg, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL)

    def add_default_route(self, gateway: str) -> None:
        """``ip route add default via GATEWAY``."""
        self._add_route(0, RT_SCOPE_UNIVERSE, [("RTA_GATEWAY", gateway)])

    def add_link_route(self, address: str, index: int, source: str | None = None) -> None:
        """``ip route add ADDRESS/32 dev INDEX [src SOURCE]``: that one address is on the link, no gateway
        (scope link); ``source``, the address this host speaks from when it opens a connection there."""
        attrs = [("RTA_DST", address), ("RTA_OIF", index)] + ([("RTA_PREFSRC", source)] if source else [])
        self._add_route(32, RT_SCOPE_LINK, attrs)

    def _add_route(self, dst_len: int, scope: int, attrs: list) -> None:
        msg = self.rtmsg()
        msg["family"], msg["dst_len"], msg["table"] = socket.AF_INET, dst_len, RT_TABLE_MAIN
        msg["proto"], msg["scope"], msg["type"] = RTPROT_BOOT, scope, RTN_UNICAST
        msg["attrs"] = attrs
        self._request(msg, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL)
