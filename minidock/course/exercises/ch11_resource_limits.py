"""Chapter 11's exercises (resource limits with cgroups): one checker each."""

from __future__ import annotations

import time

from ...api.client import Client
from ..lang import say
from .checking import NotYet, command_of, container_or_hint, exercise

MEASURE = 0.5  # seconds the spinner's CPU time is measured over: several CFS periods (100 ms), short for a check


@exercise("11-resource-limits", 1)
def too_little_then_enough(client: Client) -> str:
    """squeeze: OOM-killed under its memory limit; roomy: the same command, finished under a larger one."""
    squeeze = _limited(client, "squeeze", say("run the hungry program with a memory limit too small for it",
                                              "给那个吃内存的程序一个不够用的内存上限，运行它"))
    state = squeeze.attrs["State"]
    if state["Running"]:
        raise NotYet(say("squeeze is still running: wait for it to end", "squeeze 还在运行：等它结束"))
    if not state["OOMKilled"]:
        raise NotYet(say(f"squeeze exited with {state['ExitCode']} and was not OOM-killed: its limit must be "
                         "smaller than what its program needs",
                         f"squeeze 以 {state['ExitCode']} 退出，并不是被 OOM 杀掉的：它的上限要比程序所需的内存小"))
    roomy = _limited(client, "roomy", say("run the same command with a limit large enough",
                                          "用足够大的上限运行同一条命令"))
    if command_of(roomy.attrs) != command_of(squeeze.attrs) or roomy.attrs["Config"]["Image"] != \
            squeeze.attrs["Config"]["Image"]:
        raise NotYet(say("roomy does not run squeeze's command: run the same image and command in both",
                         "roomy 运行的不是 squeeze 的命令：两个容器要用同一个镜像、同一条命令"))
    state = roomy.attrs["State"]
    if state["Running"]:
        raise NotYet(say("roomy is still running: wait for it to end", "roomy 还在运行：等它结束"))
    if state["OOMKilled"] or state["ExitCode"] != 0:
        raise NotYet(say(f"roomy exited with {state['ExitCode']} (OOMKilled={str(state['OOMKilled']).lower()}): "
                         "give it more memory",
                         f"roomy 以 {state['ExitCode']} 退出（OOMKilled={str(state['OOMKilled']).lower()}）："
                         "给它更多内存"))
    small, large = (_mib(c.attrs["HostConfig"]["Memory"]) for c in (squeeze, roomy))
    return say(f"{small} was too little for the program, {large} enough: the OOM killer ended squeeze (exit 137)",
               f"{small} 对这个程序不够，{large} 够了：squeeze 被 OOM killer 杀掉（退出码 137）")


def _limited(client: Client, name: str, hint: str):
    """The container ``name``, run with a memory limit (NotYet otherwise)."""
    container = container_or_hint(client, name, hint)
    if not container.attrs["HostConfig"]["Memory"]:
        raise NotYet(say(f"{name} ran without a memory limit: -m", f"{name} 运行时没有内存上限：-m"))
    return container


def _mib(size: int) -> str:
    return f"{size / (1 << 20):g} MiB"


@exercise("11-resource-limits", 2)
def spinner_on_a_leash(client: Client) -> str:
    """spinner: running, capped at half a CPU (--cpus 0.5), on CPU 0 only; its measured use under the cap."""
    spinner = container_or_hint(client, "spinner", say(
        "start it in the background (-d) with a busy loop, while :; do :; done",
        "用 -d 在后台启动它，运行一个忙循环：while :; do :; done"))
    if not spinner.attrs["State"]["Running"]:
        raise NotYet(say("spinner is not running: it must spin while the check measures it",
                         "spinner 没有在运行：检查要在它空转时测量它"))
    host = spinner.attrs["HostConfig"]
    if not host["NanoCpus"]:
        raise NotYet(say("spinner has a weight (--cpu-shares) but no cap: a weight counts only when containers "
                         "compete for a CPU; which option caps?" if host["CpuShares"] else
                         "spinner has no CPU cap: which option of section 5 caps?",
                         "spinner 只有权重（--cpu-shares），没有上限：权重只在容器争抢 CPU 时才起作用；哪个选项是上限？"
                         if host["CpuShares"] else "spinner 没有 CPU 上限：第 5 节里哪个选项是上限？"))
    if host["NanoCpus"] != 500_000_000:
        raise NotYet(say(f"spinner may use {host['NanoCpus'] / 1e9:g} CPUs, not half of one",
                         f"spinner 可以用 {host['NanoCpus'] / 1e9:g} 个 CPU，而不是半个"))
    if host["CpusetCpus"] != "0":
        raise NotYet(say(f"spinner may run on CPUs {host['CpusetCpus'] or 'all'}: only CPU 0 was asked for",
                         f"spinner 可以在 CPU {host['CpusetCpus'] or '全部'} 上运行：题目要的是只用 CPU 0"))
    share = _cpu_share(spinner)
    if share < 0.05:
        raise NotYet(say(f"spinner used {share:.0%} of a CPU: is its loop running?",
                         f"spinner 只用了一个 CPU 的 {share:.0%}：它的循环在运行吗？"))
    if share > 0.7:  # a 50 ms quota may fall once more into the window: at most 60%
        raise NotYet(say(f"spinner used {share:.0%} of a CPU: its cap is not holding",
                         f"spinner 用了一个 CPU 的 {share:.0%}：它的上限没有起作用"))
    return say(f"spinner spins, yet got {share:.0%} of CPU 0 over {MEASURE} s: the cap decides, not the loop",
               f"spinner 一直在空转，{MEASURE} 秒里却只得到 CPU 0 的 {share:.0%}：决定用量的是上限，不是循环")


def _cpu_share(container) -> float:
    """The share of one CPU the container's cgroup used over ``MEASURE`` seconds (cpuacct)."""
    before, start = container.stats()["cpu_usage_ns"], time.monotonic()
    time.sleep(MEASURE)
    used, elapsed = container.stats()["cpu_usage_ns"] - before, time.monotonic() - start
    return used / 1e9 / elapsed
