"""``minidock daemon``: serve the engine over the Docker Engine API, as ``dockerd`` does."""

from __future__ import annotations

import signal

from ..api.client import Client
from ..errors import UsageError
from .base import command, flag


def group_id(name: str | None) -> int | None:
    """``--group NAME`` (or a number) as a group ID: who besides root may use the socket."""
    if name is None:
        return None
    import grp
    try:
        return int(name) if name.isdigit() else grp.getgrnam(name).gr_gid
    except KeyError:
        raise UsageError(f"no such group: {name}") from None


@command("daemon", "[OPTIONS]", "Serve the Docker Engine API on a socket, so the docker CLI and docker-py drive minidock",
         flag("-H", "--host", action="append", default=[],
              help="Socket to listen on: unix:///PATH (default /run/minidock/docker.sock; rootless "
                   "$XDG_RUNTIME_DIR/minidock/docker.sock) or tcp://127.0.0.1:PORT (loopback only)"),
         flag("--group", help="Group that may use the unix socket besides root (the socket is 0660)"),
         flag("-D", "--debug", action="store_true", help="Log one line per API request: method, path, status, time"),
         counts=(0, 0))
def daemon_cmd(client: Client, opts) -> None:
    from ..api.daemon.daemon import Daemon  # only this command pays for http.server
    import faulthandler
    # SIGUSR1: every thread's stack to the log, as dockerd dumps its goroutines' (a stuck request, a leak)
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    # Block SIGTERM and SIGINT before any thread starts (threads inherit the mask), then wait
    # for one in the main thread: no handler runs in the middle of a request.
    stop_signals = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    try:
        daemon = Daemon(client.store.root, opts.host or None, group_id(opts.group), opts.debug)
        with daemon:
            daemon.log_line(f"API listen on {' '.join(daemon.addresses)} (store {daemon.root})")
            received = signal.sigwait(stop_signals)
            daemon.log_line(f"received {signal.Signals(received).name}: stopping (containers keep running)")
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, stop_signals)
