"""Chapter 01's exercises (images): one checker each."""

from __future__ import annotations


from ...api.client import Client
from .checking import NotYet, exercise, image_or_hint, need


@exercise("01-images", 1)
def two_more_names(client: Client, rows=None, images=None, tag=None) -> str:
    """Rows of `images` and objects of `images.list()` with three names; the default tag; then back to one name."""
    need(rows=rows, images=images, tag=tag)
    if rows != 3:
        raise NotYet(f"rows={rows}: `minidock images` prints one row per name (heading not counted)")
    if images != 1:
        raise NotYet(f"images={images}: client.images.list() returns one object per image ID")
    if str(tag).lstrip(":") != "latest":
        raise NotYet(f"tag={tag!r}: a name without a tag gets the default one")
    left = sorted(t for image in client.images.list() for t in image.tags)
    if left != ["busybox:latest"]:
        raise NotYet(f"the store still has {left}: rmi the names you added, by name")
    return "three rows, one image, myname/tools means myname/tools:latest; rmi of a name only untags"


@exercise("01-images", 2)
def birthday_bound(client: Client, n12=None, n16=None) -> str:
    """How many images before two 12- (16-) digit short IDs more likely than not collide."""
    from ...api.system import collision_probability
    need(n12=n12, n16=n16)
    for digits, n in ((12, n12), (16, n16)):
        if not collision_probability(max(int(n) // 2, 1), digits) < 0.5 <= collision_probability(int(n) * 2, digits):
            side = "too few" if collision_probability(int(n), digits) < 0.5 else "too many"
            raise NotYet(f"n{digits}={n:,} is {side}: look for the n where collision_probability(n, {digits}) "
                         "crosses 0.5 (within a factor of 2 is fine)")
    return f"about {n12:.2g} images for 12 digits, {n16:.2g} for 16: four more digits, 256 times more"


@exercise("01-images", 3)
def same_content_same_id(client: Client) -> str:
    """``copy:1`` imported from rootfs.tar.gz with busybox's very ID."""
    copy = image_or_hint(client, "copy:1", "import rootfs.tar.gz as copy:1")
    busybox = client.images.get("busybox")
    if copy.id == busybox.id:
        return "the same files, config and clock give the same ID: content addressing"
    ours, theirs = copy.attrs, busybox.attrs
    for field, flag in (("Cmd", "-c 'CMD ...'"), ("Env", "-c 'ENV ...'")):
        if ours["Config"][field] != theirs["Config"][field]:
            raise NotYet(f"copy:1's {field} is {ours['Config'][field]}, busybox's {theirs['Config'][field]}: "
                         f"give it with {flag}")
    if ours["Comment"] != theirs["Comment"]:
        raise NotYet(f"copy:1's comment is {ours['Comment']!r}, busybox's {theirs['Comment']!r}: -m sets it")
    raise NotYet("copy:1 has another ID: compare `minidock inspect busybox` with `minidock inspect copy:1`")
