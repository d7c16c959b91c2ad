"""The learner's progress file: every checker's verdict, kept where the chapter stores are not.

``course.check`` hands each verdict to ``note``; a chapter's store is wiped by
``course.start`` and ``course.finish``, so what the learner got right is kept in
a file of their own home instead, by the XDG Base Directory rule for state that
should outlive a restart but is no document: ``$XDG_STATE_HOME/minidock/course-progress.json``
(``~/.local/state/...`` when unset), or ``$MINIDOCK_COURSE_PROGRESS``.  One entry per
exercise::

    {"version": 1, "exercises": {"01-images/3": {"chapter": "01-images", "exercise": 3,
        "right": true, "verdict": "✓ right: ...", "attempts": 4,
        "first_right": "2026-12-06T18:02:11Z", "last": "2026-12-06T18:05:40Z"}}}

``right`` and ``verdict`` are the last check's; ``first_right`` stays once the
exercise was right (running a chapter again from the top, its blank answers
say "not yet", does not take back what was done).

Two kernels of one learner may check at once: each reads, changes and writes
the file under flock(2) on ``course-progress.json.lock``, and writes it by the
store's one rule (``durable.write``: temp file, fsync, rename, fsync the
directory), so neither loses the other's record and a crash leaves the old
file or the new one.  A home that cannot be written (read-only, full) costs
the record, never the check: one warning line.  A torn file (written by
something else, a disk that lied) reads as empty, with one warning, and the
next record rewrites it whole.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from pathlib import Path

FILE_NAME = "course-progress.json"
VERSION = 1


def progress_file() -> Path:
    """This user's progress file: MINIDOCK_COURSE_PROGRESS, else under XDG_STATE_HOME or ~/.local/state."""
    if os.environ.get("MINIDOCK_COURSE_PROGRESS"):
        return Path(os.environ["MINIDOCK_COURSE_PROGRESS"])
    state = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(state) / "minidock" / FILE_NAME


def file_of(home: Path | str) -> Path:
    """The progress file of the learner whose home is ``home`` (the default place: the teacher cannot
    know another user's XDG_STATE_HOME)."""
    return Path(home) / ".local" / "state" / "minidock" / FILE_NAME


def read(path: Path) -> dict[str, dict]:
    """The entries of the progress file at ``path`` by "chapter/exercise"; none if it does not exist.

    A torn or foreign file reads as empty, with one warning; a file that cannot be read at all
    (another learner's, 0600) raises PermissionError for the caller to name.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return {}
    try:
        entries = json.loads(data)["exercises"]
        return {key: entry for key, entry in entries.items() if _well_formed(key, entry)}
    except (ValueError, KeyError, TypeError, AttributeError):
        _warn(f"{path} is damaged ({'empty' if not data else 'torn'}); read as empty, rewritten whole at "
              "the next check")
        return {}


def _well_formed(key: str, entry) -> bool:
    """Whether ``entry`` is one exercise's record under its own key (a hand-edited file may hold anything)."""
    return isinstance(entry, dict) and isinstance(entry.get("chapter"), str) and \
        type(entry.get("exercise")) is int and type(entry.get("attempts", 0)) is int and \
        key == f"{entry['chapter']}/{entry['exercise']}"


def note(chapter: str, exercise: int, right: bool, verdict: str) -> None:
    """Add one verdict to this user's progress file; a file that cannot be written costs one warning."""
    path = progress_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with _locked(path):
            entries = read(path)
            key = f"{chapter}/{exercise}"
            entries[key] = updated(entries.get(key), chapter, exercise, right, verdict)
            _write(path, {"version": VERSION, "exercises": dict(sorted(entries.items()))})
    except OSError as error:   # EROFS, ENOSPC, EACCES, EDQUOT: the check still answers
        _warn(f"your progress was not recorded ({error.strerror or error}: {error.filename or path})")


def updated(entry: dict | None, chapter: str, exercise: int, right: bool, verdict: str) -> dict:
    """``entry`` (None: the first attempt) after one more check."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    entry = entry or {}
    return {"chapter": chapter, "exercise": exercise, "right": bool(right), "verdict": str(verdict),
            "attempts": entry.get("attempts", 0) + 1,
            "first_right": entry.get("first_right") or (now if right else None), "last": now}


@contextlib.contextmanager
def _locked(path: Path):
    """flock(2) on ``path``'s lock file, beside it (not the file itself, which a rename replaces)."""
    import fcntl
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)   # closing the last descriptor releases the lock


def _write(path: Path, record: dict) -> None:
    """The store's write rule (runtime/durable.py, reached through the api layer the course may use)."""
    from ..api.system import durable
    durable.write(path, json.dumps(record, indent=1, ensure_ascii=False).encode() + b"\n")


def _warn(line: str) -> None:
    print(f"minidock: warning: {line}", file=sys.stderr, flush=True)
