"""``/containers/...``: a container's life over the Engine API.

``docker run -it busybox sh`` is five requests: ``POST /containers/create`` (a 404 "No such image"
makes the CLI pull, then create again), ``POST /containers/{id}/attach`` (hijacked: the terminal's
bytes in, the container's out), ``POST /containers/{id}/wait?condition=next-exit``, ``POST
/containers/{id}/start`` and ``POST /containers/{id}/resize``; the wait's answer is the exit code
``docker run`` exits with.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import signal
import socket
import struct
import termios
import time

from ...display import parse_rfc3339, rfc3339
from ...errors import APIError, Conflict, ImageNotFound, NotFound
from ...images import journal
from ...images.reference import familiar
from ...runtime.stdcopy import STDERR, STDOUT, frame
from .. import containers as api
from ..volumes import container_mounts, mounts_volume
from ...containers import container as ctr
from . import configs
from .server import HTTPError, not_modified, route, version_tuple

NAME = r"(?P<name>[^/]+)"
RAW, MULTIPLEXED = "application/vnd.docker.raw-stream", "application/vnd.docker.multiplexed-stream"


def _engine(req):
    return req.client.containers.containers


def _resolve(req, name: str) -> str:
    return _engine(req).resolve(name)


# -- create, list, inspect ------------------------------------------------------

@route("POST", r"/containers/create")
def create(req) -> None:
    name = req.arg("name") or None
    if name is not None and not ctr.NAME_RE.match(name):
        raise HTTPError(400, f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
    config, host, endpoint = configs.create_config(req.json_body())
    try:
        cid = _engine(req).create(config, host, name, endpoint)
    except ImageNotFound:
        raise ImageNotFound(f"No such image: {familiar_name(config.Image)}") from None
    req.reply_json({"Id": cid, "Warnings": []}, 201)


def familiar_name(name: str) -> str:
    """``busybox`` -> ``busybox:latest``, as Docker names a missing image."""
    from ...images.reference import parse
    try:
        return familiar(str(parse(name)))
    except APIError:
        return name


LIST_FILTERS = ("id", "name", "status", "label", "exited", "ancestor", "volume")


@route("GET", r"/containers/json")
def list_containers(req) -> None:
    c = _engine(req)
    filters = req.filters(LIST_FILTERS)
    show_all = req.flag("all") or bool(filters.get("status")) or bool(filters.get("exited"))
    limit, size = req.number("limit", -1), req.flag("size")
    rows = []
    for cid in c.ids():
        try:
            config, state = c.config(cid), c.state(cid)
        except (NotFound, FileNotFoundError):
            continue   # removed while we looked
        if not show_all and state["Status"] != "running":
            continue
        if not _matches(req, cid, config, state, filters):
            continue
        rows.append(_list_row(req, cid, config, state, size))
    rows.sort(key=lambda row: row["Created"], reverse=True)
    req.reply_json(rows[:limit] if limit and limit > 0 else rows)


def _matches(req, cid: str, config: dict, state: dict, filters: dict) -> bool:
    def any_of(key, test):
        return key not in filters or any(test(v) for v in filters[key])

    def label(spec):
        key, eq, value = spec.partition("=")
        return key in config["Labels"] and (not eq or config["Labels"][key] == value)

    def ancestor(name):
        try:
            return req.client.images.images.resolve(name) == config["Image"]
        except APIError:
            return False
    return (any_of("id", cid.startswith) and any_of("name", lambda n: n.lstrip("/") in config["Name"])
            and any_of("status", lambda s: s == api.status_word(state))
            and any_of("exited", lambda e: state["Status"] == "exited" and str(state["ExitCode"]) == e)
            and all(label(s) for s in filters.get("label", [])) and any_of("ancestor", ancestor)
            and any_of("volume", lambda v: mounts_volume(config, v)))


def _list_row(req, cid: str, config: dict, state: dict, size: bool) -> dict:
    running = state["Status"] == "running"
    ports = []
    for ip, host_port, port, proto in (state.get("Ports") or config["Ports"]) if running else config["Ports"]:
        entry = {"PrivatePort": int(port), "Type": proto}
        if running and host_port:
            entry |= {"IP": ip or "0.0.0.0", "PublicPort": int(host_port)}
        ports.append(entry)
    row = {"Id": cid, "Names": ["/" + config["Name"]], "Image": config["ImageName"], "ImageID": config["Image"],
           "Command": api.command_of(config),
           "Created": int(parse_rfc3339(config["Created"])), "Ports": ports, "Labels": config["Labels"],
           "State": api.status_word(state), "Status": api.status_text(state),
           "HostConfig": {"NetworkMode": config["NetworkMode"]},
           "NetworkSettings": {"Networks": _networks(req, config, state)}, "Mounts": container_mounts(config)}
    if size:
        c = _engine(req)
        images = req.client.images.images
        row["SizeRw"] = c.size_rw(cid)
        row["SizeRootFs"] = row["SizeRw"] + images.size(images.record(config["Image"]))
    return row


def _networks(req, config: dict, state: dict) -> dict:
    return _engine(req).networks.settings(config["Id"], config, state["Status"] == "running")


@route("GET", rf"/containers/{NAME}/json")
def inspect(req, name: str) -> None:
    c = _engine(req)
    cid = _resolve(req, name)
    attrs = api.inspect(c, cid)
    attrs["Config"] |= {"AttachStdin": False, "AttachStdout": False, "AttachStderr": False}
    attrs["HostConfig"] |= {"LogConfig": {"Type": "json-file", "Config": {}}}
    if req.flag("size"):
        images = req.client.images.images
        attrs["SizeRw"] = c.size_rw(cid)
        attrs["SizeRootFs"] = attrs["SizeRw"] + images.size(images.record(attrs["Image"]))
    req.reply_json(attrs)


# -- start, stop, kill, restart, wait -----------------------------------------

@route("POST", rf"/containers/{NAME}/start")
def start(req, name: str) -> None:
    c = _engine(req)
    cid = _resolve(req, name)
    req.read_body(1 << 16)   # API < 1.24 sent a HostConfig here; now nothing
    if c.state(cid)["Status"] == "running":
        raise not_modified()
    req.daemon.sessions.start(c, cid)
    req.reply_empty(204)


@route("POST", rf"/containers/{NAME}/stop")
def stop(req, name: str) -> None:
    c = _engine(req)
    cid = _resolve(req, name)
    if c.state(cid)["Status"] != "running":
        raise not_modified()
    timeout = req.number("t", req.number("timeout"))   # none given: the container's own (--stop-timeout)
    c.stop(cid, timeout=None if timeout is None else max(timeout, -1))
    req.reply_empty(204)


@route("POST", rf"/containers/{NAME}/restart")
def restart(req, name: str) -> None:
    c = _engine(req)
    cid = _resolve(req, name)
    timeout = req.number("t", req.number("timeout"))
    c.stop(cid, timeout=None if timeout is None else max(timeout, -1))
    c.wait(cid)
    req.daemon.sessions.start(c, cid)
    req.reply_empty(204)


@route("POST", rf"/containers/{NAME}/kill")
def kill(req, name: str) -> None:
    c = _engine(req)
    cid = _resolve(req, name)
    try:
        sig = api.parse_signal(req.arg("signal") or "SIGKILL")
        signal.Signals(sig)
    except (APIError, ValueError):
        raise HTTPError(400, f"Invalid signal: {req.arg('signal')}") from None
    try:
        c.kill(cid, sig)
    except ProcessLookupError:  # it ended between the check and the signal
        raise Conflict(f"Cannot kill container: {name}: Container {cid} is not running") from None
    except Conflict:
        raise Conflict(f"Cannot kill container: {name}: Container {cid} is not running") from None
    req.reply_empty(204)


@route("POST", rf"/containers/{NAME}/wait")
def wait(req, name: str) -> None:
    """Answer the headers at once (the CLI waits for them before it starts the container), the exit
    code when the condition holds: ``not-running`` (default), ``next-exit`` or ``removed``."""
    c, sessions = _engine(req), req.daemon.sessions
    cid = _resolve(req, name)
    condition = req.arg("condition") or "not-running"
    if condition not in ("not-running", "next-exit", "removed"):
        raise HTTPError(400, f"invalid condition: {condition!r}")
    first = c.state(cid)
    generation = sessions.generation

    def done() -> dict | None:
        try:
            state = c.state(cid)
        except NotFound:   # removed (--rm): its shim journaled the exit before it removed it
            code = sessions.exit_code(cid)
            if code is None and cid in sessions.live:
                return None   # AutoRemove: the shim removed it first, its exit code is on the way
            code = _journaled_exit(req, cid) if code is None else code
            return {"StatusCode": first["ExitCode"] if code is None else code, "Error": None}
        if condition == "removed" or state["Status"] == "running":
            return None
        if condition == "next-exit" and state.get("FinishedAt") == first.get("FinishedAt") \
                and sessions.generation == generation:
            return None
        return {"StatusCode": state["ExitCode"], "Error": None}

    req.stream(_until(req, done))


def _journaled_exit(req, cid: str) -> int | None:
    """The exit code of the container's last ``die`` event, if the journal still holds it."""
    died = [e for e in journal.past(req.daemon.root)[0]
            if e["Type"] == "container" and e["Action"] == "die" and e["Actor"]["ID"] == cid]
    return int(died[-1]["Actor"]["Attributes"]["exitCode"]) if died else None


