"""What a container may do as root: its capabilities, its seccomp profile, no-new-privileges, --privileged.

Three of Docker's knobs, read here as Docker's daemon reads them
(moby ``oci/caps/utils.go``, ``daemon/daemon_unix.go``, ``daemon/seccomp_linux.go``):

* **capabilities** (``--cap-add``, ``--cap-drop``): Docker's default set of 14,
  minus what is dropped, plus what is added; ``ALL`` in ``--cap-add`` means
  every capability but those dropped, in ``--cap-drop`` only what is added.
  Names are read as ``CAP_`` + upper case (``sys_admin`` is ``CAP_SYS_ADMIN``).
* **seccomp** (``--security-opt seccomp=...``): Docker's default profile, or
  ``unconfined`` (no filter), or a profile of one's own (the command line
  sends the file's content, as docker's does).  Its rules conditioned on a
  capability follow the container's set: ``--cap-add SYS_ADMIN`` also opens
  ``mount`` and ``unshare``.
* **no-new-privileges** (``--security-opt no-new-privileges``): off by
  default, as in Docker.  On, the kernel's ``no_new_privs`` bit: execve(2)
  never grants more than the caller had, so a setuid program runs with the
  caller's uid and file capabilities do nothing.
* ``--privileged``: every capability (those the engine itself holds: a process
  cannot give what it lacks, where Docker's runc would fail), no seccomp
  filter, no masked or read-only paths, ``/sys`` writable and the host's devices.

``checked`` turns a HostConfig into the record's fields (refusing what Docker
refuses, with its messages); ``spec_fields`` turns the record into the
bundle's OCI ``process`` and ``linux`` fields at every start.
"""

from __future__ import annotations

from ..errors import InvalidParameter
from ..runtime import seccomp
from ..runtime.syscalls import CAPABILITIES, DEFAULT_CAPABILITIES, last_capability

# Go's strconv.ParseBool, which Docker uses for ``no-new-privileges=VALUE``
BOOLEANS = {"1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True,
            "0": False, "f": False, "F": False, "FALSE": False, "false": False, "False": False}
PROFILES = ("", "builtin", "default", "unconfined")   # the names that are not a profile's JSON


def normalized(names, field: str) -> list[str]:
    """``["sys_admin", "CAP_KILL", "ALL"]`` -> ``["CAP_SYS_ADMIN", "CAP_KILL", "ALL"]``; an unknown name is
    Docker's 400: ``invalid CapAdd: unknown capability: "CAP_FOO"``."""
    if isinstance(names, str):
        names = [names]
    caps = []
    for name in names or []:
        cap = str(name).upper()
        cap = "ALL" if cap == "CAP_ALL" else cap   # the newer command line's spelling of ALL
        if cap != "ALL":
            cap = cap if cap.startswith("CAP_") else "CAP_" + cap
            if cap.removeprefix("CAP_") not in CAPABILITIES:
                raise InvalidParameter(f'invalid {field}: unknown capability: "{cap}"')
        if cap not in caps:
            caps.append(cap)
    return caps


def all_capabilities() -> list[str]:
    """Every capability this kernel knows (``/proc/sys/kernel/cap_last_cap``), as Docker's GetAllCapabilities."""
    last = last_capability()
    return ["CAP_" + name for name, number in CAPABILITIES.items() if number <= last]


def capabilities(cap_add: list[str], cap_drop: list[str], privileged: bool) -> list[str]:
    """The container's capability set, by Docker's TweakCapabilities."""
    if privileged:
        return all_capabilities()
    basics = ["CAP_" + name for name in DEFAULT_CAPABILITIES]
    if "ALL" in cap_add:
        return [c for c in all_capabilities() if c not in cap_drop]
    if "ALL" in cap_drop:
        return [c for c in cap_add if c != "ALL"]
    return [c for c in basics if c not in cap_drop] + [c for c in cap_add if c not in basics]


def security_options(options) -> dict:
    """``--security-opt`` as Docker's daemon reads it: ``{"seccomp": "" | "unconfined" | JSON,
    "no_new_privileges": bool}``; apparmor and label options are accepted and change nothing (minidock
    applies no LSM profile); anything else is Docker's 400."""
    found = {"seccomp": "", "no_new_privileges": False}
    for opt in options or []:
        opt = str(opt)
        if opt == "no-new-privileges":
            found["no_new_privileges"] = True
            continue
        if opt == "disable":   # label's old short form
            continue
        sep = "=" if "=" in opt else ":" if ":" in opt else None
        if sep is None:
            raise InvalidParameter(f'invalid --security-opt 1: "{opt}"')
        key, value = opt.split(sep, 1)
        if key == "seccomp":
            found["seccomp"] = value
        elif key == "no-new-privileges" and value in BOOLEANS:
            found["no_new_privileges"] = BOOLEANS[value]
        elif key not in ("apparmor", "label"):
            raise InvalidParameter(f'invalid --security-opt 2: "{opt}"')
    if found["seccomp"] not in PROFILES:
        try:
            seccomp.read_profile(found["seccomp"])
        except seccomp.ProfileError as e:
            raise InvalidParameter(str(e)) from None
    return found


def checked(host) -> dict:
    """The record's fields for a HostConfig's CapAdd, CapDrop, Privileged and SecurityOpt, checked."""
    if not isinstance(host.SecurityOpt or [], list):
        raise InvalidParameter("SecurityOpt must be a list of strings")
    add, drop = normalized(host.CapAdd, "CapAdd"), normalized(host.CapDrop, "CapDrop")
    security_options(host.SecurityOpt)
    return {"CapAdd": add or None, "CapDrop": drop or None, "Privileged": bool(host.Privileged),
            "SecurityOpt": list(host.SecurityOpt) if host.SecurityOpt else None}


def spec_fields(record: dict) -> tuple[dict, dict]:
    """(OCI ``process`` fields, OCI ``linux`` fields) of a container record: capabilities,
    ``noNewPrivileges``; ``seccomp`` (left out: no filter); ``maskedPaths`` and ``readonlyPaths`` empty
    for ``--privileged`` (left out: Docker's lists, which the runtime knows, ``runtime/rootfs.py``)."""
    privileged = bool(record.get("Privileged"))
    caps = capabilities(record.get("CapAdd") or [], record.get("CapDrop") or [], privileged)
    options = security_options(record.get("SecurityOpt"))
    process = {"capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
               "noNewPrivileges": options["no_new_privileges"]}
    linux: dict = {"maskedPaths": [], "readonlyPaths": []} if privileged else {}
    profile = options["seccomp"]
    if profile not in ("", "builtin", "default"):
        if profile != "unconfined":
            linux["seccomp"] = seccomp.oci_seccomp(seccomp.read_profile(profile), caps)
    elif not privileged:
        linux["seccomp"] = seccomp.oci_seccomp(seccomp.default_profile(), caps)
    return process, linux

