"""Containers: a writable layer on an image, a config, and a lifecycle.

The seed lists what ``docker run`` does; each step has a home here:

1. find the image locally (docker's ``run`` would pull a missing one;
   minidock's asks you to ``pull``, ``load`` or ``import`` it first)    -- ``create``
2. create a container from it: an ID, a name, a config               -- ``create``
3. give it a file system: a writable layer over the read-only image   -- ``create`` (dirs), the shim (mount)
4. bridge a virtual interface into it, 5. give it an IP from a pool   -- the shim (``runtime/network.py``)
6. run the program                                                    -- the shim (``runtime/shim.py``)
7. the container stops when the program ends                          -- the shim records the exit code

A container's life is a small state machine::

    created --start--> running --(program ends | stop | kill)--> exited --start--> running
       \\____________________________ rm ____________________________________/--> (removed)

Nothing runs between commands except one shim per running container, so the
state lives in files; every read *reconciles* it: a container whose shim is
gone (killed, or the machine rebooted) is "exited", and its resources freed.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import random
import re
import signal
import socket
import time
from pathlib import Path

from ..display import rfc3339
from ..errors import APIError, Conflict, Damaged, ImageNotFound, InvalidParameter, MinidockError, NotFound
from ..images import changes as changefmt, journal
from ..images.digest import resolve_prefix
from ..images.image import Images, whiteout_format
from ..images.reference import familiar, parse
from ..images.store import Store, remove_tree, tree_size
from ..runtime import durable
from ..runtime.syscalls import close_fds_except, process_start_time
from . import security
from .bundle import spec_of, write_spec
from .config import Config, ExecConfig, HostConfig
from .mounts import requests_of
from .volumes import Volumes

# docker's rule for names (daemon/names.go: RestrictedNameChars)
NAME_RE = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
ADJECTIVES = ("brave", "calm", "eager", "fervent", "gifted", "happy", "jolly", "keen", "loving",
              "modest", "nifty", "quirky", "serene", "tender", "vibrant", "wizardly")
SCIENTISTS = ("curie", "darwin", "euler", "hopper", "lovelace", "noether", "pasteur", "ritchie",
              "shannon", "thompson", "turing", "wozniak")
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class Containers:
    """The containers of one store."""

    def __init__(self, store: Store, images: Images):
        self.store, self.images = store, images
        self.root = store.root / "containers"
        self.root.mkdir(exist_ok=True)
        images.in_use = self.using_image
        images.layers_in_use = self.layers_needed
        self.volumes = Volumes(store)
        self.volumes.in_use = self.using_volume
        self.attached: set[socket.socket] = set()   # the sockets of start_attached, for hang_up_attached

    # -- records ----------------------------------------------------------

    def dir(self, cid: str) -> Path:
        return self.root / cid

    def ids(self) -> list[str]:
        """Every container whose record is whole; one a crash left damaged is left out, with a warning."""
        return sorted(p.name for p in self.root.iterdir() if (p / "config.json").exists() and self._whole(p.name))

    def _whole(self, cid: str) -> bool:
        try:
            self.config(cid)
        except Damaged as e:
            durable.warn(e, f"container {cid[:12]}")
            return False
        except FileNotFoundError:   # removed while we looked
            return False
        return True

    def config(self, cid: str) -> dict:
        """The container's record (``Damaged`` if a crash left it empty or torn)."""
        return durable.read_json(self.dir(cid) / "config.json", f"container {cid[:12]}'s record")

    def update_config(self, cid: str, **changes) -> None:
        """Change fields of the container's record (``network connect``/``disconnect``: its networks), atomically."""
        with self.store.lock():
            config = self.config(cid) | changes
            self.store.write_atomic(self.dir(cid) / "config.json", json.dumps(config, indent=1).encode())

    def raw_state(self, cid: str) -> dict:
        """``state.json`` as it is (one a crash damaged rebuilt first: ``runtime/state.py``)."""
        from ..runtime.state import read_state
        try:
            return read_state(self.dir(cid))
        except FileNotFoundError:
            raise NotFound(f"No such container: {cid}") from None

    def write_state(self, cid: str, **changes) -> dict:
        """Update ``state.json`` atomically, as the shim does (``runtime/state.py``)."""
        from ..runtime.state import write_state
        try:
            return write_state(self.dir(cid), **changes)
        except FileNotFoundError:
            raise NotFound(f"No such container: {cid}") from None

    def state(self, cid: str) -> dict:
        """The container's state, reconciled with what is really running."""
        state = self.raw_state(cid)
        if state["Status"] == "running" and not shim_alive(state):
            # read again, and judge by that: a shim records the exit before it ends, so one that
            # ended since the first read has said so by now; still "running" means it died unheard
            state = self.raw_state(cid)
            if state["Status"] == "running" and not shim_alive(state):
                state = self._shim_gone(cid, state)
        if state.get("Paused") and state["Status"] != "running":  # it ended while paused (killed)
            state = self.write_state(cid, Paused=False)
        return state

    def _shim_gone(self, cid: str, state: dict) -> dict:
        """A container whose shim died without recording its exit (killed, a reboot): free it, say so."""
        from ..runtime import shim
        shim.release_resources(self.dir(cid))
        return self.write_state(cid, Status="exited", ExitCode=state.get("ExitCode") or 255,
                                FinishedAt=rfc3339(time.time()), Pid=0,
                                Error="the container's shim is gone (killed, or the machine restarted)")

    def active(self, cid: str) -> dict:
        """The state of a container ``exec`` may enter: running, not paused (moby's getActiveContainer)."""
        state = self.state(cid)
        if state["Status"] != "running":
            raise Conflict(f"Container {cid} is not running")
        if state.get("Paused"):
            raise Conflict(f"Container {cid} is paused, unpause the container before exec")
        return state

    def resolve(self, name: str) -> str:
        """The full ID of the container a name, ID or ID prefix names."""
        names = self.store.read_json("names.json", {})
        if name.lstrip("/") in names:
            return names[name.lstrip("/")]
        if re.fullmatch(r"[0-9a-f]{1,64}", name):   # a damaged record too: inspect and rm name it
            return resolve_prefix(name, ["sha256:" + p.name for p in self.root.iterdir()
                                         if (p / "config.json").exists()], what="container")[7:]
        raise NotFound(f"No such container: {name}")

    def name_of(self, cid: str) -> str:
        return self.config(cid)["Name"]

    def size_rw(self, cid: str) -> int:
        """Bytes of the files in the container's writable layer (docker's SizeRw): what ``rm`` frees."""
        return tree_size(self.dir(cid) / "upper")

    def using_image(self, image_id: str) -> list[str]:
        """Containers created from an image (``rmi`` refuses while there are any)."""
        return [c for c in self.ids() if self.config(c)["Image"] == image_id]

    def _image_present(self, image_id: str) -> bool:
        try:
            return self.images.resolve(image_id) == image_id
        except ImageNotFound:
            return False

    def layers_needed(self) -> set[str]:
        """ChainIDs of the layers containers stand on: kept while a container needs them, also once its
        image is gone (``rmi -f``), as Docker's layer store counts a container's references."""
        return {chain for cid in self.ids() for chain in self.config(cid)["Layers"]}

    def using_volume(self, name: str) -> list[str]:
        """Containers, running or not, that mount a volume (``volume rm`` refuses while there are any)."""
        return [c for c in self.ids() if any(m.get("Name") == name for m in self.config(c).get("Mounts") or [])]

    # -- create -----------------------------------------------------------

    @functools.cached_property
    def networks(self):
        """The store's networks (``networks.py``)."""
        from .networks import Networks
        return Networks(self.store, self)

    def create(self, config: Config, host: HostConfig, name: str | None = None, endpoint: dict | None = None) -> str:
        """Make a container from ``config.Image``; return its ID. Nothing runs yet.  ``endpoint``:
        docker's EndpointSettings for its network (``Aliases``)."""
        from ..runtime import mode, slirp
        from ..runtime import network as net
        from . import endpoints

        rec = self._image(config.Image)
        cfg = rec.config.get("config") or {}
        network, attached = endpoints.choose(self, host.NetworkMode, endpoint)
        run_mode = mode.detect()[0]
        cpus = host.NanoCpus / 1e9 if host.NanoCpus else None
        if run_mode == "root" and slirp.is_mode(network):
            raise APIError("--network slirp4netns is rootless mode's network: as root, containers get the bridge")
        if run_mode != "root":
            lesser = check_unprivileged(run_mode, network, host.Memory or host.PidsLimit or cpus or host.CpuShares
                                        or host.CpusetCpus)
            if lesser != network:
                network, attached = endpoints.choose(self, lesser, None)
        published = [net.parse_publish(spec) for spec in publish_specs(host.PortBindings)]
        if host.PublishAllPorts:
            published += [("127.0.0.1", None, int(p.split("/")[0]), "tcp") for p in cfg.get("ExposedPorts") or {}]
        entrypoint = config.Entrypoint if config.Entrypoint is not None else cfg.get("Entrypoint") or []
        command = config.Cmd or ([] if entrypoint != (cfg.get("Entrypoint") or []) else cfg.get("Cmd") or [])
        argv = entrypoint + command   # docker: a new --entrypoint resets the image's CMD
        if not argv:
            raise APIError("no command specified")
        # the image's VOLUME paths get anonymous volumes too, as Docker's (copied up from the image)
        requests = requests_of(host.Binds, host.Mounts, host.Tmpfs, (cfg.get("Volumes") or {}) | config.Volumes)
        if run_mode == "chroot-emulated" and any(r["Type"] == "tmpfs" or r["ReadOnly"] for r in requests):
            raise APIError("tmpfs and read-only mounts are not supported in chroot-emulated mode: proot can only bind")
        mounts: list[dict] = []
        lifecycle = lifecycle_options(config, host, cfg, run_mode) | security.checked(host)
        cid = os.urandom(32).hex()  # 256 random bits, as docker's IDs
        with self.store.lock():
            name = self._claim_name(name, cid)
            try:
                self._mounts(requests, run_mode, mounts)
                record = {
                    "Id": cid, "Name": name, "Image": rec.id, "ImageName": config.Image,
                    "Created": rfc3339(time.time()), "Path": argv[0], "Args": argv[1:],
                    "Entrypoint": entrypoint, "Cmd": command,
                    "Env": merge_env(cfg.get("Env") or [], config.Env, config.Tty),
                    "WorkingDir": config.WorkingDir or cfg.get("WorkingDir") or "/",
                    "User": config.User if config.User is not None else cfg.get("User") or "",
                    "Hostname": config.Hostname or cid[:12], "Tty": config.Tty, "OpenStdin": config.OpenStdin,
                    "NetworkMode": network, "Networks": attached, "Ports": [list(p) for p in published],
                    "Memory": host.Memory or None, "PidsLimit": host.PidsLimit or None, "Cpus": cpus,
                    "ReadonlyRootfs": host.ReadonlyRootfs, "Init": host.Init, "AutoRemove": host.AutoRemove,
                    "Labels": (cfg.get("Labels") or {}) | config.Labels,
                    "Layers": rec.chain_ids, "Driver": "overlay" if whiteout_format()[0] == "overlay" else "vfs",
                    "ImageConfig": cfg, "Mounts": mounts,
                    "Binds": host.Binds or None, "HostMounts": host.Mounts or None, "Tmpfs": host.Tmpfs or None,
                } | lifecycle
                self._lay_out(record)
            except BaseException:
                self._release_name(name)
                remove_tree(self.dir(cid))
                self.volumes.remove_anonymous([m["Name"] for m in mounts if m.get("Name")])
                raise
        self.emit(cid, "create")
        return cid

    def emit(self, cid: str, action: str, **attributes) -> None:
        """Journal a container's event (``docker events``) with Docker's attributes: labels, image, name."""
        try:
            config = self.config(cid)
        except (FileNotFoundError, Damaged):   # removed meanwhile, or no record to report from
            return
        attributes = (config.get("Labels") or {}) | {"image": config["ImageName"], "name": config["Name"]} | attributes
        journal.record(self.store.root, "container", action, cid, attributes)

    def _died(self, cid: str) -> None:
        """The shim's poststop hook: the exit, as Docker's ``die`` event."""
        self.emit(cid, "die", exitCode=str(self.raw_state(cid).get("ExitCode", 0)))

    def _mounts(self, requests: list[dict], run_mode: str, found: list[dict]) -> None:
        """What each mount request becomes (inspect's ``Mounts``), into ``found`` as it goes (what to undo
        on a failure): a volume made if missing, a bind's source checked."""
        from .mounts import mount_record
        for request in requests:
            volume = None
            if request["Type"] == "volume":
                volume = self.volumes.create(request["Source"] or None)
            elif request["Type"] == "bind":
                check_bind_source(request, run_mode)
            found.append(mount_record(request, volume))

    def _image(self, name: str):
        """The image to run; docker's ``run`` would pull a missing one, minidock's says how to get it."""
        try:
            rec = self.images.get(name)
        except ImageNotFound:
            raise ImageNotFound(f"Unable to find image '{name}' locally: pull, load or import it first") from None
        self.images.refuse_damaged(rec, name)   # a layer `system check` found changed is never run
        return rec

    def _claim_name(self, name: str | None, cid: str) -> str:
        """Reserve a name (under the lock): docker refuses a name that is in use."""
        names = self.store.read_json("names.json", {})
        if name is None:
            while name is None or name in names:
                name = f"{random.choice(ADJECTIVES)}_{random.choice(SCIENTISTS)}"  # docker: math/rand
        name = name.lstrip("/")
        if not NAME_RE.match(name):
            raise APIError(f'Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed')
        if name in names:
            raise Conflict(f'Conflict. The container name "/{name}" is already in use by container '
                           f'"{names[name]}". You have to remove (or rename) that container to be able to reuse that name.')
        names[name] = cid
        self.store.write_json("names.json", names)
        return name

    def _release_name(self, name: str) -> None:
        names = self.store.read_json("names.json", {})
        names.pop(name, None)
        self.store.write_json("names.json", names)

    def _lay_out(self, config: dict) -> None:
        """The container's directory: writable layer, /etc files, config and state."""
        from ..runtime.network import hosts_file
        from . import endpoints
        d = self.dir(config["Id"])
        with self.store.temp_path() as tmp:
            tmp.mkdir()
            for sub in ("upper", "work", "merged"):
                (tmp / sub).mkdir()
            lay_out_init(tmp / "init")
            if config["Driver"] == "vfs":
                from .unionfs import UnionView
                UnionView([self.store.layer_dir(c) / "diff" for c in config["Layers"]]).flatten(tmp / "rootfs")
            (tmp / "hostname").write_text(config["Hostname"] + "\n")
            (tmp / "hosts").write_text(hosts_file(config["Hostname"], None, endpoints.extra_hosts(config)))
            (tmp / "resolv.conf").write_text("# no nameservers: this machine has no network beyond its own hosts\n")
            (tmp / "config.json").write_text(json.dumps(config, indent=1))
            (tmp / "state.json").write_text(json.dumps({"Status": "created", "ExitCode": 0, "Pid": 0,
                                                         "StartedAt": "", "FinishedAt": "", "Error": ""}))
            # the record is durable before the directory gets its name (runtime/durable.py); the
            # state is not (runtime/state.py rebuilds it), nor the writable layer, as Docker's
            durable.fsync_file(tmp / "config.json")
            durable.rename(tmp, d)

    # -- lifecycle --------------------------------------------------------

    def start(self, cid: str, attach=None) -> dict:
        """Start a created or exited container under a new shim; return its state.  A start by hand
        sets its restart policy going again (Docker's: ``stop`` or ``kill`` had paused it)."""
        state = self.state(cid)
        if state.get("Paused"):
            raise Conflict("cannot start a paused container, try unpause instead")
        if state["Status"] == "running":
            return state
        if state.get("ManuallyStopped") or state.get("RestartCount"):
            self.write_state(cid, ManuallyStopped=False, RestartCount=0)
        return self.start_again(cid, attach)

    def start_again(self, cid: str, attach=None) -> dict:
        """Start it under a new shim, as its restart policy does: what ``start`` does, the count kept."""
        from ..runtime import mode, shim
        from . import restart
        if mode.detect()[0] == "chroot-emulated":
            from ..runtime import emulated
            emulated.proot()  # or a one-line error saying what to install
        from . import endpoints
        config = self.config(cid)
        self.images.refuse_damaged_layers(config["Layers"], f"container {config['Name'].lstrip('/')}",
                                          f"minidock rm {config['Name'].lstrip('/')}")
        network = endpoints.plan(self, cid, config)
        write_spec(config, self.store, network)   # an engine makes a bundle, a runtime runs it
        # docker's AutoRemove: the engine removes the container, not the client; the runtime
        # knows nothing of containers, so it calls back after the exit (an OCI poststop hook);
        # on a user network its peers' /etc/hosts forget it then too
        named = any(segment for segment in network["segments"])
        poststop = [functools.partial(self._died, cid)]
        poststop += [functools.partial(endpoints.refresh_hosts, self, cid)] if named else []
        poststop += [functools.partial(restart.restart_later, self, cid)] if restart.has_policy(config) else []
        poststop += [functools.partial(self.delete, cid, volumes=True)] if config["AutoRemove"] else []
        state = shim.spawn(self.dir(cid), attach, poststop=poststop)
        self.emit(cid, "start")
        if named:   # its peers learn its name
            endpoints.refresh_hosts(self, cid)
        return state

    def start_attached(self, cid: str):
        """Start the container attached: (stream, data) for each frame of its output, stream 3 its exit code."""
        from ..runtime.stdcopy import read_frames
        ours, theirs = socket.socketpair()
        try:
            self.start(cid, attach=theirs)
        finally:
            theirs.close()
        self.attached.add(ours)
        try:
            with ours:
                yield from read_frames(ours)
        finally:
            self.attached.discard(ours)

    def hang_up_attached(self) -> None:
        """End every ``start_attached`` of this engine at once, with no exit code: the daemon's client left
        a build, whose RUN step then fails and is removed, as dockerd kills and removes it on a cancel."""
        for ours in list(self.attached):
            with contextlib.suppress(OSError):
                ours.shutdown(socket.SHUT_RDWR)

    def _signal(self, cid: str, pid: int, sig: int) -> None:
        """Signal the container's first process; under proot (vfs), its whole process group.

        In a PID namespace, killing PID 1 ends every process of the container.
        proot has no namespace: its tracees outlive it, so the group (PID 1
        made it with setsid) gets the signal.
        """
        if self.config(cid)["Driver"] == "vfs":
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
        if sig in (signal.SIGKILL, self.stop_signal(cid)) and self.raw_state(cid).get("Paused"):
            from .resources import thaw  # a frozen process gets its signal when it thaws (moby #34027)
            thaw(self, cid)

    def stop_signal(self, cid: str) -> signal.Signals:
        """The signal ``stop`` sends first: ``--stop-signal``, else the image's STOPSIGNAL, else SIGTERM."""
        config = self.config(cid)
        return parse_stop_signal(config.get("StopSignal") or config["ImageConfig"].get("StopSignal") or "SIGTERM")

    def kill(self, cid: str, sig: int = signal.SIGKILL) -> None:
        """Send a signal to the container's main process."""
        state = self.state(cid)
        if state["Status"] != "running":
            raise Conflict(f"Cannot kill container: {cid[:12]}: Container {cid} is not running")
        self.write_state(cid, ManuallyStopped=True)   # Docker's: its restart policy waits for a start by hand
        self.emit(cid, "kill", signal=str(int(sig)))
        self._signal(cid, state["Pid"], sig)

    def stop(self, cid: str, timeout: float | None = None) -> None:
        """The stop signal (``--stop-signal``, the image's STOPSIGNAL, else SIGTERM), then SIGKILL after
        ``timeout`` seconds (None: the container's ``--stop-timeout``, else 10; -1: no SIGKILL). PID 1
        ignores the signals it has no handler for. A pending restart (its policy's) is called off."""
        self.write_state(cid, ManuallyStopped=True)   # NotFound for a container that is gone
        config = self.config(cid)
        state = self.state(cid)
        if state["Status"] != "running":
            return
        stop_signal = self.stop_signal(cid)
        if timeout is None:
            timeout = 10 if config.get("StopTimeout") is None else config["StopTimeout"]
        timeout = None if timeout < 0 else timeout
        self.emit(cid, "kill", signal=str(int(stop_signal)))
        with contextlib.suppress(ProcessLookupError):  # it may end between check and signal
            self._signal(cid, state["Pid"], stop_signal)
        if self.wait(cid, timeout=timeout) is None:
            self.emit(cid, "kill", signal=str(int(signal.SIGKILL)))
            with contextlib.suppress(ProcessLookupError):  # it may end between check and signal
                self._signal(cid, state["Pid"], signal.SIGKILL)
            self.wait(cid)
        self.emit(cid, "stop")

    def wait(self, cid: str, timeout: float | None = None) -> int | None:
        """Block until the container is not running; its exit code (None on timeout)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            state = self.state(cid)
            if state["Status"] != "running":
                return state["ExitCode"]
            if deadline is not None and time.monotonic() >= deadline:
                return None
            time.sleep(0.02)

    def remove(self, cid: str, force: bool = False, volumes: bool = False) -> None:
        """``rm``: refuse a running container unless forced (then SIGKILL, as docker's ``rm -f``);
        ``volumes`` (``rm -v``): its anonymous volumes go too."""
        state = self.state(cid)
        if state["Status"] == "running":
            if not force and state.get("Paused"):
                raise Conflict(f"You cannot remove a paused container {cid}. Unpause and then stop the "
                               "container before attempting removal or force remove")
            if not force:
                raise Conflict(f"You cannot remove a running container {cid}. Stop the container "
                               "before attempting removal or force remove")
            with contextlib.suppress(ProcessLookupError):  # it may end between check and signal
                self._signal(cid, state["Pid"], signal.SIGKILL)
            self.wait(cid)
        from ..runtime import shim
        with self.store.lock():
            shim.release_resources(self.dir(cid))
            self.delete(cid, volumes)

    def remove_leftover(self, cid: str) -> None:
        """``run --rm`` after the run: the shim removes the container before it reports the
        exit (docker's AutoRemove); one still here is left by a shim that failed or died."""
        if self.dir(cid).exists():
            self.remove(cid, force=True, volumes=True)

    def delete(self, cid: str, volumes: bool = False) -> None:
        """Forget a container that holds nothing any more: free its name, remove its directory
        (and with ``volumes`` its anonymous volumes, as ``rm -v`` and ``--rm`` do)."""
        self.emit(cid, "destroy")
        with self.store.lock():
            try:
                config = self.config(cid)
            except Damaged:   # a record a crash tore: its name is found in names.json; no layers or volumes known
                config = {"Image": None, "Layers": []}
            mounts = config.get("Mounts") or []
            for name in [n for n, i in self.store.read_json("names.json", {}).items() if i == cid]:
                self._release_name(name)
            remove_tree(self.dir(cid))
            if config["Image"] and not self._image_present(config["Image"]):   # the layers an `rmi -f` left to it alone go with it
                self.images.forget_layers(config["Layers"])
            if volumes:
                self.volumes.remove_anonymous([m["Name"] for m in mounts if m.get("Name")])

    def rename(self, cid: str, new: str) -> None:
        with self.store.lock():
            old = self.name_of(cid)
            self._claim_name(new, cid)
            self._release_name(old)
            config = self.config(cid) | {"Name": new.lstrip("/")}
            self.store.write_atomic(self.dir(cid) / "config.json", json.dumps(config, indent=1).encode())
        self.emit(cid, "rename", oldName="/" + old)

    # -- what the writable layer holds ------------------------------------

    def view(self, cid: str):
        """The container's file system as a union view: image layers plus its writable layer."""
        from .unionfs import UnionView
        config = self.config(cid)
        layers = [self.store.layer_dir(c) / "diff" for c in config["Layers"]]
        if config["Driver"] == "vfs":
            return UnionView([self.dir(cid) / "rootfs"])
        return UnionView(layers + [self.dir(cid) / "init"], self.dir(cid) / "upper")

    def changes(self, cid: str) -> list[tuple[str, str]]:
        """``diff``: what the container added (A), changed (C) and deleted (D), by path."""
        from .unionfs import UnionView, changes, naive_changes
        config = self.config(cid)
        if config["Driver"] == "vfs":  # no upper layer: compare the whole copy with the image
            image = UnionView([self.store.layer_dir(c) / "diff" for c in config["Layers"]])
            return naive_changes(image, self.dir(cid) / "rootfs")
        return changes(self.view(cid))

    def writable_layer(self, cid: str, tmp: Path) -> Path:
        """The directory that is the container's layer: overlay's upper dir, or (vfs) its changes laid out in ``tmp``."""
        if self.config(cid)["Driver"] == "overlay":
            return self.dir(cid) / "upper"
        from .unionfs import layer_of_changes
        layer_of_changes(self.changes(cid), self.dir(cid) / "rootfs", tmp)
        return tmp

    def commit(self, cid: str, ref: str | None = None, message: str = "", author: str = "",
               changes: list[str] = (), pause: bool = True) -> str:
        """A new image: the container's image plus its writable layer as one more layer."""
        from ..images.archive import source_date_epoch
        config = self.config(cid)
        base = self.images.record(config["Image"])
        new_cfg = json.loads(json.dumps(base.config))
        container_cfg = dict(config["ImageConfig"])
        container_cfg.update({"Env": config["Env"], "Cmd": config["Cmd"] or None,
                              "Entrypoint": config["Entrypoint"] or None,
                              "WorkingDir": config["WorkingDir"], "User": config["User"]})
        for line in changes:
            changefmt.apply_change(container_cfg, line)
        epoch = source_date_epoch()
        created = rfc3339(epoch if epoch is not None else time.time())
        with self.store.lock(), self.store.temp_path() as tmp:
            source = self.writable_layer(cid, tmp)
            chain = self.images.add_dir_layer(source, base.chain_ids[-1] if base.diff_ids else None, epoch=epoch)
            diff_id = self.images.layer_meta(chain)["diff_id"]
            new_cfg["config"] = container_cfg
            new_cfg["created"] = created
            if epoch is None:  # the container's ID would make a reproducible commit unreproducible
                new_cfg["container"] = cid
            if author:
                new_cfg["author"] = author
            if message:
                new_cfg["comment"] = message
            new_cfg["rootfs"]["diff_ids"].append(diff_id)
            new_cfg.setdefault("history", []).append(
                {"created": created, "created_by": " ".join([config["Path"], *config["Args"]]),
                 **({"author": author} if author else {}), **({"comment": message} if message else {})})
            data = json.dumps(new_cfg, sort_keys=True, separators=(",", ":")).encode()
            image_id = self.images.add(data, tags=[ref] if ref else [], parent=base.id)
        if ref:   # dockerd tags the new image (an image tag event), then journals the commit
            self.images.emit("tag", image_id, familiar(str(parse(ref))))
        self.emit(cid, "commit", comment=message, imageID=image_id, imageRef=ref or "")
        return image_id


def lifecycle_options(config: Config, host: HostConfig, image: dict, run_mode: str) -> dict:
    """What a container's record keeps of how it stops, restarts and shares the host's namespaces,
    checked as Docker checks them."""
    from .restart import checked_restart_policy
    policy = checked_restart_policy(host.RestartPolicy or {}, host.AutoRemove)
    for key in ("PidMode", "UTSMode"):
        if getattr(host, key) not in ("", "host", "private"):
            raise InvalidParameter(f"minidock's {key} is '' (the container's own) or 'host', not {getattr(host, key)!r}")
    shared = [ns for ns, key in (("pid", "PidMode"), ("uts", "UTSMode")) if getattr(host, key) == "host"]
    if shared and run_mode != "root":
        raise APIError(f"--pid host and --uts host need root: {run_mode} mode's namespaces are its own")
    if "uts" in shared and config.Hostname:
        raise InvalidParameter("Conflicting options: hostname and the UTS mode")
    if host.CpuShares and host.CpuShares < 0:
        raise InvalidParameter(f"invalid CPU shares {host.CpuShares}: a weight from 2 to 262144 (1024: the default)")
    signal_name = config.StopSignal or image.get("StopSignal") or "SIGTERM"
    parse_stop_signal(signal_name)
    if config.StopTimeout is not None and (not isinstance(config.StopTimeout, int) or config.StopTimeout < -1):
        raise InvalidParameter(f"invalid stop timeout {config.StopTimeout!r}")
    options = {"RestartPolicy": policy, "SharedNamespaces": shared,
               # Docker moves a weight out of the kernel's range to its nearest end (with a warning)
               "CpuShares": min(max(host.CpuShares, 2), 262144) if host.CpuShares else None,
               "CpusetCpus": checked_cpuset(host.CpusetCpus) if host.CpusetCpus else None,
               "StopSignal": signal_name, "StopTimeout": config.StopTimeout}
    size = host.ConsoleSize
    if size and config.Tty and isinstance(size, list) and len(size) == 2 and all(isinstance(n, int) and n > 0 for n in size):
        options["ConsoleSize"] = {"height": size[0], "width": size[1]}   # -t's terminal, sized from the start
    if host.ExtraHosts:
        options["ExtraHosts"] = checked_extra_hosts(host.ExtraHosts)
    if "uts" in shared:   # the host's name, as the container sees it
        options["Hostname"] = socket.gethostname()
    return options


def checked_extra_hosts(entries) -> list[str]:
    """``--add-host NAME:IP`` (or ``NAME=IP``), each checked: lines for the container's /etc/hosts."""
    import ipaddress
    checked = []
    for entry in entries if isinstance(entries, list) else [entries]:
        name, sep, address = str(entry).replace("=", ":", 1).partition(":")
        try:
            ipaddress.ip_address(address.strip("[]"))
        except ValueError:
            raise InvalidParameter(f"invalid IP address in add-host: {address!r} (minidock has no host-gateway)"
                                   if sep else f"bad format for add-host: {entry!r} (want NAME:IP)") from None
        if not name or any(ch.isspace() for ch in name):
            raise InvalidParameter(f"bad format for add-host: {entry!r} (want NAME:IP)")
        checked.append(f"{name}:{address.strip('[]')}")
    return checked


def checked_cpuset(text: str) -> str:
    """``--cpuset-cpus 0-1,3``: Docker's list syntax, and only CPUs this machine lets us use."""
    asked = set()
    for part in str(text).split(","):
        low, dash, high = part.partition("-")
        if not low.isdigit() or (dash and not high.isdigit()) or (dash and int(high) < int(low)):
            raise InvalidParameter(f"Invalid value {text} for cpuset cpus")
        asked |= set(range(int(low), int(high or low) + 1))
    available = os.sched_getaffinity(0)
    if not asked <= available:
        runs, ranges = [], []
        for n in sorted(available):   # 0,1,2,5 -> 0-2,5, as the kernel lists them
            if runs and n == runs[-1][1] + 1:
                runs[-1][1] = n
            else:
                runs.append([n, n])
        ranges = ",".join(f"{a}-{b}" if a != b else str(a) for a, b in runs)
        raise InvalidParameter(f"Requested CPUs are not available - requested {text}, available: {ranges}")
    return str(text)


def parse_stop_signal(name) -> signal.Signals:
    """``SIGTERM``, ``TERM``, ``15``: the signal, as Docker reads ``--stop-signal``."""
    text = str(name).upper()
    try:
        return signal.Signals(int(text)) if text.isdigit() else signal.Signals[text if text.startswith("SIG") else "SIG" + text]
    except (KeyError, ValueError):
        raise InvalidParameter(f"Invalid signal: {name}") from None


def check_unprivileged(run_mode: str, network: str, limits) -> str:
    """What a container may have without root: no limits; no bridge, but in rootless mode slirp4netns's
    user-mode network where it is installed (podman's rootless default), else its own loopback only
    (``-p`` proxies into it either way)."""
    from ..runtime import slirp
    if limits:
        raise APIError(f"memory, pids and cpu limits need cgroups, which {run_mode} mode here cannot write")
    why_not = slirp.unusable() if run_mode == "rootless" else f"it is rootless mode's network, not {run_mode}'s"
    if slirp.is_mode(network):
        if why_not:
            raise APIError(f"--network slirp4netns is not possible here: {why_not}")
        slirp.parse_options(network)   # a bad option is refused now, not at every start
        return network
    if network not in ("bridge", "none", "host"):
        raise APIError(f"user-defined networks need bridges and veths, which {run_mode} mode cannot make")
    if network == "host" and run_mode == "rootless":
        raise APIError("--network host is not possible in rootless mode (the net namespace is the user's own)")
    if network == "bridge":
        return "none" if why_not else slirp.MODE   # no bridge without root
    return network


def check_bind_source(request: dict, run_mode: str) -> None:
    """A bind's host path must exist: ``-v`` makes a missing directory, ``--mount`` refuses, as Docker."""
    source = request["Source"]
    if not os.path.lexists(source):
        if not request["CreateSource"]:
            raise InvalidParameter(f'invalid mount config for type "bind": bind source path does not exist: {source}')
        os.makedirs(source, exist_ok=True)
    if run_mode != "root" and not os.access(source, os.R_OK):
        raise InvalidParameter(f"bind source path {source} is not readable by this user ({run_mode} mode)")


def lay_out_init(init: Path) -> None:
    """Docker's "init layer": empty mount points between the image and the writable layer.

    /etc/hosts and friends are bind-mounted over, /dev, /proc and /sys mounted
    on; with their placeholders here they are never copied up, so they show
    in neither ``diff`` nor ``commit``.
    """
    for d in ("etc", "dev", "proc", "sys"):
        (init / d).mkdir(parents=True)
    for f in ("hosts", "hostname", "resolv.conf"):
        (init / "etc" / f).touch()


def shim_alive(state: dict) -> bool:
    """Whether the shim recorded in ``state`` still runs (same PID *and* start time: PIDs are reused)."""
    pid = state.get("ShimPid")
    if not pid:
        return False
    return process_start_time(pid) == state.get("ShimStart")


def merge_env(image_env: list[str], extra: list[str], tty: bool) -> list[str]:
    """The image's ENV, overridden by -e/--env-file; PATH and TERM as docker sets them."""
    env = {}
    for item in image_env + extra:
        key, eq, value = item.partition("=")
        if not eq:  # docker's "-e NAME" passes the caller's value through
            if key not in os.environ:
                continue
            value = os.environ[key]
        env[key] = value
    env.setdefault("PATH", DEFAULT_PATH)
    if tty:
        env.setdefault("TERM", "xterm")
    return [f"{k}={v}" for k, v in env.items()]


def publish_specs(bindings: dict) -> list[str]:
    """``HostConfig.PortBindings`` as ``-p`` specs (``127.0.0.1:8080:80/tcp``), for ``parse_publish``."""
    specs = []
    for port, hosts in (bindings or {}).items():
        port = port if "/" in str(port) else f"{port}/tcp"
        for binding in hosts or [{}]:
            ip, host_port = binding.get("HostIp") or "", binding.get("HostPort") or ""
            specs.append(f"{ip}:{host_port}:{port}" if ip else f"{host_port}:{port}" if host_port else port)
    return specs


# -- looking in: logs, exec, top, stats, export --------------------------------

def log_entries(c: Containers, cid: str, *, streams=("stdout", "stderr"), timestamps=False,
                tail="all", follow=False, window: tuple[float | None, float | None] = (None, None)):
    """(stream, line) pairs of the container's output, from its json-file log; ``window``, (since,
    until) as UNIX times or None, keeps the lines written in between. ``follow``: True, or a function
    that says whether to go on following (the daemon's: while its client is there, for a quiet
    container gives no line at which to notice that the client left)."""
    from ..display import parse_rfc3339
    path = c.dir(cid) / "log.json"
    wanted = set(streams)
    since, until = window

    def entries(f):
        for raw in f:
            try:
                entry = json.loads(raw)
            except ValueError:   # the last line a crash tore (the log is appended, never synced)
                continue
            if since is not None or until is not None:
                when = parse_rfc3339(entry["time"])
                if (since is not None and when < since) or (until is not None and when > until):
                    continue
            if entry["stream"] in wanted:
                yield entry["stream"], (entry["time"] + " " if timestamps else "").encode() + entry["log"].encode()

    with open(path, "rb") if path.exists() else open(os.devnull, "rb") as f:
        lines = list(entries(f))
        yield from (lines if tail in ("all", None) or int(tail) < 0 else lines[len(lines) - int(tail):])
        going_on = follow if callable(follow) else lambda: True
        while follow and going_on() and c.state(cid)["Status"] == "running":
            time.sleep(0.05)
            yield from entries(f)
        if follow:  # what the shim wrote as the container ended
            yield from entries(f)


def log_lines(c: Containers, cid: str, **options):
    """The container's output, line by line as bytes (docker-py's ``logs``)."""
    return (line for _, line in log_entries(c, cid, **options))


def exec_process(c: Containers, cid: str, exe: ExecConfig, stdio=(0, 1, 2),
                 pty_sock: int | None = None) -> tuple[int, int]:
    """Start ``exe.Cmd`` inside a running container; return (pid, fd that reports exec errors).

    The same mechanism as ``nsenter``: setns(2) into each of the container's
    namespaces (/proc/PID/ns/*), then fork -- joining a PID namespace only
    places the *children* of the caller in it -- then exec.  With ``pty_sock``
    (``exec -t``) the process makes its terminal in the container's own
    devpts, as docker's does, and sends the master over that unix socket.
    """
    from ..runtime import cgroups, emulated, mode, nsenter, shim
    state = c.active(cid)
    spec = spec_of(c.config(cid), c.store)   # what its start wrote (also for one an older minidock started)
    process, tty = spec["process"], exe.Tty
    user, workdir = exe.User or process["user"]["username"], exe.WorkingDir or process["cwd"]
    env = merge_env(process["env"], list(exe.Env), tty)
    argv = exe.Cmd
    proot = spec["minidock"]["overlay"] is None and mode.detect()[0] == "chroot-emulated"
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    child = os.fork()
    if child == 0:
        try:
            os.close(err_r)
            close_fds_except({err_w, *stdio} | ({pty_sock} if pty_sock is not None else set()))
            if proot:  # no namespaces to join: a second proot in the same files
                shim.take_stdio(stdio if pty_sock is None else shim.send_new_pty(pty_sock), tty)
                environ = dict(e.split("=", 1) for e in env)
                as_asked = dict(spec, process=dict(process, args=argv, user={"username": user}, cwd=workdir))
                shim.exec_or_report(argv, environ, err_w, lambda: emulated.execute(as_asked, c.dir(cid), environ))
            # the container's own filter, made while the host's files are in sight, outside its cgroup and
            # PID namespace (on a first use libseccomp's binding runs ldconfig)
            syscall_filter = shim.seccomp_filter(spec)
            with contextlib.suppress(OSError, MinidockError):  # accounting only; never block an exec
                cgroups.Cgroup.open(cid).add(os.getpid())
            rootless = ["user"] if os.geteuid() != 0 else []  # first: it owns the others
            nsenter.enter(state["Pid"], rootless + ["ipc", "uts", "net", "pid", "cgroup", "mnt"])
            if os.fork():
                code = os.waitstatus_to_exitcode(os.wait()[1])
                os._exit(128 - code if code < 0 else code)
            shim.take_stdio(stdio if pty_sock is None else shim.send_new_pty(pty_sock), tty)  # in its devpts
            environ = shim.settle(spec, user, workdir, env, syscall_filter)
            shim.exec_or_report(argv, environ, err_w)
        except BaseException as e:
            os.write(err_w, f"126 {e}".encode())
        os._exit(126)
    os.close(err_w)
    c.emit(cid, "exec_start: " + " ".join(argv))
    return child, err_r


def exec_wait(pid: int, err_r: int) -> tuple[int, str]:
    """Wait for an exec'd process: (exit code, error message if it never started)."""
    with os.fdopen(err_r, "rb") as f:
        failure = f.read().decode()
    code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    code = 128 - code if code < 0 else code
    if failure:
        number, _, message = failure.partition(" ")
        return int(number), message
    return code, ""


def exec_capture(c: Containers, cid: str, exe: ExecConfig) -> tuple[int, bytes]:
    """Run ``exe.Cmd`` in the container and collect its output (docker-py's ``exec_run``)."""
    out_r, out_w = os.pipe()
    null = os.open(os.devnull, os.O_RDWR)
    pid, err_r = exec_process(c, cid, exe, (null, out_w if exe.AttachStdout else null,
                                            out_w if exe.AttachStderr else null))
    os.close(out_w)
    os.close(null)
    with os.fdopen(out_r, "rb") as f:
        output = f.read()
    code, message = exec_wait(pid, err_r)
    if message:
        raise APIError(message)
    return code, output


def top(c: Containers, cid: str) -> dict:
    """``docker top``: the processes in the container's PID namespace, as the host sees them."""
    state = c.state(cid)
    if state["Status"] != "running":
        raise Conflict(f"Container {cid} is not running")
    ns = os.stat(f"/proc/{state['Pid']}/ns/pid").st_ino
    # no PID namespace of its own (chroot-emulated): its processes are its first one's process group
    group = os.getpgid(state["Pid"]) if ns == os.stat("/proc/self/ns/pid").st_ino else None
    rows = []
    for entry in sorted(os.listdir("/proc"), key=lambda p: (len(p), p)):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}/ns/pid").st_ino != ns:
                    continue
                if group is not None and os.getpgid(int(entry)) != group:
                    continue
                status = dict(line.split(":\t", 1) for line in
                              Path(f"/proc/{entry}/status").read_text().splitlines() if ":\t" in line)
                cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
            except (OSError, ValueError):
                continue  # it ended while we looked
            rows.append([status["Uid"].split()[0], entry, status["PPid"], cmd or f"[{status['Name']}]"])
    return {"Titles": ["UID", "PID", "PPID", "CMD"], "Processes": rows}


def stats(c: Containers, cid: str) -> dict:
    """``docker stats --no-stream``: memory and pids from the container's cgroup."""
    from ..runtime import cgroups
    if c.state(cid)["Status"] != "running":
        return {"memory_usage": 0, "memory_limit": None, "pids_current": 0, "pids_limit": None, "cpu_usage_ns": 0}
    return cgroups.Cgroup.open(cid).stats()


def export_to(c: Containers, cid: str, out) -> None:
    """``docker export``: the container's file system, flattened into one tar.

    With ``SOURCE_DATE_EPOCH`` set, times are clamped to it, as commit and
    build do, so exporting and importing the same container twice gives the same image.
    """
    from ..images import layer as layerfmt
    from ..images.archive import source_date_epoch
    with c.store.temp_path() as tmp:
        c.view(cid).flatten(tmp)
        layerfmt.write_layer_tar(tmp, out, epoch=source_date_epoch())
