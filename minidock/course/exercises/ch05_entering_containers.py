"""Chapter 05's exercises (entering containers): one checker each."""

from __future__ import annotations

import re
from pathlib import Path

from ...api.client import Client
from .checking import NotYet, container_or_hint, containers_where, exercise, names, need


@exercise("05-entering-containers", 1)
def other_detach_keys(client: Client, ctrl_p_ctrl_q_detaches=None) -> str:
    """A -dit shell left running after detaching with other keys; what Ctrl+P Ctrl+Q do then."""
    if not containers_where(client, lambda a: a["State"]["Running"] and a["Config"]["Tty"]):
        raise NotYet("no container with a terminal is running: start one with -dit and detach with ctrl-x,x")
    need(ctrl_p_ctrl_q_detaches=ctrl_p_ctrl_q_detaches)
    if ctrl_p_ctrl_q_detaches is not False:
        raise NotYet("with --detach-keys ctrl-x,x, do Ctrl+P Ctrl+Q still detach? Try it and read `ps`")
    return "Ctrl+P Ctrl+Q go to the shell as two characters; only Ctrl+X x detaches"


@exercise("05-entering-containers", 2)
def one_namespace_at_a_time(client: Client, hostname=None, addresses=None) -> str:
    """`nsenter --uts hostname` and `nsenter --net ip addr` into ``box``."""
    box = container_or_hint(client, "box", "run the chapter from the top")
    need(hostname=hostname, addresses=addresses)
    if hostname != box.attrs["Config"]["Hostname"]:
        raise NotYet(f"hostname={hostname!r}: the UTS namespace holds the host name; which did --uts show?")
    wanted = {"127.0.0.1", box.attrs["NetworkSettings"]["IPAddress"]}
    if {a.split("/")[0] for a in names(addresses)} != wanted:
        raise NotYet(f"addresses={addresses}: give every IPv4 address (inet lines) `nsenter --net ip addr` printed")
    return f"box's host name, and box's addresses {sorted(wanted)} seen from the host's tools"


@exercise("05-entering-containers", 3)
def privileges(client: Client, missing=None) -> str:
    """The capabilities `exec` leaves out that `nsenter` keeps."""
    from ...api.system import CAPABILITIES
    box = container_or_hint(client, "box", "run the chapter from the top")
    need(missing=missing)

    def effective(status: str) -> set[str]:
        mask = int(re.search(r"CapEff:\s*([0-9a-f]+)", status).group(1), 16)
        return {name for name, bit in CAPABILITIES.items() if mask >> bit & 1}
    host = effective(Path("/proc/self/status").read_text())
    inside = effective(box.exec_run("cat /proc/self/status").output.decode())
    wanted = host - inside
    given = {name.upper().removeprefix("CAP_") for name in names(missing)}
    if given != wanted:
        extra, lacking = sorted(given - wanted), sorted(wanted - given)
        raise NotYet(f"not quite: {len(wanted)} are left out; "
                     + (f"these are kept or unknown: {extra}; " if extra else "")
                     + (f"{len(lacking)} more are missing from your list (capsh --decode)" if lacking else ""))
    return f"exec drops {len(wanted)} capabilities (SYS_ADMIN among them); nsenter keeps root's all"
