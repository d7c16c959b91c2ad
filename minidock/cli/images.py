"""Image commands: images, tag, rmi, history, inspect, save, load, import, and the engine's own."""

from __future__ import annotations

import fnmatch
import os
import sys

from .. import progress
from ..api.client import Client
from ..api.images import Image, short_id
from ..display import format_table, human_size, parse_duration, parse_rfc3339, time_ago
from ..errors import MinidockError, NotFound, UsageError
from .base import command, confirmed, filters, flag, formatted, out, print_inspected


# -- images -------------------------------------------------------------------

IMAGE_HEADERS = {"Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST", "ID": "IMAGE ID",
                 "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE"}


def image_rows(client: Client, images: list[Image], no_trunc: bool, all_: bool) -> list[dict]:
    """One row per tag (or one ``<none>`` row), as docker's image list."""
    rows = []
    for img in images:
        created = parse_rfc3339(img.record.created) if img.record.created else 0
        base = {"ID": img.id if no_trunc else short_id(img.id), "CreatedSince": time_ago(created),
                "CreatedAt": img.record.created, "Size": human_size(client.images.images.size(img.record))}
        digests = img.attrs["RepoDigests"]
        for tag in img.tags or ["<none>:<none>"]:
            repo, _, t = tag.rpartition(":")
            digest = next((d.split("@")[1] for d in digests if d.startswith(repo + "@")), "<none>")
            rows.append(base | {"Repository": repo, "Tag": t, "Digest": digest})
    return rows


@command("images", "[OPTIONS] [REPOSITORY[:TAG]]", "List images",
         flag("-a", "--all", action="store_true", help="Show all images (default hides intermediate images)"),
         flag("--digests", action="store_true", help="Show digests"),
         flag("-f", "--filter", action="append", default=[], help="Filter output based on conditions provided"),
         flag("--format", help="Format output using a Go template"),
         flag("--no-trunc", action="store_true", help="Don't truncate output"),
         flag("-q", "--quiet", action="store_true", help="Only show image IDs"),
         counts=(0, 1))
def images_cmd(client: Client, opts) -> None:
    wanted = filters(opts.filter, ("dangling", "reference"))
    images = client.images.list(name=opts.args[0] if opts.args else None, all=opts.all)
    for value in wanted.get("dangling", []):
        if value not in ("true", "false"):
            raise UsageError(f"invalid filter 'dangling={value}' (true or false)")
    if "dangling" in wanted:  # dangling: no tag at all
        images = [i for i in images if (not i.tags) == ("true" in wanted["dangling"])]
    rows = image_rows(client, images, opts.no_trunc, opts.all)
    if "reference" in wanted:  # docker's reference=PATTERN: a glob over NAME or NAME:TAG
        rows = [r for r in rows if r["Tag"] != "<none>" and any(
            fnmatch.fnmatchcase(r["Repository"], p) or fnmatch.fnmatchcase(f"{r['Repository']}:{r['Tag']}", p)
            for p in wanted["reference"])]
    if opts.quiet:
        seen = dict.fromkeys(r["ID"] for r in rows)
        return out("\n".join(seen)) if seen else None
    if opts.format:
        return out(formatted(opts.format, rows, IMAGE_HEADERS))
    cols = ["Repository", "Tag"] + (["Digest"] if opts.digests else []) + ["ID", "CreatedSince", "Size"]
    out(format_table([IMAGE_HEADERS[c] for c in cols], [[r[c] for c in cols] for r in rows]))


@command("tag", "SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
         "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE", counts=(2, 2))
def tag_cmd(client: Client, opts) -> None:
    client.images.images.tag(opts.args[0], opts.args[1])


@command("rmi", "[OPTIONS] IMAGE [IMAGE...]", "Remove one or more images",
         flag("-f", "--force", action="store_true", help="Force removal of the image"),
         flag("--no-prune", action="store_true", help="Do not delete untagged parents"),
         counts=(1, None))
