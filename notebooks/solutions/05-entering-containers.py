"""Chapter 05's exercises, solved: other detach keys, one namespace at a time, exec's capabilities."""

import re

import pexpect

from minidock import course
from minidock.runtime.syscalls import CAPABILITIES
from solving import chapter, right, sh

with chapter("05-entering-containers") as client:
    sh("minidock run -d --name box -h box busybox sleep 1000")
    pid = client.containers.get("box").pid

    # 1. Attach with ctrl-x,x as detach keys, then detach with them: the shell runs on.
    sh("minidock run -dit --name shell2 busybox sh")
    term = pexpect.spawn("minidock attach --detach-keys ctrl-x,x shell2", encoding="utf-8", timeout=30)
    term.sendline("echo attached")
    term.expect("attached")
    term.send("\x18x")                              # Ctrl+X x
    term.expect(pexpect.EOF)
    right(course.check("05-entering-containers", 1, client, ctrl_p_ctrl_q_detaches=False))

    # 2. Only the UTS namespace, then only the network namespace.
    hostname = sh(f"nsenter --target {pid} --uts hostname").strip()
    addresses = re.findall(r"inet (\S+)", sh(f"nsenter --target {pid} --net ip -4 addr"))
    right(course.check("05-entering-containers", 2, client, hostname=hostname, addresses=addresses))

    # 3. CapEff through nsenter and through exec, decoded.
    def capabilities(hex_mask: str) -> set[str]:
        return {name for name, bit in CAPABILITIES.items() if int(hex_mask, 16) >> bit & 1}
    entered = sh(f"nsenter --target {pid} --mount --pid grep CapEff /proc/self/status").split()[1]
    executed = sh("minidock exec box grep CapEff /proc/self/status").split()[1]
    missing = sorted(capabilities(entered) - capabilities(executed))
    right(course.check("05-entering-containers", 3, client, missing=missing))
