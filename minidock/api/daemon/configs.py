"""The Engine API's JSON as the engine's ``Config``, ``HostConfig`` and ``ExecConfig``.

The docker CLI sends every field of a container's configuration, most at their zero value. So a
field is judged by its value, in three kinds:

* fields minidock carries out (``Cmd``, ``Env``, ``PortBindings``, ``Memory``, ``Binds``, ``Mounts`` ...)
  become the engine's (mounts checked here as ``containers/mounts.py`` reads them: a bad one is a 400);
* fields of the API that minidock does not carry out are accepted at their zero (or Docker's
  default) value, and refused with 400 and their name otherwise: a container is never created
  different from what was asked for without a word;
* a field the Engine API does not have is refused with 400 (a typo in a docker-py ``create``
  call would otherwise pass unnoticed).
"""

from __future__ import annotations

from ...containers.config import Config, ExecConfig, HostConfig
from ...containers.mounts import requests_of
from .server import HTTPError

# Config: API field -> engine field (None: accepted, carries nothing for the engine)
CONFIG_FIELDS = {"Image": "Image", "Cmd": "Cmd", "Entrypoint": "Entrypoint", "Env": "Env",
                 "WorkingDir": "WorkingDir", "User": "User", "Hostname": "Hostname", "Tty": "Tty",
                 "OpenStdin": "OpenStdin", "Labels": "Labels", "Volumes": "Volumes", "StopSignal": "StopSignal",
                 "StopTimeout": "StopTimeout",
                 # what the client itself attaches; StdinOnce is how minidock's stdin always behaves
                 "AttachStdin": None, "AttachStdout": None, "AttachStderr": None, "StdinOnce": None,
                 # metadata: which ports the program listens on (``-p`` sends it too); publishes nothing
                 "ExposedPorts": None, "ArgsEscaped": None}
CONFIG_UNSUPPORTED = ("Domainname", "Healthcheck", "NetworkDisabled", "MacAddress", "OnBuild",
                      "Shell")

HOST_FIELDS = {"NetworkMode": "NetworkMode", "PortBindings": "PortBindings", "PublishAllPorts": "PublishAllPorts",
               "Memory": "Memory", "PidsLimit": "PidsLimit", "NanoCpus": "NanoCpus",
               "ReadonlyRootfs": "ReadonlyRootfs", "Init": "Init", "AutoRemove": "AutoRemove",
               "Binds": "Binds", "Mounts": "Mounts", "Tmpfs": "Tmpfs", "RestartPolicy": "RestartPolicy",
               "PidMode": "PidMode", "UTSMode": "UTSMode", "CpuShares": "CpuShares", "CpusetCpus": "CpusetCpus",
               "ConsoleSize": "ConsoleSize", "ExtraHosts": "ExtraHosts", "CapAdd": "CapAdd", "CapDrop": "CapDrop",
               "Privileged": "Privileged", "SecurityOpt": "SecurityOpt"}
# accepted at these values too (Docker's own defaults, as the CLI sends them)
HOST_DEFAULTS = {"LogConfig": ({"Type": "json-file", "Config": {}}, {"Type": "", "Config": {}},
                               {"Type": "json-file"}, {"Type": ""}),
                 "CgroupnsMode": ("private", "host"), "Isolation": ("default",), "IpcMode": ("private", "shareable"),
                 "VolumeDriver": ("local",), "MemorySwap": (-1,), "MemorySwappiness": (-1,), "OomScoreAdj": (0,)}