def rmi_cmd(client: Client, opts) -> int:
    failed = 0
    for name in opts.args:
        try:
            for what, which in client.images.remove(name, force=opts.force, noprune=opts.no_prune):
                out(f"{what}: {which}")
        except MinidockError as e:
            print(f"Error response from daemon: {e}", file=sys.stderr)
            failed = 1
    return failed


HISTORY_HEADERS = {"ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT",
                   "CreatedBy": "CREATED BY", "Size": "SIZE", "Comment": "COMMENT"}


@command("history", "[OPTIONS] IMAGE", "Show the history of an image",
         flag("--format", help="Format output using a Go template"),
         flag("-H", "--human", action="store_true", default=True, help="Print sizes and dates in human readable format"),
         flag("--no-trunc", action="store_true", help="Don't truncate output"),
         flag("-q", "--quiet", action="store_true", help="Only show image IDs"),
         counts=(1, 1))
def history_cmd(client: Client, opts) -> None:
    rows = []
    for h in client.images.get(opts.args[0]).history():
        created_by = h["CreatedBy"].replace("\t", " ").replace("\n", " ")
        if not opts.no_trunc and len(created_by) > 45:
            created_by = created_by[:44] + "…"
        ident = h["Id"] if opts.no_trunc or h["Id"] == "<missing>" else short_id(h["Id"])
        created = parse_rfc3339(h["Created"]) if h["Created"] else 0
        rows.append({"ID": ident, "CreatedSince": time_ago(created), "CreatedAt": h["Created"],
                     "CreatedBy": created_by, "Size": human_size(h["Size"]), "Comment": h["Comment"]})
    if opts.quiet:
        return out("\n".join(r["ID"] for r in rows))
    if opts.format:
        return out(formatted(opts.format, rows, HISTORY_HEADERS))
    cols = ["ID", "CreatedSince", "CreatedBy", "Size", "Comment"]
    out(format_table([HISTORY_HEADERS[c] for c in cols], [[r[c] for c in cols] for r in rows]))


@command("inspect", "[OPTIONS] NAME|ID [NAME|ID...]", "Return low-level information on minidock objects",
         flag("-f", "--format", help="Format output using a Go template"),
         flag("--type", help="Return JSON for specified type"),
         counts=(1, None))
def inspect_cmd(client: Client, opts) -> int:
    found, status = [], 0
    for name in opts.args:
        try:
            found.append(inspect_one(client, name, opts.type))
        except NotFound:
            print(f"Error: No such object: {name}", file=sys.stderr)
            status = 1
    print_inspected(found, opts.format)
    return status


def inspect_one(client: Client, name: str, kind: str | None) -> dict:
    """A container's, an image's, a volume's or a network's attrs, looked up in that order, as docker does."""
    if kind not in (None, "container", "image", "volume", "network"):
        raise UsageError(f'"{kind}" is not a valid value for --type')
    lookups = {"container": client.containers.get, "image": client.images.get, "volume": client.volumes.get,
               "network": client.networks.get}
    for each_kind, get in lookups.items():
        if kind in (None, each_kind):
            try:
                return get(name).attrs
            except NotFound:
                continue
    raise NotFound(f"No such object: {name}")


# -- archives -----------------------------------------------------------------

@command("save", "[OPTIONS] IMAGE [IMAGE...]", "Save one or more images to a tar archive (streamed to STDOUT by default)",
         flag("-o", "--output", help="Write to a file, instead of STDOUT"),
         counts=(1, None))
