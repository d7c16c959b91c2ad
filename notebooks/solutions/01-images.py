"""Chapter 01's exercises, solved: names, the birthday bound, the same ID by import.

For each exercise: the state the chapter leaves (not yet), a plausible wrong attempt (not yet), the solution (right).
"""

import bisect
import math
import os

from minidock import course
from minidock.images.digest import collision_probability
from solving import chapter, not_yet, right, sh

with chapter("01-images") as client:
    # 1. Before: only busybox:latest, the answers typed from the chapter's text without naming anything.
    not_yet(course.check("01-images", 1, client, rows=3, images=1, tag="latest"))
    # Wrong: both names made, and removed by ID with -f: that deletes busybox itself.
    sh("minidock tag busybox myname/tools:1.0 && minidock tag busybox myname/tools\n"
       "minidock rmi -f $(minidock images -q busybox) && minidock bootstrap busybox")
    not_yet(course.check("01-images", 1, client, rows=3, images=1, tag="latest"))
    # Right: three names, three rows, one image; then both names removed by name (only Untagged lines).
    sh("minidock tag busybox myname/tools:1.0 && minidock tag busybox myname/tools")
    rows = len(sh("minidock images --format '{{.Repository}}:{{.Tag}}'").splitlines())
    images = len(client.images.list())
    tag = client.images.get("myname/tools").tags[-1].rsplit(":", 1)[1]
    sh("minidock rmi myname/tools:1.0 myname/tools")
    right(course.check("01-images", 1, client, rows=rows, images=images, tag=tag))

    # 2. Before: no function.  Wrong: powers of ten only, not narrowed down.  Right: bisect.
    not_yet(course.check("01-images", 2, client, crossing=None))

    def powers_of_ten(digits: int) -> int:
        return next(10 ** k for k in range(1, 40) if collision_probability(10 ** k, digits) >= 0.5)
    not_yet(course.check("01-images", 2, client, crossing=powers_of_ten))

    def crossing(digits: int) -> int:
        # the birthday bound puts the crossing near 1.18 * sqrt(16**digits): search a range four times that
        likely = range(1, 4 * math.isqrt(16 ** digits) + 2)
        return likely[bisect.bisect_left(likely, True, key=lambda n: collision_probability(n, digits) >= 0.5)]
    right(course.check("01-images", 2, client, crossing=crossing))

    # 3. The chapter's rootfs.tar.gz: busybox's layer, gzip'd.
    sh("layer=$(minidock inspect --format '{{index .RootFS.Layers 0}}' busybox)\n"
       'minidock save busybox | tar -xO "blobs/sha256/${layer#sha256:}" | gzip -n > rootfs.tar.gz')
    # Before: no copy:1.  Wrong: the same ID by `tag`, no import.  Wrong: imported without the config.
    not_yet(course.check("01-images", 3, client))
    sh("minidock tag busybox copy:1")
    not_yet(course.check("01-images", 3, client))
    sh("minidock import rootfs.tar.gz copy:1")
    not_yet(course.check("01-images", 3, client))
    # Right: imported with busybox's config fields.
    busybox = client.images.get("busybox").attrs
    os.environ["COMMENT"] = busybox["Comment"]
    os.environ["ENVLINE"] = "ENV " + busybox["Config"]["Env"][0]
    sh("""minidock import -c "$ENVLINE" -c 'CMD ["sh"]' -m "$COMMENT" rootfs.tar.gz copy:1""")
    right(course.check("01-images", 3, client))
