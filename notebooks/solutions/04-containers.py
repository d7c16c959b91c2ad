"""Chapter 04's exercises, solved: no network, -t versus -i, a clean stop.

For each exercise: the checker on the chapter's state (✗), on a plausible wrong attempt (✗), then the
solution (✓).  The chapter removes all its containers before the exercises, so nothing is recreated.
"""

import re

import pexpect

from minidock import course
from solving import chapter, not_yet, right, sh

INTERFACE = re.compile(r"^\d+: ([^:@\s]+)[@:]", re.MULTILINE)

with chapter("04-containers") as client:
    # 1. --network none: only the loopback; no veth (step 4), no address (step 5).
    not_yet(course.check("04-containers", 1, client, interfaces=None, skipped=None))
    sh("minidock run --name bridged busybox ip addr")            # wrong: the default network
    not_yet(course.check("04-containers", 1, client, interfaces=["lo", "eth0"], skipped=[]))
    listed = sh("minidock run --name nonet --network none busybox ip addr")
    not_yet(course.check("04-containers", 1, client, interfaces=["lo", "eth0"], skipped=[4, 5]))  # typed, not read
    right(course.check("04-containers", 1, client, interfaces=INTERFACE.findall(listed), skipped=[4, 5]))

    # 2. One shell with a terminal but no standard input, one the other way round; both run, as in section 2.
    not_yet(course.check("04-containers", 2, client))
    sh("minidock create --name tcreated -t busybox sh && minidock create --name icreated -i busybox sh")
    not_yet(course.check("04-containers", 2, client))            # wrong: created, never run
    term = pexpect.spawn("minidock run -t --name tonly busybox sh", encoding="utf-8", timeout=30)
    term.expect("# ")                                            # a prompt...
    term.sendline("echo typed")                                  # ...but what we type goes nowhere
    term.close(force=True)                                       # the container runs on; only the client ends
    term = pexpect.spawn("minidock run -i --name ionly busybox sh", encoding="utf-8", timeout=30)
    term.sendline("echo typed")                                  # no prompt, yet the line runs
    term.expect("typed\r\n.*typed")
    term.sendeof()                                               # end of input: the shell ends
    term.expect(pexpect.EOF)
    right(course.check("04-containers", 2, client))

    # 3. PID 1 is a shell that traps SIGTERM and waits for httpd, its child.
    not_yet(course.check("04-containers", 3, client))
    sh("minidock run -d --name fg busybox sh -c \"trap 'exit 0' TERM; httpd -f -p 80\"\n"
       "minidock stop -t 2 fg")                                  # wrong: httpd in the foreground, no wait
    not_yet(course.check("04-containers", 3, client))
    sh("minidock run -d --init --name viainit busybox httpd -f -p 80\n"
       "minidock stop -t 2 viainit")                             # fast, but httpd dies of SIGTERM: 143
    not_yet(course.check("04-containers", 3, client))
    sh("minidock run -d --name clean busybox sh -c \"trap 'exit 0' TERM; httpd -f -p 80 & wait\"\n"
       "minidock stop -t 5 clean")
    right(course.check("04-containers", 3, client))
    sh("minidock rm -f tonly")
