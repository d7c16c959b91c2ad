"""``build``: an image from a Dockerfile and a context, as docker's classic builder prints it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ..api.client import Client
from ..errors import MinidockError, NotFound, UsageError
from .base import command, flag, out


def _pairs(items: list[str], what: str) -> dict[str, str]:
    pairs = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not key:
            raise UsageError(f"invalid {what}: {item!r} (expected KEY=VALUE)")
        pairs[key] = value if eq else os.environ.get(key, "")  # docker: --build-arg KEY takes $KEY
    return pairs


@command("build", "[OPTIONS] PATH | -", "Build an image from a Dockerfile",
         flag("-t", "--tag", action="append", default=[], help="Name and optionally a tag in the 'name:tag' format"),
         flag("-f", "--file", help="Name of the Dockerfile (Default is 'PATH/Dockerfile')"),
         flag("--build-arg", action="append", default=[], help="Set build-time variables"),
         flag("--no-cache", action="store_true", help="Do not use cache when building the image"),
         flag("--target", help="Set the target build stage to build"),
         flag("-q", "--quiet", action="store_true", help="Suppress the build output and print image ID on success"),
         flag("--label", action="append", default=[], help="Set metadata for an image"),
         flag("--network", default="none",
              help="Set the networking mode for the RUN instructions during build"),
         flag("--add-host", action="append", default=[], help="Add a custom host-to-IP mapping (host:ip)"),
         flag("--cache-from", action="append", default=[], help="Images to consider as cache sources"),
         counts=(1, 1), error_code=None)
def build_cmd(client: Client, opts) -> None:
    """docker build exits 1 when the build fails, and with a failed RUN's own status (the error's ``code``)."""
    try:
        _build(client, opts)
    except UsageError:
        raise
    except MinidockError as e:
        e.exit_code = getattr(e, "code", None) or 1
        raise


def _build(client: Client, opts) -> None:
    from ..api.images import build
    say = (lambda line: None) if opts.quiet else out
    with client.store.temp_path() as tmp:  # a context from stdin is unpacked here, and removed after
        tmp.mkdir()
        context, text, name = _context(opts, tmp)
        image_id = build(client, context, text, name, tags=opts.tag,
                         build_args=_pairs(opts.build_arg, "build-arg"), no_cache=opts.no_cache,
                         target=opts.target, labels=_pairs(opts.label, "label"),
                         network_mode="none" if opts.network == "default" else opts.network,
                         extra_hosts=tuple(opts.add_host), cache_from=tuple(opts.cache_from), say=say)
    if opts.quiet:
        out(image_id)


def _context(opts, tmp: Path) -> tuple[Path, str, str]:
    """The context dir, the Dockerfile's text and its name: from a directory, or a tar (or a Dockerfile) on stdin."""
    source = opts.args[0]
    if source == "-":
        data = sys.stdin.buffer.read()
        root = tmp / "context"
        root.mkdir()
        if data[257:262] == b"ustar" or data[:2] == b"\x1f\x8b":
            import io
            from ..api.system import apply_layer_tar
            apply_layer_tar(io.BytesIO(data), root, whiteouts="keep")
        else:  # docker build - < Dockerfile: a Dockerfile and no context
            return root, data.decode(), "Dockerfile"
    else:
        if "://" in source:
            raise UsageError(f"cannot build from {source}: this machine has no network")
        root = Path(source)
        if not root.is_dir():
            raise NotFound(f"unable to prepare context: path {source!r} not found")
    dockerfile = Path(opts.file) if opts.file and source != "-" else root / (opts.file or "Dockerfile")
    try:
        return root, dockerfile.read_text(), dockerfile.name
    except FileNotFoundError:
        raise NotFound(f"Cannot locate specified Dockerfile: {opts.file or 'Dockerfile'}") from None
