"""Chapter 10's exercises, solved: a volume that outlives its container, a read-only host directory."""

from minidock import course
from solving import chapter, not_yet, right, sh

with chapter("10-volumes") as client:
    # the chapter's state before the exercises: the volume notes, a container keeper that used it
    sh("minidock volume create notes\n"
       "minidock run --name keeper -v notes:/data busybox sh -c 'echo in-volume > /data/saved'")

    # 1. Untouched: no journal.  Wrong: the writer kept (and a reader that mounts it read-write).
    not_yet(course.check("10-volumes", 1, client))
    sh("minidock volume create journal\n"
       "minidock run --name writer -v journal:/journal busybox sh -c 'hostname > /journal/author'")
    not_yet(course.check("10-volumes", 1, client))
    sh("minidock rm writer\n"
       "minidock run --name reader -v journal:/journal busybox cat /journal/author")
    not_yet(course.check("10-volumes", 1, client))
    # right: the writer is gone, the reader mounts journal read-only
    sh("minidock rm reader\n"
       "minidock run --name reader -v journal:/journal:ro busybox cat /journal/author")
    right(course.check("10-volumes", 1, client))

    # 2. Untouched: no app.  Wrong: conf without $PWD is a volume's name; then a read-write bind.
    not_yet(course.check("10-volumes", 2, client))
    sh("mkdir -p conf && echo 'color = blue' > conf/app.conf\n"
       "minidock run --name app -v conf:/etc/app:ro busybox cat /etc/app/app.conf || true")
    not_yet(course.check("10-volumes", 2, client))
    sh("minidock rm app\n"
       "minidock run --name app -v \"$PWD/conf:/etc/app\" busybox cat /etc/app/app.conf")
    not_yet(course.check("10-volumes", 2, client))
    sh("minidock rm app\n"
       "minidock run --name app -v \"$PWD/conf:/etc/app:ro\" busybox cat /etc/app/app.conf")
    right(course.check("10-volumes", 2, client))
