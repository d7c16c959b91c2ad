"""Chapter 00's exercises (setup): one checker each, looking at what the learner saved and made."""

from __future__ import annotations

import json
from pathlib import Path

from ...api.client import Client
from ...display import human_size
from ..lang import say
from .checking import NotYet, exercise, image_or_hint, need, same_digest


@exercise("00-setup", 1)
def all_of_info(client: Client, mem_total=None, rootless_lacks=None) -> str:
    """``rootless.json``: `info` of this chapter's store in the rootless mode; this machine's memory;
    what the saved run says rootless lacks."""
    saved = _saved_info(client, Path("rootless.json"))
    if saved.get("RunMode") != "rootless":
        raise NotYet(say(f"rootless.json says run mode {saved.get('RunMode')!r}: put MINIDOCK_MODE=rootless "
                         "in front of minidock, in the same command that writes the file",
                         f"rootless.json 里的运行模式是 {saved.get('RunMode')!r}：要在写这个文件的同一条命令里，"
                         "把 MINIDOCK_MODE=rootless 放在 minidock 前面"))
    need(mem_total=mem_total, rootless_lacks=rootless_lacks)
    mine = client.info()["MemTotal"]
    if str(mem_total).strip() not in (str(mine), human_size(mine)):
        raise NotYet(say(f"mem_total={mem_total!r} is not this machine's: copy the MemTotal line of `minidock info` "
                         "(section 2 never printed it)",
                         f"mem_total={mem_total!r} 不是这台机器的：照抄 `minidock info` 的 MemTotal 一行"
                         "（第 2 节没有打印它）"))
    lacks = {feature for feature, isolated in saved["Isolation"].items() if not isolated}
    given = {w.strip() for w in rootless_lacks.split(",")} if isinstance(rootless_lacks, str) \
        else {str(w) for w in rootless_lacks}
    if given != lacks:
        raise NotYet(say(f"rootless_lacks={sorted(given)}: rootless.json marks {len(lacks)} features false "
                         "under Isolation; list exactly those",
                         f"rootless_lacks={sorted(given)}：rootless.json 的 Isolation 里有 {len(lacks)} 项是 false，"
                         "把它们一个不多、一个不少地列出来"))
    return say(f"{human_size(mine)} of memory here (a neighbour's differs); rootless would lack "
               f"{', '.join(sorted(lacks))}",
               f"这台机器有 {human_size(mine)} 内存（邻座的机器会不同）；rootless 模式缺少 {'、'.join(sorted(lacks))}")


def _saved_info(client: Client, saved: Path) -> dict:
    """The JSON of ``minidock info`` the learner saved, for this chapter's store, or NotYet."""
    if not saved.is_file():
        raise NotYet(say("there is no rootless.json in the working directory: save what "
                         "`minidock info --format '{{json .}}'` prints in the rootless mode into it",
                         "工作目录里还没有 rootless.json：把 rootless 模式下 "
                         "`minidock info --format '{{json .}}'` 的输出存进去"))
    try:
        info = json.loads(saved.read_text())
    except ValueError:
        info = None
    if not isinstance(info, dict) or info.get("DockerRootDir") != str(client.store.root) \
            or not isinstance(info.get("Isolation"), dict):
        raise NotYet(say("rootless.json is not the JSON `minidock info --format '{{json .}}'` prints for this "
                         "chapter's store: write it again with that command",
                         "rootless.json 不是本章存储的 `minidock info --format '{{json .}}'` 输出：用这条命令重新写"))
    return info


@exercise("00-setup", 2)
def another_clock(client: Client, image_id=None) -> str:
    """The store ``mine/``: busybox made from the same binary at another SOURCE_DATE_EPOCH, and its ID."""
    if not (Path("mine") / "images.json").is_file():
        raise NotYet(say("there is no store mine/ in the working directory: run `minidock bootstrap busybox` "
                         "with MINIDOCK_ROOT=mine",
                         "工作目录里还没有存储 mine/：在 MINIDOCK_ROOT=mine 下运行 `minidock bootstrap busybox`"))
    theirs = image_or_hint(Client(Path("mine").resolve()), "busybox",
                           say("run `minidock bootstrap busybox` with MINIDOCK_ROOT=mine",
                               "在 MINIDOCK_ROOT=mine 下运行 `minidock bootstrap busybox`"))
    ours = client.images.get("busybox")
    if theirs.attrs["Comment"] != ours.attrs["Comment"]:
        raise NotYet(say("mine/'s busybox was not made from this machine's busybox binary: make it with "
                         "`minidock bootstrap busybox`",
                         "mine/ 里的 busybox 不是用这台机器的 busybox 程序做的：用 `minidock bootstrap busybox` 来做"))
    if theirs.id == ours.id:
        raise NotYet(say(f"mine/'s busybox has this chapter's very ID ({ours.id[7:19]}): same binary, same clock. "
                         "course.start set SOURCE_DATE_EPOCH for every command of this notebook: give it "
                         "another value in the same %%bash cell",
                         f"mine/ 里的 busybox 和本章的 ID 一模一样（{ours.id[7:19]}）：同样的程序、同样的时钟。"
                         "course.start 为本笔记本的所有命令设置了 SOURCE_DATE_EPOCH：在同一个 %%bash 单元格里"
                         "给它另一个值"))
    need(image_id=image_id)
    if not same_digest(image_id, theirs.id):
        raise NotYet(say(f"{str(image_id)[:19]} is not the ID of mine/'s busybox: print it with "
                         "`minidock inspect --format '{{.Id}}' busybox` and MINIDOCK_ROOT=mine",
                         f"{str(image_id)[:19]} 不是 mine/ 里 busybox 的 ID：在 MINIDOCK_ROOT=mine 下用 "
                         "`minidock inspect --format '{{.Id}}' busybox` 打印它"))
    layer = "another" if theirs.attrs["RootFS"] != ours.attrs["RootFS"] else "the same"
    return say(f"made {theirs.attrs['Created']}: the same binary, {layer} layer (its files' times are the clock's), "
               f"another date in the config, so another ID ({theirs.id[7:19]} instead of {ours.id[7:19]})",
               f"创建于 {theirs.attrs['Created']}：同一个程序，{'不同的' if layer == 'another' else '相同的'}层"
               f"（文件的时间取自时钟），配置里的日期不同，所以 ID 也不同（{theirs.id[7:19]}，而不是 {ours.id[7:19]}）")
