"""Chapter 09's exercises (cleaning up): one checker each."""

from __future__ import annotations


from ...api.client import Client
from .checking import NotYet, exercise, image_or_hint, need


@exercise("09-cleaning-up", 1)
def stop_then_rm(client: Client, plain_exit=None, trap_exit=None) -> str:
    """The exit codes `ps -a` showed after `stop`: sleep as PID 1, then a shell that traps TERM."""
    left = [c.name for c in client.containers.list(all=True)]
    if left:
        raise NotYet(f"containers are left: {left}; rm them after stop")
    need(plain_exit=plain_exit, trap_exit=trap_exit)
    if plain_exit != 137:
        raise NotYet(f"plain_exit={plain_exit}: sleep ignores SIGTERM as PID 1, so what did stop send after 10 s?")
    if trap_exit != 0:
        raise NotYet(f"trap_exit={trap_exit}: what does `trap 'exit 0' TERM` exit with?")
    return "137 = 128 + SIGKILL once stop has waited; 0 at once when PID 1 handles SIGTERM"


@exercise("09-cleaning-up", 2)
def child_first(client: Client, order=None) -> str:
    """``base:1`` and ``child:1`` removed for good, in the right order."""
    need(order=order)
    present = [name for name in ("base:1", "child:1") if client.images.list(name)]
    if present:
        raise NotYet(f"{present} still here: remove them for good")
    busybox = image_or_hint(client, "busybox", "the chapter's first line makes it")
    if any(image.id != busybox.id for image in client.images.list(all=True)):
        raise NotYet("an image without a name is still here (an untagged base:1?): remove the child first, then base:1")
    if [str(name).split(":")[0] for name in order] != ["child", "base"]:
        raise NotYet(f"order={order}: base:1's layer is under child:1's; which can go first?")
    return "the child first: an image another image is built on stays as long as its child"


@exercise("09-cleaning-up", 3)
def rebuild_leftovers(client: Client, dangling=None) -> str:
    """Five commits under ``myapp:dev``: how many dangling images, pruned."""
    image_or_hint(client, "myapp:dev", "commit five versions as myapp:dev")
    need(dangling=dangling)
    if dangling != 4:
        raise NotYet(f"dangling={dangling}: the tag moves at each commit; how many images lose it?")
    named = [image for image in client.images.list() if not image.tags]
    if named:
        raise NotYet(f"{len(named)} <none> images are still here: minidock system prune -f")
    return "four <none> images, one per old version, gone with prune"
