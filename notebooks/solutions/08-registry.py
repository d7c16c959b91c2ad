"""Chapter 08's exercises, solved: the same image pushed again, one more layer pushed."""

from minidock import course
from solving import chapter, right, sh

with chapter("08-registry") as client:
    course.registry(client)
    # The chapter's v2: busybox and a layer with /hello.txt, pushed.
    sh("minidock run --name writer busybox sh -c 'echo \"hello from a new layer\" > /hello.txt'\n"
       "minidock commit writer $REGISTRY/ouruser/sinatra:v2\n"
       "minidock push $REGISTRY/ouruser/sinatra:v2")

    # 1. Another tag for the same image: nothing to send.
    pushed = sh("minidock tag $REGISTRY/ouruser/sinatra:v2 $REGISTRY/ouruser/sinatra:latest\n"
                "minidock push $REGISTRY/ouruser/sinatra:latest")
    right(course.check("08-registry", 1, client, sent=pushed.count(": Pushed")))

    # 2. v2 and one more layer: only that layer is sent.
    pushed = sh("minidock run --name v3 $REGISTRY/ouruser/sinatra:v2 sh -c 'echo 3 > /v3.txt'\n"
                "minidock commit v3 $REGISTRY/ouruser/sinatra:v3\n"
                "minidock push $REGISTRY/ouruser/sinatra:v3")
    right(course.check("08-registry", 2, client, sent=pushed.count(": Pushed")))
