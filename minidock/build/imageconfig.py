"""What the config-only instructions do to an image's config, as dockerd's dispatchers do it.

ENV and LABEL set pairs (an ENV of a name already set replaces it where it stands); EXPOSE, VOLUME,
USER and STOPSIGNAL set their fields (a port range is one key per port); CMD and ENTRYPOINT set the
command (a new ENTRYPOINT drops a CMD the base image gave); HEALTHCHECK sets the check, and what it
leaves zero the previous check gives.  Each works on the config's ``config`` object in place.
"""

from __future__ import annotations

from . import dockerfile as dfile
from .context import BuildError


def set_pairs(c: dict, cmd: str, pairs: list[tuple[str, str]]) -> None:
    """ENV (a new value of a name already set replaces it where it stands, as Docker does) or LABEL."""
    if cmd == "LABEL":
        c.setdefault("Labels", {}).update(pairs)
        return
    env = list(c.get("Env") or [])
    for key, value in pairs:
        names = [e.partition("=")[0] for e in env]
        if key in names:
            env[names.index(key)] = f"{key}={value}"
        else:
            env.append(f"{key}={value}")
    c["Env"] = env


def set_words(c: dict, cmd: str, words: list[str]) -> None:
    """EXPOSE, VOLUME, USER, STOPSIGNAL."""
    if cmd == "EXPOSE":  # a range is one key per port ("9000/tcp", "9001/tcp"), as dockerd's nat.ParsePortSpecs
        for word in words:
            ports, _, proto = word.partition("/")
            first, _, last = ports.partition("-")
            if not (first.isdigit() and (not last or last.isdigit())):
                raise BuildError(f"invalid containerPort: {ports}")
            for port in range(int(first), int(last or first) + 1):
                c.setdefault("ExposedPorts", {})[f"{port}/{(proto or 'tcp').lower()}"] = {}
    elif cmd == "VOLUME":
        for volume in words:
            c.setdefault("Volumes", {})[volume] = {}
    elif cmd == "USER":
        c["User"] = words[0]
    elif cmd == "STOPSIGNAL":
        c["StopSignal"] = words[0]


def set_command(c: dict, cmd: str, argv: list[str], keep_cmd: bool) -> None:
    """CMD or ENTRYPOINT; "If CMD is defined from the base image, setting ENTRYPOINT will reset CMD"."""
    if cmd == "ENTRYPOINT":
        c["Entrypoint"] = argv
        if not keep_cmd:
            c["Cmd"] = None
    else:
        c["Cmd"] = argv


def set_healthcheck(c: dict, check: dict) -> None:
    """The new check; what it leaves zero the previous one gives (dockerd's commit merges the image's)."""
    previous = c.get("Healthcheck") or {}
    c["Healthcheck"] = {**{k: v for k, v in previous.items() if k != "Test"}, **check}


def healthcheck(ins: dfile.Instruction) -> dict:
    """HEALTHCHECK [flags] CMD ... | NONE, as the config stores it (durations in ns): the parser gives
    ("NONE",), ("CMD", argv...) in exec form, or ("CMD", "command") in shell form."""
    if ins.args[0] == "NONE":
        return {"Test": ["NONE"]}
    check = {"Test": ["CMD", *ins.args[1:]] if ins.json else ["CMD-SHELL", ins.args[1]]}
    for flag, key in (("interval", "Interval"), ("timeout", "Timeout"), ("start-period", "StartPeriod")):
        if ins.flags.get(flag):
            check[key] = int(seconds(ins.flags[flag]) * 1e9)
    if ins.flags.get("retries"):
        check["Retries"] = int(ins.flags["retries"])
    return check


def seconds(text: str) -> float:
    """A HEALTHCHECK duration flag ("30s", "1.5m", "500ms") in seconds."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    for unit in sorted(units, key=len, reverse=True):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * units[unit]
    return float(text)
