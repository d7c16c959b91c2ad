"""Chapter 06's exercises, solved: import with a config, what one image's save holds.

For each exercise: the checker on the chapter's state (✗), on a plausible wrong attempt (✗), then the
solution (✓).  First what the chapter made that the exercises use, with the chapter's own commands.
"""

import json
import tarfile

from minidock import course
from solving import chapter, not_yet, right, sh

with chapter("06-export-import-vs-save-load") as client:
    # The chapter's container, its export, its commit and the save of both images; then, as the
    # chapter ends, busybox:hello removed and the archive loaded again.
    sh("minidock run --name test busybox sh -c 'echo hello > /hello.txt && rm /etc/passwd'\n"
       "minidock export test > snapshot.tar\n"
       'minidock commit -m "hello.txt, no passwd" test busybox:hello\n'
       "minidock save -o busybox.tar busybox busybox:hello\n"
       "cat snapshot.tar | minidock import - test/busybox:v1.0\n"
       "minidock rm test && minidock rmi busybox:hello && minidock load < busybox.tar")

    # 1. The export imported with a CMD and an ENV, and a container of it run.
    not_yet(course.check("06-export-import-vs-save-load", 1, client))
    sh("minidock run --name flatter busybox:hello true\n"           # wrong: commit stacks a layer on busybox's
       """minidock commit -c 'CMD ["cat", "/hello.txt"]' -c 'ENV GREETING=hi' flatter mine:flat\n"""
       "minidock rm flatter")
    not_yet(course.check("06-export-import-vs-save-load", 1, client))
    sh("""minidock import -c 'CMD ["cat", "/hello.txt"]' snapshot.tar mine:flat""")   # wrong: the ENV forgotten
    not_yet(course.check("06-export-import-vs-save-load", 1, client))
    sh("""minidock import -c 'CMD ["cat", "/hello.txt"]' -c 'ENV GREETING=hi' snapshot.tar mine:flat""")
    not_yet(course.check("06-export-import-vs-save-load", 1, client))               # not run yet
    assert sh("minidock run --name flat mine:flat") == "hello\n"
    right(course.check("06-export-import-vs-save-load", 1, client))

    # 2. busybox:hello saved alone holds both its layers, busybox's first: it loads where busybox is not.
    not_yet(course.check("06-export-import-vs-save-load", 2, client, layers=None))
    sh("minidock save -o hello.tar busybox:hello")
    not_yet(course.check("06-export-import-vs-save-load", 2, client, layers=1))      # wrong: "only its own"
    with tarfile.open("hello.tar") as tar:
        (image,) = json.load(tar.extractfile("manifest.json"))
    layers = len(image["Layers"])
    not_yet(course.check("06-export-import-vs-save-load", 2, client, layers=layers))  # busybox still here
    sh("minidock rmi busybox:hello busybox && minidock load -i hello.tar")
    assert sh("minidock run --rm busybox:hello cat /hello.txt") == "hello\n"
    right(course.check("06-export-import-vs-save-load", 2, client, layers=layers))
