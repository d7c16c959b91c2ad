"""Chapter 04's exercises (containers): one checker each.

Each looks at what the learner's containers left behind: their config (``--network``, ``-t``, ``-i``),
their log (what the program printed, as ``minidock logs`` shows it) and the store's event journal
(``kill``, ``die``: how a ``stop`` went).  A command's text only tells which container is the web server.
"""

from __future__ import annotations

import re
import time

from ...api.client import Client
from ..lang import say
from .checking import NotYet, containers_where, exercise, names, need

# `ip addr` / `ip link` print one "N: NAME: <FLAGS>" (or "N: NAME@PEER: ...") line per interface
INTERFACE = re.compile(r"^\d+: ([^:@\s]+)[@:]", re.MULTILINE)
# what busybox's ash prints when it starts on a terminal (stdin a tty): the banner before its first prompt
BANNER = b"built-in shell (ash)"
SIGTERM, SIGKILL = "15", "9"


def _log(container) -> bytes:
    return container.logs()


def _ran(container) -> bool:
    """Whether the container was ever started (Docker's zero time says never)."""
    return not container.attrs["State"]["StartedAt"].startswith("0001-")


@exercise("04-containers", 1)
def no_network(client: Client, interfaces=None, skipped=None) -> str:
    """A container run with ``--network none`` that listed its interfaces; their names, and the steps skipped."""
    listed = [c for c in containers_where(client, lambda a: a["HostConfig"]["NetworkMode"] == "none")
              if INTERFACE.search(_log(c).decode(errors="replace"))]
    if not listed:
        bridged = [c for c in client.containers.list(all=True) if INTERFACE.search(_log(c).decode(errors="replace"))]
        raise NotYet(say(
            f"{bridged[0].name} listed its interfaces, but on the bridge: run one with --network none (and no --rm)"
            if bridged else "no container run with --network none has listed its interfaces yet: "
                            "run one that does `ip addr`, without --rm, so that its log stays",
            f"{bridged[0].name} 列出了网络接口，但它接在网桥上：用 --network none 再运行一个（不要 --rm）"
            if bridged else "还没有用 --network none 运行、并列出网络接口的容器：运行一个执行 `ip addr` 的容器，"
                            "不要加 --rm，好让它的日志留下"))
    container = max(listed, key=lambda c: c.attrs["Created"])     # the newest, if several
    seen = INTERFACE.findall(_log(container).decode(errors="replace"))
    need(interfaces=interfaces, skipped=skipped)
    if names(interfaces) != set(seen):
        raise NotYet(say(f"interfaces={interfaces}: {container.name}'s log lists {len(seen)} interface(s); "
                         "give their names as `ip` printed them (without the numbers)",
                         f"interfaces={interfaces}：{container.name} 的日志里列出了 {len(seen)} 个网络接口；"
                         "按 `ip` 打印的样子写出它们的名字（不要编号）"))
    settings = container.attrs["NetworkSettings"]
    # section 3's step 4 bridges in a veth (an endpoint on a network), step 5 leases it an address
    wanted = ({4} if not any(n.get("EndpointID") for n in settings["Networks"].values()) else set()) \
        | ({5} if not settings["IPAddress"] else set())
    if {int(step) for step in names(skipped)} != wanted:
        raise NotYet(say(f"skipped={skipped}: compare `minidock inspect {container.name}`'s NetworkSettings "
                         "with section 3's steps 4 and 5",
                         f"skipped={skipped}：对照 `minidock inspect {container.name}` 的 NetworkSettings "
                         "和第 3 节的第 4、5 步"))
    return say(f"{container.name} had only {', '.join(seen)}: no veth bridged in (step 4), no address from the "
               "pool (step 5)",
               f"{container.name} 只有 {', '.join(seen)}：没有桥接进来的 veth（第 4 步），也没有从地址池分到的"
               "地址（第 5 步）")


