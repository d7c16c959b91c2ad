"""``POST /build``: Docker's classic builder over the API (``DOCKER_BUILDKIT=0 docker build``, docker-py's
``images.build``; a docker CLI without the buildx plugin falls back to it too).

The body is the build context as a tar (plain, gzip, bzip2 or xz: dockerd accepts each, the CLI's
``--compress`` sends gzip).  The answer is a stream of JSON lines, the same the CLI prints:

    {"stream": "Step 1/4 : FROM busybox\\n"}
    {"stream": " ---> 7b3c52d10d08\\n"}
    {"aux": {"ID": "sha256:..."}}
    {"stream": "Successfully built 0136d4152566\\n"}

An error before the first line is an HTTP error, as dockerd's (it answers no 200 it cannot keep);
after it, the stream's last line is ``{"errorDetail": {"code": N, "message": ...}, "error": ...}``
where N is a failed RUN's exit code, which the CLI then exits with.

A context is refused (400) before anything is unpacked when a member climbs out of it (``../x``,
``/x``): dockerd unpacks such a member as in a chroot, minidock says what is wrong with the tar.
Symlinks in a context are kept, and the builder resolves them within it, as if the context were ``/``.
"""

from __future__ import annotations

import contextlib
import json
import tarfile
from pathlib import Path

from ...build.context import Context, tar_header
from ...build.dockerfile import DockerfileError
from ...errors import InvalidArchive, InvalidReference
from ...images.compression import copy_decompressed
from ...images.layer import apply_layer_tar
from ...images.reference import parse
from ..images import build as build_image
from .images import BodyReader, progress
from .server import HTTPError, route

PLATFORMS = ("", "linux", "linux/amd64")
NETWORK_MODES = {"": "none", "default": "none", "none": "none", "host": "host", "bridge": "bridge"}


@route("POST", r"/build")
def build(req) -> None:
    """Read the parameters, unpack the context, build.  A bad parameter is a 400 before anything is
    unpacked; the context is read to its end first all the same, or the client, still sending it, would
    meet a closed connection (a broken pipe) instead of the message."""
    try:
        options, quiet = _options(req), req.flag("q")
    except HTTPError:
        for _ in req.body():
            pass
        raise
    dockerfile = req.arg("dockerfile") or "Dockerfile"
    cleanup = contextlib.ExitStack()   # the unpacked context: removed before the stream's last chunk
    with cleanup:
        tmp = cleanup.enter_context(req.client.store.temp_path())
        tmp.mkdir()
        context = _unpack(req, tmp)
        text, name = _dockerfile(context.root, dockerfile)

        def work(say):
            # q: nothing but the image ID at the end (dockerd's "suppressOutput"), unless the build fails:
            # then what it said comes first, then the error; the aux line always
            held: list[str] = []
            try:
                image_id = build_image(req.client, context, text, name, say=held.append if quiet else say,
                                       built=lambda image_id: say(("aux", image_id)), **options)
            except Exception:
                for line in held:
                    say(line)
                raise
            if quiet:
                say(image_id)
        try:
            # a client that left cancels the build; its RUN step, quiet maybe for long, is hung up on
            hang_up = req.client.containers.containers.hang_up_attached
            lines = progress(req, work, message=_message, cancel=hang_up)
        except DockerfileError as e:   # dockerd: a Dockerfile it cannot parse is a bad parameter, said so
            raise HTTPError(400, f"dockerfile parse error line {e.line}: {e.message}") from None
        req.json_lines(_then_close(lines, cleanup.pop_all()))


def _then_close(lines, cleanup: contextlib.ExitStack):
    """The lines, then the cleanup: so a client that has read the whole answer finds nothing left."""
    with cleanup:
        yield from lines


def _message(line) -> dict:
    """A line the builder said, as the stream's message."""
    if isinstance(line, tuple):
        return {"aux": {"ID": line[1]}}
    return {"stream": line + "\n"}


