"""Chapter 01's exercises, solved: names, the birthday bound, the same ID by import."""

import os

from minidock import course
from minidock.images.digest import collision_probability
from solving import chapter, right, sh

with chapter("01-images") as client:
    # 1. Three names: three rows, one image; the second name is myname/tools:latest.
    sh("minidock tag busybox myname/tools:1.0 && minidock tag busybox myname/tools")
    rows = len(sh("minidock images --format '{{.Repository}}:{{.Tag}}'").splitlines())
    images = len(client.images.list())
    tag = client.images.get("myname/tools").tags[-1].rsplit(":", 1)[1]
    sh("minidock rmi myname/tools:1.0 myname/tools")
    right(course.check("01-images", 1, client, rows=rows, images=images, tag=tag))

    # 2. Bisect for the n where a collision becomes more likely than not.
    def crossing(digits: int) -> int:
        low, high = 1, 16 ** digits
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (low, middle) if collision_probability(middle, digits) >= 0.5 else (middle, high)
        return high
    right(course.check("01-images", 2, client, n12=crossing(12), n16=crossing(16)))

    # 3. The layer of busybox, gzip'd as in the chapter, imported with busybox's config fields.
    sh("layer=$(minidock inspect --format '{{index .RootFS.Layers 0}}' busybox)\n"
       'minidock save busybox | tar -xO "blobs/sha256/${layer#sha256:}" | gzip -n > rootfs.tar.gz')
    busybox = client.images.get("busybox").attrs
    os.environ["COMMENT"] = busybox["Comment"]
    os.environ["ENVLINE"] = "ENV " + busybox["Config"]["Env"][0]
    sh("""minidock import -c "$ENVLINE" -c 'CMD ["sh"]' -m "$COMMENT" rootfs.tar.gz copy:1""")
    right(course.check("01-images", 3, client))
