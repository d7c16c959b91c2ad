"""The shim: one small process per running container, like containerd's shim or conmon.

minidock has no daemon.  ``start`` forks a shim that detaches from the terminal
(its own session) and outlives the command that started it.  The shim runs
what the bundle's ``spec.json`` says (``spec.py``: the engine made it; the
shim knows nothing of images or containers), and it

* makes the container's cgroup, address and port proxies (rootless: its
  slirp4netns, ``slirp.py``, the user-mode network),
* starts the container's process tree in new namespaces (``container_main``),
* owns the container's stdio (a pty with ``-t``, pipes otherwise),
* writes every line of output to ``log.json`` (docker's json-file format),
* serves ``attach`` on ``attach.sock``,
* records what the runtime owns in ``state.json`` (PIDs, start times, the exit
  code: ``state.py``), frees everything when the program ends, and then runs
  the engine's poststop hooks (AutoRemove).

The process tree (PIDs as the host sees them)::

    shim ── keeper ── PID 1 of the container (the command, or --init)

The keeper has unshared the namespaces, so its first child is PID 1 of a new
PID namespace; it only waits for that child and passes its status up.  (The
shim itself cannot unshare CLONE_NEWPID: a process whose children go to
another PID namespace may not start threads, and the port proxy needs them.)

Attached clients get docker's stream framing (``stdcopy.py``); minidock adds
stream 3 = the exit code, as text, sent last, so ``run`` learns it even when
``--rm`` removes the container at once.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import select
import selectors
import signal
import socket
import struct
import sys
import termios
import threading
import time
from collections import namedtuple
from pathlib import Path

from ..display import rfc3339
from ..errors import APIError, MinidockError
from . import cgroups, mode, network, seccomp, slirp, userns
from .state import write_state
from . import spec as specfile
from .stdcopy import EXIT, STDERR, STDOUT, frame
from .rootfs import MASKED_PATHS, READONLY_PATHS, RootfsSpec, become, enter_rootfs, setup_user
from .syscalls import (CLONE_NEWCGROUP, CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID,
                       CLONE_NEWUTS, DEFAULT_CAPABILITIES, bounding_set, capability_numbers, detach_inherited,
                       limit_bounding, set_capabilities, set_no_new_privs, set_process_name, process_start_time,
                       set_pdeathsig, unshare)

# -- starting a shim ----------------------------------------------------------

_spawned_before = False


def spawn(bundle: Path, attach: socket.socket | None = None, poststop=()) -> dict:
    """Start the container of ``bundle`` under a new shim; return its state once it runs.

    ``bundle`` is the container's directory: its ``spec.json`` says what to run (``spec.py``),
    its ``state.json`` is where the shim records what happens (``state.py``), and its name is the
    container's ID, as a runc container's.  ``poststop`` are callables the shim calls after the container's
    exit is recorded, as OCI's poststop hooks: the engine's own work after an exit (AutoRemove),
    which the runtime knows nothing of.

    ``attach`` (one end of a socketpair) becomes the shim's first attached
    client, so ``run`` sees every byte of output from the very first.  The
    state comes from the shim: with ``--rm`` a quick container may be gone
    by the time we could read it.

    The shim loads pyroute2's message classes itself (``rtnl``), while the
    container's first process builds its root file system: so a one-shot
    ``minidock run`` need not load them before the fork.  A process that
    starts a second container loads them here, once, for all its shims.
    """
    global _spawned_before
    if _spawned_before and specfile.read(bundle)["minidock"]["network"]["mode"] == "bridge":
        network.load_pyroute2()  # a process that starts many (an API user): loaded once, every shim inherits it
    _spawned_before = True
    notify_r, notify_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the intermediate child: detach from our session, fork the shim, leave
        try:
            os.close(notify_r)
            detach_inherited({notify_w} | ({attach.fileno()} if attach is not None else set()))
            os.setsid()
            if os.fork() == 0:
                _shim_main(bundle, notify_w, attach, poststop)
        finally:
            os._exit(0)
    os.close(notify_w)
    os.waitpid(pid, 0)
    with os.fdopen(notify_r, "rb") as f:
        message = f.read().decode()
    if attach is not None:
        attach.close()  # the shim holds its own copy
    reply = json.loads(message) if message else {"error": "the shim died while starting the container"}
    if "error" in reply:
        raise MinidockError(reply["error"]) if "code" not in reply else _start_error(reply)
    return reply["state"]


def _start_error(reply: dict) -> MinidockError:
    """docker's exit codes: 127 command not found, 126 not executable, 125 anything else."""
    error = APIError(reply["error"])
    error.exit_code = reply["code"]
    return error


def _shim_main(bundle: Path, notify_w: int, attach, poststop) -> None:
    """The shim's whole life; never returns."""
    code = 0
    try:
        with contextlib.suppress(OSError):   # ps -e, top: the shim, not the command that forked it
            set_process_name("minidock-shim")
        _quiet_stdio(bundle)
        if "asyncio" in sys.modules:  # forked from a Jupyter kernel, we inherited its running loop
            sys.modules["asyncio"]._set_running_loop(None)
        Shim(bundle, notify_w, attach, poststop).run()
    except MinidockError as e:  # a refusal the user should read (a port taken, a bad user...)
        _print_exc()
        _notify(notify_w, {"error": str(e), "code": e.exit_code})
        code = 1
    except BaseException:
        _print_exc()
        _notify(notify_w, {"error": "the shim failed; see shim.log in the container's directory"})
        code = 1
    os._exit(code)


