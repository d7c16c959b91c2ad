"""Chapter 07's exercises, solved: a labelled container through the daemon, a tag made with docker-py.

Each exercise three ways: the checker says not yet on what the chapter leaves, not yet on a
plausible wrong attempt, and right after the solution.
"""

import os
import signal
import subprocess
import time

import docker

from minidock import course
from solving import chapter, not_yet, right, sh


def check(number: int, **answers):
    return course.check("07-client-and-daemon", number, client, **answers)


with chapter("07-client-and-daemon") as client:
    # The chapter's daemon, as its cell starts it: a socket and a request log in the chapter's store.
    sock, log = client.store.root / "docker.sock", client.store.root / "daemon.log"
    daemon = subprocess.Popen(["minidock", "daemon", "-H", f"unix://{sock}", "--debug"],
                              stdout=log.open("w"), stderr=subprocess.STDOUT)
    try:
        while not sock.exists():
            if daemon.poll() is not None:
                raise SystemExit(f"the daemon ended: {log.read_text()}")
            time.sleep(0.05)
        os.environ["DOCKER_HOST"] = f"unix://{sock}"
        # What the chapter sent through it before the exercises: a run that exits 3, removed by --rm.
        sh("docker run --rm --network none busybox sh -c 'exit 3' || [ $? = 3 ]")

        # 1. No visitor yet.  Then the same container made by the minidock CLI: the journal has it,
        #    the daemon's log does not.  Then through the daemon: the docker CLI, DOCKER_HOST set.
        not_yet(check(1))
        sh("minidock run --name visitor --network none busybox sh -c 'exit 3' || [ $? = 3 ]\nminidock rm visitor")
        not_yet(check(1))
        sh("docker run --name visitor --label course.chapter=07 --network none busybox sh -c 'exit 3' || [ $? = 3 ]\n"
           "docker rm visitor")
        right(check(1))

        # 2. No course/busybox:07 yet.  Then the tag made by the minidock CLI, not through the daemon.
        #    Then docker-py against the same socket: Image.tag sends the image's ID, as the log shows.
        not_yet(check(2, named_by=None))
        sh("minidock tag busybox course/busybox:07")
        not_yet(check(2, named_by="name"))
        engine = docker.DockerClient(base_url=f"unix://{sock}")
        engine.images.get("busybox").tag("course/busybox", "07")
        engine.close()
        not_yet(check(2, named_by="name"))      # the name we typed is not what docker-py sent
        right(check(2, named_by="id"))
    finally:
        os.environ.pop("DOCKER_HOST", None)
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=30)
