"""What a container asks to have mounted: ``-v``, ``--mount`` and ``--tmpfs``, read as Docker reads them.

Pure functions, no file is touched: the three spellings of the Engine API become one list of
*requests*, each a dict ``{"Type", "Source", "Target", "ReadOnly", "CopyUp", "Options", "Listed"}``::

    HostConfig.Binds   ["NAME:/data", "/host/dir:/data:ro", "/data"]   (``-v``)
    HostConfig.Mounts  [{"Type": "bind"|"volume"|"tmpfs", "Source", "Target", "ReadOnly", ...}]   (``--mount``)
    HostConfig.Tmpfs   {"/run": "size=64m,mode=1777"}                 (``--tmpfs``)
    Config.Volumes     {"/data": {}}      a path with no source: an anonymous volume (``-v /data``)

A ``Source`` that starts with "/" is a host path (a bind); any other is a volume's name, "" a new
anonymous volume.  ``CopyUp``: fill the volume, while it is empty, from what the image has at
``Target`` (Docker's default; ``nocopy`` turns it off; never for a bind).  ``Listed``: shown in
inspect's ``Mounts`` (Docker leaves ``--tmpfs`` out of it); ``Mode`` as inspect shows it;
``CreateSource``: a missing host directory is made (``-v``; ``--mount`` refuses it).  The messages are Docker's
(moby ``volume/mounts/linux_parser.go``).
"""

from __future__ import annotations

import posixpath
import re

from ..errors import InvalidParameter

# moby volume/local: a local volume's name, as a container's (``[a-zA-Z0-9][a-zA-Z0-9_.-]+``)
VOLUME_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
BIND_MODES = {"ro", "rw", "z", "Z", "nocopy", "private", "rprivate", "shared", "rshared", "slave", "rslave"}
MOUNT_KEYS = {"Type", "Source", "Target", "ReadOnly", "Consistency", "BindOptions", "VolumeOptions",
              "TmpfsOptions"}
# tmpfs(5)'s options a container may pass, and mount(8)'s flags
TMPFS_DATA = ("size", "mode", "uid", "gid", "nr_inodes", "nr_blocks")
TMPFS_FLAGS = {"ro", "rw", "exec", "noexec", "suid", "nosuid", "dev", "nodev"}


def check_volume_name(name: str, action: str = "create") -> str:
    """A local volume's name, or Docker's 400: no "/" or ".." can reach the store's paths."""
    if isinstance(name, str) and len(name) < 2 and name.isalnum():
        raise InvalidParameter(f"{action} {name}: volume name is too short, names should be at least "
                               "two alphanumeric characters")
    if not isinstance(name, str) or not VOLUME_NAME_RE.match(name):
        raise InvalidParameter(f'{action} {name}: "{name}" includes invalid characters for a local volume name, '
                               'only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host '
                               "directory, use absolute path")
    return name


def _request(kind: str, source: str, target: str, read_only: bool = False, **more) -> dict:
    return {"Type": kind, "Source": source, "Target": target, "ReadOnly": read_only,
            "CopyUp": kind == "volume" and not more.get("nocopy"), "Options": more.get("options", ""),
            "Listed": more.get("listed", True), "Mode": more.get("mode", "ro" if read_only else ""),
            "CreateSource": more.get("create", False)}


def _target(target, spec: str, kind: str) -> str:
    """A container path: absolute, not "/", without "..": Docker's errors otherwise."""
    if not isinstance(target, str) or not target:
        raise InvalidParameter(f'invalid mount config for type "{kind}": field Target must not be empty')
    if not target.startswith("/"):
        raise InvalidParameter(f"invalid volume specification: '{spec}': invalid mount config for type "
                               f"\"{kind}\": invalid mount path: '{target}' mount path must be absolute")
    if posixpath.normpath(target) == "/" or "\0" in target:
        raise InvalidParameter(f"invalid volume specification: '{spec}': invalid mount config for type "
                               f"\"{kind}\": invalid specification: destination can't be '/'")
    target = posixpath.normpath(target)
    if target == "/proc" or target.startswith("/proc/"):   # a mount there could unmask /proc/kcore...
        raise InvalidParameter(f'invalid mount config for type "{kind}": "{target}" cannot be mounted '
                               'because it is located inside "/proc"')
    return target


