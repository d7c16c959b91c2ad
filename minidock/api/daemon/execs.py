"""``/containers/{id}/exec`` and ``/exec/{id}/...``: a second process in a running container.

An exec is made (``POST /containers/{id}/exec``: its configuration, kept by the daemon under a new ID),
then started: detached, or attached through a hijacked connection -- raw bytes both ways with a TTY
(the process makes its terminal in the container's devpts and hands the daemon its master),
multiplexed frames without.  ``GET /exec/{id}/json`` tells its exit code afterwards: that is how
``docker exec`` learns what to exit with.  Like Docker's, execs live in the daemon's memory only.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import socket
import threading

from ...containers import container as ctr
from ...errors import APIError, Conflict, NotFound
from ...runtime.stdcopy import STDERR, STDOUT, frame
from . import configs
from .containers import RAW, MULTIPLEXED, set_window
from .server import route, version_tuple

KEPT = 1000  # execs remembered; the oldest finished ones are forgotten first


class Exec:
    def __init__(self, exec_id: str, cid: str, config, attach_stdin: bool):
        self.id, self.cid, self.config, self.stdin = exec_id, cid, config, attach_stdin
        self.running, self.started, self.exit_code, self.pid = False, False, None, 0
        self.master: int | None = None


def _table(req) -> dict:
    return req.daemon.execs


def _get(req, exec_id: str) -> Exec:
    found = _table(req).get(exec_id)
    if found is None:
        raise NotFound(f"No such exec instance: {exec_id}")
    return found


@route("POST", r"/containers/(?P<name>[^/]+)/exec")
def create(req, name: str) -> None:
    c = req.client.containers.containers
    cid = c.resolve(name)
    body = req.json_body()
    config = configs.exec_config(body)
    c.active(cid)
    exe = Exec(os.urandom(32).hex(), cid, config, bool(body.get("AttachStdin")))
    c.emit(cid, "exec_create: " + " ".join(config.Cmd), execID=exe.id)
    table = _table(req)
    with req.daemon.lock:
        table[exe.id] = exe
        finished = [e for e in table.values() if e.started and not e.running]
        for old in finished[:max(0, len(table) - KEPT)]:
            table.pop(old.id, None)
    req.reply_json({"Id": exe.id}, 201)


@route("GET", r"/exec/(?P<exec_id>[^/]+)/json")
def inspect(req, exec_id: str) -> None:
    exe = _get(req, exec_id)
    cfg = exe.config
    req.reply_json({"ID": exe.id, "Running": exe.running, "ExitCode": exe.exit_code, "ContainerID": exe.cid,
                    "ProcessConfig": {"tty": cfg.Tty, "entrypoint": cfg.Cmd[0], "arguments": cfg.Cmd[1:],
                                      "privileged": False, "user": cfg.User},
                    "OpenStdin": exe.stdin, "OpenStdout": cfg.AttachStdout, "OpenStderr": cfg.AttachStderr,
                    "CanRemove": False, "DetachKeys": "", "Pid": exe.pid})


@route("POST", r"/exec/(?P<exec_id>[^/]+)/resize")
def resize(req, exec_id: str) -> None:
    exe = _get(req, exec_id)
    if not exe.running:
        raise Conflict(f"Exec {exec_id} is not running")
    if exe.master is not None:
        set_window(f"/proc/self/fd/{exe.master}", req.number("h", 0), req.number("w", 0))
    req.reply_empty(200)


@route("POST", r"/exec/(?P<exec_id>[^/]+)/start")
def start(req, exec_id: str) -> None:
    # the body is read first, as dockerd does: a 404 answered before it would meet a client still sending
    # it, which then sees a broken pipe instead of the message
    body = req.json_body()
    exe = _get(req, exec_id)
    c = req.client.containers.containers
    with req.daemon.lock:
        if exe.started:
            raise Conflict(f"Exec {exec_id} has already been started")
        exe.started = True
    if c.state(exe.cid)["Status"] != "running":
        raise Conflict(f"Container {exe.cid} is not running")
    if body.get("Detach"):
        null = os.open(os.devnull, os.O_RDWR)
        try:
            pid, err_r = ctr.exec_process(c, exe.cid, exe.config, (null, null, null))
        finally:
            os.close(null)
        _running(exe, pid)
        threading.Thread(target=_reap, args=(exe, pid, err_r), daemon=True).start()
        req.reply_empty(200)
        return
    # the answer's head goes first, then the process starts, as dockerd orders them: docker-py reads what
    # follows the head from the raw socket, and output that came with the head would be lost in its buffer
    tty = exe.config.Tty
    if tty:
        conn = req.hijack(RAW)
        pid, err_r, master = _start_with_pty(c, exe)
        _running(exe, pid)
        exe.master = master
        pump = None
        try:
            pump = _relay_pty(req, conn, master, exe.stdin)
        finally:
            exe.master = None
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)   # ends the input pump: only then may the fd go
            if pump is not None:
                pump.join()
            os.close(master)
    else:
        conn = req.hijack(RAW if version_tuple(req.api_version) < (1, 42) else MULTIPLEXED)
        pid, err_r, ours = _start_with_pipes(c, exe)
        _running(exe, pid)
        _relay_pipes(req, conn, ours, exe.stdin)
    _reap(exe, pid, err_r)
    with contextlib.suppress(OSError):
        conn.shutdown(socket.SHUT_RDWR)


def _running(exe: Exec, pid: int) -> None:
    exe.pid, exe.running = pid, True


def _reap(exe: Exec, pid: int, err_r: int) -> None:
    code, message = ctr.exec_wait(pid, err_r)
    exe.exit_code, exe.running = (code if not message else code or 126), False


def _start_with_pty(c, exe: Exec) -> tuple[int, int, int]:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    pid, err_r = ctr.exec_process(c, exe.cid, exe.config, pty_sock=theirs.fileno())
    theirs.close()
    with ours:
        _, fds, _, _ = socket.recv_fds(ours, 16, 1)
    if not fds:
        code, message = ctr.exec_wait(pid, err_r)
        exe.exit_code, exe.running = code or 126, False
        raise APIError(message or "exec: no terminal was made")
    return pid, err_r, fds[0]


def _start_with_pipes(c, exe: Exec) -> tuple[int, int, dict]:
    """stdin, stdout and stderr as pipes; ours: {fd: stream} to read, and the stdin pipe's write end."""
    cfg = exe.config
    null = os.open(os.devnull, os.O_RDWR)
    in_r, in_w = os.pipe() if exe.stdin else (null, None)
    out_r, out_w = os.pipe()
    err_pipe = os.pipe()
    try:
        pid, err_r = ctr.exec_process(c, exe.cid, cfg, (in_r, out_w if cfg.AttachStdout else null,
                                                        err_pipe[1] if cfg.AttachStderr else null))
    finally:
        for fd in {null, out_w, err_pipe[1], in_r}:
            os.close(fd)
    return pid, err_r, {"out": {out_r: STDOUT, err_pipe[0]: STDERR}, "in": in_w}


