"""``/_ping``, ``/version``, ``/info``, ``/system/df``, ``/auth``: what a client asks first.

Every docker CLI starts with ``HEAD /_ping`` (or GET) and reads its ``API-Version`` header: a CLI
newer than the daemon then speaks the daemon's version.
"""

from __future__ import annotations

import platform
import socket

from ... import __version__
from ...display import parse_rfc3339
from .server import MAX_API, MIN_API, HTTPError, route

HEADERS = {"Builder-Version": "1", "Cache-Control": "no-cache, no-store, must-revalidate", "Pragma": "no-cache"}


@route("GET", r"/_ping")
def ping(req) -> None:
    req.reply(b"OK", extra=HEADERS)


@route("HEAD", r"/_ping")
def ping_head(req) -> None:
    req._headers(200, "text/plain; charset=utf-8", 0, HEADERS)


@route("GET", r"/version")
def version(req) -> None:
    details = {"ApiVersion": MAX_API, "MinAPIVersion": MIN_API, "Os": "linux", "Arch": _arch(),
               "KernelVersion": platform.release(), "PythonVersion": platform.python_version()}
    req.reply_json({"Platform": {"Name": "minidock"},
                    "Components": [{"Name": "Engine", "Version": __version__, "Details": details}],
                    "Version": __version__, "GitCommit": "", "GoVersion": "python" + platform.python_version(),
                    "BuildTime": "", **details})


def _arch() -> str:
    """Go's names, as Docker reports them (amd64, arm64)."""
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


@route("GET", r"/info")
def info(req) -> None:
    mine = req.client.info()
    req.reply_json(mine | {
        "ID": "", "DriverStatus": [], "Plugins": {
            "Volume": [], "Network": ["bridge", "host", "none"], "Authorization": None, "Log": ["json-file"]},
        "MemoryLimit": True, "SwapLimit": False, "CpuCfsPeriod": True, "CpuCfsQuota": True, "CPUShares": False,
        "CPUSet": False, "PidsLimit": True, "IPv4Forwarding": True, "Debug": req.daemon.debug,
        "NFd": 0, "OomKillDisable": False, "NGoroutines": 0, "SystemTime": _now(), "LoggingDriver": "json-file",
        "CgroupDriver": "cgroupfs", "CgroupVersion": str(mine["CgroupVersion"]), "NEventsListener": 0,
        "OSVersion": "", "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": {"InsecureRegistryCIDRs": ["127.0.0.0/8"], "IndexConfigs": {}, "Mirrors": []},
        "GenericResources": None, "HttpProxy": "", "HttpsProxy": "", "NoProxy": "", "Name": socket.gethostname(),
        "Labels": [], "ExperimentalBuild": False, "Runtimes": {"minidock-shim": {"path": "minidock"}},
        "DefaultRuntime": "minidock-shim", "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive",
                                                     "ControlAvailable": False, "Error": "", "RemoteManagers": None},
        "LiveRestoreEnabled": True, "Isolation": "", "InitBinary": "", "ContainerdCommit": {"ID": "", "Expected": ""},
        "RuncCommit": {"ID": "", "Expected": ""}, "InitCommit": {"ID": "", "Expected": ""},
        "Warnings": _warnings(req, mine)})


def _now() -> str:
    import time
    from ...display import rfc3339
    return rfc3339(time.time())


def _warnings(req, mine: dict) -> list[str]:
    warnings = []
    if mine["RunMode"] != "root":
        warnings.append(f"WARNING: minidock runs in {mine['RunMode']} mode: {mine['RunModeReason']}")
    if any(kind == "tcp" for kind, _ in req.daemon.hosts):
        warnings.append("WARNING: API is accessible on a TCP port: anyone who can connect to it is root")
    return warnings


@route("GET", r"/system/df")
def df(req) -> None:
    usage = req.client.df()
    for row in usage["Images"]:
        row |= {"Created": int(parse_rfc3339(row["Created"])) if row["Created"] else 0, "ParentId": "",
                "RepoDigests": [], "Labels": {}, "VirtualSize": row["Size"]}
        row.pop("UniqueSize", None)
    for row in usage["Containers"]:
        row |= {"Created": int(parse_rfc3339(row["Created"])), "Names": ["/" + row["Names"][0]], "Ports": [],
                "Labels": {}, "Mounts": [], "SizeRootFs": row["SizeRw"]}
    req.reply_json(usage | {"BuildCache": []})


@route("POST", r"/auth")
def login(req) -> None:
    """``docker login``: check the credentials on the registry. dockerd keeps no credentials: the CLI
    stores them in its own config.json and sends them with each pull or push (``X-Registry-Auth``)."""
    from ..registry import check_login
    from ...registry.client import RegistryError
    body = req.json_body()
    if not isinstance(body, dict) or not isinstance(body.get("username"), str):
        raise HTTPError(400, "the body must be a JSON object with username, password and serveraddress")
    server = body.get("serveraddress") or "docker.io"
    server = server.removeprefix("https://").removeprefix("http://").rstrip("/").removesuffix("/v1")
    try:
        host = check_login(server, body["username"], str(body.get("password") or ""))
    except RegistryError as e:
        if e.status != 401:
            raise
        raise HTTPError(401, f"login attempt to {server} failed with status: 401 Unauthorized") from None
    req.daemon.log_line(f"login to {host} as {body['username']}: the credentials work")
    req.reply_json({"Status": "Login Succeeded", "IdentityToken": ""})