HOST_UNSUPPORTED = (
    "CgroupParent", "BlkioWeight", "BlkioWeightDevice", "BlkioDeviceReadBps", "BlkioDeviceWriteBps",
    "BlkioDeviceReadIOps", "BlkioDeviceWriteIOps", "CpuPeriod", "CpuQuota", "CpuRealtimePeriod",
    "CpuRealtimeRuntime", "CpusetMems", "Devices", "DeviceCgroupRules", "DeviceRequests",
    "KernelMemory", "KernelMemoryTCP", "MemoryReservation", "MemorySwap", "MemorySwappiness", "OomKillDisable",
    "Ulimits", "CpuCount", "CpuPercent", "IOMaximumIOps", "IOMaximumBandwidth", "ContainerIDFile",
    "LogConfig", "VolumeDriver", "VolumesFrom", "Annotations",
    "CgroupnsMode", "Dns", "DnsOptions", "DnsSearch", "GroupAdd", "IpcMode", "Cgroup", "Links",
    "OomScoreAdj", "StorageOpt", "UsernsMode",
    "ShmSize", "Sysctls", "Runtime", "Isolation", "MaskedPaths", "ReadonlyPaths")

EXEC_FIELDS = {"Cmd": "Cmd", "Env": "Env", "WorkingDir": "WorkingDir", "User": "User", "Tty": "Tty",
               "AttachStdout": "AttachStdout", "AttachStderr": "AttachStderr",
               "AttachStdin": None, "DetachKeys": None, "ConsoleSize": None, "Detach": None,
               "Container": None}   # docker-py sends the container again
EXEC_UNSUPPORTED = ("Privileged",)


def _empty(value) -> bool:
    return value in (None, "", 0, False, [], {})


def _object(body, what: str) -> dict:
    if not isinstance(body, dict):
        raise HTTPError(400, f"{what} must be a JSON object")
    return body


def _take(body: dict, what: str, fields: dict, unsupported: tuple, defaults: dict | None = None) -> dict:
    """The engine's fields from one JSON object, by the three rules of this module."""
    taken = {}
    for key, value in body.items():
        if key in fields:
            if fields[key] is not None and value is not None:
                taken[fields[key]] = value
        elif key in unsupported:
            if not (_empty(value) or value in (defaults or {}).get(key, ())):
                raise HTTPError(400, f"minidock does not support {what}.{key} (given {value!r})")
        else:
            raise HTTPError(400, f"unknown field {what}.{key}")
    return taken


