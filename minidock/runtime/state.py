"""``state.json``: what the runtime records of a container's process, in the bundle's directory.

The shim writes it (running, the PIDs and their start times, the exit code and
when) and the engine reads it, and writes what it finds itself (a shim found
dead: exited, with the reason): both read-modify-write the file under the
bundle's own lock (``state.lock``, flock(2)), and rename a new file over the
old one, so a reader sees one or the other, never half.

Written and renamed, deliberately *not* fsync'ed (``durable.py``'s rule): a
``run`` writes it three times, on its critical path, and three fsyncs would
cost it over a millisecond on an idle disk, much more on a busy one
(``bench/durability.py``), to keep what a power loss makes stale anyway.  A
power loss may thus leave it old, empty or torn; ``read_state`` rebuilds it
from what is durable: the bundle's files, and the fact that no shim outlives
a power loss.  An old "running" is no harm either: the engine finds its shim
gone and records the exit.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

FILE = "state.json"


def read_state(bundle: Path) -> dict:
    """The bundle's state; a damaged one rebuilt (and written back, durably) first.  FileNotFoundError:
    no such bundle."""
    text = (bundle / FILE).read_bytes()
    try:
        return json.loads(text)
    except ValueError:
        return write_state(bundle)   # under the lock, which reads it again


def write_state(bundle: Path, **changes) -> dict:
    """Update ``bundle/state.json`` with ``changes``; the new state (FileNotFoundError: no such bundle)."""
    fd = os.open(bundle / "state.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        text = (bundle / FILE).read_bytes()
        try:
            state = json.loads(text) | changes
        except ValueError:   # rebuilt, and written durably: rebuilt (and reported) once
            from . import durable
            state = rebuilt(bundle, "empty" if not text else "torn") | changes
            durable.write(bundle / FILE, json.dumps(state, indent=1).encode())
        else:
            tmp = bundle / f".{FILE}.{os.getpid()}"
            tmp.write_text(json.dumps(state, indent=1))
            os.replace(tmp, bundle / FILE)
    finally:
        os.close(fd)
    return state


def reset(bundle: Path, how: str = "torn") -> dict:
    """Replace a damaged ``state.json`` (unreadable, or of a shape no writer makes) by one rebuilt from
    what is synced, written durably: what ``system check --repair`` does with it."""
    from . import durable
    fd = os.open(bundle / "state.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        state = rebuilt(bundle, how, quiet=True)
        durable.write(bundle / FILE, json.dumps(state, indent=1).encode())
    finally:
        os.close(fd)
    return state


def rebuilt(bundle: Path, how: str, quiet: bool = False) -> dict:
    """A state for a bundle whose ``state.json`` a crash left ``how`` (empty, torn).

    Only a crash of the machine damages it (every write is renamed into place),
    and no shim outlives that: the container is not running.  It has run if
    the engine ever wrote its spec (``spec.json``, at every start); then it
    exited with 255, as Docker records a container whose task vanished with
    the daemon's host.
    """
    import sys
    from ..display import rfc3339
    try:   # the times: when the last start wrote the spec, and when the state was last renamed
        started, ended = (bundle / "spec.json").stat().st_mtime, (bundle / FILE).stat().st_mtime
    except FileNotFoundError:
        started = ended = None
    if not quiet:   # a repair says it in its own words
        print(f"minidock: warning: {bundle / FILE} was {how} (a crash before it reached the disk): "
              f"rebuilt as {'exited' if started else 'created'}", file=sys.stderr, flush=True)
    if started is None:
        return {"Status": "created", "ExitCode": 0, "Pid": 0, "StartedAt": "", "FinishedAt": "", "Error": ""}
    return {"Status": "exited", "ExitCode": 255, "Pid": 0, "Paused": False, "StartedAt": rfc3339(started),
            "FinishedAt": rfc3339(max(started, ended)), "Error": f"state.json was {how} after a crash; rebuilt"}
