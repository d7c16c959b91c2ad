"""Chapter 07's exercises, solved: a labelled container through the daemon, a tag made with docker-py."""

import os
import signal
import subprocess
import time

import docker

from minidock import course
from solving import chapter, right, sh

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

        # 1. Through the daemon: the docker CLI, DOCKER_HOST set; run exits 3 as its container does.
        sh("docker run --name visitor --label course.chapter=07 --network none busybox sh -c 'exit 3' || [ $? = 3 ]\n"
           "docker rm visitor")
        right(course.check("07-client-and-daemon", 1, client))

        # 2. docker-py against the same socket; Image.tag sends the image's ID, as the log shows.
        engine = docker.DockerClient(base_url=f"unix://{sock}")
        engine.images.get("busybox").tag("course/busybox", "07")
        engine.close()
        right(course.check("07-client-and-daemon", 2, client, named_by="id"))
    finally:
        os.environ.pop("DOCKER_HOST", None)
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=30)
