"""Docker's volume copy-up: an empty volume is filled from what the image has where it is mounted.

``docker run -v data:/etc busybox`` starts with busybox's /etc in the volume rather than an empty
directory hiding it: the first time a volume that is still empty is mounted over a directory of
the container, Docker copies that directory's tree into it (its owner and mode too; moby
``container.CopyImagePathContent``); a bind is never filled, and ``nocopy`` turns it off.  The
runtime does it at mount time (``rootfs.mount_volume``, or before proot runs in the
chroot-emulated mode), reading the container's own root, so a symlink in the image is copied as a
symlink and never followed out of it.
"""

from __future__ import annotations

import os
import shutil
import stat


def fill_empty(source: str, volume: str) -> None:
    """Copy the tree at ``source`` (the container's path) into ``volume`` if that is empty."""
    if not os.path.isdir(source) or os.path.islink(source) or not os.path.isdir(volume) or os.listdir(volume):
        return
    copy_tree(source, volume)
    _copy_owner_and_mode(os.lstat(source), volume)


def copy_tree(source: str, target: str) -> None:
    """Files, directories and symlinks with their owners, modes and times; device nodes and fifos are skipped."""
    for entry in os.scandir(source):
        dest = os.path.join(target, entry.name)
        info = entry.stat(follow_symlinks=False)
        if entry.is_symlink():
            os.symlink(os.readlink(entry.path), dest)
        elif entry.is_dir(follow_symlinks=False):
            os.mkdir(dest)
            copy_tree(entry.path, dest)
        elif entry.is_file(follow_symlinks=False):
            shutil.copyfile(entry.path, dest, follow_symlinks=False)
        else:
            continue
        _copy_owner_and_mode(info, dest)


def _copy_owner_and_mode(info: os.stat_result, path: str) -> None:
    try:
        os.lchown(path, info.st_uid, info.st_gid)
    except OSError:
        pass   # rootless: an owner outside the user namespace's map stays ours
    if not stat.S_ISLNK(info.st_mode):
        os.chmod(path, stat.S_IMODE(info.st_mode))
        os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))
