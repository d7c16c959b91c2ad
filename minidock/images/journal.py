"""The store's journal: what happened to which container, image, volume or network (``docker events``).

dockerd knows every event because every change passes through it. minidock has no such centre:
the CLI, the daemon and each container's shim change one store. So whoever changes something
appends one line of JSON to ``ROOT/events.jsonl``, in the Engine API's own shape (``Type``,
``Action``, ``Actor``, ``time``, ``timeNano``, and the older ``status``/``id``/``from``), and
``events`` reads the lines back, or follows the file as it grows.

An append of one short line with ``O_APPEND`` lands whole, wherever other writers are, so the
journal needs no lock. It is rotated when it passes ``KEEP`` bytes (``events.jsonl.1`` holds the
previous part): dockerd keeps only its last 256 events in memory, minidock keeps a little more,
and keeps them across restarts.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

JOURNAL = "events.jsonl"
KEEP = 256 * 1024      # bytes before the journal is rotated
POLL = 0.1             # seconds between looks at a followed journal
LEGACY = ("container", "image")   # the types whose events also carry status/id/from (API < 1.22's shape)


def event(kind: str, action: str, actor: str, attributes: dict, now_ns: int | None = None) -> dict:
    """One event, as ``GET /events`` streams it."""
    now_ns = time.time_ns() if now_ns is None else now_ns
    legacy = {}
    if kind in LEGACY:
        legacy = {"status": action, "id": actor}
        if kind == "container" and "image" in attributes:
            legacy["from"] = attributes["image"]
    return legacy | {"Type": kind, "Action": action, "Actor": {"ID": actor, "Attributes": attributes},
                     "scope": "local", "time": now_ns // 10**9, "timeNano": now_ns}


def record(root: Path, kind: str, action: str, actor: str, attributes: dict | None = None) -> None:
    """Append one event to the journal of the store at ``root``; never fails the change it reports."""
    line = (json.dumps(event(kind, action, actor, attributes or {}), separators=(",", ":")) + "\n").encode()
    path = Path(root) / JOURNAL
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, line)
            if os.fstat(fd).st_size > KEEP:
                _rotate(fd, path)
        finally:
            os.close(fd)


def _rotate(fd: int, path: Path) -> None:
    """Move the full journal aside; of two writers that both see it full, only one moves it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return
    if os.stat(path).st_ino == os.fstat(fd).st_ino:   # not moved already by another writer
        os.replace(path, path.with_name(JOURNAL + ".1"))


def _lines(path: Path, offset: int = 0) -> tuple[list[dict], int]:
    """The whole events in ``path`` from ``offset``, and the offset after the last whole line."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read()
    except FileNotFoundError:
        return [], offset
    end = data.rfind(b"\n") + 1
    found = []
    for raw in data[:end].splitlines():
        with contextlib.suppress(ValueError):
            found.append(json.loads(raw))
    return found, offset + end


def past(root: Path) -> tuple[list[dict], tuple]:
    """Every event the journal still holds, oldest first; and where ``follow`` goes on from."""
    path = Path(root) / JOURNAL
    inode = _inode(path)
    older = _lines(path.with_name(JOURNAL + ".1"))[0]
    newer, offset = _lines(path)
    if _inode(path) != inode:        # rotated while we read: read the parts again
        return past(root)
    return older + newer, (inode, offset)


def now(root: Path) -> tuple:
    """Where the journal ends now: ``follow`` from here gives only what comes next."""
    path = Path(root) / JOURNAL
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None, 0
    return st.st_ino, st.st_size


def follow(root: Path, position: tuple, stopped: Callable[[], bool]) -> Iterator[dict]:
    """The events after ``position`` (from ``past`` or ``now``), as they come, until ``stopped()``
    says so (asked every ``POLL`` seconds while nothing comes)."""
    path = Path(root) / JOURNAL
    inode, offset = position
    while not stopped():
        current = _inode(path)
        if current != inode and inode is not None:   # rotated: the rest of our part is in events.jsonl.1
            found, _ = _lines(path.with_name(JOURNAL + ".1"), offset)
            inode, offset = current, 0
        else:
            inode = current
            found, offset = _lines(path, offset)
        if not found:
            time.sleep(POLL)
        yield from found


def _inode(path: Path) -> int | None:
    try:
        return os.stat(path).st_ino
    except FileNotFoundError:
        return None


def _subjects(ev: dict) -> dict[str, list[str]]:
    """What each of Docker's event filters compares with, for one event."""
    kind, actor, attributes = ev["Type"], ev["Actor"]["ID"], ev["Actor"]["Attributes"]
    mine = [actor, attributes.get("name", "")]
    return {"type": [kind], "event": [ev["Action"], ev["Action"].split(":")[0]], "scope": ["local"],
            "container": mine if kind == "container" else [],
            "image": _untagged([attributes.get("image", "")] + (mine if kind == "image" else [])),
            "volume": mine if kind == "volume" else [], "network": mine if kind == "network" else [],
            "daemon": mine if kind == "daemon" else [],
            "label": [f"{k}={v}" for k, v in attributes.items()] + list(attributes)}


def matches(ev: dict, filters: dict[str, list[str]]) -> bool:
    """Docker's event filters: every key given must match one of its values (an ID also by its prefix)."""
    subjects, actor = _subjects(ev), ev["Actor"]["ID"]
    for key, wanted in filters.items():
        have = subjects.get(key, [])
        if not any(w in have or (w and actor in have and _bare(actor).startswith(_bare(w))) for w in wanted):
            return False
    return True


def _untagged(names: list[str]) -> list[str]:
    """Docker matches ``image=busybox`` with ``busybox:latest`` too: each name, and it without its tag."""
    return names + [n.rsplit(":", 1)[0] for n in names if ":" in n.rsplit("/", 1)[-1]]


def _bare(ident: str) -> str:
    return ident.removeprefix("sha256:")
