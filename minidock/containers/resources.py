"""A running container's cgroup from the engine's side: ``pause``/``unpause`` and ``update``.

``pause`` freezes every process of the container where it stands (the freezer
cgroup: no signal is sent, so the program cannot notice or refuse, unlike with
SIGSTOP); ``unpause`` thaws them.  The container stays "running" -- Docker
shows it as ``Up 5 minutes (Paused)`` and its status as "paused" -- and the
engine records ``Paused`` in its ``state.json``.

``update`` changes a container's limits: in its record (``config.json``, what
inspect shows and the next start applies) and, while it runs, live in its
cgroup, as ``docker update`` does.

Both need cgroups that minidock may write: root mode.  Rootless and emulated
containers have no cgroup of their own, and these commands say so.
"""

from __future__ import annotations

import contextlib
import json

from ..errors import APIError, Conflict, UsageError
from .restart import checked_restart_policy

UNCHANGED = None
MIN_MEMORY = 6 << 20  # moby's linuxMinMemory: less would not even start a container


def _cgroup(c, cid: str, what: str):
    """The container's cgroup, or one line saying why ``what`` cannot reach it here."""
    from ..runtime import cgroups, mode
    run_mode = mode.detect()[0]
    if run_mode != "root" or c.config(cid)["Driver"] == "vfs":
        raise APIError(f"{what} needs the container's cgroup, which {run_mode} mode here does not have")
    return cgroups.Cgroup.open(cid)


def pause(c, cid: str) -> None:
    """Freeze every process of a running container (moby's daemon/pause.go: its refusals, its words)."""
    if c.state(cid).get("Paused"):  # (only a running container is ever paused)
        raise Conflict(f"Container {cid} is already paused")
    c.active(cid)  # or "Container ... is not running"
    cgroup = _cgroup(c, cid, "pause")
    if "freezer" not in cgroup.trees:
        raise APIError(f"Cannot pause container {cid}: {cgroup.missing['freezer']}")
    try:
        cgroup.freeze(True)
    except OSError as e:
        with contextlib.suppress(OSError):  # half frozen helps no one
            cgroup.freeze(False)
        raise APIError(f"Cannot pause container {cid}: {e.strerror or e}") from None
    c.write_state(cid, Paused=True)
    c.emit(cid, "pause")


def unpause(c, cid: str) -> None:
    """Thaw a paused container (moby's daemon/unpause.go)."""
    state = c.state(cid)
    if state["Status"] != "running" or not state.get("Paused"):
        raise Conflict(f"Container {cid} is not paused")
    thaw(c, cid)
    c.emit(cid, "unpause")


def thaw(c, cid: str) -> None:
    """Thaw the container's cgroup and record it; ``kill`` and ``stop`` of a paused container
    send their signal first, then thaw, so it arrives the instant the processes run again
    (moby #34027: "not even SIGKILL is possible while a process is paused")."""
    try:
        _cgroup(c, cid, "unpause").freeze(False)
    except OSError as e:
        raise APIError(f"Cannot unpause container {cid}: {e.strerror or e}") from None
    c.write_state(cid, Paused=False)


def update(c, cid: str, *, memory: int | None = UNCHANGED, pids: int | None = UNCHANGED,
           cpus: float | None = UNCHANGED, restart: dict | None = None) -> None:
    """``docker update``: new limits in the record, and in the cgroup if it runs.

    None leaves a limit as it is; 0 (or less) lifts it.  The cgroup is written
    first: what the kernel refuses (a memory limit below what the container
    uses now) leaves the record as it was.
    """
    if memory is not None and 0 < memory < MIN_MEMORY:
        raise UsageError("Minimum memory limit allowed is 6MB")
    asked = {"Memory": memory, "PidsLimit": pids, "Cpus": cpus}
    changes = {key: (value if value > 0 else None) for key, value in asked.items() if value is not None}
    if restart and restart.get("Name"):   # docker update --restart: the policy from its next exit on
        if c.config(cid).get("AutoRemove") and restart["Name"] != "no":
            raise Conflict("Restart policy cannot be updated because AutoRemove is enabled for the container")
        changes["RestartPolicy"] = checked_restart_policy(restart, False)
    if not changes:
        return
    running = c.state(cid)["Status"] == "running"
    limits = any(key in changes for key in asked)
    if limits and (running or any(changes.get(key) for key in asked)):  # a cgroup, now or at the next start
        cgroup = _cgroup(c, cid, "update")
    if limits and running:
        try:
            cgroup.update(memory=memory, pids=pids, cpus=cpus)
        except OSError as e:
            raise APIError(f"Cannot update container {cid}: {e.strerror or e}") from None
    with c.store.lock():
        config = c.config(cid) | changes
        c.store.write_atomic(c.dir(cid) / "config.json", json.dumps(config, indent=1).encode())
    c.emit(cid, "update")
