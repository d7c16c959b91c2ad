"""Chapter 09's exercises (cleaning up): one checker each.

Each looks at what the learner did, as the store's event journal (``docker events``) recorded it:
a removal leaves nothing in the store to look at, but every ``stop``, ``kill``, ``die``, ``commit``,
``untag`` and ``delete`` left its line there.  An answer (an exit code, an order, a count) is held to
what the journal says the learner's own containers and images did, never to a number the chapter shows.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ...api.client import Client
from ..lang import say
from .checking import NotYet, exercise, image_or_hint, need


def journal(client: Client) -> list[dict]:
    """Every event of the store, oldest first (up to now: the check follows nothing)."""
    return list(client.events(since=0, until=time.time()))


@dataclass
class Stopped:
    """A container that ``stop`` was used on: the signals sent to it, how it ended, whether it is gone."""
    name: str
    signals: list[str] = field(default_factory=list)
    exit_code: str | None = None
    stopped: bool = False
    removed: bool = False

    @property
    def killed(self) -> bool:
        """``stop`` gave up waiting and sent SIGKILL (9) after the stop signal."""
        return "9" in self.signals


def stopped_containers(events: list[dict]) -> list[Stopped]:
    """The containers ``stop`` was used on, oldest first (``kill``/``rm -f`` alone do not count)."""
    seen: dict[str, Stopped] = {}
    for event in events:
        if event["Type"] != "container":
            continue
        actor = event["Actor"]
        one = seen.setdefault(actor["ID"], Stopped(actor["Attributes"].get("name", "")))
        if event["Action"] == "kill":
            one.signals.append(actor["Attributes"].get("signal", ""))
        one.exit_code = actor["Attributes"].get("exitCode", one.exit_code) if event["Action"] == "die" else one.exit_code
        one.stopped |= event["Action"] == "stop"
        one.removed |= event["Action"] == "destroy"
    return [one for one in seen.values() if one.stopped]


@exercise("09-cleaning-up", 1)
def stop_then_rm(client: Client, plain_exit=None, trap_exit=None) -> str:
    """Two containers stopped with ``stop`` and removed: one that ``stop`` had to SIGKILL, one that
    ended on SIGTERM; the exit codes ``ps -a`` showed for each, read from the journal."""
    stopped = stopped_containers(journal(client))
    if not stopped:
        raise NotYet(say("no container was stopped with `stop` yet: run busybox sleep 1000 with -d, "
                         "then `minidock stop` it (kill and rm -f do not wait for it)",
                         "还没有用 `stop` 停止过容器：先用 -d 在后台运行 busybox sleep 1000，再 `minidock stop` 它"
                         "（kill 和 rm -f 都不等它自己退出）"))
    killed = [one for one in stopped if one.killed]
    gentle = [one for one in stopped if not one.killed and one.exit_code is not None]
    if not killed:
        raise NotYet(say("every container you stopped ended on SIGTERM: stop a plain `sleep 1000` too, "
                         "whose PID 1 has no handler for it",
                         "你停止的容器收到 SIGTERM 就都退出了：再停止一个普通的 `sleep 1000`，它作为 PID 1 没有处理这个信号的函数"))
    if not gentle:
        raise NotYet(say(f"stop had to SIGKILL every container you stopped ({', '.join(o.name for o in killed)}): "
                         "a shell runs its trap only between commands, so the trapping one must start sleep in the "
                         "background and `wait` for it: sh -c \"trap 'exit 0' TERM; sleep 1000 & wait\"",
                         f"你停止的每个容器（{', '.join(o.name for o in killed)}）最后都是被 stop 用 SIGKILL 强行结束的："
                         "shell 只在两条命令之间执行 trap，所以要把 sleep 放到后台再 `wait`："
                         "sh -c \"trap 'exit 0' TERM; sleep 1000 & wait\""))
    trapper = gentle[-1]
    plain = next((one for one in reversed(killed) if one.name != trapper.name), killed[-1])
    left = [one.name for one in (plain, trapper) if not one.removed]
    if left:
        raise NotYet(say(f"{', '.join(left)} stopped but not removed yet: `minidock rm` after `stop`",
                         f"{', '.join(left)} 已停止但还没删除：`stop` 之后再 `minidock rm`"))
    need(plain_exit=plain_exit, trap_exit=trap_exit)
    if str(plain_exit) != plain.exit_code:
        raise NotYet(say(f"plain_exit={plain_exit}: ps -a showed another code for {plain.name}; sleep ignored "
                         "SIGTERM as PID 1, so what did stop send after waiting, and what is 128 + its number?",
                         f"plain_exit={plain_exit}：ps -a 显示的 {plain.name} 的退出码不是这个；sleep 作为 PID 1 不理会 "
                         "SIGTERM，那 stop 等完之后发了什么信号？128 加上它的编号是多少？"))
    if str(trap_exit) != trapper.exit_code:
        raise NotYet(say(f"trap_exit={trap_exit}: ps -a showed another code for {trapper.name}; what does "
                         "`trap 'exit 0' TERM` exit with?",
                         f"trap_exit={trap_exit}：ps -a 显示的 {trapper.name} 的退出码不是这个；"
                         "`trap 'exit 0' TERM` 以什么退出码结束？"))
    return say(f"{plain.exit_code} = 128 + SIGKILL once stop had waited for {plain.name}; "
               f"{trapper.exit_code} at once for {trapper.name}, whose PID 1 handles SIGTERM",
               f"{plain.name} 是 {plain.exit_code} = 128 + SIGKILL（stop 等满了时间）；"
               f"{trapper.name} 立刻以 {trapper.exit_code} 退出，因为它的 PID 1 处理了 SIGTERM")


def committed(events: list[dict], name: str) -> list[dict]:
    """The attributes of each ``commit`` that tagged ``name`` (as ``base:1``), oldest first."""
    return [e["Actor"]["Attributes"] for e in events if e["Type"] == "container" and e["Action"] == "commit"
            and e["Actor"]["Attributes"].get("imageRef", "").removeprefix("docker.io/library/") == name]


@exercise("09-cleaning-up", 2)
def child_first(client: Client, order=None) -> str:
    """``child:1`` committed from a container of ``base:1``, both deleted for good; in which order the
    journal saw their images deleted."""
    events = journal(client)
    bases = committed(events, "base:1")
    if not bases:
        raise NotYet(say("no image base:1 was committed yet: commit a container of busybox as base:1",
                         "还没有提交过镜像 base:1：把一个 busybox 容器 commit 成 base:1"))
    base = bases[-1]["imageID"]
    children = [c for c in committed(events, "child:1") if c.get("image") in ("base:1", base, base[7:19])]
    if not children:
        raise NotYet(say("no image child:1 was committed from a container of base:1 yet: "
                         "minidock run --name ... base:1 ..., then commit that container as child:1",
                         "还没有从 base:1 的容器提交出 child:1：先 minidock run ... base:1 ...，"
                         "再把这个容器 commit 成 child:1"))
    child = children[-1]["imageID"]
    present = {image.id for image in client.images.list(all=True)}
    left = [name for name, image_id in (("base:1", base), ("child:1", child)) if image_id in present]
    if left:
        raise NotYet(say(f"{' and '.join(left)}: still here (named, or as <none>); remove for good what you made, "
                         "`minidock images -a` shows what is left",
                         f"{' 和 '.join(left)}：还在（有名字或是 <none>）；把你做的镜像彻底删掉，"
                         "`minidock images -a` 能看到还剩什么"))
    need(order=order)
    deleted = [e["Actor"]["ID"] for e in events if e["Type"] == "image" and e["Action"] == "delete"]
    last = {image_id: i for i, image_id in enumerate(deleted)}   # each one's last deletion
    if base not in last or child not in last:
        raise NotYet(say("remove base:1 and child:1 with `rmi`, as the exercise asks, so that their deletions "
                         "are in the journal (`minidock events`)",
                         "按题目要求用 `rmi` 删除 base:1 和 child:1，这样删除记录才会进入事件日志（`minidock events`）"))
    truth = ["child", "base"] if last.get(child, -1) < last.get(base, -1) else ["base", "child"]
    if not isinstance(order, (list, tuple)) or [str(name).split(":")[0] for name in order] != truth:
        raise NotYet(say(f"order={order}: not the order the images were deleted in; base:1's layer is under "
                         "child:1's, so which one can go first?",
                         f"order={order}：镜像被删除的顺序不是这样；base:1 的层在 child:1 的层下面，哪一个能先删？"))
    return say("the child first: an image another image is built on stays (untagged at most) as long as its child",
               "先删子镜像：只要还有镜像建立在它上面，父镜像就删不掉（最多只能去掉标签）")


@exercise("09-cleaning-up", 3)
def rebuild_leftovers(client: Client, dangling=None) -> str:
    """Five different images committed as ``webapp:dev``: how many lost the tag; those pruned."""
    current = image_or_hint(client, "webapp:dev", say("commit five versions as webapp:dev",
                                                      "把五个不同的版本都 commit 成 webapp:dev"))
    versions = list(dict.fromkeys(c["imageID"] for c in committed(journal(client), "webapp:dev")))
    if len(versions) < 5:
        raise NotYet(say(f"webapp:dev has had {len(versions)} different image(s) so far, not five: the same files "
                         "on the course's fixed clock make the same image ID; change the file each time",
                         f"webapp:dev 到现在只有 {len(versions)} 个不同的镜像，不是五个：课程的时钟是固定的，"
                         "同样的文件会得到同一个镜像 ID；每次把文件改得不一样"))
    present = {image.id for image in client.images.list(all=True)}
    old = [v for v in versions if v != current.id]
    if left := [v for v in old if v in present]:
        raise NotYet(say(f"{len(left)} old version(s) of webapp:dev are still here as <none>: minidock system prune -f",
                         f"webapp:dev 的 {len(left)} 个旧版本还以 <none> 留在这里：minidock system prune -f"))
    need(dangling=dangling)
    if dangling != len(old):
        raise NotYet(say(f"dangling={dangling}: the tag moved at each commit; how many of your {len(versions)} "
                         "images lost it?",
                         f"dangling={dangling}：每次 commit 标签都会移走；你的 {len(versions)} 个镜像里有几个失去了它？"))
    return say(f"{len(old)} <none> images, one per old version, gone with prune; webapp:dev names the newest",
               f"{len(old)} 个 <none> 镜像，每个旧版本一个，已被 prune 清掉；webapp:dev 指向最新的那个")
