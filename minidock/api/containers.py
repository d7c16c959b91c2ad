"""``client.containers`` and the ``Container`` model, as docker-py's ``docker.models.containers``.

    >>> client.containers.run("busybox", "echo hello", remove=True)
    b'hello\\n'
    >>> c = client.containers.run("busybox", "sleep 60", detach=True, name="napper")
    >>> c.status, c.exec_run("hostname").output
    ('running', b'...\\n')
"""

from __future__ import annotations

import os
import shlex
import signal as signals
import socket
import time
from collections import namedtuple
from collections.abc import Iterator

# Beside docker-py's models, the command line uses what they are made of: streams as they come
# (logs, exec, the attach frames), top and stats rows, export.
from ..containers.config import Config, ExecConfig, HostConfig  # noqa: F401  (ExecConfig: the CLI's exec)
from ..containers.container import (Containers, exec_capture, exec_process, exec_wait, export_to,  # noqa: F401
                                    log_entries, log_lines, stats, top)
from ..containers import copy, resources
from ..display import human_duration, human_size, parse_rfc3339, parse_size, time_ago
from ..errors import APIError, MinidockError, NotFound  # noqa: F401  (NotFound: the CLI's cp)
from ..images.layer import write_tree_tar  # noqa: F401  (the CLI's cp: a local path as a tar, and back)
from ..images.tarstream import ChunkReader  # noqa: F401
from ..runtime.stdcopy import FrameReader, collect  # noqa: F401
from .volumes import container_mounts


ExecResult = namedtuple("ExecResult", "exit_code output")


class ContainerError(MinidockError):
    """A container run in the foreground exited non-zero (docker-py's ``ContainerError``)."""

    def __init__(self, container, exit_status: int, command, image: str, stderr: bytes):
        self.container, self.exit_status, self.command, self.image, self.stderr = \
            container, exit_status, command, image, stderr
        super().__init__(f"Command '{command}' in image '{image}' returned non-zero exit status "
                         f"{exit_status}: {stderr.decode(errors='replace')}")
        self.exit_code = exit_status


