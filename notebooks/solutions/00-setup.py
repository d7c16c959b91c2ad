"""Chapter 00's exercises, solved: all of `info` in another mode, and another clock.

For each exercise: the state the chapter leaves (not yet), a plausible wrong attempt (not yet), the solution (right).
"""

from minidock import course
from solving import chapter, not_yet, right, sh

with chapter("00-setup") as client:
    # 1. Before: nothing saved.  Wrong: info saved in this machine's own mode (MINIDOCK_MODE forgotten).
    info = "minidock info --format '{{json .}}' > rootless.json"
    not_yet(course.check("00-setup", 1, client, mem_total=None, rootless_lacks=None))
    mem_total = sh("minidock info | sed -n 's/^ MemTotal: //p'").strip()
    sh(info)
    not_yet(course.check("00-setup", 1, client, mem_total=mem_total, rootless_lacks="cgroup, cgroup limits"))
    sh(f"MINIDOCK_MODE=rootless {info}")
    lacks = sh("python3 -c 'import json; print(\",\".join(f for f, yes in json.load(open(\"rootless.json\"))"
               "[\"Isolation\"].items() if not yes))'").strip()
    right(course.check("00-setup", 1, client, mem_total=mem_total, rootless_lacks=lacks))

    # 2. Before: no store mine/.  Wrong: made at the chapter's own clock (SOURCE_DATE_EPOCH left as
    # course.start set it): the very same ID.  Right: another clock.
    not_yet(course.check("00-setup", 2, client, image_id=None))
    same = sh("MINIDOCK_ROOT=mine minidock bootstrap busybox >/dev/null\n"
              "MINIDOCK_ROOT=mine minidock inspect --format '{{.Id}}' busybox").strip()
    not_yet(course.check("00-setup", 2, client, image_id=same))
    image_id = sh("rm -rf mine\n"
                  "export MINIDOCK_ROOT=mine SOURCE_DATE_EPOCH=1600000000\n"
                  "minidock bootstrap busybox >/dev/null\n"
                  "minidock inspect --format '{{.Id}}' busybox").strip()
    right(course.check("00-setup", 2, client, image_id=image_id))
