"""Checking the container side of a store: records, their layers, and what the kernel holds for them.

The container half of ``minidock system check`` (the image half is ``images/check.py``):

* each container's record (``config.json``) and state (``state.json``) parse, its layers are in
  the store, its writable layer's ``upper/`` and ``work/`` are there, and ``names.json`` agrees;
* a container recorded "running" has a living shim (same PID, same start time); a dead one's
  state is set to exited and its resources freed, as every read of its state would do;
* the kernel holds nothing for a container that does not run: no mount below the store in
  this mount namespace, no cgroup, no veth, no address leased on a bridge.  What a container this store once had left behind
  is found by its ID, from the record or from the store's journal (``docker events``' ``create``
  lines): cgroups and veths are machine-wide, and another store's containers are not ours to judge;
* each volume has a readable ``volume.json``.

A problem's repair frees or rebuilds only what belongs to no running container; a record
whose layers are gone cannot be mended, and the advice says to remove the container.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

from ..display import rfc3339
from ..images import journal
from ..images.check import Problem, problem
from ..images.digest import is_digest, short_id
from ..images.store import remove_tree
from .container import Containers, shim_alive


def needs(containers: Containers) -> tuple[set[str], set[str]]:
    """The image IDs and layer ChainIDs the containers' records name: never removed by a repair."""
    images, layers = set(), set()
    for cid in sorted(os.listdir(containers.root)):
        config = _config(containers.dir(cid))
        if config:
            images.add(config["Image"])
            layers.update(config["Layers"])
    return images, layers


def check_containers(containers: Containers) -> list[Problem]:
    """Every problem of the container side."""
    ids = sorted(os.listdir(containers.root))
    live = {cid for cid in ids if shim_alive(_state(containers.dir(cid)) or {})}
    live |= _starting(containers)
    ours = set(ids) | _journal_ids(containers)
    # what the kernel holds first: a repair unmounts before it removes a torn record's directory
    found = _check_mounts(containers, live) + _check_kernel(containers, ours - live)
    for cid in ids:
        found += _check_record(containers, cid)
    return found + _check_names(containers) + _check_volumes(containers)


def _record(path: Path) -> dict | None:
    """A JSON record, or None if it is missing or torn."""
    try:
        record = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _config(d: Path) -> dict | None:
    """A container's record if it has the shape every reader relies on, else None (torn)."""
    config = _record(d / "config.json")
    if not config or not all(isinstance(config.get(k), str) for k in ("Name", "Image")):
        return None
    layers = config.get("Layers")
    return config if isinstance(layers, list) and all(is_digest(c) for c in layers) else None


def _state(d: Path) -> dict | None:
    """A container's state if it is one of the three (created, running, exited) and, running, names
    its shim by PID and start time; else None (torn)."""
    state = _record(d / "state.json")
    if not state or state.get("Status") not in ("created", "running", "exited"):
        return None
    shim = (state.get("ShimPid"), state.get("ShimStart"))
    if state["Status"] == "running" and not all(isinstance(n, int) and n > 0 for n in shim):
        return None
    return state


# -- records ----------------------------------------------------------------

def _check_record(containers: Containers, cid: str) -> list[Problem]:
    """One container's directory: its record, its state, its layers, its writable layer."""
    d, subject = containers.dir(cid), f"container {cid[:12]}"
    config = _config(d)
    if config is None:
        return [problem(subject, "torn (no readable config.json): nothing can start it",
                        lambda: _remove_torn(d))]
    found = []
    state = _state(d)
    if state is None:
        found.append(problem(subject, "its state.json is torn", lambda: _reset_state(d)))
    elif state["Status"] == "running" and not shim_alive(state):
        found.append(problem(subject, f"recorded running, but its shim (PID {state.get('ShimPid')}) is dead",
                             lambda: containers.state(cid)))   # the reconciling read: exited, resources freed
    for chain in config["Layers"]:
        if not (containers.store.layer_dir(chain) / "layer.json").exists():
            found.append(problem(subject, f"its image's layer {chain} is gone", None,
                                 f"it cannot start again: remove it with `minidock rm {config['Name'].lstrip('/')}`"))
    if config.get("Driver", "overlay") == "overlay":
        for sub in ("upper", "work"):
            if not (d / sub).is_dir():
                found.append(problem(subject, f"its writable layer's {sub}/ is missing",
                                     lambda p=d / sub: p.mkdir(mode=0o755)))
    return found


def _remove_torn(d: Path) -> None:
    """A container dir whose record is unreadable: free what its ID may hold, then the dir."""
    from ..runtime import shim
    shim.release_resources(d)
    remove_tree(d)


def _reset_state(d: Path) -> None:
    """A torn state.json: its processes (if any) are gone with the cgroup; the state is rebuilt as after
    a crash (exited if it ever started, else created)."""
    from ..runtime import shim, state
    shim.release_resources(d)
    state.reset(d)