class Container:
    """A container, as docker-py's ``Container`` model."""

    def __init__(self, client, cid: str):
        self.client, self.id = client, cid

    def __repr__(self) -> str:
        return f"<Container: {self.short_id}>"

    def __eq__(self, other) -> bool:
        return isinstance(other, Container) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    @property
    def _c(self) -> Containers:
        return self.client.containers.containers

    @property
    def short_id(self) -> str:
        return self.id[:12]

    @property
    def name(self) -> str:
        return self._c.name_of(self.id)

    @property
    def status(self) -> str:
        return self._c.state(self.id)["Status"]

    @property
    def image(self):
        return self.client.images.get(self._c.config(self.id)["Image"])

    @property
    def labels(self) -> dict:
        return self._c.config(self.id)["Labels"]

    @property
    def ports(self) -> dict:
        return self.attrs["NetworkSettings"]["Ports"]

    @property
    def attrs(self) -> dict:
        """What ``docker inspect`` prints for a container (ContainerInspect)."""
        return inspect(self._c, self.id)

    def reload(self) -> None:
        """docker-py re-reads attrs; ours are read fresh every time."""

    def start(self) -> None:
        self._c.start(self.id)

    def stop(self, timeout: float | None = None) -> None:
        """SIGTERM (or its stop signal), SIGKILL after ``timeout`` seconds (None: its own, else 10)."""
        self._c.stop(self.id, timeout)

    def restart(self, timeout: float | None = None) -> None:
        self._c.stop(self.id, timeout)
        self._c.start(self.id)

    def kill(self, signal: int | str = signals.SIGKILL) -> None:
        self._c.kill(self.id, parse_signal(signal))

    def remove(self, force: bool = False, v: bool = False) -> None:
        self._c.remove(self.id, force=force, volumes=v)

    def wait(self, timeout: float | None = None) -> dict:
        code = self._c.wait(self.id, timeout)
        if code is None:
            raise APIError(f"timed out waiting for container {self.short_id}")
        return {"StatusCode": code, "Error": None}

    def rename(self, name: str) -> None:
        self._c.rename(self.id, name)

    def get_archive(self, path: str, chunk_size: int | None = None, encode_stream: bool = False):
        """(the tar of ``path``, chunk by chunk; its stat), as docker-py's ``get_archive``."""
        found, chunks = copy.get_archive(self._c, self.id, path, self.name)
        return chunks, found

    def put_archive(self, path: str, data) -> bool:
        """Extract a tar (bytes or a binary file) into the directory ``path`` of the container."""
        chunks = [data] if isinstance(data, (bytes, bytearray)) else iter(lambda: data.read(1 << 16), b"")
        copy.put_archive(self._c, self.id, path, self.name, chunks)
        return True

    def pause(self) -> None:
        resources.pause(self._c, self.id)

    def unpause(self) -> None:
        resources.unpause(self._c, self.id)

    def update(self, mem_limit=None, pids_limit: int | None = None, nano_cpus: int | None = None) -> dict:
        """New limits, live (docker-py's ``update``); None leaves one as it is."""
        memory = parse_size(mem_limit) if isinstance(mem_limit, str) else mem_limit
        resources.update(self._c, self.id, memory=memory, pids=pids_limit,
                         cpus=None if nano_cpus is None else nano_cpus / 1e9)
        return {"Warnings": []}

    def logs(self, stdout: bool = True, stderr: bool = True, stream: bool = False,
             timestamps: bool = False, tail: str | int = "all", follow: bool | None = None):
        """The container's output from its json-file log (a generator with ``stream``)."""
        lines = log_lines(self._c, self.id, streams=[n for n, on in (("stdout", stdout), ("stderr", stderr)) if on],
                          timestamps=timestamps,
                          tail=tail, follow=stream if follow is None else follow)
        return lines if stream else b"".join(lines)

    def exec_run(self, cmd, stdout: bool = True, stderr: bool = True, stdin: bool = False,
                 tty: bool = False, user: str = "", environment=None, workdir: str | None = None,
                 **_ignored) -> ExecResult:
        """Run a command inside the running container: setns into its namespaces, then exec."""
        argv = cmd.split() if isinstance(cmd, str) else list(cmd)
        exe = ExecConfig(Cmd=argv, Env=_env_list(environment), WorkingDir=workdir or "", User=user,
                         Tty=tty, AttachStdout=stdout, AttachStderr=stderr)
        code, out = exec_capture(self._c, self.id, exe)
        return ExecResult(code, out)

    def commit(self, repository: str | None = None, tag: str | None = None, message: str = "",
               author: str = "", changes=None, **_ignored):
        ref = f"{repository}:{tag}" if repository and tag else repository
        changes = [changes] if isinstance(changes, str) else list(changes or [])
        return self.client.images.get(self._c.commit(self.id, ref, message, author, changes))

    def diff(self) -> list[dict]:
        """docker-py's shape: Kind 0 = changed, 1 = added, 2 = deleted."""
        kinds = {"C": 0, "A": 1, "D": 2}
        return [{"Path": path, "Kind": kinds[kind]} for kind, path in self._c.changes(self.id)]

    def export(self, chunk_size: int = 2 << 20) -> Iterator[bytes]:
        """The container's flattened file system as a tar, chunk by chunk."""
        with self.client.store.temp_path(".tar") as tmp:
            with open(tmp, "wb") as out:
                export_to(self._c, self.id, out)
            with open(tmp, "rb") as f:
                while chunk := f.read(chunk_size):
                    yield chunk

    def top(self) -> dict:
        return top(self._c, self.id)

    def stats(self, stream: bool = False) -> dict:
        return stats(self._c, self.id)

    @property
    def pid(self) -> int:
        """The host PID of the container's first process (0 when it is not running)."""
        return self._c.state(self.id).get("Pid") or 0

    def namespaces(self) -> dict[str, dict[str, int]]:
        """Inode of each /proc/PID/ns/* link, the container's next to the host's (ours)."""
        from ..runtime.nsenter import namespaces_of
        return {"container": namespaces_of(self.pid), "host": namespaces_of(os.getpid())}

    def interfaces(self) -> list[dict]:
        """The container's network interfaces, read live (name, addresses, mac, the host-side peer)."""
        from ..runtime import network
        return network.interfaces(self.pid) if self.pid else []

    def attach_socket(self, stdin: bool = False) -> socket.socket:
        """A connection to the shim: stdcopy frames out, and with ``stdin`` raw input in (whose end, a
        close or a half-close, ends the container's input). Without ``stdin`` (docker-py's default too),
        what is sent is ignored and hanging up leaves the container's input open.

        sun_path holds only 108 bytes, less than a store's path may take: connect
        through /proc/self/fd/N/attach.sock, N an fd of the container's directory.
        """
        from ..runtime.shim import greeting
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        directory = os.open(self._c.dir(self.id), os.O_PATH | os.O_DIRECTORY)
        try:
            sock.connect(f"/proc/self/fd/{directory}/attach.sock")
            sock.sendall(greeting(stdin))
        except BaseException:
            sock.close()
            raise
        finally:
            os.close(directory)
        return sock


