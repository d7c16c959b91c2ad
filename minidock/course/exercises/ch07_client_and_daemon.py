"""Chapter 07's exercises (client and daemon): one checker each.

Both look at what went through the chapter's daemon: its request log
(``minidock daemon --debug`` writes one line per request to ``daemon.log`` in
the chapter's store, as the chapter starts it) and the store's event journal
(``client.events``), which the CLI, the daemon and the shims all append to.
A container made with ``minidock run`` is in the journal but not in the
daemon's log: that is how the checker tells "through the daemon" apart.
"""

from __future__ import annotations

import re
import time
from urllib.parse import parse_qs, unquote

from ...api.client import Client
from ..lang import say
from .checking import NotYet, exercise, image_or_hint, need

DAEMON_LOG = "daemon.log"  # beside docker.sock in the chapter's store (the chapter's daemon cell)
# "2026-12-06T09:51:30 POST /v1.43/containers/create?name=web 201 5.8ms" (api/daemon/daemon.py's log)
REQUEST = re.compile(r"^\S+ (?P<method>[A-Z]+) (?:/v[\d.]+)?(?P<path>/[^?\s]*)(?:\?(?P<query>\S*))? (?P<status>\d{3}) ")


def requests(client: Client) -> list[tuple[str, str, dict, int]]:
    """``(method, path, query, status)`` of each request the chapter's daemon logged, oldest first."""
    log = client.store.root / DAEMON_LOG
    if not log.is_file():
        raise NotYet(say("the chapter's daemon has logged nothing: start it (the cell with `minidock daemon`) first",
                         "本章的守护进程（daemon）还没有记录任何请求：先运行启动 `minidock daemon` 的那个单元格"))
    found = []
    for line in log.read_text(errors="replace").splitlines():
        if match := REQUEST.match(line):
            query = {k: v[-1] for k, v in parse_qs(match["query"] or "").items()}
            found.append((match["method"], unquote(match["path"]), query, int(match["status"])))
    return found


def logged(client: Client, wanted, patience: float = 2.0) -> list[tuple[str, str, dict, int]]:
    """The logged requests that ``wanted(method, path, query, status)`` accepts.

    The daemon writes a request's line just after its answer went out, so a check run at once
    after the client returned may come before the line: look again for ``patience`` seconds."""
    deadline = time.monotonic() + patience
    while True:
        found = [r for r in requests(client) if wanted(*r)]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def container_events(client: Client, name: str, patience: float = 1.0) -> dict[str, dict]:
    """Action -> attributes of the events of the last container named ``name`` (create, start, die, destroy).

    A container's ``die`` is journalled by its shim just after the exit, so a check run at once may
    come first: while the story has a ``create`` and no ``die``, look again for ``patience`` seconds."""
    deadline = time.monotonic() + patience
    while "create" in (story := _story(client, name)) and "die" not in story and time.monotonic() < deadline:
        time.sleep(0.1)
    return story


def _story(client: Client, name: str) -> dict[str, dict]:
    """The events of the last container named ``name``, as the journal has them now."""
    last, latest = {}, None
    for event in client.events(since=0, until=time.time()):
        if event["Type"] != "container":
            continue
        if event["Action"] == "create" and event["Actor"]["Attributes"].get("name") == name:
            last, latest = {}, event["Actor"]["ID"]   # a new container of that name: its own story
        if event["Actor"]["ID"] == latest:
            last[event["Action"]] = event["Actor"]["Attributes"]
    return last


