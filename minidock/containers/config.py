"""A container's configuration, named and shaped as the Docker Engine API names it.

``Config`` is what the container is, wherever it runs (the fields an image's
config holds too: a command, an environment, a user); ``HostConfig`` is what
this host gives it (a network, published ports, limits, what happens when it
exits).  ``docker run``'s flags, docker-py's keyword arguments and, later, the
Engine API's JSON are all mapped into these two, in one place each
(``api/containers.py``), and ``Containers.create`` takes nothing else.

Plain classes with ``__slots__`` rather than dataclasses: importing
``dataclasses`` (it imports ``inspect``) costs every ``minidock run`` ~13 ms.
"""

from __future__ import annotations


class _Fields:
    """Keyword-only fields with defaults; a list or dict default is copied, never shared."""

    __slots__ = ()
    DEFAULTS: dict = {}

    def __init__(self, **fields):
        unknown = sorted(set(fields) - set(self.__slots__))
        if unknown:
            raise TypeError(f"{type(self).__name__} has no field {', '.join(unknown)}")
        for name in self.__slots__:
            value = fields[name] if name in fields else self.DEFAULTS.get(name)
            setattr(self, name, type(value)(value) if isinstance(value, (list, dict)) else value)

    def to_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.__slots__}

    def __eq__(self, other) -> bool:
        return type(other) is type(self) and other.to_dict() == self.to_dict()

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self.to_dict().items() if v != self.DEFAULTS.get(k))
        return f"{type(self).__name__}({fields})"


class Config(_Fields):
    """The Engine API's container ``Config``.  ``Cmd`` or ``Entrypoint`` None: the image's own;
    ``Volumes``: paths that get a new anonymous volume (``-v /data``)."""

    __slots__ = ("Image", "Cmd", "Entrypoint", "Env", "WorkingDir", "User", "Hostname", "Tty", "OpenStdin",
                 "Labels", "Volumes", "StopSignal", "StopTimeout")
    DEFAULTS = {"Env": [], "WorkingDir": "", "Tty": False, "OpenStdin": False, "Labels": {}, "Volumes": {},
                "StopSignal": "", "StopTimeout": None}


class HostConfig(_Fields):
    """The Engine API's ``HostConfig``.

    ``PortBindings`` as the API has them, ``{"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]}``
    (an empty ``HostPort``: a free port is chosen); ``NanoCpus`` in billionths of a CPU; ``Memory`` in
    bytes; 0 or None for no limit.  ``Binds`` (``-v``), ``Mounts`` (``--mount``) and ``Tmpfs``
    (``--tmpfs``) as ``containers/mounts.py`` reads them.  ``RestartPolicy``: ``{"Name": "no" | "always" |
    "unless-stopped" | "on-failure", "MaximumRetryCount": N}``; ``PidMode``/``UTSMode``: "" (its own
    namespace) or "host".  ``CapAdd``/``CapDrop`` (``--cap-add``/``--cap-drop``), ``Privileged`` and
    ``SecurityOpt`` (``seccomp=unconfined``, ``seccomp=<a profile's JSON>``, ``no-new-privileges``) as
    ``containers/security.py`` reads them.
    """

    __slots__ = ("NetworkMode", "PortBindings", "PublishAllPorts", "Memory", "PidsLimit", "NanoCpus",
                 "ReadonlyRootfs", "Init", "AutoRemove", "Binds", "Mounts", "Tmpfs", "RestartPolicy", "PidMode",
                 "UTSMode", "CpuShares", "CpusetCpus", "ConsoleSize", "ExtraHosts", "CapAdd", "CapDrop", "Privileged",
                 "SecurityOpt")
    DEFAULTS = {"NetworkMode": "bridge", "PortBindings": {}, "PublishAllPorts": False, "ReadonlyRootfs": False,
                "Init": False, "AutoRemove": False, "Binds": [], "Mounts": [], "Tmpfs": {},
                "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0}, "PidMode": "", "UTSMode": "", "CpuShares": 0, "CpusetCpus": "",
                "ConsoleSize": None, "ExtraHosts": [], "CapAdd": [], "CapDrop": [], "Privileged": False,
                "SecurityOpt": []}


class ExecConfig(_Fields):
    """The Engine API's exec configuration (``POST /containers/{id}/exec``): a command to run in a running
    container.  ``WorkingDir`` and ``User`` empty: the container's own."""

    __slots__ = ("Cmd", "Env", "WorkingDir", "User", "Tty", "AttachStdout", "AttachStderr")
    DEFAULTS = {"Env": [], "WorkingDir": "", "User": "", "Tty": False, "AttachStdout": True, "AttachStderr": True}