class ContainerCollection:
    """``client.containers``: the containers of one store."""

    def __init__(self, client):
        self.client = client
        self.containers = Containers(client.store, client.images.images)

    def get(self, container_id: str) -> Container:
        return Container(self.client, self.containers.resolve(container_id))

    def list(self, all: bool = False, filters: dict | None = None) -> list[Container]:
        """Running containers (all with ``all``), newest first; ``filters={"status": ...}``."""
        found = []
        for cid in self.containers.ids():
            status = self.containers.state(cid)["Status"]
            if (all or status == "running") and (not filters or filters.get("status") in (None, status)):
                found.append((self.containers.config(cid)["Created"], cid))
        return [Container(self.client, cid) for _, cid in sorted(found, reverse=True)]

    def create(self, image: str, command=None, name: str | None = None, **kwargs) -> Container:
        """A new container, not started (docker-py's keyword arguments: ``create_config``)."""
        config, host = create_config(image, command, **kwargs)
        return Container(self.client, self.containers.create(config, host, name))

    def run(self, image: str, command=None, stdout: bool = True, stderr: bool = False,
            remove: bool = False, detach: bool = False, **kwargs):
        """create + start; detached: the Container; else its output, or ContainerError."""
        container = self.create(image, command, auto_remove=remove, **kwargs)
        if detach:
            container.start()
            return container
        ours, theirs = socket.socketpair()
        try:
            self.containers.start(container.id, attach=theirs)
        except MinidockError:  # e.g. the command is not found (exit code 127): as ``run --rm``
            ours.close()
            if remove:
                self.containers.remove_leftover(container.id)
            raise
        out, err, code = collect(ours)
        if remove:
            self.containers.remove_leftover(container.id)
        if code != 0:
            raise ContainerError(container, code, command, image, err)
        return (out if stdout else b"") + (err if stderr else b"")

    def prune(self) -> dict:
        """Remove every stopped container."""
        gone = []
        for cid in self.containers.ids():
            if self.containers.state(cid)["Status"] != "running":
                self.containers.remove(cid)
                gone.append(cid)
        return {"ContainersDeleted": gone, "SpaceReclaimed": 0}


