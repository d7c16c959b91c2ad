"""Chapter 00's exercises, solved: the run mode, and another clock."""

import tempfile

from minidock import course
from minidock.runtime import mode
from solving import chapter, right, sh

with chapter("00-setup") as client:
    # 1. The first line of `minidock info`; the NO rows of the rootless column.
    run_mode = sh("minidock info --format '{{.RunMode}}'").strip()
    lacks = [feature for feature, isolated in mode.ISOLATES["rootless"].items() if not isolated]
    right(course.check("00-setup", 1, client, run_mode=run_mode, rootless_lacks=lacks))

    # 2. busybox made in a store of our own, at another time; that store removed after.
    with tempfile.TemporaryDirectory() as mine:
        image_id = sh(f"export MINIDOCK_ROOT={mine}/store SOURCE_DATE_EPOCH=1600000000\n"
                      "minidock bootstrap busybox >/dev/null\n"
                      "minidock inspect --format '{{.Id}}' busybox").strip()
    right(course.check("00-setup", 2, client, epoch=1600000000, image_id=image_id))
