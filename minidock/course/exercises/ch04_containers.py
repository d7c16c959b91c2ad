"""Chapter 04's exercises (containers): one checker each."""

from __future__ import annotations


from ...api.client import Client
from .checking import NotYet, command_of, containers_where, exercise, names, need


@exercise("04-containers", 1)
def no_network(client: Client, interfaces=None, skipped=None) -> str:
    """A container run with ``--network none``: its interfaces, and which steps of `run` it skipped."""
    if not containers_where(client, lambda a: a["HostConfig"]["NetworkMode"] == "none"):
        raise NotYet("no container here was run with --network none")
    need(interfaces=interfaces, skipped=skipped)
    if names(interfaces) != {"lo"}:
        raise NotYet(f"interfaces={interfaces}: list the names `ip addr` printed inside (without the numbers)")
    if {int(step) for step in skipped} != {4, 5}:
        raise NotYet(f"skipped={skipped}: which of section 3's steps 1-7 are about the network?")
    return "only lo: no veth bridged in (step 4), no address from the pool (step 5)"


@exercise("04-containers", 2)
def tty_without_stdin(client: Client) -> str:
    """Two containers of ``sh``: one with ``-t`` only, one with ``-i`` only."""
    t_only = containers_where(client, lambda a: a["Config"]["Tty"] and not a["Config"]["OpenStdin"])
    i_only = containers_where(client, lambda a: a["Config"]["OpenStdin"] and not a["Config"]["Tty"])
    if not t_only or not i_only:
        raise NotYet(f"found {len(t_only)} container(s) with -t only and {len(i_only)} with -i only: "
                     "run `busybox sh` once with each (and no --rm, so that they stay)")
    return "-t alone: a prompt nobody can type to; -i alone: input without a terminal (no prompt)"


@exercise("04-containers", 3)
def clean_stop(client: Client) -> str:
    """A web server whose first process traps SIGTERM, stopped: exit code 0."""
    trapped = containers_where(client, lambda a: "trap" in command_of(a) and "httpd" in command_of(a))
    if not trapped:
        raise NotYet("no container runs a shell with `trap 'exit 0' TERM` and httpd")
    attrs = trapped[0].attrs
    if attrs["State"]["Running"]:
        raise NotYet(f"{attrs['Name'][1:]} is still running: `minidock stop` it")
    if attrs["State"]["ExitCode"] != 0:
        raise NotYet(f"{attrs['Name'][1:]} exited with {attrs['State']['ExitCode']}: was it killed? The shell must "
                     "not exec httpd (then httpd is PID 1), and must `wait` for it so the trap can run")
    return "Exited (0) at once: a PID 1 that handles SIGTERM needs no SIGKILL"
