"""The course's base image, ``busybox:latest``, made offline from the host's busybox.

BusyBox is one static binary that acts as ~270 Unix tools, chosen by the name
it is called by (``argv[0]``).  A rootfs of that binary, one symlink per tool
and a few files in /etc is a complete little distribution -- which is all an
image is.  It goes through the same path as ``minidock import`` of a directory.

The image's time is the binary's mtime (fixed by the Debian package), unless
``SOURCE_DATE_EPOCH`` says otherwise, so every machine with the same package
makes the same image ID -- the course's notebooks rely on it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from .archive import ImportOptions, import_rootfs, source_date_epoch
from ..errors import APIError, NotFound
from .image import Images

BUSYBOX = Path("/bin/busybox")
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
FILES = {
    "etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n",
    "etc/group": "root:x:0:\nnogroup:x:65534:\n",
    "etc/hostname": "busybox\n",
}
DIRS = {"dev": 0o755, "proc": 0o555, "sys": 0o555, "root": 0o700, "tmp": 0o1777,
        "home": 0o755, "var": 0o755, "usr/bin": 0o755, "usr/sbin": 0o755, "sbin": 0o755}


def applets(busybox: Path) -> list[str]:
    """The paths of every tool the binary provides, e.g. ``bin/sh`` and ``usr/bin/awk``."""
    out = subprocess.run([str(busybox), "--list-full"], capture_output=True, text=True, check=True)
    return sorted(line.strip() for line in out.stdout.splitlines() if line.strip())


def make_rootfs(dest: Path, busybox: Path = BUSYBOX) -> None:
    """Lay out the busybox rootfs in ``dest`` without touching the host's files."""
    (dest / "bin").mkdir(parents=True)
    shutil.copy2(busybox, dest / "bin" / "busybox")
    for name, mode in DIRS.items():
        (dest / name).mkdir(parents=True, exist_ok=True)
        os.chmod(dest / name, mode)
    for name, text in FILES.items():
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        (dest / name).write_text(text)
    for applet in applets(busybox):
        link = dest / applet
        if applet != "bin/busybox" and not link.exists():
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to("/bin/busybox")


def bootstrap_busybox(images: Images, tag: str = "busybox:latest", busybox: Path = BUSYBOX) -> tuple[str, bool]:
    """Make ``busybox:latest`` unless it exists; return (image ID, whether it was made now)."""
    with images.store.lock():  # held throughout: tmp/ is swept when a lock is first taken
        try:
            return images.resolve(tag), False
        except NotFound:
            return _make(images, tag, busybox), True


def _make(images: Images, tag: str, busybox: Path) -> str:
    """Build the rootfs in the store's tmp/ and import it."""
    if not busybox.is_file():
        raise APIError(f"{busybox} is missing: install Debian's busybox-static "
                       "(apt-get install busybox-static), or run 'make setup'")
    epoch = source_date_epoch()
    epoch = int(busybox.stat().st_mtime) if epoch is None else epoch
    version = subprocess.run([str(busybox)], capture_output=True, text=True).stdout.split("\n")[0]
    with tempfile.TemporaryDirectory(dir=images.store.tmp, prefix=f"{os.getpid()}-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        make_rootfs(rootfs, busybox)
        options = ImportOptions(tag, [f"ENV PATH={PATH}", 'CMD ["sh"]'], f"minidock bootstrap: {version.strip()}",
                                epoch, owner=(0, 0))
        image_id = import_rootfs(images, str(rootfs), None, options)
    return image_id
