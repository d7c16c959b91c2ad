"""``state.json``: what the runtime records of a container's process, in the container's directory.

The shim writes it (running, the PIDs and their start times, the exit code and when) and the
engine reads it, and adds what it owns (a paused container, a refusal to start): both
read-modify-write the file under the store's lock, whoever takes the lock sweeps the store's
``tmp/``, where an unlocked write keeps its file until the rename.  Written and renamed, not
fsync'ed: the state is rebuilt anyway after a crash (the engine reconciles a "running"
container whose shim is gone), and ext4 flushes a file renamed over another.
"""

from __future__ import annotations

import json
import os
from pathlib import Path


def write_state(store, cdir: Path, **changes) -> dict:
    """Update ``cdir/state.json`` with ``changes`` under the lock of ``store`` (its ``lock()`` and ``tmp``)."""
    with store.lock():
        state = json.loads((cdir / "state.json").read_text()) | changes
        tmp = store.tmp / f"{os.getpid()}-state-{cdir.name}"
        tmp.write_text(json.dumps(state, indent=1))
        os.replace(tmp, cdir / "state.json")
    return state