def inspect(c: Containers, cid: str) -> dict:
    """ContainerInspect, built from the container's config and state files."""
    config, state = c.config(cid), c.state(cid)
    d = c.dir(cid)
    ports = {f"{p}/{proto}": [{"HostIp": ip, "HostPort": str(hp or "")}]
             for ip, hp, p, proto in state.get("Ports") or config["Ports"]}
    lowers = ":".join(str(c.store.layer_dir(l) / "diff") for l in reversed(config["Layers"]))
    net = {"IPAddress": state.get("IPAddress", ""), "Gateway": state.get("Gateway", ""),
           "IPPrefixLen": state.get("IPPrefixLen", 0), "MacAddress": state.get("MacAddress", "")}
    return {
        "Id": cid, "Created": config["Created"], "Path": config["Path"], "Args": config["Args"],
        "State": {"Status": status_word(state), "Running": state["Status"] == "running",
                  "Paused": bool(state.get("Paused")),
                  "Restarting": False, "OOMKilled": state.get("OOMKilled", False), "Dead": False,
                  "Pid": state.get("Pid", 0), "ExitCode": state.get("ExitCode", 0),
                  "Error": state.get("Error", ""), "StartedAt": state.get("StartedAt") or "0001-01-01T00:00:00Z",
                  "FinishedAt": state.get("FinishedAt") or "0001-01-01T00:00:00Z"},
        "Image": config["Image"], "Name": "/" + config["Name"],
        "ResolvConfPath": str(d / "resolv.conf"), "HostnamePath": str(d / "hostname"),
        "HostsPath": str(d / "hosts"), "LogPath": str(d / "log.json"), "RestartCount": state.get("RestartCount", 0),
        "Driver": config["Driver"], "Platform": "linux",
        "HostConfig": {"NetworkMode": config["NetworkMode"], "AutoRemove": config["AutoRemove"],
                       "Memory": config["Memory"] or 0, "PidsLimit": config["PidsLimit"],
                       "NanoCpus": int((config["Cpus"] or 0) * 1e9), "ReadonlyRootfs": config["ReadonlyRootfs"],
                       "Init": config["Init"], "Binds": config.get("Binds"), "Mounts": config.get("HostMounts"),
                       "Tmpfs": config.get("Tmpfs"),
                       "RestartPolicy": config.get("RestartPolicy") or {"Name": "no", "MaximumRetryCount": 0},
                       "CpuShares": config.get("CpuShares") or 0, "CpusetCpus": config.get("CpusetCpus") or "",
                       "ExtraHosts": config.get("ExtraHosts") or None,
                       "CapAdd": config.get("CapAdd"), "CapDrop": config.get("CapDrop"),
                       "Privileged": bool(config.get("Privileged")), "SecurityOpt": config.get("SecurityOpt"),
                       "PidMode": "host" if "pid" in config.get("SharedNamespaces", []) else "",
                       "UTSMode": "host" if "uts" in config.get("SharedNamespaces", []) else "",
                       "PortBindings": {f"{p}/{proto}": [{"HostIp": ip, "HostPort": str(hp or "")}]
                                        for ip, hp, p, proto in config["Ports"]}},
        "GraphDriver": {"Name": config["Driver"], "Data": {"LowerDir": lowers, "UpperDir": str(d / "upper"),
                                                           "WorkDir": str(d / "work"), "MergedDir": str(d / "merged")}},
        "Mounts": container_mounts(config),
        "Config": {"Hostname": config["Hostname"], "User": config["User"], "Tty": config["Tty"],
                   "OpenStdin": config["OpenStdin"], "StdinOnce": config["OpenStdin"], "Env": config["Env"],
                   "Cmd": config["Cmd"], "Image": config["ImageName"], "WorkingDir": config["WorkingDir"],
                   "Entrypoint": config["Entrypoint"] or None, "Labels": config["Labels"],
                   "ExposedPorts": config["ImageConfig"].get("ExposedPorts"),
                   "StopSignal": config.get("StopSignal") or config["ImageConfig"].get("StopSignal") or "SIGTERM",
                   **({"StopTimeout": config["StopTimeout"]} if config.get("StopTimeout") is not None else {}),
                   "Volumes": {m["Destination"]: {} for m in config.get("Mounts") or [] if m["Type"] == "volume"
                               and m["Mode"] == ""} or None},
        "NetworkSettings": {**net, "Ports": ports,
                            "Networks": c.networks.settings(cid, config, state["Status"] == "running")},
    }


def parse_signal(sig) -> int:
    """9, "9", "KILL" or "SIGKILL" -> 9."""
    if isinstance(sig, int):
        return sig
    if str(sig).isdigit():
        return int(sig)
    name = str(sig).upper()
    try:
        return signals.Signals[name if name.startswith("SIG") else "SIG" + name]
    except KeyError:
        raise APIError(f"Invalid signal: {sig}") from None


def _argv(command) -> list[str] | None:
    """docker-py splits a string command like a shell would (without running one)."""
    if command is None:
        return None
    return shlex.split(command) if isinstance(command, str) else list(command)


