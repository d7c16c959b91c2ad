"""User-mode networking for rootless containers: slirp4netns, as podman runs it.

Without root there is no bridge and no veth: a rootless container's network
namespace has only ``lo``.  slirp4netns (rootless-containers/slirp4netns)
gives it more without any privilege: it joins the container's user and
network namespaces, makes a TAP device ``tap0`` there, and carries the
container's packets as ordinary sockets of the user outside, through a TCP/IP
stack of its own (libslirp, QEMU's user-mode network).  So a container can
open connections outward as its user could; nothing can connect *in* (ports
are published by the shim's proxy, ``network.PortProxy``), and two such
containers cannot reach each other: each has a private 10.0.2.0/24 of its own.

The defaults are podman's (containers.conf, ``[network]``; podman's
libpod/networking_slirp4netns.go): ``--configure`` (address 10.0.2.100/24 on
``tap0``, ``lo`` up, a default route via 10.0.2.2), ``--mtu=65520`` (slirp4netns's
own default is 1500; larger frames are fewer copies), ``--disable-host-loopback``
(10.0.2.2 is the host's 127.0.0.1 unless ``allow_host_loopback=true``), DNS
forwarded at 10.0.2.3, and ``--enable-sandbox``/``--enable-seccomp`` (slirp4netns
confines itself: an empty root, few system calls).  Docker's rootless mode
(RootlessKit) uses the same addresses for its one slirp4netns per daemon.

Its life is the container's: the shim starts it once the container's
namespaces exist and waits on ``--ready-fd`` before the container's command
runs; it ends when the shim closes ``--exit-fd`` -- or dies, even of SIGKILL,
since the kernel closes a dead process's fds.
"""

from __future__ import annotations

import contextlib
import functools
import os
import select
import shutil

from ..errors import APIError, MinidockError

TYPE_CHECKING = False  # typing's, without importing typing: every command would pay for it
if TYPE_CHECKING:
    from subprocess import Popen

ADDRESS, GATEWAY, DNS, PREFIXLEN = "10.0.2.100", "10.0.2.2", "10.0.2.3", 24   # slirp4netns -c, cidr 10.0.2.0/24
TAP = "tap0"
MTU = 65520
READY_TIMEOUT = 10.0
MODE = "slirp4netns"
TUN = "/dev/net/tun"


def executable() -> str | None:
    """Where slirp4netns is installed (on PATH, as podman looks for it), or None."""
    return shutil.which("slirp4netns")


@functools.lru_cache(maxsize=1)
def version() -> str | None:
    """slirp4netns's version (``1.2.0``), or None when it is not installed or does not run."""
    found = executable()
    if found is None:
        return None
    import subprocess  # here, not at the top: every `run` imports this module, few need this
    try:
        out = subprocess.run([found, "--version"], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    first = out.split("\n", 1)[0].split()   # "slirp4netns version 1.2.0"
    return first[-1] if len(first) == 3 and first[1] == "version" else None


def unusable() -> str | None:
    """Why slirp4netns cannot give a container its network here; None: it can.  It makes ``tap0`` through
    the kernel's TUN device, which a container or a pod may lack (Kubernetes gives none by default)."""
    if executable() is None:
        return "slirp4netns is not installed"
    if not os.path.exists(TUN):
        return f"{TUN} is missing (slirp4netns makes tap0 with it)"
    return None


def describe() -> str:
    """What a rootless container's network is here, for ``minidock info``."""
    why = unusable()
    if why is None:
        return f"slirp4netns {version() or '(version unknown)'} (user-mode; outbound only, no container-to-container)"
    if executable() is None:
        return "loopback only (install slirp4netns for outbound connections)"
    return f"loopback only ({why})"


def is_mode(network: str) -> bool:
    """``slirp4netns`` or ``slirp4netns:OPTIONS`` (podman's ``--network`` syntax)."""
    return network == MODE or network.startswith(MODE + ":")


def parse_options(network: str) -> dict:
    """``slirp4netns:allow_host_loopback=true,mtu=1500`` -> ``{"allow_host_loopback": True, "mtu": 1500}``.

    The options podman knows and minidock does not (cidr, enable_ipv6, outbound_addr, port_handler)
    are refused by name: a container must not start with a network other than the one asked for.
    """
    options = {"allow_host_loopback": False, "mtu": MTU}
    text = network.partition(":")[2]
    for item in filter(None, text.split(",")):
        key, sep, value = item.partition("=")
        if key == "allow_host_loopback" and sep and value in ("true", "false"):
            options[key] = value == "true"
        elif key == "mtu" and sep and value.isdigit() and 68 <= int(value) <= 65521:
            options[key] = int(value)
        else:
            raise APIError(f"invalid slirp4netns option {item!r}: minidock knows allow_host_loopback=true|false "
                           "and mtu=68..65521")
    return options


class Slirp:
    """A running slirp4netns for one container's network namespace; ``stop()`` ends it."""

    def __init__(self, process: Popen, exit_w: int):
        self.process, self.exit_w = process, exit_w

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        """Close the exit fd (slirp4netns's poll(2) sees it) and reap it; SIGKILL if it lingers."""
        import subprocess
        if self.exit_w is not None:
            os.close(self.exit_w)
            self.exit_w = None
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start(pid: int, options: dict) -> Slirp:
    """slirp4netns for the network namespace of ``pid`` (it joins that process's user namespace
    first: the user who owns it may); return once it has configured ``tap0``."""
    found = executable()
    if found is None:
        raise MinidockError("--network slirp4netns: slirp4netns is not installed (apt-get install slirp4netns)")
    import subprocess
    ready_r, ready_w = os.pipe()
    exit_r, exit_w = os.pipe2(os.O_CLOEXEC)   # our end must not leak into anything else we start
    argv = [found, "--configure", f"--mtu={options['mtu']}", f"--ready-fd={ready_w}", f"--exit-fd={exit_r}",
            "--enable-sandbox", "--enable-seccomp"]
    if not options["allow_host_loopback"]:
        argv.append("--disable-host-loopback")
    try:
        process = subprocess.Popen([*argv, str(pid), TAP], pass_fds=(ready_w, exit_r), stdin=subprocess.DEVNULL)
    except OSError as e:
        for fd in (ready_r, ready_w, exit_r, exit_w):
            os.close(fd)
        raise MinidockError(f"slirp4netns could not be started: {e.strerror}") from None
    os.close(ready_w)
    os.close(exit_r)
    slirp = Slirp(process, exit_w)
    try:
        _wait_ready(ready_r, process)
    except BaseException:
        slirp.stop()
        raise
    return slirp


def _wait_ready(ready_r: int, process: Popen) -> None:
    """slirp4netns writes "1" to its ready fd once the network is configured, and closes it."""
    with contextlib.closing(os.fdopen(ready_r, "rb", buffering=0)) as ready:
        readable, _, _ = select.select([ready], [], [], READY_TIMEOUT)
        if readable and ready.read(1) == b"1":
            return
    code = process.poll()
    why = f"it exited with {code}" if code is not None else f"it was not ready in {READY_TIMEOUT:.0f} s"
    raise MinidockError(f"slirp4netns could not configure the container's network ({why}; see shim.log)")


def etc_files(options: dict) -> tuple[list[list[str]], str]:
    """The /etc/hosts lines slirp adds and /etc/resolv.conf: podman's ``host.containers.internal``
    (10.0.2.2, only where it leads to the host's loopback) and slirp4netns's DNS forwarder."""
    hosts = [[GATEWAY, "host.containers.internal"]] if options["allow_host_loopback"] else []
    return hosts, f"nameserver {DNS}\n"
