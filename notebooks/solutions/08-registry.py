"""Chapter 08's exercises, solved: the same image pushed again, one more layer pushed.

Each exercise three ways: the checker says not yet on what the chapter leaves, not yet on a
plausible wrong attempt, and right after the solution.
"""

from minidock import course
from solving import chapter, not_yet, right, sh


def check(number: int, **answers):
    return course.check("08-registry", number, client, **answers)


def pushed(commands: str) -> int:
    """Run ``commands`` (the last one a push); how many layers the push said it sent."""
    return sh(commands).count(": Pushed")


with chapter("08-registry") as client:
    course.registry(client)
    # What the chapter pushed: busybox as v1, v2 (busybox and a layer with /hello.txt), library/busybox.
    sh("minidock tag busybox $REGISTRY/ouruser/sinatra:v1 && minidock push $REGISTRY/ouruser/sinatra:v1\n"
       "minidock run --name writer busybox sh -c 'echo \"hello from a new layer\" > /hello.txt'\n"
       "minidock commit writer $REGISTRY/ouruser/sinatra:v2 && minidock push $REGISTRY/ouruser/sinatra:v2\n"
       "minidock tag busybox $REGISTRY/library/busybox:latest && minidock push $REGISTRY/library/busybox:latest")

    # 1. No latest yet.  Then the name given to busybox (as v1 was), not to v2: another manifest.
    #    Then v2 itself under the name latest: nothing to send, whatever one guesses.
    not_yet(check(1, sent=None))
    sent = pushed("minidock tag busybox $REGISTRY/ouruser/sinatra:latest\n"
                  "minidock push $REGISTRY/ouruser/sinatra:latest")
    not_yet(check(1, sent=sent))
    sent = pushed("minidock tag $REGISTRY/ouruser/sinatra:v2 $REGISTRY/ouruser/sinatra:latest\n"
                  "minidock push $REGISTRY/ouruser/sinatra:latest")
    not_yet(check(1, sent=2))           # "two layers, so two sent"
    right(check(1, sent=sent))

    # 2. No v3 yet.  Then a container of v2 whose command forgot the redirection: no /v3.txt in its
    #    layer.  Then the file written, committed, pushed: only that layer is sent.
    not_yet(check(2, sent=None))
    sent = pushed("minidock run --name v3 $REGISTRY/ouruser/sinatra:v2 sh -c 'echo 3'\n"
                  "minidock commit v3 $REGISTRY/ouruser/sinatra:v3 && minidock rm v3\n"
                  "minidock push $REGISTRY/ouruser/sinatra:v3")
    not_yet(check(2, sent=sent))
    sent = pushed("minidock run --name v3 $REGISTRY/ouruser/sinatra:v2 sh -c 'echo 3 > /v3.txt'\n"
                  "minidock commit v3 $REGISTRY/ouruser/sinatra:v3\n"
                  "minidock push $REGISTRY/ouruser/sinatra:v3")
    right(check(2, sent=sent))
