"""Registry commands: ``registry serve``, the embedded registry on this machine."""

from __future__ import annotations

import signal

from ..api.client import Client
from ..errors import UsageError
from .base import command, flag, out


def parse_addr(addr: str) -> tuple[str, int]:
    """``HOST:PORT`` (IPv4 or a name) as a socket address; port 0 means any free port."""
    host, _, port = addr.rpartition(":")
    if not host or not port.isdigit() or int(port) > 65535:
        raise UsageError(f'invalid --addr "{addr}": want HOST:PORT, e.g. 127.0.0.1:5000')
    return host, int(port)


@command("registry", "COMMAND", "Manage the embedded registry: serve", counts=(1, None))
def registry_cmd(client: Client, opts) -> int:
    raise UsageError(f'unknown command "{opts.args[0]}" for "minidock registry"')  # serve: see dispatch


@command("registry serve", "[OPTIONS]", "Serve images over the OCI distribution API (a registry)",
         flag("--addr", default="127.0.0.1:5000", help="Address to listen on (port 0: any free port)"),
         flag("--root", help="Directory of the registry's storage (default: the store's registry/)"),
         flag("--htpasswd", help="Require basic auth against this htpasswd file (bcrypt entries)"),
         flag("--auth", default="basic", help="basic, or token: issue bearer tokens at /token to the htpasswd's users"),
         flag("--read-only-user", action="append", default=[], metavar="USER",
              help="With --auth token: this user may pull but not push (repeatable)"),
         flag("--tls-cert", help="Serve HTTPS with this PEM certificate (chain); needs --tls-key"),
         flag("--tls-key", help="The PEM private key of --tls-cert"),
         counts=(0, 0))
def registry_serve_cmd(client: Client, opts) -> None:
    from ..api.registry import RegistryServer  # only this command pays for http.server
    addr = parse_addr(opts.addr)
    if bool(opts.tls_cert) != bool(opts.tls_key):
        raise UsageError("--tls-cert and --tls-key go together: give both, or neither")
    # Block SIGTERM and SIGINT before any thread starts (threads inherit the mask), then wait
    # for one in the main thread: no handler runs in the middle of a request.
    stop_signals = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    try:
        server = RegistryServer(opts.root or client.store.root / "registry", addr, opts.htpasswd,
                                tls=(opts.tls_cert, opts.tls_key) if opts.tls_cert else None,
                                auth=opts.auth, read_only=opts.read_only_user)
        with server:
            out(f"minidock registry listening on {server.url}")
            signal.sigwait(stop_signals)
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, stop_signals)
