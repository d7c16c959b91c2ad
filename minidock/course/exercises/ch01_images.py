"""Chapter 01's exercises (images): one checker each.

What a name did to the store is in its journal (``minidock events``): a ``tag`` and an ``untag`` per name, a
``delete`` when an image itself went, an ``import`` with the ID an import made.  The checkers read it, so a
name made and removed again, or an ID made by ``import`` rather than by ``tag``, shows.
"""

from __future__ import annotations

import time

from ...api.client import Client
from ..lang import say
from .checking import NotYet, exercise, image_or_hint, need

NAMES = ("myname/tools:1.0", "myname/tools:latest")


def image_events(client: Client) -> list[dict]:
    """Every image event the store's journal holds, oldest first."""
    return list(client.events(since=0, until=time.time(), filters={"type": ["image"]}))


@exercise("01-images", 1)
def two_more_names(client: Client, rows=None, images=None, tag=None) -> str:
    """busybox named myname/tools:1.0 and myname/tools, both removed by name; rows, objects and the default tag."""
    events = image_events(client)
    tagged = {e["Actor"]["Attributes"]["name"]: e["timeNano"] for e in events if e["Action"] == "tag"}
    missing = [name for name in NAMES if name not in tagged]
    if missing:
        raise NotYet(say(f"the store's events show no tag {' or '.join(missing)}: give busybox both names with "
                         "`minidock tag`, one with a tag and one without",
                         f"存储的事件里没有标签 {' 或 '.join(missing)}：用 `minidock tag` 给 busybox 起这两个名字，"
                         "一个带标签，一个不带"))
    busybox = image_or_hint(client, "busybox", say("`minidock bootstrap busybox` makes it again",
                                                   "`minidock bootstrap busybox` 可以重新做出它"))
    first = min(tagged[name] for name in NAMES)
    if any(e["Action"] == "delete" and e["Actor"]["ID"] == busybox.id and e["timeNano"] > first for e in events):
        raise NotYet(say("busybox's image itself was deleted (a `Deleted:` line) after you named it: an rmi by "
                         "ID, or -f, removes every name at once. Give busybox the two names again and remove them by name",
                         "给 busybox 起名之后，它的镜像本身被删除了（出现了 `Deleted:` 行）：按 ID 或带 -f 的 rmi "
                         "会一次删掉所有名字。请重新给 busybox 起这两个名字，再按名字删除它们"))
    left = sorted(t for image in client.images.list() for t in image.tags)
    if left != ["busybox:latest"]:
        raise NotYet(say(f"the store has {left}: remove the names you added, by name, so that only busybox:latest "
                         "is left",
                         f"存储里有 {left}：按名字删掉你加的名字，只留下 busybox:latest"))
    need(rows=rows, images=images, tag=tag)
    if rows != len(left) + len(NAMES):
        raise NotYet(say(f"rows={rows}: with your two names and busybox:latest, `minidock images` prints one row "
                         "per name (heading not counted)",
                         f"rows={rows}：加上你的两个名字和 busybox:latest，`minidock images` 每个名字打印一行"
                         "（不算表头）"))
    if images != len(client.images.list()):
        raise NotYet(say(f"images={images}: client.images.list() returns one object per image ID",
                         f"images={images}：client.images.list() 每个镜像 ID 返回一个对象"))
    default = NAMES[1].rsplit(":", 1)[1]
    if str(tag).lstrip(":") != default:
        raise NotYet(say(f"tag={tag!r}: look at the name `minidock images` showed for myname/tools: a name "
                         "without a tag gets the default one",
                         f"tag={tag!r}：看 `minidock images` 为 myname/tools 显示的标签：不带标签的名字会得到默认标签"))
    return say(f"{rows} rows, {images} image, myname/tools means myname/tools:{default}; "
               "rmi of a name only untags, until the last",
               f"{rows} 行、{images} 个镜像，myname/tools 就是 myname/tools:{default}；按名字 rmi 只是去掉标签，"
               "直到最后一个名字")


