"""Chapter 03's exercises, solved: a whiteout, copy-up's price, an opaque directory, who deleted a file.

For each exercise: the state the chapter leaves (not yet), a plausible wrong attempt (not yet), the solution (right).
"""

import os
from pathlib import Path

from minidock import course
from minidock.containers.unionfs import UnionView
from solving import chapter, not_yet, right, sh

with chapter("03-union-fs") as client:
    # The chapter's demo:2 (demo.conf deleted, skel replaced) and box, running, with section 5's changes.
    sh("minidock run --name step1 busybox sh -c 'echo \"Welcome to demo 1\" > /etc/motd; echo \"demo 1\" > /etc/issue; "
       "echo colour=blue > /etc/demo.conf; mkdir /etc/skel; echo \"export EDITOR=vi\" > /etc/skel/.profile'\n"
       "minidock commit step1 demo:1\n"
       "minidock run --name step2 demo:1 sh -c 'rm /etc/demo.conf; rm -rf /etc/skel; mkdir /etc/skel; "
       "echo \"PS1=demo\" > /etc/skel/.shrc'\n"
       "minidock commit step2 demo:2\n"
       "minidock run -d --name box -h box demo:2 sleep 1000\n"
       "minidock exec box sh -c 'echo \"edited in box\" >> /etc/motd; rm /etc/issue; echo hello > /etc/hello.txt'")

    # 1. Before: box has not deleted it.  Wrong: deleted in a new container, not in box.  Right: exec in box.
    not_yet(course.check("03-union-fs", 1, client))
    sh("minidock run --name other demo:2 rm /etc/skel/.shrc")
    not_yet(course.check("03-union-fs", 1, client))
    sh("minidock exec box rm /etc/skel/.shrc")
    right(course.check("03-union-fs", 1, client))

    # 2. Before: no /big anywhere.  Wrong: "one byte" as the answer.  Right: measured.
    not_yet(course.check("03-union-fs", 2, client, upper_mb=None))
    sh("minidock run --name bigmaker busybox dd if=/dev/zero of=/big bs=1M count=20\n"
       "minidock commit bigmaker big:1\n"
       "minidock run --name grow big:1 sh -c 'echo >> /big'")
    not_yet(course.check("03-union-fs", 2, client, upper_mb=0))
    upper = Path(client.containers.get("grow").attrs["GraphDriver"]["Data"]["UpperDir"])
    upper_mb = int(sh(f"du -sm {upper}").split()[0])
    right(course.check("03-union-fs", 2, client, upper_mb=upper_mb))

    # 3. cd/docs below two upper dirs, opaque/docs and plain/docs; each mounted in turn, a file written.
    def mount_and_list(upper: str) -> list[str]:
        sh(f"mkdir -p work merged && mount -t overlay overlay -o lowerdir=cd,upperdir={upper},workdir=work merged")
        try:
            Path("merged/docs/mine.txt").write_text("mine\n")
            return sorted(os.listdir("merged/docs"))
        finally:
            sh("umount merged")
    # Before: no cd/docs.
    not_yet(course.check("03-union-fs", 3, client, with_xattr=None, without_xattr=None))
    sh("mkdir -p cd/docs opaque/docs plain/docs && echo one > cd/docs/a.txt && echo two > cd/docs/b.txt")
    # Wrong: the xattr forgotten, so "opaque" merged like the plain one.
    forgot = mount_and_list("opaque")
    not_yet(course.check("03-union-fs", 3, client, with_xattr=forgot, without_xattr=forgot))
    # Right: the xattr set on an empty docs before mounting.
    sh("rm -rf opaque && mkdir -p opaque/docs")
    os.setxattr("opaque/docs", "trusted.overlay.opaque", b"y")
    right(course.check("03-union-fs", 3, client, with_xattr=mount_and_list("opaque"),
                       without_xattr=mount_and_list("plain")))

    # 4. Before: no demo:3.  Wrong: the layer the chapter showed deleting demo.conf.  Wrong: demo:3's image ID.
    not_yet(course.check("03-union-fs", 4, client, diff_id=None))
    sh("minidock commit box demo:3")
    demo = client.images.get("demo:3")
    not_yet(course.check("03-union-fs", 4, client, diff_id=demo.attrs["RootFS"]["Layers"][2]))
    not_yet(course.check("03-union-fs", 4, client, diff_id=demo.id))
    # Right: the layer whose whiteout hides /etc/issue.
    view = UnionView([client.store.layer_dir(chain_id) / "diff" for chain_id in demo.record.chain_ids])
    kind, layer = view.hidden_by("/etc/issue")
    right(course.check("03-union-fs", 4, client, diff_id=demo.attrs["RootFS"]["Layers"][layer]))
