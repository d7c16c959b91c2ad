"""``minidock network``: create, ls, inspect, rm, connect, disconnect, prune, as ``docker network``."""

from __future__ import annotations

import sys

from ..api.client import Client
from ..api.networks import HEADERS, LIST_FILTERS, ls_row
from ..display import format_table
from ..errors import MinidockError, NotFound, UsageError
from .base import command, confirmed, filters, flag, formatted, inspect_each, label_pairs, out


@command("network", "COMMAND", "Manage networks: create, ls, inspect, rm, connect, disconnect, prune",
         counts=(1, None))
def network_cmd(client: Client, opts) -> int:
    raise UsageError(f'unknown command "{opts.args[0]}" for "minidock network"')  # the rest: see dispatch


@command("network create", "[OPTIONS] NETWORK", "Create a network",
         flag("-d", "--driver", default="bridge", help="Driver to manage the Network"),
         flag("--subnet", action="append", default=[], help="Subnet in CIDR format that represents a network segment"),
         flag("--gateway", action="append", default=[], help="IPv4 Gateway for the master subnet"),
         flag("--label", action="append", default=[], help="Set metadata on a network"),
         flag("-o", "--opt", action="append", default=[], help="Set driver specific options"),
         flag("--internal", action="store_true", help="Restrict external access to the network"),
         counts=(1, 1))
def network_create_cmd(client: Client, opts) -> None:
    if len(opts.subnet) > 1 or len(opts.gateway) > 1:
        raise UsageError("minidock's networks have one subnet and one gateway")
    if opts.gateway and not opts.subnet:
        raise UsageError("every ip-range or gateway must have a corresponding subnet")
    ipam = {"Config": [{"Subnet": opts.subnet[0], **({"Gateway": opts.gateway[0]} if opts.gateway else {})}]} \
        if opts.subnet else None
    network = client.networks.create(opts.args[0], driver=opts.driver, ipam=ipam, internal=opts.internal,
                                     labels=label_pairs(opts.label), options=label_pairs(opts.opt))
    out(network.id)


@command("network ls", "[OPTIONS]", "List networks",
         flag("-f", "--filter", action="append", default=[], help="Provide filter values (e.g. 'driver=bridge')"),
         flag("--format", help="Pretty-print networks using a Go template"),
         flag("--no-trunc", action="store_true", help="Do not truncate the output"),
         flag("-q", "--quiet", action="store_true", help="Only display network IDs"),
         counts=(0, 0))
def network_ls_cmd(client: Client, opts) -> None:
    found = client.networks.list(filters=filters(opts.filter, LIST_FILTERS))
    rows = [ls_row(n.attrs, opts.no_trunc) for n in found]
    if opts.quiet:
        return out("\n".join(r["ID"] for r in rows)) if rows else None
    if opts.format:
        return out(formatted(opts.format, rows, HEADERS))
    cols = ["ID", "Name", "Driver", "Scope"]
    out(format_table([HEADERS[k] for k in cols], [[r[k] for k in cols] for r in rows]))


@command("network inspect", "[OPTIONS] NETWORK [NETWORK...]", "Display detailed information on one or more networks",
         flag("-f", "--format", help="Format the output using the given Go template"),
         flag("-v", "--verbose", action="store_true", help="Verbose output for diagnostics"),
         counts=(1, None))
def network_inspect_cmd(client: Client, opts) -> int:
    return inspect_each(opts.args, client.networks.get, opts.format, lambda name, e: f"Error: No such network: {name}")


@command("network rm", "NETWORK [NETWORK...]", "Remove one or more networks",
         flag("-f", "--force", action="store_true", help="Do not error if the network does not exist"),
         counts=(1, None))
def network_rm_cmd(client: Client, opts) -> int:
    status = 0
    for name in opts.args:
        try:
            client.networks.networks.remove(name)
            out(name)
        except NotFound:
            if not opts.force:
                print(f"Error: No such network: {name}", file=sys.stderr)
                status = 1
        except MinidockError as e:
            print(f"Error response from daemon: {e}", file=sys.stderr)
            status = 1
    return status


@command("network connect", "[OPTIONS] NETWORK CONTAINER", "Connect a container to a network",
         flag("--alias", action="append", default=[], help="Add network-scoped alias for the container"),
         counts=(2, 2))
def network_connect_cmd(client: Client, opts) -> None:
    client.networks.get(opts.args[0]).connect(opts.args[1], aliases=opts.alias)


@command("network disconnect", "[OPTIONS] NETWORK CONTAINER", "Disconnect a container from a network",
         flag("-f", "--force", action="store_true", help="Force the container to disconnect from a network"),
         counts=(2, 2))
def network_disconnect_cmd(client: Client, opts) -> None:
    client.networks.get(opts.args[0]).disconnect(opts.args[1], force=opts.force)


@command("network prune", "[OPTIONS]", "Remove all unused networks",
         flag("-f", "--force", action="store_true", help="Do not prompt for confirmation"),
         flag("--filter", action="append", default=[], help="Provide filter values (e.g. 'label=<key>=<value>')"),
         counts=(0, 0))
def network_prune_cmd(client: Client, opts) -> int:
    wanted = filters(opts.filter, ("label",))
    if not (opts.force or confirmed("all custom networks not used by at least one container")):
        return 0
    gone = client.networks.prune(filters=wanted)["NetworksDeleted"]
    if gone:
        out("Deleted Networks:\n" + "\n".join(gone) + "\n")
    return 0
