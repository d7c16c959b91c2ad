"""Make a learner's home ready for the course; run *as the learner* by the spawner before each start.

* The course's notebooks (``make classroom-env`` put a copy, without solutions, in the classroom
  environment) are copied into ``~/course``: a file the learner does not have yet is copied; a file the
  learner has is never overwritten, unless the teacher asks for a refresh (``--refresh``), which keeps the
  learner's version beside it as ``NAME.~1~`` (as ``cp --backup=numbered`` names it).
* The class registry's read-only credentials (the password on stdin) are saved the way ``minidock login``
  saves them, and the registry is named in ``config.json`` as the mirror and as plain HTTP
  (``insecure-registries``, Docker's daemon.json key): it listens on the class network, not on 127.0.0.1.

Running as the learner, not as root, matters: the home is the learner's, and root following a symlink a
learner planted there could overwrite any file of the machine.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path


def copy_course(source: Path, into: Path, *, refresh: bool) -> list[str]:
    """Copy every file of ``source`` missing from ``into`` (or changed, with ``refresh``); the names copied."""
    copied = []
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        target = into / path.relative_to(source)
        if target.is_symlink() or target.exists():
            if not refresh or (target.is_file() and filecmp.cmp(path, target, shallow=False)):
                continue
            target.rename(backup_name(target))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        copied.append(str(path.relative_to(source)))
    return copied


def backup_name(path: Path) -> Path:
    """The first free ``NAME.~N~`` beside ``path``."""
    n = 1
    while path.with_name(f"{path.name}.~{n}~").exists():
        n += 1
    return path.with_name(f"{path.name}.~{n}~")


def save_registry(registry: str, user: str, password: str) -> None:
    """The credentials as ``minidock login`` keeps them, and the registry as mirror and plain HTTP."""
    from minidock.registry import auth
    auth.save(registry, user, password)
    path = auth.config_dir() / "config.json"
    try:
        settings = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        settings = {}
    mirror = f"http://{registry}"
    settings["registry-mirrors"] = [mirror] + [m for m in settings.get("registry-mirrors", []) if m != mirror]
    settings["insecure-registries"] = sorted({*settings.get("insecure-registries", []), registry})
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".config-")
    with os.fdopen(fd, "w") as f:
        json.dump(settings, f, indent=1, sort_keys=True)
    os.replace(tmp, path)


def main(argv: list[str]) -> int:
    """Copy the course, save the registry credentials (password on stdin); print what was done."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--course", type=Path, required=True, help="the course's notebooks to copy")
    parser.add_argument("--into", default="course", help="where in the home (default: course)")
    parser.add_argument("--refresh", action="store_true", help="replace changed files, keeping the learner's as NAME.~N~")
    parser.add_argument("--registry", help="the class registry HOST:PORT")
    parser.add_argument("--registry-user", default="learner")
    args = parser.parse_args(argv)
    copied = copy_course(args.course, Path.home() / args.into, refresh=args.refresh)
    print(f"{len(copied)} course files copied into ~/{args.into}")
    if args.registry:
        save_registry(args.registry, args.registry_user, sys.stdin.read().strip())
        print(f"credentials of {args.registry_user} for {args.registry} saved")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
