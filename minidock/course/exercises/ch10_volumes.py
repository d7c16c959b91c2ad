"""Chapter 10's exercises (volumes and bind mounts): one checker each."""

from __future__ import annotations

import re
from pathlib import Path

from ...api.client import Client
from ...errors import MinidockError
from ..lang import say
from .checking import NotYet, container_or_hint, exercise


@exercise("10-volumes", 1)
def outlives_its_container(client: Client) -> str:
    """The volume journal holds the host name of a container that is gone; reader read it, read-only."""
    author = _author(client)
    writers = [c.name for c in client.containers.list(all=True) if c.id.startswith(author)]
    if writers:
        raise NotYet(say(f"the container that wrote it, {writers[0]}, still exists: remove it (the point is that "
                         "the data outlives it)",
                         f"写下它的容器 {writers[0]} 还在：把它删掉（要看的正是数据比容器活得久）"))
    reader = container_or_hint(client, "reader", say(
        "run it with journal mounted read-only, printing /journal/author",
        "运行它，以只读方式挂载 journal，并打印 /journal/author"))
    mount = next((m for m in reader.attrs["Mounts"] if m["Type"] == "volume" and m["Name"] == "journal"), None)
    if mount is None:
        raise NotYet(say("reader does not mount the volume journal: -v journal:/journal:ro",
                         "reader 没有挂载数据卷 journal：-v journal:/journal:ro"))
    if mount["RW"]:
        raise NotYet(say("reader mounts journal read-write: a reader needs no more than :ro",
                         "reader 以读写方式挂载了 journal：它只需要读，挂载时加上 :ro"))
    if author not in reader.logs().decode(errors="replace"):
        raise NotYet(say(f"reader did not print {author}: its command should be cat /journal/author",
                         f"reader 没有打印出 {author}：它的命令应当是 cat /journal/author"))
    return say(f"container {author} is gone, its words are not: reader read them through a read-only mount",
               f"容器 {author} 已经删除，它写下的内容还在：reader 通过只读挂载读到了它")


def _author(client: Client) -> str:
    """What /journal/author holds: a default host name (12 hex digits), or NotYet."""
    try:
        volume = client.volumes.get("journal")
    except MinidockError:
        raise NotYet(say("there is no volume journal yet: minidock volume create journal",
                         "还没有数据卷 journal：minidock volume create journal")) from None
    path = Path(volume.attrs["Mountpoint"]) / "author"
    if not path.is_file():
        raise NotYet(say("journal holds no file author: write it from a container that mounts journal at /journal",
                         "journal 里还没有文件 author：在一个把 journal 挂载到 /journal 的容器里写它"))
    author = path.read_text().strip()
    if not re.fullmatch(r"[0-9a-f]{12}", author):
        raise NotYet(say(f"author holds {author[:40]!r}, not a container's own host name: write `hostname` "
                         "into it, from a container run without -h (its host name is then its ID's first 12 hex "
                         "digits, whatever its --name)",
                         f"author 的内容是 {author[:40]!r}，不是容器自己的主机名：在一个不带 -h 的容器里把 `hostname` "
                         "写进去（这样它的主机名就是它 ID 的前 12 个十六进制数字，与 --name 无关）"))
    return author


KINDS_ZH = {"volume": "数据卷", "tmpfs": " tmpfs"}  # a mount's Type, as a Chinese reader calls it


@exercise("10-volumes", 2)
def host_directory_read_only(client: Client) -> str:
    """app bind-mounts a host directory conf at /etc/app read-only, and printed app.conf from it."""
    app = container_or_hint(client, "app", say(
        "run it with the host directory conf mounted at /etc/app, read-only, printing /etc/app/app.conf",
        "运行它，把宿主机的目录 conf 以只读方式挂载到 /etc/app，并打印 /etc/app/app.conf"))
    mount = next((m for m in app.attrs["Mounts"] if m["Destination"] == "/etc/app"), None)
    if mount is None:
        raise NotYet(say("app mounts nothing at /etc/app", "app 没有在 /etc/app 挂载任何东西"))
    if mount["Type"] != "bind":
        raise NotYet(say(f"/etc/app is the {mount['Type']} {mount.get('Name', '')}, not a host directory: a bind "
                         "mount needs an absolute path, \"$PWD/conf\"",
                         f"/etc/app 挂载的是{KINDS_ZH.get(mount['Type'], mount['Type'])} {mount.get('Name', '')}，"
                         "不是宿主机的目录："
                         "绑定挂载要写绝对路径 \"$PWD/conf\""))
    source = Path(mount["Source"])
    if source.name != "conf" or not (source / "app.conf").is_file():
        raise NotYet(say(f"app mounts {source}, which is not a directory conf holding app.conf",
                         f"app 挂载的是 {source}，不是装着 app.conf 的目录 conf"))
    if mount["RW"]:
        raise NotYet(say("app can write into the host's conf: mount it read-only (:ro)",
                         "app 可以写宿主机的 conf：请以只读方式挂载（:ro）"))
    wanted = (source / "app.conf").read_text().strip()
    if not wanted or wanted not in app.logs().decode(errors="replace"):
        raise NotYet(say("app did not print what conf/app.conf holds now: cat /etc/app/app.conf (put a line in "
                         "the file first)",
                         "app 打印的不是 conf/app.conf 现在的内容：先往文件里写一行，再 cat /etc/app/app.conf"))
    return say("app read the host's file through a read-only bind mount: what the host changes, it sees",
               "app 通过只读的绑定挂载读到了宿主机的文件：宿主机改了什么，它立刻看得见")