def _env_list(environment) -> list[str]:
    if isinstance(environment, dict):
        return [f"{k}={v}" for k, v in environment.items()]
    return list(environment or [])


def port_bindings(ports) -> dict:
    """docker-py's ``ports={"80/tcp": 8080}`` (or ``("127.0.0.1", 8080)``, or None: any free port),
    or ``-p`` specs (``["127.0.0.1:8080:80"]``), as the Engine API's ``PortBindings``."""
    if not isinstance(ports, dict):
        from ..runtime.network import parse_publish
        bindings: dict = {}
        for spec in ports:
            ip, host_port, port, proto = parse_publish(spec)
            bindings.setdefault(f"{port}/{proto}", []).append({"HostIp": ip, "HostPort": str(host_port or "")})
        return bindings
    bindings = {}
    for port, host in ports.items():
        port = str(port) if "/" in str(port) else f"{port}/tcp"
        for one in host if isinstance(host, list) else [host]:
            ip, host_port = one if isinstance(one, tuple) else ("", one)
            bindings.setdefault(port, []).append({"HostIp": ip, "HostPort": str(host_port or "")})
    return bindings


def binds_of(volumes) -> list[str]:
    """docker-py's ``volumes={"data": {"bind": "/data", "mode": "ro"}}`` (or ``["data:/data:ro"]``) as ``Binds``."""
    if not isinstance(volumes, dict):
        return [volumes] if isinstance(volumes, str) else list(volumes)
    binds = []
    for source, target in volumes.items():
        if isinstance(target, dict):
            binds.append(f"{source}:{target.get('bind', '')}:{target.get('mode', 'rw')}")
        else:
            binds.append(f"{source}:{target}")
    return binds


def tmpfs_of(tmpfs) -> dict:
    """docker-py's ``tmpfs={"/run": "size=64m"}`` (or ``["/run:size=64m"]``) as ``Tmpfs``."""
    if isinstance(tmpfs, dict):
        return dict(tmpfs)
    return dict((item.split(":", 1) + [""])[:2] for item in tmpfs)


# docker-py's keyword arguments of ``containers.create``/``run`` -> (Config or HostConfig, field, conversion)
CREATE_OPTIONS = {
    "entrypoint": (Config, "Entrypoint", lambda v: v.split() if isinstance(v, str) else list(v)),
    "environment": (Config, "Env", _env_list),
    "working_dir": (Config, "WorkingDir", str),
    "user": (Config, "User", str),
    "hostname": (Config, "Hostname", str),
    "tty": (Config, "Tty", bool),
    "stdin_open": (Config, "OpenStdin", bool),
    "labels": (Config, "Labels", lambda v: dict(v) if isinstance(v, dict) else dict.fromkeys(v, "")),
    "network_mode": (HostConfig, "NetworkMode", str),
    "network": (HostConfig, "NetworkMode", str),   # docker-py: a network to connect at creation
    "ports": (HostConfig, "PortBindings", port_bindings),
    "publish_all_ports": (HostConfig, "PublishAllPorts", bool),
    "mem_limit": (HostConfig, "Memory", lambda v: parse_size(v) if isinstance(v, str) else int(v)),
    "pids_limit": (HostConfig, "PidsLimit", int),
    "nano_cpus": (HostConfig, "NanoCpus", int),
    "read_only": (HostConfig, "ReadonlyRootfs", bool),
    "init": (HostConfig, "Init", bool),
    "auto_remove": (HostConfig, "AutoRemove", bool),
    "restart_policy": (HostConfig, "RestartPolicy", dict),
    "cpu_shares": (HostConfig, "CpuShares", int),
    "cpuset_cpus": (HostConfig, "CpusetCpus", str),
    "extra_hosts": (HostConfig, "ExtraHosts", lambda v: [f"{k}:{a}" for k, a in v.items()] if isinstance(v, dict) else list(v)),
    "pid_mode": (HostConfig, "PidMode", str),
    "uts_mode": (HostConfig, "UTSMode", str),
    "stop_signal": (Config, "StopSignal", str),
    "stop_timeout": (Config, "StopTimeout", int),
    "volumes": (HostConfig, "Binds", binds_of),
    "mounts": (HostConfig, "Mounts", lambda v: [dict(m) for m in v]),
    "tmpfs": (HostConfig, "Tmpfs", tmpfs_of),
    "cap_add": (HostConfig, "CapAdd", list),
    "cap_drop": (HostConfig, "CapDrop", list),
    "privileged": (HostConfig, "Privileged", bool),
    "security_opt": (HostConfig, "SecurityOpt", list),
}


