"""Restart policies (``--restart always | unless-stopped | on-failure[:N]``), without a daemon.

dockerd restarts a container itself when it exits. minidock has no process that outlives every
command, so the container's shim does: among its poststop hooks (run after the exit is recorded)
is ``restart_later``, which decides as Docker decides, and if the policy says so leaves a small
detached process behind that waits for the shim to be gone, waits the back-off, and starts the
container again under a new shim.

Docker's rules, kept here: ``no`` never; ``always`` and ``unless-stopped`` after any exit;
``on-failure`` after a non-zero exit, at most N times (N = 0: no limit); never after ``stop`` or
``kill`` (a start by hand sets the policy going again). The delay before each restart starts at
100 ms and doubles, up to a minute, and falls back to 100 ms after a run of 10 seconds or more.
"""

from __future__ import annotations

import contextlib
import os
import time

from ..display import parse_rfc3339
from ..errors import InvalidParameter, MinidockError
from ..runtime.syscalls import detach_inherited

FIRST_DELAY, MAX_DELAY, STEADY_RUN = 0.1, 60.0, 10.0
POLICIES = ("no", "always", "unless-stopped", "on-failure")


def checked_restart_policy(policy: dict, auto_remove: bool) -> dict:
    """``{"Name": ..., "MaximumRetryCount": N}`` as Docker checks it (``--rm`` excludes any restart)."""
    name = policy.get("Name") or "no"
    retries = policy.get("MaximumRetryCount") or 0
    if name not in POLICIES or not isinstance(retries, int) or retries < 0:
        raise InvalidParameter(f"invalid restart policy {name!r} (no, always, unless-stopped, on-failure[:N])")
    if retries and name != "on-failure":
        raise InvalidParameter(f"maximum retry count cannot be used with restart policy '{name}'")
    if name != "no" and auto_remove:
        raise InvalidParameter("Conflicting options: --restart and --rm")
    return {"Name": name, "MaximumRetryCount": retries}


def has_policy(config: dict) -> bool:
    return (config.get("RestartPolicy") or {}).get("Name", "no") not in ("no", "")


def delay_before_restart(policy: dict, state: dict) -> float | None:
    """Seconds to wait before starting again, or None: the exit stands."""
    name, count = policy.get("Name", "no"), state.get("RestartCount", 0)
    if name in ("no", "") or state.get("ManuallyStopped"):
        return None
    if name == "on-failure":
        limit = policy.get("MaximumRetryCount") or 0
        if state.get("ExitCode", 0) == 0 or (limit and count >= limit):
            return None
    try:
        ran = parse_rfc3339(state["FinishedAt"]) - parse_rfc3339(state["StartedAt"])
    except (KeyError, ValueError):
        ran = 0.0
    steps = 0 if ran >= STEADY_RUN else count
    return min(FIRST_DELAY * 2 ** steps, MAX_DELAY)


def restart_later(c, cid: str) -> None:
    """The shim's poststop hook: if the policy says so, a detached process restarts the container
    once this shim has gone (its veth and cgroup, named after the container, go with it)."""
    delay = delay_before_restart(c.config(cid).get("RestartPolicy") or {}, c.raw_state(cid))
    if delay is None:
        return
    shim = os.getpid()
    child = os.fork()
    if child:
        os.waitpid(child, 0)
        return
    try:
        detach_inherited(())   # none of the shim's clients may wait for this one
        os.setsid()
        if os.fork() == 0:
            _restart_after(c, cid, shim, delay)
    finally:
        os._exit(0)


def _restart_after(c, cid: str, shim: int, delay: float) -> None:
    deadline = time.monotonic() + 30
    while _alive(shim) and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(delay)
    with contextlib.suppress(MinidockError, FileNotFoundError):   # removed or stopped meanwhile: nothing to do
        state = c.raw_state(cid)
        if state.get("ManuallyStopped") or state["Status"] == "running":
            return
        c.write_state(cid, RestartCount=state.get("RestartCount", 0) + 1)
        c.start_again(cid)


def _alive(pid: int) -> bool:
    """Whether ``pid`` still runs: a zombie (ended, not yet reaped by whoever adopted it) does not."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False