def _quiet_stdio(bundle: Path) -> None:
    """Stdin from /dev/null, stdout and stderr to the container's shim.log."""
    null = os.open(os.devnull, os.O_RDONLY)
    log = os.open(bundle / "shim.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(null)
    os.close(log)
    # closefd=False: a shim spawned by a shim's descendant (a restart) replaces objects of its
    # forebear's on the same fds; dropping those must not close the fds just set up
    sys.stdout = os.fdopen(1, "w", buffering=1, closefd=False)
    sys.stderr = os.fdopen(2, "w", buffering=1, closefd=False)


def _print_exc() -> None:
    """The exception being handled, with its traceback, to shim.log (``traceback`` is imported
    here: only a failure needs it, and every ``run`` would pay for it)."""
    kind, error, _ = sys.exc_info()
    try:
        import traceback
    except ImportError:  # after pivot_root the host's standard library is out of reach: the error, one line
        print(f"{kind.__name__}: {error}", file=sys.stderr)  # (an escaping ImportError would skip the report)
        return
    traceback.print_exc()


def _notify(fd: int, message: dict) -> None:
    """Tell the starting command how the start went (once), then let go of the pipe."""
    if fd is None:
        return
    try:
        os.write(fd, json.dumps(message).encode())
        os.close(fd)
    except OSError:
        pass


# -- the shim -----------------------------------------------------------------

# What an ``attach.sock`` client sends first: whether it brings input (``Container.attach_socket``).
INPUT, OUTPUT_ONLY = b"I", b"O"


def greeting(stdin: bool) -> bytes:
    return INPUT if stdin else OUTPUT_ONLY

class Shim:
    """The state of one shim: the container's fds, the attached clients, the log."""

    def __init__(self, bundle: Path, notify_w: int, attach, poststop):
        self.dir, self.cid, self.notify_w, self.poststop = bundle, bundle.name, notify_w, poststop
        self.spec = specfile.read(bundle)
        self.network_mode = self.spec["minidock"]["network"]["mode"]
        self.pool = Path(self.spec["minidock"]["network"]["pool"])   # whose settings and leases (network.py)
        self.tty = self.spec["process"]["terminal"]
        self.clients: list[socket.socket] = [attach] if attach is not None else []
        self.greeting: set[socket.socket] = set()   # attach.sock clients that have not said what they are
        self.readers: set[socket.socket] = set()    # clients that bring no input (``greeting``)
        self.sel = selectors.DefaultSelector()
        self.log = open(self.dir / "log.json", "ab")
        self.partial: dict[int, bytes] = {STDOUT: b"", STDERR: b""}
        self.proxies: list[network.PortProxy] = []
        self.slirp: slirp.Slirp | None = None   # rootless --network slirp4netns: the container's user-mode network
        self.rootless = os.geteuid() != 0
        publishing_rootless = self.rootless and self.spec["minidock"]["network"]["ports"]  # the keeper makes the proxy's sockets
        self.sockets, self.keeper_sockets = socket.socketpair() if publishing_rootless else (None, None)
        self.socket_lock = threading.Lock()
        self.emulated = self.spec["minidock"]["overlay"] is None and mode.detect()[0] == "chroot-emulated"

    def run(self) -> None:
        """Set up, start the container, pump its I/O until it ends, clean up."""
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # stop/kill signal the container, not us
        listener = self._listen()
        lease, self.leases, self.released = None, [], []
        limits = self.spec["linux"]["resources"]
        cgroup = NoCgroup() if self.rootless or self.emulated else cgroups.Cgroup.create(
            self.cid, memory=limits["memory"]["limit"] or None, pids=limits["pids"]["limit"] or None,
            cpus=specfile.cpus(self.spec), shares=limits["cpu"].get("shares") or None,
            cpuset=limits["cpu"].get("cpus") or None)
        cgroup.warm()
        try:
            if self.network_mode == "bridge":
                self.leases = self._allocate()
                lease = self.leases[0]
            ports = self._publish(lease)  # before the start: a taken port fails it, as in docker
            stdio = self._stdio()
            keeper, pid, error = self._start(cgroup, lease, stdio, listener)
            if "pty" in stdio and not error:
                stdio = self._master_from(stdio["pty"])
            state = write_state(
                self.dir, Status="exited" if error else "running", Pid=0 if error else pid,
                ShimPid=os.getpid(), ShimStart=process_start_time(os.getpid()), ExitCode=error[0] if error else 0,
                StartedAt=rfc3339(time.time()), FinishedAt="", Error=error[1] if error else "", OOMKilled=False,
                **self._addressing(lease), Ports=ports)
            if error:  # finished first: with --rm, the container is gone when ``start`` fails
                os.waitpid(keeper, 0)
                self._finish(error[0], cgroup)
                _notify(self.notify_w, {"error": error[1], "code": error[0]})
            else:
                _notify(self.notify_w, {"state": state})
                self._finish(self._pump(keeper, listener, stdio), cgroup)
        except BaseException:
            for proxy in self.proxies:
                proxy.stop()
            self._stop_slirp()
            cgroup.remove()  # kills whatever of the container was started
            release_network(self.cid, self.network_mode)
            raise
        network.tidy(self.cid, self.released)  # after the clients have their exit code: they need not wait

    def _addressing(self, lease) -> dict:
        """The state's address fields: the bridge's lease, slirp4netns's fixed 10.0.2.100, or none (loopback only)."""
        if lease is not None:
            return {"IPAddress": lease.address, "Gateway": lease.gateway, "MacAddress": lease.mac,
                    "IPPrefixLen": lease.prefixlen}
        if self.slirp is not None:   # its PID and start time too: ``release_resources`` after a crash checks both
            return {"IPAddress": slirp.ADDRESS, "Gateway": slirp.GATEWAY, "MacAddress": "",
                    "IPPrefixLen": slirp.PREFIXLEN, "SlirpPid": self.slirp.pid,
                    "SlirpStart": process_start_time(self.slirp.pid)}
        return {"IPAddress": "", "Gateway": "", "MacAddress": "", "IPPrefixLen": 0}

    def _stop_slirp(self) -> None:
        if self.slirp is not None:
            self.slirp.stop()
            self.slirp = None

    def _allocate(self) -> list:
        """An address on each of the container's networks (``segments``; None: the default bridge):
        ``eth0`` on the first, ``eth1``... on the rest; the first that is not ``--internal`` routes."""
        segments = self.spec["minidock"]["network"].get("segments") or [None]
        leases = [network.allocate(self.pool, self.cid, network.Segment(**s) if s else None, f"eth{i}")
                  for i, s in enumerate(segments)]
        routed = next((i for i, lease in enumerate(leases) if lease.routed), None)
        return [lease._replace(routed=i == routed) for i, lease in enumerate(leases)]

    def _listen(self) -> socket.socket:
        """The attach socket, bound through /proc/self/fd/N/ (sun_path holds only 108 bytes), as clients connect.

        Not by a chdir there and back: the working directory we were started in may be one we cannot
        enter again (a rootless user's command, run from a directory only root may read).
        """
        path = self.dir / "attach.sock"
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        directory = os.open(self.dir, os.O_PATH | os.O_DIRECTORY)
        try:
            sock.bind(f"/proc/self/fd/{directory}/attach.sock")
        finally:
            os.close(directory)
        os.chmod(path, 0o600)
        sock.listen(8)
        return sock

    def _stdio(self) -> dict:
        """The container's stdio: a pty (``-t``) or pipes, and our ends of them.

        With ``-t`` the pty is made by the container's first process in the
        container's own devpts (so ``tty`` inside says ``/dev/pts/0``), and its
        master comes back to us over a socketpair; proot (emulated) has no
        devpts of its own, so there we make it here.
        """
        if self.tty and not self.emulated:
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
            return {"child": (theirs.fileno(),), "in": None, "out": {}, "close": [theirs.detach()],
                    "pty": ours}
        if self.tty:
            import pty  # here, not at the top: only the emulated mode's -t needs it
            master, slave = pty.openpty()
            return {"child": (slave, slave, slave), "in": master, "out": {master: STDOUT}, "close": [slave]}
        in_r, in_w = os.pipe() if self.spec["minidock"]["stdin"] else (os.open(os.devnull, os.O_RDONLY), None)
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        return {"child": (in_r, out_w, err_w), "in": in_w, "out": {out_r: STDOUT, err_r: STDERR},
                "close": [in_r, out_w, err_w]}

    @staticmethod
    def _master_from(sock: socket.socket) -> dict:
        """The pty master the container's first process made in its devpts and sent us (SCM_RIGHTS)."""
        with sock:
            _, fds, _, _ = socket.recv_fds(sock, 16, 1)
        if not fds:
            raise MinidockError("the container's first process sent no terminal")
        return {"in": fds[0], "out": {fds[0]: STDOUT}, "close": []}

    def _start(self, cgroup, lease, stdio, listener) -> tuple[int, int, tuple[int, str] | None]:
        """Fork the keeper; connect its new netns to the bridge meanwhile; then let PID 1 exec.

        The work overlaps on purpose, on two CPUs: while we load pyroute2 and
        cable the veth (``network.attach``), PID 1 joins the cgroup (the first
        write to a cgroup.procs waits a whole RCU grace period, ~10 ms) and
        builds its root file system.  PID 1 execs at our "go".
        """
        go_r, go_w = os.pipe()
        pid_r, pid_w = os.pipe()
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
        keeper = os.fork()
        if keeper == 0:
            # the container must hold none of the shim's fds: a pipe held open
            # by it would make the starting command wait for its end
            ours = [go_w, pid_r, err_r, self.log.fileno(), self.notify_w, listener.fileno(),
                    stdio["in"], *stdio["out"], *(c.fileno() for c in self.clients),
                    stdio["pty"].fileno() if "pty" in stdio else None, self.sockets and self.sockets.fileno()]
            for fd in set(ours) - set(stdio["child"]) - {None}:
                with contextlib.suppress(OSError):
                    os.close(fd)
            # the seccomp program is made here, in the host's PID namespace: libseccomp's binding runs
            # ldconfig to find the library, and in the container's namespace that would take PIDs 2 and 3
            bpf = None if self.emulated else seccomp_filter(self.spec)
            launch = Launch(self.spec, self.dir, stdio["child"], lease, self.rootless, self.emulated, bpf)
            _keeper_main(launch, go_r, pid_w, err_w, cgroup, self.keeper_sockets and self.keeper_sockets.fileno())
        for fd in (go_r, pid_w, err_w, *stdio["close"]):
            os.close(fd)
        if self.keeper_sockets:
            self.keeper_sockets.close()
        unshared = os.read(pid_r, 1) == b"u"
        cabling = None
        if unshared and lease is not None:
            try:  # PID 1 will be in the keeper's netns
                for each in self.leases:
                    network.attach(self.pool, self.cid, keeper, each)
            except MinidockError as e:  # the container's own failure, if it has one, says more
                cabling = e
        elif unshared and self.network_mode == slirp.MODE:
            try:  # tap0 is configured before the command runs: its first connection may go out
                self.slirp = slirp.start(keeper, self.spec["minidock"]["network"]["options"])
            except MinidockError as e:
                cabling = e
        pid = int(os.read(pid_r, 32) or b"0") if unshared else 0
        os.close(pid_r)
        if cabling is None:
            with contextlib.suppress(BrokenPipeError):  # PID 1 failed already: its error follows
                os.write(go_w, b"go")
        os.close(go_w)
        with os.fdopen(err_r, "rb") as f:
            failure = f.read()
        if cabling is not None and not failure:
            raise cabling
        if not pid:
            return keeper, 0, (125, "the container could not be started: " + (failure.decode() or "see shim.log"))
        if failure:
            code, _, message = failure.decode().partition(" ")
            return keeper, pid, (int(code), message)
        return keeper, pid, None

    def _publish(self, lease) -> list:
        """Start a port proxy per ``-p``; the host port chosen now when it was left open."""
        ports = []
        for host_ip, host_port, port, proto in self.spec["minidock"]["network"]["ports"]:
            host_port = host_port or network.free_port(host_ip)
            if lease is not None:
                proxy = network.PortProxy(host_ip, host_port, lease.address, port)
            elif self.emulated and host_port != port:  # the container's ports are the host's own
                proxy = network.PortProxy(host_ip, host_port, "127.0.0.1", port)
            elif self.sockets:  # rootless: into its netns, through the keeper
                proxy = network.PortProxy(host_ip, host_port, "127.0.0.1", port, self._socket_inside)
            else:
                proxy = None
            if proxy is not None:
                proxy.start()
                self.proxies.append(proxy)
            ports.append([host_ip, host_port, port, proto])
        return ports

    def _socket_inside(self) -> socket.socket:
        """A TCP socket made in the container's network namespace by its keeper (rootless ``-p``).

        The shim may not enter a namespace its user namespace owns; the keeper
        is in it, so it makes the socket and passes it over (SCM_RIGHTS).
        Connected from here, it reaches the container's own 127.0.0.1.
        """
        with self.socket_lock:
            self.sockets.send(b"s")
            _, fds, _, _ = socket.recv_fds(self.sockets, 1, 1)
        if not fds:
            raise OSError(errno.ECONNREFUSED, "the container is gone")
        return socket.socket(fileno=fds[0])

    # -- the I/O loop -----------------------------------------------------

    def _pump(self, keeper: int, listener: socket.socket, stdio: dict) -> int:
        """Move bytes until the keeper exits; return the container's exit status."""
        self.stdin = stdio["in"]
        for fd, stream in stdio["out"].items():
            self.sel.register(fd, selectors.EVENT_READ, ("out", stream))
        self.sel.register(listener, selectors.EVENT_READ, ("listen", None))
        for client in self.clients:
            self.sel.register(client, selectors.EVENT_READ, ("client", None))
        pidfd = os.pidfd_open(keeper)
        self.sel.register(pidfd, selectors.EVENT_READ, ("exit", None))
        open_outputs = len(stdio["out"])
        status = None
        while status is None or open_outputs:
            events = self.sel.select(timeout=None if status is None else 0.5)
            if not events and status is not None:
                break  # the program ended; nothing more came out
            for key, _ in events:
                kind, stream = key.data
                if kind == "out" and not self._output(key.fd, stream):
                    open_outputs -= 1
                elif kind == "listen":
                    self._accept(listener)
                elif kind == "client":
                    self._input(key.fileobj)
                elif kind == "exit":
                    self.sel.unregister(pidfd)
                    status = os.waitstatus_to_exitcode(os.waitpid(keeper, 0)[1])
                    status = 128 - status if status < 0 else status
        self._flush_partial()
        return status

    def _output(self, fd: int, stream: int) -> bool:
        """Container output: to the log and to every client. False at end of file."""
        try:
            data = os.read(fd, 65536)
        except OSError as e:  # EIO: the pty's other side is closed
            if e.errno != errno.EIO:
                raise
            data = b""
        if not data:
            self.sel.unregister(fd)
            return False
        self._log(stream, data)
        self._broadcast(frame(stream, data))
        return True

    def _log(self, stream: int, data: bytes) -> None:
        """json-file: one entry per line, as docker's log driver writes them."""
        data = self.partial[stream] + data
        *lines, self.partial[stream] = data.split(b"\n")
        name = "stdout" if stream == STDOUT else "stderr"
        for line in lines:
            self._log_entry(name, line + b"\n")
        self.log.flush()

    def _log_entry(self, name: str, data: bytes) -> None:
        entry = {"log": data.decode("utf-8", "replace"), "stream": name, "time": rfc3339(time.time())}
        self.log.write(json.dumps(entry).encode() + b"\n")

    def _flush_partial(self) -> None:
        for stream, data in self.partial.items():
            if data:
                self._log_entry("stdout" if stream == STDOUT else "stderr", data)
        self.log.flush()

    def _broadcast(self, data: bytes) -> None:
        for client in list(self.clients):
            try:
                client.sendall(data)
            except OSError:
                self._drop(client)

    def _accept(self, listener: socket.socket) -> None:
        client, _ = listener.accept()
        self.clients.append(client)
        self.greeting.add(client)
        self.sel.register(client, selectors.EVENT_READ, ("client", None))

    def _input(self, client: socket.socket) -> None:
        """Bytes from a client are the container's stdin; a client's EOF closes it (StdinOnce).

        The EOF is a half-close (``echo hi | run -i ... cat``): the client
        still gets the output and the exit code, so only stop reading it.
        A client of ``attach.sock`` first says whether it brings input
        (``greeting``): one that does not is only a reader, and its going
        away leaves the container's input alone (dockerd: an attach without
        stdin never closes it).
        """
        try:
            data = client.recv(65536)
        except OSError:
            data = b""
        if data and client in self.greeting:
            self.greeting.discard(client)
            if data[:1] != INPUT:
                self.readers.add(client)
            data = data[1:]
            if not data:
                return
        if client in self.readers or client in self.greeting:   # a reader's bytes and its end: nothing to stdin
            if not data:
                self.greeting.discard(client)
                with contextlib.suppress(KeyError, ValueError):
                    self.sel.unregister(client)
            return
        if data and self.stdin is not None:
            with contextlib.suppress(OSError):
                os.write(self.stdin, data)
            return
        if not data:
            with contextlib.suppress(KeyError, ValueError):
                self.sel.unregister(client)
            if self.stdin is not None and not self.tty:
                os.close(self.stdin)
                self.stdin = None

    def _drop(self, client: socket.socket) -> None:
        self.greeting.discard(client)
        self.readers.discard(client)
        with contextlib.suppress(KeyError, ValueError):
            self.sel.unregister(client)
        with contextlib.suppress(ValueError):
            self.clients.remove(client)
        client.close()

    # -- the end ----------------------------------------------------------

    def _finish(self, status: int, cgroup) -> None:
        """Free the container's resources, record the exit (or remove it: ``--rm``), tell the clients.

        The clients hear the exit code last, so ``run --rm`` returns when the
        container is gone.  Two network leftovers go after that, in ``run``:
        the host end of the veth (the kernel deletes the pair with the
        container's network namespace anyway, and deleting it ourselves waits
        some 20 ms for the kernel), and the bridge, which is not the
        container's: it goes if it is idle.
        """
        for proxy in self.proxies:
            proxy.stop()
        self._stop_slirp()
        oom_killed = cgroup.oom_killed()  # the cgroup's OOM counter goes with it
        cgroup.remove()
        self.released = network.release_all(self.cid)  # also what ``network connect`` added meanwhile
        self.log.close()
        with contextlib.suppress(FileNotFoundError):
            (self.dir / "attach.sock").unlink()
        write_state(self.dir, Status="exited", ExitCode=status, Pid=0, FinishedAt=rfc3339(time.time()),
                    OOMKilled=oom_killed)
        for hook in self.poststop:  # the engine's (AutoRemove), run before the clients hear the exit
            hook()
        self._broadcast(frame(EXIT, str(status).encode()))
        for client in list(self.clients):
            self._drop(client)


class NoCgroup:
    """Rootless mode: no cgroup can be written, so none is made (``info`` says so)."""

    def add(self, pid: int) -> None:
        pass

    def warm(self) -> None:
        pass

    def oom_killed(self) -> bool:
        return False

    def remove(self) -> None:
        pass


def release_resources(bundle: Path) -> None:
    """Free what the container of ``bundle`` held, after its shim is gone (crash) or before ``rm``."""
    with contextlib.suppress(Exception):
        cgroups.Cgroup.open(bundle.name).remove()
    _kill_slirp(bundle)
    try:
        mode_of_network = specfile.read(bundle)["minidock"]["network"]["mode"]
    except (FileNotFoundError, ValueError):   # ValueError: a spec a crash tore (it is not fsync'ed)
        mode_of_network = "bridge"  # never started, or unknown: free whatever may be there
    release_network(bundle.name, mode_of_network)


def slirp_left(bundle: Path) -> int | None:
    """The PID of the slirp4netns the container of ``bundle`` last had, if that process still runs (same PID
    *and* start time: PIDs are reused).  Once its container is down, it is a leftover: it ends by itself
    when the shim's end of its exit fd closes (also at the shim's SIGKILL), so only one that cannot see
    that (stopped, say) stays."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        state = json.loads((bundle / "state.json").read_bytes())
        pid = state.get("SlirpPid")
        if isinstance(pid, int) and pid > 0 and process_start_time(pid) == state.get("SlirpStart"):
            return pid
    return None


def _kill_slirp(bundle: Path) -> None:
    """SIGKILL a leftover slirp4netns, and wait (up to 5 s) until it has ended: the caller may look again."""
    pid = slirp_left(bundle)
    if pid is None:
        return
    with contextlib.suppress(OSError):
        pidfd = os.pidfd_open(pid)   # readable once the process has ended (a zombie, or reaped)
        try:
            signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            select.select([pidfd], [], [], 5)
        finally:
            os.close(pidfd)


def release_network(cid: str, network_mode: str) -> None:
    """The veths and addresses on every bridge; a container without a bridge held none (except
    those ``network connect`` gave it, which ``release_all`` finds too)."""
    if network_mode == "bridge":
        network.detach(cid)
    network.tidy(cid, network.release_all(cid))


# -- inside the container's namespaces ------------------------------------------

# What the keeper and PID 1 are given of the container they start: its spec and bundle directory, the
# fds that become its stdin, stdout and stderr, its address (None: no bridge), the run mode's two
# facts that change how it starts, and its seccomp filter as a BPF program (None: none).
Launch = namedtuple("Launch", "spec cdir stdio lease rootless emulated bpf")


def _keeper_main(launch: Launch, go_r: int, pid_w: int, err_w: int, cgroup, sockets: int | None) -> None:
    """Unshare the namespaces, fork PID 1, report its PID, wait for it; never returns.

    Rootless, a user namespace comes first, in the same unshare(2): the others
    are then owned by it, and we hold every capability over them.  The shim
    learns of the unshare ("u") at once, to plug the new netns into the bridge
    while PID 1 joins the cgroup and builds its root file system.
    """
    spec, emulated, stdio = launch.spec, launch.emulated, launch.stdio
    try:
        set_pdeathsig(signal.SIGKILL)  # the shim gone means the container goes too
        flags = CLONE_NEWNS | CLONE_NEWIPC
        shared = spec["minidock"].get("share") or []    # --pid host, --uts host: the host's own
        flags |= (0 if "pid" in shared else CLONE_NEWPID) | (0 if "uts" in shared else CLONE_NEWUTS)
        if spec["minidock"]["network"]["mode"] != "host":
            flags |= CLONE_NEWNET
        if emulated:
            pass  # no namespace at all: proot only fakes the root file system
        elif launch.rootless:
            userns.enter_own(flags)
        else:
            unshare(flags)
        os.write(pid_w, b"u")
        child = os.fork()
        if child == 0:
            os.close(pid_w)
            if sockets is not None:
                os.close(sockets)
            if emulated:
                _emulated_main(spec, launch.cdir, stdio, go_r, err_w)
            _container_main(launch, go_r, err_w, cgroup)
        os.write(pid_w, str(child).encode())
        os.close(pid_w)
        for fd in (go_r, err_w, *stdio):
            with contextlib.suppress(OSError):
                os.close(fd)
        if sockets is not None:
            _make_sockets_until_the_end(socket.socket(fileno=sockets), child)
        code = os.waitstatus_to_exitcode(os.waitpid(child, 0)[1])
        os._exit(128 - code if code < 0 else code)
    except BaseException:
        _print_exc()
        os._exit(125)


def _make_sockets_until_the_end(sockets: socket.socket, child: int) -> None:
    """The keeper's one service: a TCP socket of our network namespace for each request, until PID 1 ends."""
    pidfd = os.pidfd_open(child)
    poll = select.poll()
    poll.register(pidfd, select.POLLIN)
    poll.register(sockets, select.POLLIN)
    while True:
        ready = dict(poll.poll())
        if pidfd in ready:
            break
        if not sockets.recv(1):  # the shim is gone
            poll.unregister(sockets)
            continue
        with socket.socket() as made:
            socket.send_fds(sockets, [b"s"], [made.fileno()])
    os.close(pidfd)
    sockets.close()


def _container_main(launch: Launch, go_r: int, err_w: int, cgroup) -> None:
    """PID 1: build the root file system, drop privileges, wait for the go (the network), exec."""
    spec, cdir, stdio, lease = launch.spec, launch.cdir, launch.stdio, launch.lease
    process = spec["process"]
    try:
        set_pdeathsig(signal.SIGKILL)
        # PID 1 moves itself into the cgroup ("0" is the writer), before anything of the container runs;
        # the keeper never joins it, so ``--pids-limit 10`` means ten processes of the container's own, as
        # in docker (a keeper that joined to fork PID 1 inside, then left, was sometimes still counted)
        cgroup.add(0)
        unshare(CLONE_NEWCGROUP)  # in our cgroup now: it becomes our "/"
        if lease is None and spec["minidock"]["network"]["mode"] != "host":
            network.bring_up_loopback()  # with a lease, the shim brings up lo and eth0
        if not process["terminal"]:
            take_stdio(stdio, False)
        if lease is not None:
            peers = spec["minidock"]["network"].get("hosts") or []
            (cdir / "hosts").write_text(network.hosts_file(spec["hostname"], lease.address, peers))
        elif spec["minidock"]["network"]["mode"] == slirp.MODE:
            write_slirp_etc(spec, cdir)
        enter_rootfs(_rootfs_spec(spec, cdir, launch.rootless))
        if process["terminal"]:  # our devpts is mounted now: make the pty here, send the shim its master
            take_stdio(send_new_pty(stdio[0], process.get("consoleSize")), True)
        env = settle(spec, process["user"]["username"], process["cwd"], process["env"], launch.bpf)
        if os.read(go_r, 2) != b"go":  # the shim could not connect us, and said why
            os._exit(125)
        os.close(go_r)
        argv = process["args"]
        if spec["minidock"]["init"]:
            _tiny_init(argv, env, err_w)
        exec_or_report(argv, env, err_w)
    except BaseException as e:
        _print_exc()
        _report(err_w, 125, f"{type(e).__name__}: {e}")
        os._exit(125)


def write_slirp_etc(spec: dict, cdir: Path) -> None:
    """/etc/hosts and /etc/resolv.conf of a container on slirp4netns: its address, 10.0.2.100, and the DNS
    forwarder at 10.0.2.3 (podman writes the same)."""
    network_spec = spec["minidock"]["network"]
    extra, resolv = slirp.etc_files(network_spec["options"])
    (cdir / "hosts").write_text(network.hosts_file(spec["hostname"], slirp.ADDRESS,
                                                   extra + (network_spec.get("hosts") or [])))
    (cdir / "resolv.conf").write_text(resolv)


def _emulated_main(spec: dict, cdir, stdio, go_r: int, err_w: int) -> None:
    """The chroot-emulated mode's first process: proot runs the command in the flattened rootfs."""
    from . import emulated
    try:
        set_pdeathsig(signal.SIGKILL)
        os.read(go_r, 2)
        os.close(go_r)
        take_stdio(stdio, spec["process"]["terminal"])
        env = dict(e.split("=", 1) for e in spec["process"]["env"])
        exec_or_report(spec["process"]["args"], env, err_w, lambda: emulated.execute(spec, Path(cdir), env))
    except BaseException as e:
        _print_exc()
        _report(err_w, 125, f"{type(e).__name__}: {e}")
        os._exit(125)


TIOCGPTN, TIOCSPTLCK = 0x80045430, 0x40045431  # <asm-generic/ioctls.h>: ptsname(3) and unlockpt(3)


def send_new_pty(sock_fd: int, size: dict | None = None) -> tuple[int, int, int]:
    """Open a pty in our /dev/pts (the container's devpts), send its master over ``sock_fd`` (to the shim, or
    to ``exec -t``'s command line); return the slave, three times, for stdin, stdout and stderr.
    ``size``: OCI's ``consoleSize`` (``{"height": rows, "width": columns}``), the terminal's from the start."""
    master = os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY)
    fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))
    if size and size.get("height") and size.get("width"):
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", size["height"], size["width"], 0, 0))
    number = struct.unpack("I", fcntl.ioctl(master, TIOCGPTN, b"\0" * 4))[0]
    slave = os.open(f"/dev/pts/{number}", os.O_RDWR | os.O_NOCTTY)
    with socket.socket(fileno=sock_fd) as sock:
        socket.send_fds(sock, [b"pty"], [master])
    os.close(master)
    return slave, slave, slave