def _options(req) -> dict:
    """The query's build options for ``BuildOptions``, each checked: a bad one is a 400 (tags too: dockerd
    refuses a bad ``t`` before it builds)."""
    tags = [t for t in req.query.get("t", []) if t]
    for tag in tags:
        try:
            parse(tag)
        except InvalidReference as e:
            raise HTTPError(400, str(e)) from None
    platform = req.arg("platform") or ""
    if platform.lower() not in PLATFORMS:
        raise HTTPError(400, f'"{platform}": unsupported platform: minidock builds linux/amd64 images only')
    network = req.arg("networkmode") or ""
    if network not in NETWORK_MODES:
        raise HTTPError(400, f"network mode {network!r} not supported by the builder: "
                             "want default, none, bridge or host")
    extra_hosts = [entry for host in req.query.get("extrahosts", []) for entry in filter(None, host.split(","))]
    for entry in extra_hosts:
        name, sep, address = entry.partition(":")
        if not (name and sep and address):
            raise HTTPError(400, f"invalid extra host {entry!r}: want HOST:IP")
    cache_from = _json_arg(req, "cachefrom", list)
    if not all(isinstance(name, str) for name in cache_from):
        raise HTTPError(400, "invalid cachefrom: want a JSON array of image names")
    build_args = {k: v for k, v in _json_arg(req, "buildargs", dict).items() if v is not None}
    labels = _json_arg(req, "labels", dict)
    if not all(isinstance(v, str) for v in [*build_args.values(), *labels.values()]):
        raise HTTPError(400, "buildargs and labels want string values")
    return {"tags": tags, "build_args": build_args,
            "no_cache": req.flag("nocache"), "target": req.arg("target") or None, "labels": labels,
            "network_mode": NETWORK_MODES[network], "extra_hosts": tuple(extra_hosts),
            "cache_from": tuple(cache_from)}


def _json_arg(req, name: str, kind: type):
    raw = req.arg(name)
    if not raw:
        return kind()
    try:
        value = json.loads(raw)
    except ValueError as e:
        raise HTTPError(400, f"invalid {name}: {e}") from None
    if value is None:
        return kind()
    if not isinstance(value, kind):
        raise HTTPError(400, f"invalid {name}: want a JSON {'object' if kind is dict else 'array'}")
    return value


def _unpack(req, tmp: Path) -> Context:
    """The body, decompressed into a file, checked member by member, then unpacked into ``tmp/context``;
    each member's header is kept: Docker names what a COPY takes by a hash of them (``tar_header``)."""
    spool, context = tmp / "context.tar", tmp / "context"
    with open(spool, "wb") as f:
        try:
            copy_decompressed(BodyReader(req), f)
        except InvalidArchive as e:
            raise HTTPError(400, f"the build context is not a tar archive: {e}") from None
        # the CLI's tar of a context with an outside -f ends without padding or end-of-archive blocks:
        # Go's tar reader takes that, Python's wants them (two zero blocks after a full last block)
        f.write(bytes(-f.tell() % 512 + 1024))
    if spool.stat().st_size == 1024:   # no context at all: an empty directory
        context.mkdir()
        return Context(context, {})
    sent = {}
    try:
        with tarfile.open(spool, "r:") as tar:
            for member in tar:
                _check_member(member.name)
                sent[member.name.strip("/").removeprefix("./")] = tar_header(member)
    except tarfile.TarError as e:
        raise HTTPError(400, f"the build context is not a tar archive: {e}") from None
    try:
        with open(spool, "rb") as f:
            apply_layer_tar(f, context, whiteouts="keep")
    except InvalidArchive as e:
        raise HTTPError(400, f"invalid build context: {e}") from None
    spool.unlink()
    return Context(context, sent)


def _check_member(name: str) -> None:
    parts = name.split("/")
    if name.startswith("/") or ".." in parts:
        raise HTTPError(400, f"invalid build context: {name!r} is outside of the context")


def _dockerfile(context: Path, name: str) -> tuple[str, str]:
    """The Dockerfile named by ``dockerfile``: a path inside the context (the CLI puts one from outside
    into the context under a random name), symlinks followed within it. dockerd's messages, and its 500."""
    if name.startswith("/") or ".." in name.split("/"):
        raise HTTPError(500, f"forbidden path outside the build context: {name}")
    inside = Context(context).resolve(name)
    if inside is None or not (context / inside).is_file():
        raise HTTPError(500, f"Cannot locate specified Dockerfile: {name}")
    try:
        return (context / inside).read_text(), (context / inside).name
    except UnicodeDecodeError:
        raise HTTPError(400, f"the Dockerfile {name} is not UTF-8 text") from None
