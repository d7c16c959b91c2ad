"""Chapter 04's exercises, solved: no network, -t versus -i, a clean stop."""

from minidock import course
from solving import chapter, right, sh

with chapter("04-containers") as client:
    # 1. --network none: only the loopback; no veth (step 4), no address (step 5).
    lines = sh("minidock run --name nonet --network none busybox ip -o link").splitlines()
    interfaces = [line.split(":")[1].strip().split("@")[0] for line in lines]
    right(course.check("04-containers", 1, client, interfaces=interfaces, skipped=[4, 5]))

    # 2. One container with a terminal but no standard input, one the other way round.
    sh("minidock create --name tonly -t busybox sh && minidock create --name ionly -i busybox sh")
    right(course.check("04-containers", 2, client))

    # 3. PID 1 is a shell that traps SIGTERM and waits for httpd, its child.
    sh("minidock run -d --name clean busybox sh -c \"trap 'exit 0' TERM; httpd -f -p 80 & wait\"\n"
       "minidock stop -t 5 clean")
    right(course.check("04-containers", 3, client))