def crossing_of(digits: int) -> int:
    """The least n for which a collision among n random IDs' first ``digits`` hex digits is at least even."""
    from ...api.system import collision_probability
    low, high = 1, 16 ** digits
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if collision_probability(middle, digits) >= 0.5 else (middle, high)
    return high


@exercise("01-images", 2)
def birthday_bound(client: Client, crossing=None) -> str:
    """The learner's ``crossing(digits)``, run on digit counts of the checker's choosing."""
    need(crossing=crossing)
    if not callable(crossing):
        raise NotYet(say(f"crossing={crossing!r} is not a function: pass your function itself, crossing=crossing",
                         f"crossing={crossing!r} 不是函数：把你的函数本身传进来，crossing=crossing"))
    for digits in (12, 5, 16):
        try:
            n = int(crossing(digits))
        except Exception as error:  # the learner's own code: any failure is a hint, never a traceback
            raise NotYet(say(f"crossing({digits}) raised {type(error).__name__}: {error}",
                             f"crossing({digits}) 抛出了 {type(error).__name__}：{error}")) from None
        wanted = crossing_of(digits)
        if abs(n - wanted) > wanted / 100:
            side = say("too few", "偏少") if n < wanted else say("too many", "偏多")
            raise NotYet(say(f"crossing({digits}) = {n:,} is {side}: collision_probability(n, {digits}) should "
                             "just reach 0.5 there (narrow down between powers of ten, or bisect)",
                             f"crossing({digits}) = {n:,}，{side}：collision_probability(n, {digits}) 应当恰好在那里"
                             "达到 0.5（在两个 10 的幂之间继续缩小范围，或者用二分法）"))
    n12, n16 = crossing_of(12), crossing_of(16)
    return say(f"{n12:,} images for 12 digits, {n16:,} for 16: four more digits, "
               f"{n16 / n12:.0f} times more (the square root of 16**4)",
               f"12 位需要 {n12:,} 个镜像，16 位需要 {n16:,} 个：多 4 位，多 {n16 / n12:.0f} 倍（16**4 的平方根）")


@exercise("01-images", 3)
def same_content_same_id(client: Client) -> str:
    """``copy:1``, imported from rootfs.tar.gz, with busybox's very ID."""
    copy = image_or_hint(client, "copy:1", say("import rootfs.tar.gz as copy:1", "把 rootfs.tar.gz 导入为 copy:1"))
    busybox = client.images.get("busybox")
    if copy.id == busybox.id:
        if not any(e["Action"] == "import" and e["Actor"]["ID"] == busybox.id for e in image_events(client)):
            raise NotYet(say("copy:1 is busybox's ID, but no import made that ID: `tag` only gave busybox another "
                             "name. Import rootfs.tar.gz as copy:1",
                             "copy:1 的 ID 是 busybox 的，但这个 ID 不是导入得到的：`tag` 只是给 busybox 起了个别名。"
                             "请把 rootfs.tar.gz 导入为 copy:1"))
        return say("the same files, config and clock give the same ID: content addressing",
                   "同样的文件、配置和时钟得到同样的 ID：这就是内容寻址")
    ours, theirs = copy.attrs, busybox.attrs
    for field, flag in (("Cmd", "-c 'CMD ...'"), ("Env", "-c 'ENV ...'")):
        if ours["Config"][field] != theirs["Config"][field]:
            raise NotYet(say(f"copy:1's {field} is {ours['Config'][field]}, busybox's {theirs['Config'][field]}: "
                             f"give it with {flag}",
                             f"copy:1 的 {field} 是 {ours['Config'][field]}，busybox 的是 {theirs['Config'][field]}："
                             f"用 {flag} 设置"))
    if ours["Comment"] != theirs["Comment"]:
        raise NotYet(say(f"copy:1's comment is {ours['Comment']!r}, busybox's {theirs['Comment']!r}: -m sets it",
                         f"copy:1 的注释是 {ours['Comment']!r}，busybox 的是 {theirs['Comment']!r}：用 -m 设置"))
    raise NotYet(say("copy:1 has another ID: compare `minidock inspect busybox` with `minidock inspect copy:1`",
                     "copy:1 的 ID 不同：对比 `minidock inspect busybox` 和 `minidock inspect copy:1`"))