def _check_names(containers: Containers) -> list[Problem]:
    """``names.json`` maps each container's name to its ID, and nothing else."""
    store = containers.store
    try:
        names = json.loads((store.root / "names.json").read_bytes())
        torn = not isinstance(names, dict)
    except FileNotFoundError:
        names, torn = {}, False
    except ValueError:
        names, torn = {}, True
    records = {cid: _config(containers.dir(cid)) for cid in os.listdir(containers.root)}
    wanted = {c["Name"].lstrip("/"): cid for cid, c in records.items() if c}

    def rebuild() -> None:
        store.write_json("names.json", wanted)

    if torn:
        return [problem("names.json", "torn (not JSON)", rebuild)]
    found = []
    for name, cid in sorted(names.items()):
        if not isinstance(cid, str) or cid not in records:
            found.append(problem(f"name {name}", f"names container {short_id(str(cid))}, which is gone", rebuild))
        elif records[cid] is None:
            found.append(problem(f"name {name}", f"names container {short_id(cid)}, whose record is torn", rebuild))
        elif wanted.get(name) != cid:
            found.append(problem(f"name {name}", f"names container {short_id(str(cid))}, whose record "
                                 "has another name", rebuild))
    found += [problem(f"container {cid[:12]}", f"its name {name} is missing from names.json", rebuild)
              for name, cid in sorted(wanted.items()) if name not in names]
    return found


def _starting(containers: Containers) -> set[str]:
    """Containers whose shim runs though their state does not say so yet: a shim makes the cgroup
    (and the veth) before it records "running", so a ``start`` in that moment is not a leak.  A shim
    is known by its name (``ps``'s ``minidock-shim``) and its output, ``shim.log`` in the bundle."""
    prefix, found = f"{containers.root}/", set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if Path(f"/proc/{pid}/comm").read_text() != "minidock-shim\n":
                continue
            log = os.readlink(f"/proc/{pid}/fd/2")
        except OSError:
            continue   # it ended, or it is not ours to read
        if log.startswith(prefix):
            found.add(log[len(prefix):].split("/", 1)[0])
    return found


def _journal_ids(containers: Containers) -> set[str]:
    """IDs of every container the store's journal remembers (its create events)."""
    try:
        events = journal.past(containers.store.root)[0]
    except (OSError, ValueError):
        return set()
    return {e["Actor"]["ID"] for e in events if e.get("Type") == "container" and e.get("Action") == "create"}


# -- what the kernel holds --------------------------------------------------

def _check_mounts(containers: Containers, live: set[str]) -> list[Problem]:
    """A mount below the store, in this mount namespace, is left over unless its container runs
    (overlays are mounted in the container's own mount namespace; none should stay out here)."""
    from ..runtime.syscalls import MNT_DETACH, mounts, umount2
    root = str(containers.store.root).rstrip("/") + "/"
    found = []
    for point in sorted({m.point for m in mounts() if m.point.startswith(root)}, reverse=True):
        rel = Path(point).relative_to(containers.store.root).parts
        if len(rel) > 1 and rel[0] == "containers" and rel[1] in live:
            continue
        owner = f"container {rel[1][:12]}" if len(rel) > 1 and rel[0] == "containers" else "the store"
        found.append(problem(f"mount {point}", f"left over ({owner} does not run)",
                             lambda p=point: umount2(p, MNT_DETACH)))
    return found


def _check_kernel(containers: Containers, idle: set[str]) -> list[Problem]:
    """Cgroups, veths, addresses and slirp4netns processes of this store's containers that do not run (or were
    removed)."""
    from ..runtime import cgroups, network, shim
    found = []
    try:
        groups = set(cgroups.all_names()) & idle
    except OSError:
        groups = set()
    links = {name for _, name in socket.if_nameindex() if name.startswith("veth")}
    for cid in sorted(idle):
        held = (["its cgroup"] if cid in groups else []) + sorted(n for n in links if n.startswith(f"veth{cid[:8]}"))
        held += [f"its address on {bridge}" for bridge, _ in network.held_by(cid)]
        slirp = shim.slirp_left(containers.dir(cid))
        held += [f"its slirp4netns (PID {slirp})"] if slirp is not None else []
        if held:
            state = "removed" if _config(containers.dir(cid)) is None else "not running"
            remain = "remain" if len(held) > 1 else "remains"
            found.append(problem(f"container {cid[:12]}", f"{state}, but {' and '.join(held)} {remain}",
                                 lambda c=cid: shim.release_resources(containers.dir(c))))
    return found


# -- volumes ----------------------------------------------------------------

def _check_volumes(containers: Containers) -> list[Problem]:
    """Each volume dir has a readable ``volume.json`` (its data is kept: the record is rebuilt)."""
    volumes, found = containers.volumes, []
    for name in sorted(os.listdir(volumes.root)):
        d = volumes.root / name
        if d.is_dir() and _record(d / "volume.json") is None:
            found.append(problem(f"volume {name}", "its volume.json is torn or missing",
                                 lambda n=name, p=d: _rebuild_volume(containers, n, p)))
    return found


def _rebuild_volume(containers: Containers, name: str, d: Path) -> None:
    """The record of a volume whose data is there: Docker's fields, its creation time the dir's."""
    (d / "_data").mkdir(exist_ok=True)
    record = {"Name": name, "Driver": "local", "Mountpoint": str(d / "_data"), "Labels": {}, "Options": {},
              "Scope": "local", "CreatedAt": rfc3339(os.stat(d).st_mtime)}
    containers.store.write_atomic(d / "volume.json", json.dumps(record, indent=1).encode())
