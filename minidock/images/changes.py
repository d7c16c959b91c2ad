"""``--change`` lines: the Dockerfile instructions that ``import`` and ``commit`` accept.

``docker import -c 'CMD ["/bin/sh"]' rootfs.tar`` edits the new image's config
with one Dockerfile instruction per ``-c``.  Docker allows CMD, ENTRYPOINT, ENV,
EXPOSE, LABEL, ONBUILD, USER, VOLUME, WORKDIR there; minidock the ones a
course needs.  Each maps onto one field of the image config (image-spec
config.md, "Properties": Cmd, Entrypoint, Env, ExposedPorts, ...).
"""

from __future__ import annotations

import json
import shlex

from ..errors import APIError

ALLOWED = ("CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL", "USER", "VOLUME", "WORKDIR")


def split_instruction(line: str) -> tuple[str, str]:
    """``'cmd ["sh"]'`` -> ``("CMD", '["sh"]')``; the keyword is case-insensitive."""
    keyword, _, rest = line.strip().partition(" ")
    return keyword.upper(), rest.strip()


def command_form(args: str) -> list[str]:
    """The exec form ``["a","b"]`` as a list; shell form becomes ``/bin/sh -c ARGS``."""
    if args.startswith("["):
        try:
            value = json.loads(args)
        except json.JSONDecodeError:
            value = None
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
    return ["/bin/sh", "-c", args]


def key_values(args: str, keyword: str) -> list[tuple[str, str]]:
    """``K=V K2="v 2"`` pairs, or the legacy single ``K V`` form (ENV, LABEL)."""
    words = shlex.split(args)
    if words and "=" not in words[0]:
        key, _, value = args.partition(" ")
        if not value.strip():
            raise APIError(f"{keyword} requires two arguments: {keyword} {args}")
        return [(key, value.strip())]
    pairs = []
    for word in words:
        key, eq, value = word.partition("=")
        if not eq or not key:
            raise APIError(f"{keyword} names must be KEY=VALUE: {word!r}")
        pairs.append((key, value))
    return pairs


def apply_change(config: dict, line: str) -> None:
    """Apply one instruction to a container config dict (``image_config["config"]``), in place."""
    keyword, args = split_instruction(line)
    if keyword not in ALLOWED:
        raise APIError(f"{keyword} is not a valid change command (allowed: {', '.join(ALLOWED)})")
    if not args:
        raise APIError(f"{keyword} requires at least one argument")
    if keyword in ("CMD", "ENTRYPOINT"):
        config["Cmd" if keyword == "CMD" else "Entrypoint"] = command_form(args)
    elif keyword == "ENV":
        env = [e for e in config.get("Env") or []]
        for key, value in key_values(args, keyword):
            env = [e for e in env if e.split("=", 1)[0] != key] + [f"{key}={value}"]
        config["Env"] = env
    elif keyword == "LABEL":
        config.setdefault("Labels", {}).update(key_values(args, keyword))
    elif keyword == "EXPOSE":
        for port in args.split():
            config.setdefault("ExposedPorts", {})[port if "/" in port else f"{port}/tcp"] = {}
    elif keyword == "VOLUME":
        for vol in command_form(args) if args.startswith("[") else args.split():
            config.setdefault("Volumes", {})[vol] = {}
    elif keyword == "USER":
        config["User"] = args
    elif keyword == "WORKDIR":
        config["WorkingDir"] = args
