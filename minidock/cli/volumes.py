"""Volume commands: ``volume create``, ``ls``, ``inspect``, ``rm`` and ``prune``, with docker's
flags, ``DRIVER    VOLUME NAME`` table and messages."""

from __future__ import annotations


from ..api.client import Client
from ..display import format_table, human_size
from ..errors import UsageError
from .base import command, confirmed, each_named, filters, flag, formatted, inspect_each, label_pairs, out

LS_HEADERS = {"Driver": "DRIVER", "Name": "VOLUME NAME", "Mountpoint": "MOUNTPOINT", "Scope": "SCOPE",
              "Labels": "LABELS", "CreatedAt": "CREATED AT"}


@command("volume", "COMMAND", "Manage volumes", counts=(1, None))
def volume_cmd(client: Client, opts) -> int:
    raise UsageError(f'unknown command "{opts.args[0]}" for "minidock volume"')  # the rest: see dispatch


@command("volume create", "[OPTIONS] [VOLUME]", "Create a volume",
         flag("-d", "--driver", default="local", help="Specify volume driver name"),
         flag("--label", action="append", default=[], help="Set metadata for a volume"),
         flag("-o", "--opt", action="append", default=[], help="Set driver specific options"),
         flag("--name", help="Specify volume name"),
         counts=(0, 1))
def volume_create_cmd(client: Client, opts) -> None:
    if opts.name and opts.args and opts.name != opts.args[0]:
        raise UsageError("conflicting options: either specify --name or provide positional arg, not both")
    name = opts.name or (opts.args[0] if opts.args else None)
    labels, options = label_pairs(opts.label), label_pairs(opts.opt)
    out(client.volumes.create(name, opts.driver, options or None, labels).name)


@command("volume ls", "[OPTIONS]", "List volumes",
         flag("-f", "--filter", action="append", default=[], help="Provide filter values (e.g. 'dangling=true')"),
         flag("--format", help="Format output using a Go template"),
         flag("-q", "--quiet", action="store_true", help="Only display volume names"),
         counts=(0, 0))
def volume_ls_cmd(client: Client, opts) -> None:
    wanted = filters(opts.filter, ("dangling", "name", "label", "driver"))
    records = client.volumes.volumes.list(wanted)
    if opts.quiet:
        return out("\n".join(r["Name"] for r in records)) if records else None
    if opts.format:
        rows = [r | {"Labels": ",".join(f"{k}={v}" for k, v in sorted(r["Labels"].items()))} for r in records]
        return out(formatted(opts.format, rows, LS_HEADERS))
    out(format_table(["DRIVER", "VOLUME NAME"], [[r["Driver"], r["Name"]] for r in records]))


@command("volume inspect", "[OPTIONS] VOLUME [VOLUME...]", "Display detailed information on one or more volumes",
         flag("-f", "--format", help="Format output using a Go template"),
         counts=(1, None))
def volume_inspect_cmd(client: Client, opts) -> int:
    return inspect_each(opts.args, client.volumes.get, opts.format, lambda name, e: f"Error response from daemon: {e}")


@command("volume rm", "[OPTIONS] VOLUME [VOLUME...]", "Remove one or more volumes",
         flag("-f", "--force", action="store_true", help="Force the removal of one or more volumes"),
         counts=(1, None))
def volume_rm_cmd(client: Client, opts) -> int:
    return each_named(opts.args, lambda name: client.volumes.volumes.remove(name, force=opts.force))


@command("volume prune", "[OPTIONS]", "Remove unused local volumes",
         flag("-a", "--all", action="store_true", help="Remove all unused volumes, not just anonymous ones"),
         flag("--filter", action="append", default=[], help="Provide filter values (e.g. 'label=<label>')"),
         flag("-f", "--force", action="store_true", help="Do not prompt for confirmation"),
         counts=(0, 0))
def volume_prune_cmd(client: Client, opts) -> int:
    wanted = filters(opts.filter, ("label",))
    which = "all" if opts.all else "anonymous"
    if not (opts.force or confirmed(f"{which} local volumes not used by at least one container")):
        return 0
    result = client.volumes.volumes.prune(opts.all, wanted)
    if result["VolumesDeleted"]:
        out("Deleted Volumes:\n" + "\n".join(result["VolumesDeleted"]) + "\n")
    out(f"Total reclaimed space: {human_size(result['SpaceReclaimed'])}")
    return 0