def parse_bind(spec: str) -> dict:
    """One ``-v`` / ``Binds`` entry: ``[SOURCE:]TARGET[:MODES]``, MODES comma-separated."""
    if not isinstance(spec, str):
        raise InvalidParameter(f"invalid volume specification: '{spec}'")
    parts = spec.split(":")
    if len(parts) == 1 or len(parts) == 2 and parts[1] and set(parts[1].split(",")) <= BIND_MODES \
            and not parts[1].startswith("/"):
        parts = ["", *parts]   # "/data" or "/data:ro": an anonymous volume
    if len(parts) == 2:
        parts.append("")
    if len(parts) != 3 or any(not p for p in parts[1:2]):
        raise InvalidParameter(f"invalid volume specification: '{spec}'")
    source, target, modes = parts
    modes = [m for m in modes.split(",") if m]
    if not set(modes) <= BIND_MODES or ("ro" in modes and "rw" in modes):
        raise InvalidParameter(f"invalid mode: {','.join(modes)}")
    _private(next((m for m in modes if "private" in m or "shared" in m or "slave" in m), ""))
    kind = "bind" if source.startswith("/") else "volume"
    if kind == "volume" and source:
        check_volume_name(source)
    if kind == "bind":
        source = posixpath.normpath(source)
    # Docker's Mode: the modes given, "z" for a named volume given none; -v makes a missing host dir
    mode = ",".join(modes) or ("z" if kind == "volume" and source else "")
    return _request(kind, source, _target(target, spec, kind), "ro" in modes, nocopy="nocopy" in modes, mode=mode,
                    create=True)


def _private(propagation) -> None:
    """minidock's binds are rprivate, Docker's default; another propagation would silently not be had."""
    if propagation not in ("", "private", "rprivate", None):
        raise InvalidParameter(f'minidock does not support mount propagation "{propagation}" (binds are rprivate)')


def _options(mount: dict, key: str) -> dict:
    options = mount.get(key)
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise InvalidParameter(f"invalid mount config: {key} must be an object")
    return options