@exercise("07-client-and-daemon", 1)
def visitor_through_the_daemon(client: Client) -> str:
    """``visitor``: created by the daemon, labelled ``course.chapter=07``, exited 3, removed."""
    events = container_events(client, "visitor")
    if "create" not in events:
        raise NotYet(say("no container named visitor was created yet: docker run --name visitor ...",
                         "还没有创建过名为 visitor 的容器：docker run --name visitor ..."))
    created = logged(client, lambda method, path, q, status:
                     (method, path, status) == ("POST", "/containers/create", 201) and q.get("name") == "visitor")
    if not created:
        raise NotYet(say("the daemon's log has no create of visitor: the minidock CLI made it without the daemon; "
                         "use docker, with DOCKER_HOST pointing at the chapter's socket",
                         "守护进程的日志里没有创建 visitor 的请求：它是 minidock 命令行不经守护进程直接创建的；"
                         "请用 docker，并让 DOCKER_HOST 指向本章的套接字（socket）"))
    if events["create"].get("course.chapter") != "07":
        raise NotYet(say("visitor has no label course.chapter=07: docker run --label course.chapter=07 ...",
                         "visitor 没有标签（label）course.chapter=07：docker run --label course.chapter=07 ..."))
    if "die" not in events:
        raise NotYet(say("visitor has not ended yet: its command should exit with code 3 (sh -c 'exit 3')",
                         "visitor 还没有结束：它的命令应当以退出码 3 结束（sh -c 'exit 3'）"))
    if events["die"].get("exitCode") != "3":
        code = events["die"].get("exitCode")
        raise NotYet(say(f"visitor exited with code {code}, not 3: sh -c 'exit 3'",
                         f"visitor 的退出码是 {code}，不是 3：sh -c 'exit 3'"))
    if any(c.name == "visitor" for c in client.containers.list(all=True)):
        raise NotYet(say("visitor is still there: remove it through the daemon too (docker rm visitor)",
                         "visitor 还在：也通过守护进程把它删掉（docker rm visitor）"))
    return say("created by the daemon (POST /containers/create?name=visitor), exited 3, removed: the journal saw it all",
               "由守护进程创建（POST /containers/create?name=visitor），以 3 退出，已删除：事件日志全都记下了")


@exercise("07-client-and-daemon", 2)
def tag_with_docker_py(client: Client, named_by=None) -> str:
    """``course/busybox:07`` tagged through the daemon; did the tag request name the image by name or by ID?"""
    tagged = image_or_hint(client, "course/busybox:07", say("image.tag('course/busybox', '07') in docker-py",
                                                            "在 docker-py 里用 image.tag('course/busybox', '07')"))
    busybox = image_or_hint(client, "busybox:latest", say("the chapter's start made it: run its first cell again",
                                                          "本章开头会创建它：再运行一次第一个单元格"))
    if tagged.id != busybox.id:
        raise NotYet(say("course/busybox:07 is another image than busybox:latest: tag busybox itself",
                         "course/busybox:07 和 busybox:latest 不是同一个镜像：要给 busybox 本身打标签"))
    tags = [path for method, path, q, status in logged(client, lambda method, path, q, status:
            method == "POST" and path.startswith("/images/") and path.endswith("/tag") and status == 201
            # docker 28 sends the full name (docker.io/course/busybox), docker-py and docker 20.10 the short one
            and (q.get("repo", "").removeprefix("docker.io/"), q.get("tag")) == ("course/busybox", "07"))]
    if not tags:
        raise NotYet(say("the daemon's log has no tag request for course/busybox:07: "
                         "minidock tagged it itself; tag it with docker-py (docker.DockerClient(base_url=...))",
                         "守护进程的日志里没有给 course/busybox:07 打标签的请求：这是 minidock 自己打的；"
                         "请用 docker-py 来打（docker.DockerClient(base_url=...)）"))
    need(named_by=named_by)
    named = tags[-1][len("/images/"):-len("/tag")]
    truth = "id" if named.startswith("sha256:") or re.fullmatch(r"[0-9a-f]{12,64}", named) else "name"
    if named_by != truth:
        raise NotYet(say(f"named_by={named_by!r}: read the daemon's log line of your tag request "
                         "(POST /v1.../images/WHAT/tag): is WHAT a name or an ID?",
                         f"named_by={named_by!r}：读一读守护进程日志里你那条打标签请求"
                         "（POST /v1.../images/WHAT/tag）：WHAT 是名字还是 ID？"))
    return say(f"tagged through the daemon; the request named the image by its {'ID' if truth == 'id' else 'name'} "
               f"({named[:19]})",
               f"通过守护进程打了标签；请求里用的是镜像的{' ID' if truth == 'id' else '名字'}（{named[:19]}）")