def take_stdio(stdio, tty: bool) -> None:
    """Make the pty our controlling terminal (``-t``), or plug in the pipes, as fds 0, 1, 2."""
    os.setsid()
    if tty:
        fcntl.ioctl(stdio[0], termios.TIOCSCTTY, 0)
    for target, fd in enumerate(stdio):
        os.dup2(fd, target)
    for fd in set(stdio):
        if fd > 2:
            os.close(fd)


def _rootfs_spec(spec: dict, cdir: Path, rootless: bool = False) -> RootfsSpec:
    """What ``enter_rootfs`` builds, from the bundle's spec."""
    # the bundle's own files (/etc/hosts...) have no options; volumes, binds and tmpfs have
    binds = [(cdir / m["source"], m["destination"]) for m in spec["mounts"] if "options" not in m]
    mounts = tuple(m for m in spec["mounts"] if "options" in m)
    root, overlay = spec["root"], spec["minidock"]["overlay"]
    linux = spec["linux"]
    confinement = {"masked": tuple(linux.get("maskedPaths", MASKED_PATHS)),
                   "readonly_paths": tuple(linux.get("readonlyPaths", READONLY_PATHS)),
                   "privileged": bool(spec["minidock"].get("privileged")) and not rootless}
    hostname = None if "uts" in (spec["minidock"].get("share") or []) else spec["hostname"]   # never the host's
    if overlay is None:  # a copied tree (vfs)
        return RootfsSpec(cdir / root["path"], None, None, None, binds, root["readonly"], hostname,
                          mounts=mounts, **confinement)
    return RootfsSpec(cdir / root["path"], [Path(p) for p in overlay["lowerdir"]], cdir / overlay["upperdir"],
                      cdir / overlay["workdir"], binds, root["readonly"], hostname, userxattr=rootless,
                      links=Path(overlay["links"]), cgroupfs=not rootless, mounts=mounts, **confinement)


