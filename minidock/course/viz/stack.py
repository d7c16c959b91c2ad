"""Who does what between ``docker run`` and the container: Docker's chain of programs, minidock's part for each.

Docker splits the work into programs that talk to each other: the ``docker``
CLI sends Engine API requests over a unix socket to ``dockerd``; dockerd asks
``containerd`` (gRPC) to run a container; containerd starts one
``containerd-shim`` per container, and the shim runs ``runc``, which makes the
namespaces and cgroup, starts the container's first process and exits, leaving
the shim as that process's parent (Docker's architecture overview; containerd's
runtime v2 shim documentation).  minidock has a part for each, in one Python
package: ``chain_text`` and ``chain_dot`` show them side by side.

``ancestry`` reads the same chain off a running system: each process's parent,
from ``/proc/PID/stat``, up to PID 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..lang import say
from . import dotlang, text as columns


@dataclass(frozen=True)
class Part:
    """One program of Docker's chain, what plays it in minidock, its job, and how the part above reaches it."""
    docker: str
    minidock: str
    job: str
    reached_by: str


DOCKER_CHAIN = (
    Part("docker CLI", "docker CLI, docker-py (or the minidock CLI)",
         "turns a command line into Engine API requests", "you"),
    Part("dockerd", "minidock/api/daemon",
         "serves the Engine API: images, containers, exec, logs, events", "HTTP on a unix socket"),
    Part("containerd", "minidock/containers",
         "keeps each container's record and state; creates, starts, stops, removes", "gRPC (minidock: a Python call)"),
    Part("containerd-shim", "minidock/runtime/shim.py",
         "one per container: its parent, holds its stdio and logs, records its exit", "fork and exec, then its own socket"),
    Part("runc", "minidock/runtime",
         "makes namespaces, cgroup and root filesystem, then execs the program", "a command the shim runs"),
)


CHINESE = {  # the chain's prose in the Chinese edition; programs, paths and protocols keep their names
    "docker CLI, docker-py (or the minidock CLI)": "docker CLI、docker-py（或 minidock CLI）",
    "turns a command line into Engine API requests": "把命令行变成 Engine API 请求",
    "you": "你",
    "serves the Engine API: images, containers, exec, logs, events": "提供 Engine API：镜像、容器、exec、日志、事件",
    "HTTP on a unix socket": "unix 套接字上的 HTTP",
    "keeps each container's record and state; creates, starts, stops, removes":
        "保存每个容器的记录和状态；创建、启动、停止、删除容器",
    "gRPC (minidock: a Python call)": "gRPC（minidock：一次 Python 调用）",
    "one per container: its parent, holds its stdio and logs, records its exit":
        "每个容器一个：当它的父进程，握着它的标准输入输出和日志，记下它的退出码",
    "fork and exec, then its own socket": "fork 加 exec，之后经它自己的套接字",
    "makes namespaces, cgroup and root filesystem, then execs the program":
        "建好命名空间、cgroup 和根文件系统，再 exec 容器的程序",
    "a command the shim runs": "shim 运行的一条命令",
}


def _said(text: str) -> str:
    """A part's prose in the edition's words (a part not in ``CHINESE`` keeps its own)."""
    return say(text, CHINESE.get(text, text))


def chain_text(parts: tuple[Part, ...] = DOCKER_CHAIN) -> str:
    """The text twin: one row a part, top (the client) to bottom (the runtime)."""
    rows = [("Docker", "minidock", say("reached by", "上一层怎样调用它"), say("does", "做什么"))]
    rows += [(p.docker, _said(p.minidock), _said(p.reached_by), _said(p.job)) for p in parts]
    widths = [max(columns.width(row[i]) for row in rows) for i in range(3)]
    return "\n".join(f"{columns.ljust(a, widths[0])}  {columns.ljust(b, widths[1])}  {columns.ljust(c, widths[2])}  "
                     f"{d}".rstrip() for a, b, c, d in rows)


def chain_dot(parts: tuple[Part, ...] = DOCKER_CHAIN) -> str:
    """Docker's programs in a column, each arrow labelled with how it is reached; minidock's part beside each."""
    body = []
    for n, p in enumerate(parts):  # blue: Docker's program; yellow: minidock's part, on the same row
        body.append(dotlang.node(f"d{n}", label=f"{p.docker}\n{_said(p.job)}", shape="box", style="filled",
                                 fillcolor="lightblue"))
        body.append(dotlang.node(f"m{n}", label=_said(p.minidock), shape="box", style="filled", fillcolor="lightyellow"))
    for n, p in enumerate(parts):
        if n:
            body.append(dotlang.edge(f"d{n - 1}", f"d{n}", label=_said(p.reached_by)))
            body.append(dotlang.edge(f"m{n - 1}", f"m{n}", style="invis"))
        body.append(dotlang.edge(f"d{n}", f"m{n}", style="dashed", arrowhead="none", constraint="false"))
        body.append(dotlang.same_rank([f"d{n}", f"m{n}"]))
    return dotlang.digraph("client and daemon", body)


def ancestry(pid: int, proc: Path = Path("/proc")) -> list[tuple[int, str]]:
    """``[(pid, name), (parent, name), ...]`` up to PID 1 (or the first process that is gone)."""
    chain = []
    while pid:
        try:
            stat = (proc / str(pid) / "stat").read_text()
        except (FileNotFoundError, ProcessLookupError):
            break
        # "PID (comm) STATE PPID ...": comm may hold spaces and parentheses, so split at the last ")"
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        chain.append((pid, name))
        if pid == 1:
            break
        pid = int(stat[stat.rindex(")") + 2:].split()[1])
    return chain


def ancestry_text(chain: list[tuple[int, str]]) -> str:
    """``sleep <- minidock-shim <- ... <- PID 1``: names only (PIDs change every run; PID 1's name with the machine)."""
    return " <- ".join("PID 1" if pid == 1 else name for pid, name in chain)
