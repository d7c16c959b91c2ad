"""Chapter 11's exercises, solved: too little memory then enough, a spinner capped at half a CPU."""

from minidock import course
from solving import chapter, not_yet, right, sh

HOG = "busybox sh -c 'x=$(head -c 64000000 /dev/zero | tr \"\\0\" a); echo survived'"

with chapter("11-resource-limits") as client:
    # the chapter's state before the exercises: section 4's hog, OOM-killed
    sh(f"minidock run --name hog -m 16m {HOG} || true")

    # 1. Untouched: no squeeze.  Wrong: squeeze without a limit; then roomy with a limit still too small.
    not_yet(course.check("11-resource-limits", 1, client))
    sh(f"minidock run --name squeeze {HOG}")
    not_yet(course.check("11-resource-limits", 1, client))
    sh(f"minidock rm squeeze && minidock run --name squeeze -m 16m {HOG} || true\n"
       f"minidock run --name roomy -m 32m {HOG} || true")
    not_yet(course.check("11-resource-limits", 1, client))
    sh(f"minidock rm roomy && minidock run --name roomy -m 256m {HOG}")
    right(course.check("11-resource-limits", 1, client))

    # 2. Untouched: no spinner.  Wrong: a weight (--cpu-shares) is no cap.  Right: --cpus 0.5 on CPU 0.
    not_yet(course.check("11-resource-limits", 2, client))
    sh("minidock run -d --name spinner -c 512 --cpuset-cpus 0 busybox sh -c 'while :; do :; done'")
    not_yet(course.check("11-resource-limits", 2, client))
    sh("minidock rm -f spinner\n"
       "minidock run -d --name spinner --cpus 0.5 --cpuset-cpus 0 busybox sh -c 'while :; do :; done'")
    right(course.check("11-resource-limits", 2, client))
    sh("minidock rm -f spinner")