def seccomp_filter(spec: dict) -> bytes | None:
    """The spec's seccomp filter as a BPF program (not loaded yet), or None: ``unconfined``, ``--privileged``.
    Made while the host's files are in sight: libseccomp, and the store's ``seccomp/`` where programs are kept."""
    rules = spec["linux"].get("seccomp")
    cache = spec["minidock"].get("seccompCache")
    return seccomp.program(rules, Path(cache) if cache else None) if rules else None


def settle(spec: dict, user: str, workdir: str, env: list[str], syscall_filter: bytes | None = None) -> dict:
    """The last steps before exec, inside the container's root: who, where, with which rights.

    Shared by the container's first process and by ``exec``.  Order matters
    (runc's, libcontainer/standard_init_linux.go): read /etc/passwd while
    still root, create the WORKDIR (docker does); load the seccomp filter
    *before* the capabilities go when no_new_privs is off (seccomp(2) then
    needs CAP_SYS_ADMIN), else as late as possible; cut the capabilities to
    the spec's set (to those the engine holds: no process can give more),
    set no_new_privs if asked (setuid binaries then stop working as such),
    and only then change uid -- setuid(2) last, since after it we could not
    setgid(2).  The filter allows every call made after it (capset, prctl,
    setgroups, setuid, read, execve), so the program's own execve is filtered too.
    """
    restore_signals()
    try:
        uid, gid, groups, home = setup_user(user or "root", Path("/etc"))
    except MinidockError:
        if user and user not in ("root", "0"):
            raise
        uid, gid, groups, home = 0, 0, [], "/root"  # no /etc/passwd: root is uid 0, as docker assumes
    environ = dict(e.split("=", 1) for e in env)
    environ.setdefault("HOSTNAME", spec["hostname"])
    environ.setdefault("HOME", home)
    os.makedirs(workdir, exist_ok=True)
    os.chdir(workdir)
    process = spec["process"]
    no_new_privileges = process.get("noNewPrivileges", False)
    if syscall_filter is not None and not no_new_privileges:
        seccomp.load(syscall_filter)
    wanted = capability_numbers(process.get("capabilities", {}).get("bounding", DEFAULT_CAPABILITIES))
    keep = wanted & bounding_set()
    limit_bounding(keep)
    if no_new_privileges:
        set_no_new_privs()
    become(uid, gid, groups)   # while CAP_SETUID and CAP_SETGID are still ours
    set_capabilities(keep if uid == 0 else set())   # a user other than root keeps none (Docker's rule)
    if syscall_filter is not None and no_new_privileges:
        seccomp.load(syscall_filter)
    return environ


