"""``state.json``: what the runtime records of a container's process, in the bundle's directory.

The shim writes it (running, the PIDs and their start times, the exit code and
when) and the engine reads it, and writes what it finds itself (a shim found
dead: exited, with the reason): both read-modify-write the file under the
bundle's own lock (``state.lock``, flock(2)), and rename a new file over the
old one, so a reader sees one or the other, never half. Written and renamed,
not fsync'ed: the state is rebuilt anyway after a crash (the engine reconciles
a "running" container whose shim is gone), and ext4 flushes a file renamed over
another.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path


def write_state(bundle: Path, **changes) -> dict:
    """Update ``bundle/state.json`` with ``changes``; the new state (FileNotFoundError: no such bundle)."""
    fd = os.open(bundle / "state.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        state = json.loads((bundle / "state.json").read_text()) | changes
        tmp = bundle / f".state.json.{os.getpid()}"
        tmp.write_text(json.dumps(state, indent=1))
        os.replace(tmp, bundle / "state.json")
    finally:
        os.close(fd)
    return state