def _whole(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidParameter(f"invalid mount config for type \"tmpfs\": {what} must be a whole number")
    return value


def parse_mount(mount) -> dict:
    """One ``--mount`` / ``HostConfig.Mounts`` entry (the API's object)."""
    if not isinstance(mount, dict):
        raise InvalidParameter("invalid mount config: a mount must be an object")
    unknown = sorted(set(mount) - MOUNT_KEYS)
    if unknown:
        raise InvalidParameter(f"invalid mount config: unknown field {unknown[0]}")
    kind, source = mount.get("Type") or "", mount.get("Source") or ""
    if kind not in ("bind", "volume", "tmpfs"):
        raise InvalidParameter(f'invalid mount config for type "{kind}": mount type unknown')
    if not isinstance(source, str) or not isinstance(mount.get("ReadOnly", False), bool):
        raise InvalidParameter(f'invalid mount config for type "{kind}": Source must be a string, ReadOnly a boolean')
    target = _target(mount.get("Target"), str(mount.get("Target")), kind)
    read_only = bool(mount.get("ReadOnly"))
    if kind == "bind":
        if not source:
            raise InvalidParameter('invalid mount config for type "bind": field Source must not be empty')
        if not source.startswith("/"):
            raise InvalidParameter(f"invalid mount config for type \"bind\": invalid mount path: '{source}' "
                                   "mount path must be absolute")
        bind = _options(mount, "BindOptions")
        _private(bind.get("Propagation"))
        if bind.get("NonRecursive"):
            raise InvalidParameter("minidock does not support non-recursive binds (BindOptions.NonRecursive)")
        return _request("bind", posixpath.normpath(source), target, read_only)
    if kind == "tmpfs":
        if source:
            raise InvalidParameter('invalid mount config for type "tmpfs": field Source must not be specified')
        options = _options(mount, "TmpfsOptions")
        data = [f"size={_whole(options['SizeBytes'], 'SizeBytes')}"] if options.get("SizeBytes") else []
        data += [f"mode={_whole(options['Mode'], 'Mode'):o}"] if options.get("Mode") else []
        return _request("tmpfs", "", target, read_only, options=",".join(data))
    if source:
        check_volume_name(source)
    volume = _options(mount, "VolumeOptions")
    driver = _options(volume, "DriverConfig")
    if volume.get("Labels") or driver.get("Name") not in (None, "", "local") or driver.get("Options"):
        raise InvalidParameter("minidock's volumes take no labels, drivers or driver options in a mount "
                               "(create the volume first: volume create --label)")
    nocopy = bool(volume.get("NoCopy"))
    return _request("volume", source, target, read_only, nocopy=nocopy)


def parse_tmpfs(target: str, options: str) -> dict:
    """One ``--tmpfs PATH[:OPTIONS]`` / ``HostConfig.Tmpfs`` entry; options checked against tmpfs(5)."""
    if not isinstance(options, str):
        raise InvalidParameter(f"invalid tmpfs options for {target}: want a string")
    for option in filter(None, options.split(",")):
        key, eq, value = option.partition("=")
        if not (key in TMPFS_FLAGS and not eq or key in TMPFS_DATA and eq and re.fullmatch(r"[0-9]+[kmg%]?", value)):
            raise InvalidParameter(f"invalid tmpfs option {option!r} for {target}")
    read_only = "ro" in options.split(",")
    return _request("tmpfs", "", _target(target, f"{target}:{options}", "tmpfs"), read_only, options=options,
                    listed=False)


def parse_mount_flag(text: str) -> dict:
    """``--mount type=bind,source=/src,target=/dst,readonly`` as the API's Mounts entry (docker's CSV keys)."""
    mount: dict = {"Type": "volume"}
    for field in filter(None, text.split(",")):
        key, eq, value = field.partition("=")
        key = key.strip().lower()
        if key in ("readonly", "ro", "volume-nocopy"):
            if eq and value.lower() not in ("1", "true", "0", "false"):
                raise InvalidParameter(f"invalid value for {key}: {value}")
            on = not eq or value.lower() in ("1", "true")
            mount["ReadOnly" if key != "volume-nocopy" else "VolumeOptions"] = on if key != "volume-nocopy" \
                else {"NoCopy": on}
        elif not eq:
            raise InvalidParameter(f"invalid field '{field}' must be a key=value pair")
        elif key == "type":
            mount["Type"] = value
        elif key in ("source", "src"):
            mount["Source"] = value
        elif key in ("target", "destination", "dst"):
            mount["Target"] = value
        elif key in ("tmpfs-size", "tmpfs-mode"):
            number = int(value, 8) if key == "tmpfs-mode" else _bytes(value)
            mount.setdefault("TmpfsOptions", {})["SizeBytes" if key == "tmpfs-size" else "Mode"] = number
        elif key != "bind-propagation" or value not in ("rprivate", "private"):
            raise InvalidParameter(f"unexpected key '{key}' in '{field}'")
    return mount


def _bytes(value: str) -> int:
    """``64m`` -> bytes, as docker's RAMInBytes."""
    match = re.fullmatch(r"([0-9]+)([kmg]?)b?", value.lower())
    if not match:
        raise InvalidParameter(f"invalid size: '{value}'")
    return int(match.group(1)) << {"": 0, "k": 10, "m": 20, "g": 30}[match.group(2)]


def requests_of(binds, mounts, tmpfs, volumes) -> list[dict]:
    """Every mount a container asks for, from the API's four fields; one target mounted twice is refused.

    ``Config.Volumes`` paths already given a source by another field are no anonymous volume
    (docker-py sends both ``Binds`` and ``Volumes`` for ``volumes={...}``).
    """
    found = [parse_bind(b) for b in binds or []] + [parse_mount(m) for m in mounts or []]
    found += [parse_tmpfs(t, o) for t, o in (tmpfs or {}).items()]
    seen = set()
    for request in found:
        if request["Target"] in seen:
            raise InvalidParameter(f"Duplicate mount point: {request['Target']}")
        seen.add(request["Target"])
    for path in volumes or {}:
        target = _target(path, path, "volume")
        if target not in seen:
            found.append(_request("volume", "", target))
            seen.add(target)
    return found


def mount_record(request: dict, volume: dict | None) -> dict:
    """A request carried out, as inspect's ``Mounts`` shows it (with what the runtime needs beside it)."""
    record = {"Type": request["Type"], "Source": request["Source"], "Destination": request["Target"],
              "Mode": request["Mode"], "RW": not request["ReadOnly"],
              "Propagation": "rprivate" if request["Type"] == "bind" else ""}
    if volume is not None:
        record |= {"Name": volume["Name"], "Source": volume["Mountpoint"], "Driver": volume["Driver"]}
    return record | {"CopyUp": request["CopyUp"], "Options": request["Options"], "Listed": request["Listed"]}


def shown(record: dict) -> dict:
    """A container's mount as ``docker inspect`` prints it (without the runtime's fields)."""
    keys = ("Type", "Name", "Source", "Destination", "Driver", "Mode", "RW", "Propagation")
    return {key: record[key] for key in keys if key in record}
