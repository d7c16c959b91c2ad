"""User namespaces: how an unprivileged user becomes "root" of a small world of their own.

A process that unshares CLONE_NEWUSER holds every capability *inside* the new
namespace, over the namespaces it creates from there (mount, pid, net...).
Its IDs inside are whatever its uid_map says; an unprivileged process may map
exactly one ID: its own (user_namespaces(7), "Defining user and group ID
mappings").  So "root inside" is the user outside, and files it makes belong
to that user on disk.  It must write "deny" to /proc/self/setgroups before it
may write its gid_map (since Linux 3.19, CVE-2014-8989).

minidock's rootless mode builds on this: layers are extracted inside such a
namespace (so overlay's whiteouts, char devices 0/0, may be made there), and a
container's keeper unshares one before the other namespaces.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable

from ..errors import InvalidArchive, MinidockError
from .syscalls import CLONE_NEWUSER, unshare

TYPE_CHECKING = False  # typing's, without importing typing: every command would pay for it
if TYPE_CHECKING:
    from typing import BinaryIO


def map_self(uid: int, gid: int) -> None:
    """After unshare(CLONE_NEWUSER): be root inside, ``uid``:``gid`` outside."""
    with open("/proc/self/setgroups", "w") as f:
        f.write("deny")
    with open("/proc/self/uid_map", "w") as f:
        f.write(f"0 {uid} 1")
    with open("/proc/self/gid_map", "w") as f:
        f.write(f"0 {gid} 1")


def enter_own(flags: int = 0) -> None:
    """Unshare a user namespace (plus ``flags``) and map ourselves to root in it."""
    uid, gid = os.geteuid(), os.getegid()
    unshare(CLONE_NEWUSER | flags)
    map_self(uid, gid)


def run_as_root_inside(fn: Callable, *args, feed: BinaryIO | None = None):
    """Run ``fn(*args)`` in a child that is root of its own user namespace; return its JSON result.

    With ``feed``, the child gets a reader of ``feed``'s bytes as its first
    argument: we copy them down a pipe while it works.
    """
    r, w = os.pipe()
    data_r, data_w = os.pipe() if feed is not None else (None, None)
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            _close_all_but(w, data_r)  # above all other pipes' write ends, or their readers never see EOF
            os.write(w, json.dumps(_reply(fn, args, data_r)).encode())
        finally:
            os._exit(0)  # whatever happened, the forked child never returns into its parent's code
    os.close(w)
    fed = None
    if feed is not None:
        os.close(data_r)
        try:
            _pump(feed, data_w)
        except BaseException as e:  # the feed failed (a truncated archive, say): the child sees EOF
            fed = e
    with os.fdopen(r, "rb") as f:
        data = f.read()
    os.waitpid(pid, 0)  # also after a failed feed: the caller may remove what the child still writes into
    if fed is not None:
        raise fed
    reply = json.loads(data or b'{"error": "the user-namespace child died", "archive": false}')
    if "error" in reply:
        raise (InvalidArchive if reply["archive"] else MinidockError)(reply["error"])
    return reply["result"]


def _reply(fn: Callable, args: tuple, data_r: int | None) -> dict:
    """In the child: enter our own user namespace, run ``fn``, and say how it went."""
    try:
        enter_own()
        given = (os.fdopen(data_r, "rb"), *args) if data_r is not None else args
        return {"result": fn(*given)}
    except MinidockError as e:
        return {"error": str(e), "archive": isinstance(e, InvalidArchive)}
    except BaseException as e:
        import traceback  # here, not at the top: only a failure needs it, and every run would pay
        traceback.print_exc()
        return {"error": f"{type(e).__name__}: {e}", "archive": False}


def _pump(feed: BinaryIO, fd: int) -> None:
    """Copy ``feed`` into the pipe ``fd`` and close it; stop early if the reader has gone."""
    with open(fd, "wb", buffering=0) as out:
        try:
            while chunk := feed.read(1 << 20):
                view = memoryview(chunk)
                while view:  # an unbuffered write may take only part
                    view = view[out.write(view):]
        except BrokenPipeError:
            pass  # the child stopped reading: its reply says why


def _close_all_but(*keep: int | None) -> None:
    """In a forked child: close every fd above stderr except ``keep``."""
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2 and fd not in keep:
            with contextlib.suppress(OSError):
                os.close(fd)
