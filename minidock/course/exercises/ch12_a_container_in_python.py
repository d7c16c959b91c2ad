"""Chapter 12's exercises (a container in 60 lines of Python): each checker runs the learner's ``run_container``.

The answer is the learner's function itself: the checker calls it with a probe whose output only a real
container can give (a random host name, PID 1, one network interface, a random pids limit) and then
looks for what it may have left behind (mounts, cgroups).
"""

from __future__ import annotations

import random
from pathlib import Path

from ...api.client import Client
from ..lang import say
from .checking import NotYet, exercise, need

# the fork bomb of chapter 11, bounded: 40 processes at most where no limit holds
BOMB = 'n=1; while [ $n -lt 40 ]; do sleep 1000 & n=$((n+1)); echo "$n processes"; done; echo "no limit held"'
LOOPBACK = 'echo "pid $$"; hostname; ip -o link; ping -c 1 -W 1 127.0.0.1 > /dev/null && echo reachable'


@exercise("12-a-container-in-python", 1)
def pids_limit(client: Client, run=None) -> str:
    """``run(client, "busybox", command, pids=N)`` contains chapter 11's fork bomb at N processes."""
    need(run=run)
    limit = random.randint(6, 12)
    output = _call(run, client, BOMB, pids=limit)
    counts = [int(line.split()[0]) for line in output.splitlines() if line.endswith(" processes")]
    if "no limit held" in output:
        raise NotYet(say(f"with pids={limit}, 40 processes started: is PID 1 in the pids cgroup, and pids.max "
                         "written?",
                         f"pids={limit} 时仍然启动了 40 个进程：PID 1 进了 pids cgroup 吗？pids.max 写了吗？"))
    if "can't fork" not in output or not counts or counts[-1] != limit:
        raise NotYet(say(f"with pids={limit} the bomb said {output.strip()[-120:]!r}: it should stop at "
                         f"{limit} processes with \"can't fork\"",
                         f"pids={limit} 时炸弹的输出是 {output.strip()[-120:]!r}：它应当在 {limit} 个进程时"
                         "以 \"can't fork\" 停下"))
    return say(f"the bomb stopped at pids={limit} (chosen at random), and nothing of it was left behind",
               f"fork 炸弹停在了 pids={limit}（随机选的），运行后也没有留下任何东西")


@exercise("12-a-container-in-python", 2)
def loopback_up(client: Client, run=None) -> str:
    """``run`` brings up ``lo`` in the container's new network namespace: 127.0.0.1 answers."""
    need(run=run)
    hostname = f"mini-{random.randrange(16 ** 6):06x}"
    output = _call(run, client, LOOPBACK, hostname=hostname)
    lines = output.splitlines()
    links = [line for line in lines if line[:1].isdigit() and ": " in line]
    if "pid 1" not in lines or hostname not in lines or [link.split(": ")[1] for link in links] != ["lo"]:
        raise NotYet(say(f"this did not run as PID 1 of new namespaces named {hostname} with only lo: "
                         f"{output.strip()[:200]!r}",
                         f"这不是在新命名空间里以 PID 1 运行、主机名 {hostname}、只有 lo 的容器："
                         f"{output.strip()[:200]!r}"))
    if ",UP" not in links[0] and "<UP" not in links[0]:
        raise NotYet(say("lo is DOWN in the new network namespace: bring it up before the exec",
                         "新网络命名空间里的 lo 是 DOWN：在 exec 之前把它启用（UP）"))
    if "reachable" not in lines:
        raise NotYet(say("lo is up, yet ping 127.0.0.1 gets no answer", "lo 已经启用，但 ping 127.0.0.1 没有回应"))
    return say("lo is up in the container's own network namespace: 127.0.0.1 answers, as in Docker's containers",
               "容器自己的网络命名空间里 lo 已启用：127.0.0.1 有回应，和 Docker 的容器一样")


def _call(run, client: Client, command: str, **options) -> str:
    """Run the learner's function; its output, or NotYet for an error or for what it left behind."""
    before, failure, output = _traces(), None, ""
    try:
        output = run(client, "busybox", command, **options)[1]
    except (TypeError, OSError) as e:  # a parameter it lacks, or a system call that failed
        call = f"run(..., {', '.join(f'{k}=' for k in options)})"
        failure = say(f"{call} failed: {e}", f"{call} 出错：{e}")
    left = sorted(_traces() - before)
    if left:
        raise NotYet(say(f"run() left behind {left[0]}: remove it in its finally",
                         f"run() 留下了 {left[0]}：请在它的 finally 里删除"))
    if failure:
        raise NotYet(failure)
    return output


def _traces() -> set[str]:
    """What a container of the learner's may leave: mount points, and cgroups below ours.  minidock's
    own (its stores, network namespaces, ``minidock/`` cgroups) come and go meanwhile: not counted."""
    theirs = ("minidock", "pytest", "/run/netns")
    mounts = {"mount " + line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()}
    own = dict(line.split(":")[1:] for line in Path("/proc/self/cgroup").read_text().splitlines())
    cgroups = set()
    for controller in ("memory", "pids"):
        if controller in own:
            here = Path("/sys/fs/cgroup", controller, own[controller].lstrip("/"))
            cgroups |= {f"cgroup {p}" for p in here.iterdir() if p.is_dir()}
    return {trace for trace in mounts | cgroups if not any(word in trace for word in theirs)}