def save_cmd(client: Client, opts) -> None:
    if opts.output:
        target = os.path.abspath(opts.output)
        with client.store.temp_path(".tar") as tmp:
            with open(tmp, "wb") as f, progress.metered(f, "Saving") as metered:
                client.images.save_to(opts.args, metered)
            os.replace(tmp, target)  # all of the archive, or none of it
        return
    if sys.stdout.isatty():
        raise UsageError("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    client.images.save_to(opts.args, sys.stdout.buffer)


@command("load", "[OPTIONS]", "Load an image from a tar archive or STDIN",
         flag("-i", "--input", help="Read from tar archive file, instead of STDIN"),
         flag("-q", "--quiet", action="store_true", help="Suppress the load output"),
         counts=(0, 0))
def load_cmd(client: Client, opts) -> None:
    if opts.input:
        with open(opts.input, "rb") as f:
            lines = _load(client, f)
    else:
        if sys.stdin.isatty():
            raise UsageError("requested load from stdin, but stdin is empty")
        lines = _load(client, sys.stdin.buffer)
    if not opts.quiet:
        for what, name in lines:
            out(f"{what}: {name}")


def _load(client: Client, stream) -> list[tuple[str, str]]:
    with progress.metered(stream, "Loading", progress.size_of(stream)) as metered:
        client.images.load(metered)
    return client.images.last_load


@command("import", "[OPTIONS] file|URL|- [REPOSITORY[:TAG]]",
         "Import the contents from a tarball to create a filesystem image",
         flag("-c", "--change", action="append", default=[], help="Apply Dockerfile instruction to the created image"),
         flag("-m", "--message", help="Set commit message for imported image"),
         flag("--platform", help="Set platform if server is multi-platform capable"),
         counts=(1, 2))
def import_cmd(client: Client, opts) -> None:
    source, ref = opts.args[0], (opts.args[1] if len(opts.args) > 1 else None)
    if ref:
        from ..api.images import parse
        parse(ref)  # a bad reference is reported before anything is read
    if "://" in source:
        raise MinidockError(f"cannot import from {source}: this machine has no network; "
                            "download the file elsewhere and import it from disk")
    if source != "-" and not os.path.exists(source):
        raise NotFound(f"open {source}: no such file or directory")
    if os.path.isdir(source):   # docker import reads a tar (file, URL or -), never a directory: its CLI's error
        raise MinidockError(f"read {source}: is a directory")
    if source == "-":
        with progress.metered(sys.stdin.buffer, "Importing", progress.size_of(sys.stdin.buffer)) as src:
            image = client.images.import_image(src, ref, changes=opts.change, message=opts.message)
    else:
        image = client.images.import_image(source, ref, changes=opts.change, message=opts.message)
    out(image.id)


# -- the engine ---------------------------------------------------------------

@command("bootstrap", "busybox", "Make the course's base image busybox:latest from the host's busybox-static",
         counts=(1, 1))
def bootstrap_cmd(client: Client, opts) -> None:
    if opts.args[0] != "busybox":
        raise UsageError(f'unknown base image "{opts.args[0]}": only "busybox" can be bootstrapped')
    from ..api.system import bootstrap_busybox
    image_id, made = bootstrap_busybox(client.images.images)
    out(f"{'Created' if made else 'Exists'}: busybox:latest {image_id}")


@command("version", "[OPTIONS]", "Show the minidock version information",
         flag("-f", "--format", help="Format output using a Go template"), counts=(0, 0))
def version_cmd(client: Client, opts) -> None:
    v = client.version()
    if opts.format:
        from . import template
        return out(template.render(opts.format, {"Client": v, "Server": v}))
    for key in ("Version", "ApiVersion", "PythonVersion", "Os", "Arch", "KernelVersion"):
        out(f" {key + ':':<16}{v[key]}")


@command("info", "[OPTIONS]", "Display system-wide information",
         flag("-f", "--format", help="Format output using a Go template"), counts=(0, 0))
def info_cmd(client: Client, opts) -> None:
    info = client.info()
    if opts.format:
        from . import template
        return out(template.render(opts.format, info))
    out(f"Run mode: {info['RunMode']} ({info['RunModeReason']})")
    for feature, used in info["Isolation"].items():
        out(f"  {feature + ':':<16}{'yes' if used else 'NO (not isolated in this mode)'}")
    for key, value in info.items():
        if key not in ("RunMode", "RunModeReason", "Isolation"):
            out(f" {key}: {human_size(value) if key == 'MemTotal' else value}")


EVENT_FILTERS = ("container", "event", "image", "label", "type", "volume", "network", "daemon", "scope")


@command("events", "[OPTIONS]", "Get real time events from the server",
         flag("-f", "--filter", action="append", default=[], help="Filter output based on conditions provided"),
         flag("--format", help="Format output using a Go template ('{{json .}}' for JSON)"),
         flag("--since", help="Show all events created since timestamp"),
         flag("--until", help="Stream events until this timestamp"), counts=(0, 0))
def events_cmd(client: Client, opts) -> None:
    """docker's events: one line each, ``TIME TYPE ACTION ID (ATTRIBUTES)``, until ``--until`` or Ctrl-C."""
    from decimal import Decimal
    from ..display import parse_instant, rfc3339
    import time
    try:
        since, until = (None if t is None else parse_instant(t, time.time()) for t in (opts.since, opts.until))
    except ValueError as e:
        raise UsageError(str(e)) from None
    for e in client.events(since, until, filters(opts.filter, EVENT_FILTERS)):
        if opts.format:
            from . import template
            out(template.render(opts.format, e))
            continue
        attributes = ", ".join(f"{k}={v}" for k, v in sorted(e["Actor"]["Attributes"].items()))
        out(f"{rfc3339(Decimal(e['timeNano']) / 10**9)} {e['Type']} {e['Action']} {e['Actor']['ID']} ({attributes})")


@command("system", "COMMAND", "Manage minidock: check, df, prune", counts=(1, None))
def system_cmd(client: Client, opts) -> int:
    raise UsageError(f'unknown command "{opts.args[0]}" for "minidock system"')  # check, df, prune: see dispatch


@command("system check", "[OPTIONS]", "Perform consistency checks on image and container storage",
         flag("-r", "--repair", action="store_true",
              help="Remove what is orphaned or torn; never what an image or a container needs"),
         flag("-q", "--quick", action="store_true",
              help="Skip the slow checks (hashing blobs, regenerating every layer's tar)"),
         flag("-m", "--max", default="24h",
              help="Maximum age of an unused layer that may still be a pull's or a load's under way"),
         counts=(0, 0))
def system_check_cmd(client: Client, opts) -> int:
    """podman's ``system check``: one line per problem and exit status 1, or "No problems found"."""
    from ..api.check import check
    try:
        max_age = parse_duration(opts.max)
    except ValueError as e:
        raise UsageError(f'invalid argument "{opts.max}" for "-m, --max" flag: {e}') from None
    repaired, left = check(client, repair=opts.repair, quick=opts.quick, max_age=max_age)
    for problem in repaired:
        out(f"Repaired: {problem.line()}")
    for problem in left:
        out(problem.line())
    if not left:
        out("No problems found" if not repaired else f"Repaired {len(repaired)} problem{'s' * (len(repaired) > 1)}; "
            "no problems left")
    return 1 if left else 0


@command("system df", "[OPTIONS]", "Show minidock disk usage",
         flag("-v", "--verbose", action="store_true", help="Show detailed information on space usage"),
         counts=(0, 0))
def system_df_cmd(client: Client, opts) -> None:
    from ..api.containers import command_column
    df = client.df()
    images, containers, layers = df["Images"], df["Containers"], df["LayersSize"]
    used = [i for i in images if i["Containers"]]
    active = [c for c in containers if c["State"] == "running"]
    written = sum(c["SizeRw"] for c in containers)
    stopped = sum(c["SizeRw"] for c in containers if c["State"] != "running")
    rows = [["Images", str(len(images)), str(len(used)), human_size(layers),
             _reclaimable(layers - sum(i["UniqueSize"] for i in used), layers)],
            ["Containers", str(len(containers)), str(len(active)), human_size(written), _reclaimable(stopped, written)]]
    out(format_table(["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"], rows))
    if opts.verbose:
        out("\nImages space usage:\n")
        table = []
        for r in images:
            for tag in r["RepoTags"] or ["<none>:<none>"]:
                repo, _, t = tag.rpartition(":")
                table.append([repo, t, short_id(r["Id"]), time_ago(parse_rfc3339(r["Created"])),
                              human_size(r["Size"]), human_size(r["SharedSize"]), human_size(r["UniqueSize"]),
                              str(r["Containers"])])
        out(format_table(["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE", "SHARED SIZE",
                          "UNIQUE SIZE", "CONTAINERS"], table))
        out("\nContainers space usage:\n")
        table = [[short_id(c["Id"]), c["Image"], command_column(c["Command"]), human_size(c["SizeRw"]),
                  time_ago(parse_rfc3339(c["Created"])), c["Status"], c["Names"][0]] for c in containers]
        out(format_table(["CONTAINER ID", "IMAGE", "COMMAND", "SIZE", "CREATED", "STATUS", "NAMES"], table))


def _reclaimable(size: int, total: int) -> str:
    """docker's RECLAIMABLE column: the size, and its share of the total when there is any."""
    return f"{human_size(size)} ({size * 100 // total}%)" if total else human_size(size)


@command("system prune", "[OPTIONS]", "Remove unused data",
         flag("-a", "--all", action="store_true", help="Remove all unused images not just dangling ones"),
         flag("-f", "--force", action="store_true", help="Do not prompt for confirmation"),
         flag("--volumes", action="store_true", help="Prune anonymous volumes"),
         counts=(0, 0))
def system_prune_cmd(client: Client, opts) -> int:
    """docker's: stopped containers first (their images and volumes are then unused), then volumes
    (``--volumes``: the anonymous ones), then images and layers."""
    if not opts.force:
        images = "all images without at least one container associated to them" if opts.all else "all dangling images"
        volumes = "  - all anonymous volumes not used by at least one container\n" if opts.volumes else ""
        sys.stdout.write(f"WARNING! This will remove:\n  - all stopped containers\n{volumes}  - {images}\n"
                         "  - all unused layer directories\n\nAre you sure you want to continue? [y/N] ")
        sys.stdout.flush()
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            return 0
    gone = client.containers.prune()["ContainersDeleted"]
    if gone:
        out("Deleted Containers:\n" + "\n".join(gone) + "\n")
    volumes = client.volumes.prune()["VolumesDeleted"] if opts.volumes else []
    if volumes:
        out("Deleted Volumes:\n" + "\n".join(volumes) + "\n")
    _print_pruned(client.images.prune(all=opts.all))
    return 0


def _print_pruned(result: dict) -> None:
    if result["ImagesDeleted"]:
        out("Deleted Images:")
        for item in result["ImagesDeleted"]:
            (what, which), = item.items()
            out(f"{what.lower()}: {which}")
        out()
    out(f"Total reclaimed space: {human_size(result['SpaceReclaimed'])}")


@command("image", "COMMAND", "Manage images: prune", counts=(1, None))
def image_cmd(client: Client, opts) -> int:
    raise UsageError(f'unknown command "{opts.args[0]}" for "minidock image"')


@command("image prune", "[OPTIONS]", "Remove unused images",
         flag("-a", "--all", action="store_true", help="Remove all unused images, not just dangling ones"),
         flag("-f", "--force", action="store_true", help="Do not prompt for confirmation"),
         counts=(0, 0))
def image_prune_cmd(client: Client, opts) -> int:
    what = "all images without at least one container associated to them" if opts.all else "all dangling images"
    if opts.force or confirmed(what):
        _print_pruned(client.images.prune(all=opts.all))
    return 0