@exercise("04-containers", 2)
def tty_without_stdin(client: Client) -> str:
    """Two ``sh`` containers that ran: one with ``-t`` only (it printed a prompt), one with ``-i`` only (it ran
    a line it read, and printed no prompt)."""
    t_only = containers_where(client, lambda a: a["Config"]["Tty"] and not a["Config"]["OpenStdin"])
    i_only = containers_where(client, lambda a: a["Config"]["OpenStdin"] and not a["Config"]["Tty"])
    if not t_only or not i_only:
        raise NotYet(say(f"found {len(t_only)} container(s) with -t only and {len(i_only)} with -i only: "
                         "run `busybox sh` once with each (and no --rm, so that they stay)",
                         f"找到 {len(t_only)} 个只带 -t 的容器、{len(i_only)} 个只带 -i 的容器："
                         "分别用它们各运行一次 `busybox sh`（不要 --rm，好让容器留下）"))
    ran_t, ran_i = [c for c in t_only if _ran(c)], [c for c in i_only if _ran(c)]
    if not ran_t or not ran_i:
        never = ", ".join(c.name for c in t_only + i_only if not _ran(c))
        raise NotYet(say(f"{never} never ran (created only): use `minidock run`, in pexpect as in section 2, "
                         "and look at what each shows",
                         f"{never} 从没运行过（只是创建了）：像第 2 节那样在 pexpect 里用 `minidock run`，"
                         "看看各自显示什么"))
    if not any(BANNER in _log(c) for c in ran_t):
        raise NotYet(say("the -t container's log shows no shell banner: did its shell start on the terminal?",
                         "只带 -t 的容器日志里没有 shell 的欢迎信息：它的 shell 是在终端上启动的吗？"))
    answered = [c for c in ran_i if _log(c).strip() and BANNER not in _log(c)]
    if not answered:
        raise NotYet(say("the -i container printed nothing: type a line for its shell (sendline('echo hi')), "
                         "then end its input (sendeof())",
                         "只带 -i 的容器什么也没打印：给它的 shell 输入一行（sendline('echo hi')），"
                         "再结束输入（sendeof()）"))
    return say("-t alone: a banner and a prompt, but nobody can type to it; -i alone: your line ran, without a "
               "prompt (no terminal)",
               "只有 -t：有欢迎信息和提示符，却没人能输入；只有 -i：你输入的命令运行了，但没有提示符（没有终端）")


def _since_last_start(client: Client, cid: str) -> list[tuple[str, dict]]:
    """The journal's ``(action, attributes)`` for container ``cid`` since its last ``start``, oldest first."""
    story: list[tuple[str, dict]] = []
    for event in client.events(since=0, until=time.time() + 1, filters={"container": [cid]}):
        story = [] if event["Action"] == "start" else story + [(event["Action"], event["Actor"]["Attributes"])]
    return story


def _exit_code(story: list[tuple[str, dict]]) -> str | None:
    return next((attributes.get("exitCode") for action, attributes in story if action == "die"), None)


def _killed(story: list[tuple[str, dict]]) -> bool:
    return any(action == "kill" and attributes.get("signal") == SIGKILL for action, attributes in story)


@exercise("04-containers", 3)
def clean_stop(client: Client) -> str:
    """A web server whose first process handles SIGTERM, stopped: ``stop``'s SIGTERM ended it with exit code 0,
    no SIGKILL needed (the journal's ``kill`` and ``die`` events say so)."""
    servers = containers_where(client, lambda a: "httpd" in " ".join((a["Config"]["Entrypoint"] or [])
                                                                       + (a["Config"]["Cmd"] or [])))
    stopped = [(c, _since_last_start(client, c.id)) for c in servers if not c.attrs["State"]["Running"]]
    stopped = [(c, story) for c, story in stopped if any(a == "kill" and at.get("signal") == SIGTERM
                                                          for a, at in story)]
    if not stopped:
        raise NotYet(say("no web server here was stopped with `minidock stop` yet: start one that runs httpd "
                         "(-d, no --rm), then stop it",
                         "这里还没有被 `minidock stop` 停止过的 Web 服务器：启动一个运行 httpd 的容器"
                         "（-d，不要 --rm），再停止它"))
    # a server stopped cleanly is the answer; else say what went wrong with the last one stopped
    stopped.sort(key=lambda found: (_exit_code(found[1]) == "0" and not _killed(found[1]),
                                    found[0].attrs["State"]["FinishedAt"]))
    container, story = stopped[-1]
    code = _exit_code(story)
    if _killed(story):
        raise NotYet(say(f"{container.name} ignored SIGTERM and was killed (exit code {code}): the shell must "
                         "stay PID 1, trap TERM, and wait for httpd with `wait` (a trap runs only between "
                         "commands: start httpd with &, then `wait`)",
                         f"{container.name} 没理会 SIGTERM，被强行杀掉了（退出码 {code}）：shell 必须一直是 "
                         "PID 1、用 trap 接住 TERM，并用 `wait` 等待 httpd（trap 只在两条命令之间才执行："
                         "用 & 在后台启动 httpd，再 `wait`）"))
    if code != "0":
        raise NotYet(say(f"{container.name} stopped at once, but with exit code {code}, not 0: SIGTERM ended "
                         "its processes by default (with --init, httpd dies of it: 128 + 15); let a shell "
                         "trap it with `trap 'exit 0' TERM`",
                         f"{container.name} 立刻停下了，但退出码是 {code} 而不是 0：SIGTERM 按默认动作结束了"
                         "进程（用 --init 时 httpd 就是这样死的：128 + 15）；让 shell 用 `trap 'exit 0' TERM` "
                         "接住它"))
    return say(f"{container.name}: SIGTERM, then Exited (0) at once, no SIGKILL: a PID 1 that handles SIGTERM "
               "stops cleanly",
               f"{container.name}：收到 SIGTERM 后立刻 Exited (0)，不需要 SIGKILL：处理 SIGTERM 的 PID 1 "
               "能干净地停下")