def create_config(image: str, command=None, **kwargs) -> tuple[Config, HostConfig]:
    """docker-py's ``containers.create(image, command, **kwargs)`` as the Engine API's Config and HostConfig.

    The one place where keyword arguments become the two records; an unknown one is refused as
    docker-py refuses it.  ``None`` means "not given", as in docker-py.
    """
    fields = {Config: {"Image": image, "Cmd": _argv(command)}, HostConfig: {}}
    for key, value in kwargs.items():
        if key not in CREATE_OPTIONS:
            raise TypeError(f"create() got an unexpected keyword argument '{key}'")
        record, field, convert = CREATE_OPTIONS[key]
        if value is not None:
            fields[record][field] = convert(value)
    return Config(**fields[Config]), HostConfig(**fields[HostConfig])


# -- ps's rows: what the command line and the notebooks' dashboard list --------

PS_HEADERS = {"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT",
              "RunningFor": "CREATED", "Status": "STATUS", "Ports": "PORTS", "Names": "NAMES",
              "Size": "SIZE", "State": "STATE"}


def status_word(state: dict) -> str:
    """docker's one-word state: created, running, paused (a running container, frozen), exited."""
    return "paused" if state.get("Paused") and state["Status"] == "running" else state["Status"]


def status_text(state: dict) -> str:
    """docker's STATUS column: "Up 3 seconds", "Up 2 minutes (Paused)", "Exited (0) 21 hours ago", "Created"."""
    if state["Status"] == "running":
        up = "Up " + human_duration(time.time() - parse_rfc3339(state["StartedAt"]))
        return up + " (Paused)" if state.get("Paused") else up
    if state["Status"] == "exited":
        return f"Exited ({state['ExitCode']}) {time_ago(parse_rfc3339(state['FinishedAt']))}"
    return state["Status"].capitalize()


def ports_text(ports) -> str:
    return ", ".join(f"{ip}:{hp}->{p}/{proto}" if hp else f"{p}/{proto}" for ip, hp, p, proto in ports)


def command_of(config: dict) -> str:
    """The command as ``ps`` lists it: dockerd puts an argument with a space in single quotes (daemon/list.go)."""
    return " ".join([config["Path"], *(f"'{a}'" if " " in a else a for a in config["Args"])])


def command_column(cmd: str, no_trunc: bool = False) -> str:
    """docker's COMMAND column: quoted, cut to 20 characters unless ``--no-trunc``."""
    return f'"{cmd[:19]}…"' if len(cmd) > 20 and not no_trunc else f'"{cmd}"'


def ps_row(client, cid: str, no_trunc: bool, size: bool) -> dict:
    """One row of ``ps``: every column docker's ``--format`` knows, as ``ps`` and the dashboard show it."""
    c = client.containers.containers
    config, state = c.config(cid), c.state(cid)
    cmd = command_of(config)
    row = {"ID": cid if no_trunc else cid[:12], "Image": config["ImageName"], "Command": command_column(cmd, no_trunc),
           "CreatedAt": config["Created"], "RunningFor": time_ago(parse_rfc3339(config["Created"])),
           "Status": status_text(state), "State": status_word(state),
           "Ports": ports_text(state.get("Ports") or config["Ports"]) if state["Status"] == "running" else "",
           "Names": config["Name"]}
    if size:
        upper = c.size_rw(cid)
        image = client.images.images.size(client.images.images.record(config["Image"]))
        row["Size"] = f"{human_size(upper)} (virtual {human_size(upper + image)})"
    return row