def _strings(value, name: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise HTTPError(400, f"{name} must be a list of strings")
    return value


def _checked(fields: dict, what: str, types: dict) -> dict:
    for key, kind in types.items():
        if key in fields and not isinstance(fields[key], kind):
            raise HTTPError(400, f"{what}.{key} has the wrong type ({type(fields[key]).__name__})")
    return fields


def create_config(body) -> tuple[Config, HostConfig, dict | None]:
    """``POST /containers/create``'s body as the engine's two records, and the EndpointSettings
    (``Aliases``) of ``NetworkingConfig.EndpointsConfig`` for the container's network."""
    body = dict(_object(body, "the body"))
    host_body = _object(body.pop("HostConfig", None) or {}, "HostConfig")
    networking = _object(body.pop("NetworkingConfig", None) or {}, "NetworkingConfig")
    config = _take(body, "Config", CONFIG_FIELDS, CONFIG_UNSUPPORTED)
    if not config.get("Image"):
        raise HTTPError(400, "Config.Image is required: the image to create the container from")
    for key in ("Cmd", "Entrypoint", "Env"):
        if key in config:
            config[key] = _strings(config[key], f"Config.{key}")
    _checked(config, "Config", {"Image": str, "WorkingDir": str, "User": str, "Hostname": str, "Tty": bool,
                                "OpenStdin": bool, "Labels": dict, "Volumes": dict, "StopSignal": str,
                                "StopTimeout": int})
    host = _take(host_body, "HostConfig", HOST_FIELDS, HOST_UNSUPPORTED, HOST_DEFAULTS)
    _checked(host, "HostConfig", {"NetworkMode": str, "PortBindings": dict, "PublishAllPorts": bool,
                                  "Memory": int, "PidsLimit": int, "NanoCpus": int, "ReadonlyRootfs": bool,
                                  "Init": bool, "AutoRemove": bool, "Binds": list, "Mounts": list, "Tmpfs": dict,
                                  "RestartPolicy": dict, "PidMode": str, "UTSMode": str, "CpuShares": int,
                                  "CpusetCpus": str, "ExtraHosts": list, "CapAdd": list, "CapDrop": list,
                                  "Privileged": bool, "SecurityOpt": list})
    # a bad -v, --mount or --tmpfs is the client's mistake (InvalidParameter: 400), found before anything is made
    requests_of(host.get("Binds"), host.get("Mounts"), host.get("Tmpfs"), config.get("Volumes"))
    asked = host.get("NetworkMode") or "default"
    if asked == "default":
        host["NetworkMode"] = "bridge"
    endpoints = _object(networking.get("EndpointsConfig") or {}, "NetworkingConfig.EndpointsConfig")
    if len(endpoints) > 1:   # docker before API 1.44 says the same
        raise HTTPError(400, "Container cannot be connected to network endpoints: " + ", ".join(endpoints))
    endpoint = None
    for network, settings in endpoints.items():
        endpoint = dict(_object(settings or {}, f"EndpointsConfig.{network}"))
        aliases = _strings(endpoint.pop("Aliases", None) or [], f"EndpointsConfig.{network}.Aliases")
        if network not in (asked, host.get("NetworkMode", "bridge")) or \
                any(not _empty(v) for v in endpoint.values()):
            raise HTTPError(400, f"minidock supports only Aliases in NetworkingConfig, for the container's "
                                 f"network ({network!r} given)")
        endpoint = {"Aliases": aliases}
    if host.get("PidsLimit", 0) < 0:
        host["PidsLimit"] = 0   # -1 is "unlimited", as 0
    return Config(**config), HostConfig(**host), endpoint


def exec_config(body) -> ExecConfig:
    """``POST /containers/{id}/exec``'s body as the engine's ExecConfig."""
    fields = _take(_object(body, "the body"), "ExecConfig", EXEC_FIELDS, EXEC_UNSUPPORTED)
    if not fields.get("Cmd"):
        raise HTTPError(400, "No exec command specified")
    fields["Cmd"] = _strings(fields["Cmd"], "Cmd")
    if "Env" in fields:
        fields["Env"] = _strings(fields["Env"], "Env")
    _checked(fields, "ExecConfig", {"WorkingDir": str, "User": str, "Tty": bool, "AttachStdout": bool,
                                    "AttachStderr": bool})
    return ExecConfig(**fields)


UPDATE_FIELDS = {"Memory": "memory", "NanoCpus": "cpus", "PidsLimit": "pids", "RestartPolicy": "restart"}
UPDATE_UNSUPPORTED = HOST_UNSUPPORTED + ("CpuShares", "CpusetCpus", "CapAdd", "CapDrop", "Privileged", "SecurityOpt")   # at create only


def update_config(body) -> dict:
    """``POST /containers/{id}/update``'s body (Resources and RestartPolicy) as ``resources.update``'s
    keywords: Memory and NanoCpus 0 mean "as it is", PidsLimit null "as it is" and 0 or -1 "none"."""
    fields = _checked(_take(_object(body, "the body"), "UpdateConfig", UPDATE_FIELDS, UPDATE_UNSUPPORTED,
                            HOST_DEFAULTS), "UpdateConfig", {"memory": int, "cpus": int, "pids": int,
                                                             "restart": dict})
    if fields.get("memory", 0) < 0 or fields.get("cpus", 0) < 0:
        raise HTTPError(400, "UpdateConfig.Memory and UpdateConfig.NanoCpus cannot be negative")
    return {"memory": fields.get("memory") or None, "pids": fields.get("pids"),
            "cpus": fields["cpus"] / 1e9 if fields.get("cpus") else None, "restart": fields.get("restart")}