def _relay_pipes(req, conn: socket.socket, ours: dict, stdin: bool) -> None:
    if stdin:
        threading.Thread(target=_pump_input, args=(req, ours["in"]), daemon=True).start()
    sel = selectors.DefaultSelector()
    for fd, stream in ours["out"].items():
        sel.register(fd, selectors.EVENT_READ, stream)
    open_fds = len(ours["out"])
    alive = True
    while open_fds:
        for key, _ in sel.select():
            data = os.read(key.fd, 65536)
            if not data:
                sel.unregister(key.fd)
                os.close(key.fd)
                open_fds -= 1
                continue
            if alive:
                try:
                    conn.sendall(frame(key.data, data))
                except OSError:
                    alive = False   # the client left: let the process finish, as Docker does
    sel.close()


def _pump_input(req, fd: int) -> None:
    try:
        while data := req.read_raw():
            os.write(fd, data)
    except OSError:
        pass
    finally:
        os.close(fd)


def _relay_pty(req, conn: socket.socket, master: int, stdin: bool) -> threading.Thread | None:
    """The terminal's output to the client until the process ends; the input pump thread, if any."""
    thread = None
    if stdin:
        def pump() -> None:
            with contextlib.suppress(OSError):
                while data := req.read_raw():
                    os.write(master, data)
        thread = threading.Thread(target=pump, daemon=True)
        thread.start()
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:   # EIO: every process holding the terminal has ended
            break
        if not data:
            break
        try:
            conn.sendall(data)
        except OSError:
            break
    return thread
