"""Chapter 05's exercises (entering containers): one checker each.

They look at what entering left behind: what a shell's terminal showed (its log: only the main
process's terminal writes there, never an ``exec``), and what only a process with root's full
privileges inside box's namespaces could change (its host name, its addresses).
"""

from __future__ import annotations

import re
import socket
from pathlib import Path

from ...api.client import Client
from ..lang import say
from .checking import NotYet, container_or_hint, containers_where, exercise, names, need

ESCAPE = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")     # a terminal's control sequences (cursor moves, erase)
PROMPT = re.compile(rb"^\S* [#$] ")                  # ash's prompt, "/ # ": a line the learner typed
INET = re.compile(r"\binet (\d+\.\d+\.\d+\.\d+)")


def _answered(log: bytes) -> bool:
    """Whether the shell printed `still attached` (what `echo still attached` answers), not only echoed the
    typed line: a screen line, as the terminal last drew it, that ends so and is not a prompt's."""
    for line in log.split(b"\n"):
        drawn = ESCAPE.sub(b"", line).rstrip(b"\r").split(b"\r")[-1]
        if drawn.endswith(b"still attached") and not PROMPT.match(drawn):
            return True
    return False


@exercise("05-entering-containers", 1)
def other_detach_keys(client: Client, ctrl_p_ctrl_q_detaches=None) -> str:
    """A ``-dit`` shell, attached to with other detach keys: after Ctrl+P Ctrl+Q the learner typed
    ``echo still attached`` into its terminal (its log shows the answer), then detached (it runs on)."""
    shells = containers_where(client, lambda a: a["Config"]["Tty"] and a["Config"]["OpenStdin"])
    typed = [c for c in shells if _answered(c.logs())]
    if not typed:
        raise NotYet(say("no shell's terminal shows `still attached` yet: start a shell with -dit, attach with "
                         "--detach-keys ctrl-x,x, press Ctrl+P Ctrl+Q, then type `echo still attached`",
                         "还没有哪个 shell 的终端显示过 `still attached`：用 -dit 启动一个 shell，"
                         "用 --detach-keys ctrl-x,x 连接（attach）上去，按 Ctrl+P Ctrl+Q，"
                         "再输入 `echo still attached`"))
    running = [c for c in typed if c.attrs["State"]["Running"]]
    if not running:
        raise NotYet(say(f"{typed[0].name} is not running any more: `exit` ends the shell; leave it with the "
                         "detach keys (Ctrl+X x) instead",
                         f"{typed[0].name} 已经不在运行了：`exit` 会结束 shell；请改用分离键（Ctrl+X x）离开"))
    need(ctrl_p_ctrl_q_detaches=ctrl_p_ctrl_q_detaches)
    if ctrl_p_ctrl_q_detaches is not False:
        raise NotYet(say(f"ctrl_p_ctrl_q_detaches={ctrl_p_ctrl_q_detaches!r}: yet {running[0].name}'s shell read "
                         "the line you typed after them; were you still attached then?",
                         f"ctrl_p_ctrl_q_detaches={ctrl_p_ctrl_q_detaches!r}：可是 {running[0].name} 的 shell "
                         "读到了你在那之后输入的命令；那时你是不是还连着？"))
    return say(f"{running[0].name} runs on: Ctrl+P Ctrl+Q went to the shell as two keys; only Ctrl+X x detached",
               f"{running[0].name} 还在运行：Ctrl+P Ctrl+Q 作为两个按键交给了 shell；只有 Ctrl+X x 才会分离")


@exercise("05-entering-containers", 2)
def one_namespace_at_a_time(client: Client) -> str:
    """box's host name and an address of its own, changed from the host with ``nsenter --uts`` and
    ``nsenter --net`` (``exec`` may not: it drops SYS_ADMIN and NET_ADMIN)."""
    box = container_or_hint(client, "box", say("run the chapter from the top", "请从头运行本章"))
    if not box.attrs["State"]["Running"]:
        raise NotYet(say("box is not running: run the chapter from the top", "box 没有在运行：请从头运行本章"))
    given = box.attrs["Config"]["Hostname"]
    now = box.exec_run(["hostname"]).output.decode().strip()
    if now == given:
        raise NotYet(say(f"box is still called {given!r}: give it another host name from the host, "
                         "entering its UTS namespace only (`nsenter --target $PID --uts hostname NEW`)",
                         f"box 的主机名还是 {given!r}：从宿主机只进入它的 UTS 命名空间，给它换个主机名"
                         "（`nsenter --target $PID --uts hostname 新名字`）"))
    if now == socket.gethostname():
        raise NotYet(say(f"box's host name is now the host's own ({now!r}): give it one of its own",
                         f"box 的主机名现在和宿主机的一样（{now!r}）：给它起一个自己的名字"))
    chapter = {"127.0.0.1", box.attrs["NetworkSettings"]["IPAddress"]}
    added = set(INET.findall(box.exec_run(["ip", "-4", "addr"]).output.decode())) - chapter
    if not added:
        raise NotYet(say(f"host name {now!r}, right; now add an address to box's loopback from the host, entering "
                         "its network namespace only (`nsenter --target $PID --net ip addr add 192.0.2.1/32 dev lo`)",
                         f"主机名 {now!r}，对了；再从宿主机只进入 box 的网络命名空间，给它的 lo 加一个地址"
                         "（`nsenter --target $PID --net ip addr add 192.0.2.1/32 dev lo`）"))
    return say(f"box is {now!r} and has {', '.join(sorted(added))}: the host's tools, in one namespace each, "
               "with root's privileges (exec has no SYS_ADMIN, no NET_ADMIN)",
               f"box 现在叫 {now!r}，还多了地址 {', '.join(sorted(added))}：宿主机的工具，每次只进入一个命名空间，"
               "带着 root 的全部权限（exec 没有 SYS_ADMIN，也没有 NET_ADMIN）")


@exercise("05-entering-containers", 3)
def privileges(client: Client, missing=None) -> str:
    """The capabilities `exec` leaves out that `nsenter` keeps."""
    from ...api.system import CAPABILITIES
    box = container_or_hint(client, "box", say("run the chapter from the top", "请从头运行本章"))
    need(missing=missing)

    def effective(status: str) -> set[str]:
        mask = int(re.search(r"CapEff:\s*([0-9a-f]+)", status).group(1), 16)
        return {name for name, bit in CAPABILITIES.items() if mask >> bit & 1}
    host = effective(Path("/proc/self/status").read_text())
    inside = effective(box.exec_run("cat /proc/self/status").output.decode())
    wanted = host - inside
    given = {name.upper().removeprefix("CAP_") for name in names(missing)}
    if given != wanted:
        extra, lacking = sorted(given - wanted), sorted(wanted - given)
        raise NotYet(say(f"not quite: {len(wanted)} are left out; "
                         + (f"these are kept or unknown: {extra}; " if extra else "")
                         + (f"{len(lacking)} more are missing from your list (capsh --decode)" if lacking else ""),
                         f"还不完全对：exec 去掉了 {len(wanted)} 个能力；"
                         + (f"这些其实保留着或不存在：{extra}；" if extra else "")
                         + (f"你的列表还少了 {len(lacking)} 个（用 capsh --decode 看看）" if lacking else "")))
    return say(f"exec drops {len(wanted)} capabilities (SYS_ADMIN among them); nsenter keeps root's all",
               f"exec 去掉了 {len(wanted)} 个能力（其中有 SYS_ADMIN）；nsenter 保留了 root 的全部能力")