def restore_signals() -> None:
    """Default dispositions for the signals Python and the shim ignore (SIGPIPE, SIGXFSZ, SIGTERM).

    An ignored signal stays ignored across execve(2), and POSIX sh may not
    trap a signal that was ignored when it started: without this, ``trap ...
    TERM`` in the container does nothing and ``stop`` always ends in SIGKILL
    (subprocess's ``restore_signals`` does the same for SIGPIPE and SIGXFSZ).
    """
    for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)


def exec_or_report(argv: list[str], env: dict, err_w: int, run=None) -> None:
    """execve (or ``run()``, which execs), or report why not: 127 not found, 126 not executable (docker's codes)."""
    try:
        if run is not None:
            run()
        else:
            os.execvpe(argv[0], argv, env)
    except FileNotFoundError:
        _report(err_w, 127, f'exec: "{argv[0]}": executable file not found in $PATH')
        os._exit(127)
    except PermissionError:
        _report(err_w, 126, f'exec: "{argv[0]}": permission denied')
        os._exit(126)
    except OSError as e:
        _report(err_w, 126, f'exec: "{argv[0]}": {e.strerror}')
        os._exit(126)


def _report(err_w: int, code: int, message: str) -> None:
    with contextlib.suppress(OSError):
        os.write(err_w, f"{code} {message}".encode())


def _tiny_init(argv: list[str], env: dict, err_w: int) -> None:
    """``--init``: stay PID 1, run the command as our child, forward signals, reap zombies.

    A process that is PID 1 gets no default signal handling from the kernel
    (SIGTERM does nothing unless handled) and inherits every orphan; an init
    handles both, as docker's tini does.
    """
    child = os.fork()
    if child == 0:
        exec_or_report(argv, env, err_w)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(sig, lambda s, _f: os.kill(child, s))
    os.close(err_w)  # only now may ``start`` return: a ``stop`` sent earlier would be lost
    while True:
        pid, status = os.wait()
        if pid == child:
            code = os.waitstatus_to_exitcode(status)
            os._exit(128 - code if code < 0 else code)
