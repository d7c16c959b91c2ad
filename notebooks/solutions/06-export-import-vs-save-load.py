"""Chapter 06's exercises, solved: import with a config, what one image's save holds."""

import json
import tarfile

from minidock import course
from solving import chapter, right, sh

with chapter("06-export-import-vs-save-load") as client:
    # The chapter's container, its export, and its commit.
    sh("minidock run --name test busybox sh -c 'echo hello > /hello.txt && rm /etc/passwd'\n"
       "minidock export test > snapshot.tar\n"
       'minidock commit -m "hello.txt, no passwd" test busybox:hello')

    # 1. The export imported with a CMD and an ENV.
    sh("""minidock import -c 'CMD ["cat", "/hello.txt"]' -c 'ENV GREETING=hi' snapshot.tar mine:flat""")
    right(course.check("06-export-import-vs-save-load", 1, client))

    # 2. busybox:hello saved alone: both its layers, busybox's first.
    sh("minidock save -o hello.tar busybox:hello")
    with tarfile.open("hello.tar") as tar:
        (image,) = json.load(tar.extractfile("manifest.json"))
    busybox_layer = "blobs/" + client.images.get("busybox").attrs["RootFS"]["Layers"][0].replace(":", "/")
    right(course.check("06-export-import-vs-save-load", 2, client, layers=len(image["Layers"]),
                       has_busybox_layer=busybox_layer in image["Layers"]))
