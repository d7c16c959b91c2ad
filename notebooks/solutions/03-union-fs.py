"""Chapter 03's exercises, solved: a whiteout, copy-up's price, an opaque directory, who deleted a file."""

import os
from pathlib import Path

from minidock import course
from minidock.containers.unionfs import UnionView
from solving import chapter, right, sh

with chapter("03-union-fs") as client:
    # The chapter's demo:2 (demo.conf deleted, skel replaced) and box, running.
    sh("minidock run --name step1 busybox sh -c 'echo \"Welcome to demo 1\" > /etc/motd; echo \"demo 1\" > /etc/issue; "
       "echo colour=blue > /etc/demo.conf; mkdir /etc/skel; echo \"export EDITOR=vi\" > /etc/skel/.profile'\n"
       "minidock commit step1 demo:1\n"
       "minidock run --name step2 demo:1 sh -c 'rm /etc/demo.conf; rm -rf /etc/skel; mkdir /etc/skel; "
       "echo \"PS1=demo\" > /etc/skel/.shrc'\n"
       "minidock commit step2 demo:2\n"
       "minidock run -d --name box -h box demo:2 sleep 1000")

    # 1. A whiteout of our own.
    sh("minidock exec box rm /etc/skel/.shrc")
    right(course.check("03-union-fs", 1, client))

    # 2. One byte appended to a 20 MB file: the whole file is copied up.
    sh("minidock run --name bigmaker busybox dd if=/dev/zero of=/big bs=1M count=20\n"
       "minidock commit bigmaker big:1\n"
       "minidock run --name grow big:1 sh -c 'echo >> /big'")
    upper = Path(client.containers.get("grow").attrs["GraphDriver"]["Data"]["UpperDir"])
    upper_mb = int(sh(f"du -sm {upper}").split()[0])
    right(course.check("03-union-fs", 2, client, upper_mb=upper_mb))

    # 3. Section 1's mount with cd/docs below and an upper docs, opaque, then not.
    def ls_merged_docs(opaque: bool) -> list[str]:
        sh("rm -rf writable work merged && mkdir -p cd/docs writable/docs work merged\n"
           "echo one > cd/docs/a.txt && echo two > cd/docs/b.txt")
        if opaque:
            os.setxattr("writable/docs", "trusted.overlay.opaque", b"y")
        sh("mount -t overlay overlay -o lowerdir=cd,upperdir=writable,workdir=work merged")
        try:
            return sorted(os.listdir("merged/docs"))
        finally:
            sh("umount merged")
    right(course.check("03-union-fs", 3, client, with_xattr=ls_merged_docs(True), without_xattr=ls_merged_docs(False)))

    # 4. The layer whose whiteout hides /etc/demo.conf.
    demo = client.images.get("demo:2")
    view = UnionView([client.store.layer_dir(chain_id) / "diff" for chain_id in demo.record.chain_ids])
    kind, layer = view.hidden_by("/etc/demo.conf")
    right(course.check("03-union-fs", 4, client, diff_id=demo.attrs["RootFS"]["Layers"][layer]))