def _until(req, done):
    """The one JSON answer of a wait, when ``done()`` gives it; nothing if the client hangs up first."""
    while (answer := done()) is None:
        if client_gone(req.connection):
            return
        req.daemon.sessions.changed(0.05)
    yield json.dumps(answer).encode() + b"\n"


def client_gone(sock: socket.socket) -> bool:
    """Whether the client closed its end (a readable socket with nothing to read)."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


# -- attach, resize, logs -------------------------------------------------------

@route("POST", rf"/containers/{NAME}/resize")
def resize(req, name: str) -> None:
    c = _engine(req)
    cid = _resolve(req, name)
    state = c.state(cid)
    if state["Status"] != "running":
        raise Conflict(f"Container {cid} is not running")
    if c.config(cid)["Tty"]:
        set_window(f"/proc/{state['Pid']}/fd/0", req.number("h", 0), req.number("w", 0))
    req.reply_empty(200)


def set_window(tty_path: str, rows: int, cols: int) -> None:
    """TIOCSWINSZ on the container's terminal (its first process's stdin): the kernel sends SIGWINCH."""
    if rows <= 0 or cols <= 0:
        return
    with contextlib.suppress(OSError):
        fd = os.open(tty_path, os.O_RDWR | os.O_NOCTTY)
        try:
            fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        finally:
            os.close(fd)


@route("GET", rf"/containers/{NAME}/logs")
def logs(req, name: str) -> None:
    c = _engine(req)
    cid = _resolve(req, name)
    stdout, stderr = req.flag("stdout"), req.flag("stderr")
    if not (stdout or stderr):
        raise HTTPError(400, "Bad parameters: you must choose at least one stream")
    tty = c.config(cid)["Tty"]
    since, until = _time(req, "since"), _time(req, "until")
    entries = ctr.log_entries(c, cid, streams=stream_names({STDOUT} if stdout else set()) + stream_names({STDERR} if stderr else set()),
                              timestamps=req.flag("timestamps"),
                              tail=req.arg("tail") or "all", window=(since, until),
                              follow=req.flag("follow") and (lambda: not client_gone(req.connection)))
    req.stream((line if tty else frame(STDOUT if stream == "stdout" else STDERR, line)
                for stream, line in entries), RAW if tty or version_tuple(req.api_version) < (1, 42) else MULTIPLEXED)


def stream_names(streams: set) -> tuple[str, ...]:
    return tuple(name for stream, name in ((STDOUT, "stdout"), (STDERR, "stderr")) if stream in streams)


def _time(req, name: str) -> float | None:
    value = req.arg(name)
    if not value or value == "0":
        return None
    try:
        return float(value)
    except ValueError:
        try:
            return parse_rfc3339(value)
        except ValueError:
            raise HTTPError(400, f"invalid value for {name}: {value!r}: want a UNIX time") from None


# -- remove, rename, prune ----------------------------------------------------

@route("DELETE", rf"/containers/{NAME}")
def remove(req, name: str) -> None:
    c = _engine(req)
    cid = _resolve(req, name)
    if req.flag("link"):
        raise HTTPError(400, "minidock has no links to remove")
    c.remove(cid, force=req.flag("force"), volumes=req.flag("v"))
    req.reply_empty(204)


@route("POST", rf"/containers/{NAME}/rename")
def rename(req, name: str) -> None:
    c = _engine(req)
    cid = _resolve(req, name)
    new = req.arg("name") or ""
    if not ctr.NAME_RE.match(new):
        raise HTTPError(400, f"Invalid container name ({new}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
    c.rename(cid, new)
    req.reply_empty(204)


@route("POST", r"/containers/prune")
def prune(req) -> None:
    c = _engine(req)
    req.filters(("until", "label"))
    deleted, reclaimed = [], 0
    for cid in c.ids():
        try:
            if c.state(cid)["Status"] == "running":
                continue
            size = c.size_rw(cid)
            c.remove(cid)
        except (NotFound, Conflict, FileNotFoundError):
            continue
        deleted.append(cid)
        reclaimed += size
    req.reply_json({"ContainersDeleted": deleted, "SpaceReclaimed": reclaimed})


# -- looking in: top, changes, export, stats ---------------------------------------

@route("GET", rf"/containers/{NAME}/top")
def top(req, name: str) -> None:
    c = _engine(req)
    req.reply_json(ctr.top(c, _resolve(req, name)))


@route("GET", rf"/containers/{NAME}/changes")
def changes(req, name: str) -> None:
    c = _engine(req)
    kinds = {"C": 0, "A": 1, "D": 2}
    req.reply_json([{"Path": path, "Kind": kinds[kind]} for kind, path in c.changes(_resolve(req, name))])


@route("GET", rf"/containers/{NAME}/export")
def export(req, name: str) -> None:
    c = _engine(req)
    cid = _resolve(req, name)
    req.stream_with(lambda out: ctr.export_to(c, cid, out), "application/x-tar")


@route("GET", rf"/containers/{NAME}/stats")
def stats(req, name: str) -> None:
    c = _engine(req)
    cid = _resolve(req, name)
    config = c.config(cid)

    def sample() -> dict:
        raw = ctr.stats(c, cid)
        now = time.time()
        return {"read": rfc3339(now), "id": cid, "name": "/" + config["Name"],
                "pids_stats": {"current": raw["pids_current"] or 0} | (
                    {"limit": raw["pids_limit"]} if raw["pids_limit"] else {}),
                "memory_stats": {"usage": raw["memory_usage"] or 0, "limit": raw["memory_limit"] or _mem_total(),
                                 "stats": {}},
                "cpu_stats": {"cpu_usage": {"total_usage": raw["cpu_usage_ns"] or 0},
                              "system_cpu_usage": _system_cpu_ns(), "online_cpus": os.cpu_count()}}

    def samples():
        previous = {"cpu_usage": {"total_usage": 0}, "system_cpu_usage": 0}
        previous_read = "0001-01-01T00:00:00Z"
        while True:
            current = sample()
            current |= {"precpu_stats": previous, "preread": previous_read}
            yield current
            if not req.flag("stream", True) or c.state(cid)["Status"] != "running":
                return
            previous, previous_read = current["cpu_stats"], current["read"]
            time.sleep(1)
            if client_gone(req.connection):
                return

    if req.flag("one-shot") or not req.flag("stream", True):
        first = sample()
        if not req.flag("one-shot"):   # docker's non-streamed answer measures the CPU over a second
            if c.state(cid)["Status"] == "running":
                time.sleep(1)
            first = sample() | {"precpu_stats": first["cpu_stats"], "preread": first["read"]}
        req.reply_json(first)
    else:
        req.json_lines(samples())


def _system_cpu_ns() -> int:
    """The host's CPU time in nanoseconds, as Docker's ``system_cpu_usage`` (/proc/stat's cpu line)."""
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:8]
    return sum(int(v) for v in fields) * 1_000_000_000 // os.sysconf("SC_CLK_TCK")


def _mem_total() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
