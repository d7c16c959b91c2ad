"""The daemon itself: its sockets, its threads, its log, and how it stops (``minidock daemon``).

A SIGTERM stops it as dockerd stops with ``live-restore``: no new connections, requests in flight
get a moment to finish, the rest are hung up on; the containers go on under their shims, and a
daemon started again finds them.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time

from ...errors import MinidockError, UsageError
from ...httpd import TCPServer, UnixServer
from ..client import Client
from . import archive, attach, build, containers, events, execs, images, networks, resources, system, volumes  # noqa: F401  (they register their routes)
from .server import LOOPBACK, Request
from .sessions import Sessions

def default_host() -> str:
    """dockerd's default is unix:///run/docker.sock; minidock's sits beside it, and rootless in
    the user's runtime directory."""
    if os.geteuid() == 0:
        return "unix:///run/minidock/docker.sock"
    runtime = os.environ.get("XDG_RUNTIME_DIR") or f"/tmp/minidock-{os.geteuid()}"
    return f"unix://{runtime}/minidock/docker.sock"


def parse_host(host: str) -> tuple[str, object]:
    """``unix:///PATH`` or ``tcp://127.0.0.1:PORT`` (loopback only: the API is root-equivalent)."""
    if host.startswith("unix://"):
        path = host[len("unix://"):]
        if not path.startswith("/"):
            raise UsageError(f"invalid host {host!r}: want unix:///ABSOLUTE/PATH")
        return "unix", path
    if host.startswith("tcp://"):
        addr = host[len("tcp://"):].rstrip("/")
        name, _, port = addr.rpartition(":")
        name = name.strip("[]")
        if not port.isdigit() or int(port) > 65535 or not name:
            raise UsageError(f"invalid host {host!r}: want tcp://127.0.0.1:PORT")
        if name not in LOOPBACK:
            raise UsageError(f"refusing to listen on {host}: anyone who reaches the API is root on this machine; "
                             "minidock listens on loopback (127.0.0.1) only")
        return "tcp", (name, int(port))
    raise UsageError(f"invalid host {host!r}: want unix:///PATH or tcp://127.0.0.1:PORT")


def _claim(path: str) -> None:
    """Make the socket's directory; remove a socket no daemon listens on any more (a killed one's)."""
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    _refuse_others(os.path.dirname(path))
    if not os.path.exists(path):
        return
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except ConnectionRefusedError:
        os.unlink(path)   # stale: its daemon is gone
        return
    except OSError as e:
        raise MinidockError(f"cannot use {path}: {e.strerror}") from None
    finally:
        probe.close()
    raise MinidockError(f"another daemon is listening on {path}")


def _refuse_others(directory: str) -> None:
    """Refuse a socket directory that another user owns, or any directory above it up to the first of root's.

    A rootless daemon without XDG_RUNTIME_DIR listens in /tmp/minidock-UID, a
    name anyone may take first (on a shared machine, another learner): its owner
    could then swap the socket for their own and receive this user's commands.
    """
    me, here = os.geteuid(), os.path.abspath(directory)
    while (owner := os.stat(here).st_uid) != 0:
        if owner != me:
            raise MinidockError(f"refusing to listen in {directory}: {here} belongs to another user (uid {owner}); "
                                "remove it, or set XDG_RUNTIME_DIR")
        here = os.path.dirname(here)


class Daemon:
    """The API on one or more sockets, each served on a background thread: ``start()``/``stop()``."""

    def __init__(self, root=None, hosts: list[str] | None = None, group: int | None = None,
                 debug: bool = False, log=None):
        self.root = Client(root).store.root   # made now: a daemon on a store it cannot create fails at once
        self.hosts = [parse_host(h) for h in (hosts or [default_host()])]
        self.group, self.debug, self.log = group, debug, log or sys.stderr
        self.sessions = Sessions()
        self.execs: dict = {}                  # exec ID -> its configuration and state (execs.py)
        self.lock = threading.Lock()
        self.servers: list = []
        self.threads: list[threading.Thread] = []
        self._busy = 0
        self._busy_lock = threading.Condition()
        self._log_lock = threading.Lock()

    def start(self) -> Daemon:
        try:
            for kind, where in self.hosts:
                if kind == "unix":
                    _claim(where)
                    server = UnixServer(where, Request, 0o660, self.group)
                else:
                    self.log_line(f"WARNING: API listening on tcp://{where[0]}:{where[1]}: anyone who can "
                                  "connect to it is root on this machine")
                    server = TCPServer(where, Request)
                server.daemon = self
                server.daemon_threads = True   # a request still stuck at exit does not keep the process
                self.servers.append(server)
                thread = threading.Thread(target=server.serve_forever, name=f"api-{kind}", daemon=True)
                thread.start()
                self.threads.append(thread)
        except BaseException:
            self.stop()
            raise
        threading.Thread(target=self.check_store, name="store-check", daemon=True).start()
        return self

    def check_store(self) -> None:
        """At start, as dockerd cleans its tmp/ (moby's prepareTempDir): what a killed writer left in
        tmp/ is swept; then the read-only ``system check``, its result logged, one line each."""
        from ..check import check
        client = Client(self.root)
        try:
            with client.store.lock():
                pass   # taking the lock sweeps tmp/ of dead writers' debris
            left = check(client)[1]
        except Exception as e:   # a check that cannot finish must not stop the daemon; say why
            self.log_line(f"system check: could not finish: {e}")
            return
        for problem in left:
            self.log_line(f"system check: {problem.line()}")
        self.log_line(f"system check: {len(left)} problem{'s' * (len(left) != 1)} found; "
                      "`minidock system check --repair` mends what can be mended" if left
                      else "system check: no problems found")

    @property
    def addresses(self) -> list[str]:
        return [f"unix://{s.path}" if isinstance(s, UnixServer) else "tcp://%s:%d" % s.server_address[:2]
                for s in self.servers]

    def stop(self, grace: float = 2.0) -> None:
        """Stop accepting; let requests in flight finish for ``grace`` seconds, then hang up on the
        rest (streams such as ``logs -f`` never finish); wait for every thread. Containers keep running."""
        for server in self.servers:
            server.shutdown()
        with self._busy_lock:
            self._busy_lock.wait_for(lambda: self._busy == 0, timeout=grace)
        for server in self.servers:
            server.close_connections()
        self.sessions.close()
        for server in self.servers:
            # a request may wait on something no hang-up ends (an exec's pipes): wait a while, not forever
            server.block_on_close = False
            threads = getattr(server, "_threads", None)
            threads = list(threads) if isinstance(threads, list) else []  # a _NoThreads until a connection came
            server.server_close()
            deadline = time.monotonic() + grace
            for thread in threads:
                thread.join(max(0.0, deadline - time.monotonic()))
        self.servers, self.threads = [], []

    def requests_begin(self) -> None:
        with self._busy_lock:
            self._busy += 1

    def requests_end(self) -> None:
        with self._busy_lock:
            self._busy -= 1
            self._busy_lock.notify_all()

    def log_line(self, text: str) -> None:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
        with self._log_lock:
            print(f"{stamp} {text}", file=self.log, flush=True)

    def log_request(self, method: str, path: str, status: int, seconds: float) -> None:
        if self.debug:
            self.log_line(f"{method} {path} {status} {seconds * 1000:.1f}ms")

    def log_error(self, text: str) -> None:
        self.log_line(f"ERROR {text}")

    def __enter__(self) -> Daemon:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
