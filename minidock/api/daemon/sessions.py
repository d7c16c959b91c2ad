"""What the daemon keeps of the containers it started: the shim's first attach socket, and exit codes.

``docker run`` attaches *before* it starts the container, so that it sees every byte of output: the
attach request waits here (``pending``) until the start.  The daemon starts the container with one
end of a socketpair as the shim's first client (as ``minidock run`` does), and a *session* thread
fans the shim's frames out to every client attached before the start, and their input in.  Clients
that attach to a running container connect to the shim's ``attach.sock`` themselves.

The session also hears the shim's last frame, the exit code: a ``wait`` for a container that
``AutoRemove`` removed the moment it exited still learns how it ended (``exit_code``).  That, and
the attach, is all that lives only in memory: a restarted daemon loses neither containers nor logs.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading

from ...runtime.stdcopy import EXIT, FrameReader

KEPT_EXITS = 1000   # exit codes remembered for containers already removed


class Sessions:
    """Every container this daemon started and still runs, and the clients waiting for a start."""

    def __init__(self):
        self.lock = threading.Condition()
        self.waiting: dict[str, dict[socket.socket, tuple[socket.socket, bool]]] = {}
        # cid -> {their end: (our end, whether the client sends input)} for clients attached before the start
        self.exits: dict[str, int] = {}                     # cid -> the exit code the shim reported last
        self.generation = 0                                 # counts exits, so waiters notice each one
        self.live: dict[str, _Session] = {}

    def pending(self, cid: str, stdin: bool) -> socket.socket:
        """A socket that will carry the container's frames (and take its input, with ``stdin``) from its
        next start."""
        ours, theirs = socket.socketpair()
        with self.lock:
            self.waiting.setdefault(cid, {})[theirs] = (ours, stdin)
        return theirs

    def abandon(self, cid: str, theirs: socket.socket) -> None:
        """A client is done with its socket from ``pending``: if the start has not come, forget it."""
        with self.lock:
            ours = self.waiting.get(cid, {}).pop(theirs, (None,))[0]
            if not self.waiting.get(cid, True):
                del self.waiting[cid]
        if ours is not None:
            ours.close()
        theirs.close()

    def still_waiting(self, cid: str, theirs: socket.socket) -> bool:
        """Whether the socket from ``pending`` still waits for a start by this daemon."""
        with self.lock:
            return theirs in self.waiting.get(cid, {})

    def start(self, containers, cid: str) -> dict:
        """Start the container with a session as its shim's first client; its state once it runs."""
        ours, theirs = socket.socketpair()
        with self.lock:
            clients = list(self.waiting.pop(cid, {}).values())
            self.lock.notify_all()   # the attaches waiting for this start (attach._await_start)
        try:
            state = containers.start(cid, attach=theirs)
        except BaseException:
            ours.close()
            for client, _ in clients:
                client.close()
            raise
        finally:
            theirs.close()
        session = _Session(self, cid, ours, clients)
        with self.lock:
            self.live[cid] = session
        session.thread.start()
        return state

    def ended(self, cid: str, code: int | None) -> None:
        with self.lock:
            self.live.pop(cid, None)
            if code is not None:
                self.exits.pop(cid, None)
                self.exits[cid] = code
                while len(self.exits) > KEPT_EXITS:
                    self.exits.pop(next(iter(self.exits)))
            self.generation += 1
            self.lock.notify_all()

    def exit_code(self, cid: str) -> int | None:
        with self.lock:
            return self.exits.get(cid)

    def changed(self, timeout: float) -> None:
        """Sleep until this daemon starts a container or one it started ends, or ``timeout`` seconds."""
        with self.lock:
            self.lock.wait(timeout)

    def close(self) -> None:
        """The daemon stops: hang up on waiting clients; the containers go on under their shims."""
        with self.lock:
            for clients in self.waiting.values():
                for client, _ in clients.values():
                    client.close()
            self.waiting.clear()
            sessions = list(self.live.values())
        for session in sessions:
            session.stop()


class _Session:
    """One start: moves the shim's frames to the clients attached before it, their input to the shim."""

    def __init__(self, sessions: Sessions, cid: str, shim: socket.socket,
                 clients: list[tuple[socket.socket, bool]]):
        self.sessions, self.cid, self.shim = sessions, cid, shim
        self.clients = [client for client, _ in clients]
        self.input = {client for client, stdin in clients if stdin}
        self.stdin_closed = False
        self.stopping = False
        self.thread = threading.Thread(target=self.run, name=f"session-{cid[:12]}", daemon=True)

    def stop(self) -> None:
        self.stopping = True
        with contextlib.suppress(OSError):
            self.shim.shutdown(socket.SHUT_RDWR)

    def run(self) -> None:
        reader, code = FrameReader(), None
        sel = selectors.DefaultSelector()
        sel.register(self.shim, selectors.EVENT_READ, None)
        for client in self.clients:
            sel.register(client, selectors.EVENT_READ, client)
        try:
            while True:
                for key, _ in sel.select():
                    if key.data is None:
                        data = self._recv(self.shim)
                        if not data:
                            return
                        code = next((int(d) for s, d in reader.feed(data) if s == EXIT), code)
                        for client in list(self.clients):
                            try:
                                client.sendall(data)
                            except OSError:
                                self._drop(sel, client)
                    else:
                        self._input(sel, key.data)
        finally:
            sel.close()
            for client in self.clients:
                client.close()
            self.shim.close()
            self.sessions.ended(self.cid, None if self.stopping else code)

    def _input(self, sel, client: socket.socket) -> None:
        """A client's bytes are the container's input; its end of input ends the container's (StdinOnce)."""
        data = self._recv(client)
        if data:
            with contextlib.suppress(OSError):
                self.shim.sendall(data)
            return
        with contextlib.suppress(KeyError, ValueError):
            sel.unregister(client)
        if client in self.input and not self.stdin_closed:
            self.stdin_closed = True
            with contextlib.suppress(OSError):
                self.shim.shutdown(socket.SHUT_WR)

    def _drop(self, sel, client: socket.socket) -> None:
        with contextlib.suppress(KeyError, ValueError):
            sel.unregister(client)
        self.clients.remove(client)
        client.close()

    @staticmethod
    def _recv(sock: socket.socket) -> bytes:
        try:
            return sock.recv(65536)
        except OSError:
            return b""
