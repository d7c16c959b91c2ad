"""Chapter 09's exercises, solved: stop then rm, a child image first, what rebuilds leave behind.

Each exercise three ways: the checker says not yet on what the chapter leaves, not yet on a
plausible wrong attempt, and right after the solution.
"""

from minidock import course
from solving import chapter, not_yet, right, sh


def stopped_exit_code(name: str, command: str) -> int:
    """Run ``command`` in the background, stop it (1 s before SIGKILL, not 10), note its exit code, rm it."""
    sh(f"minidock run -d --name {name} busybox {command}\nminidock stop -t 1 {name}")
    code = int(sh(f"minidock inspect --format '{{{{.State.ExitCode}}}}' {name}"))
    sh(f"minidock rm {name}")
    return code


def check(number: int, **answers):
    return course.check("09-cleaning-up", number, client, **answers)


with chapter("09-cleaning-up") as client:
    # What the chapter did before its exercises: kill and rm -f (never stop), an image committed and removed.
    sh("minidock run -d --name sleeper busybox sleep 1000\nminidock kill -s TERM sleeper\nminidock rm -f sleeper\n"
       "minidock run --name maker busybox sh -c 'echo v1 > /motd'\nminidock commit maker myapp:v1\n"
       "minidock rm maker\nminidock rmi myapp:v1")

    # 1. Nothing was stopped with `stop` yet.  A trap without `& wait` never runs while sleep is in the
    #    foreground, so stop SIGKILLs that shell too.  Then the right shell: it ends at once, with 0.
    not_yet(check(1, plain_exit=None, trap_exit=None))
    plain_exit = stopped_exit_code("plain", "sleep 1000")
    stopped_exit_code("trapper", "sh -c \"trap 'exit 0' TERM; sleep 1000\"")
    not_yet(check(1, plain_exit=137, trap_exit=0))
    trap_exit = stopped_exit_code("trapper", "sh -c \"trap 'exit 0' TERM; sleep 1000 & wait\"")
    not_yet(check(1, plain_exit=143, trap_exit=trap_exit))        # SIGTERM's 128 + 15: the signal that was ignored
    right(check(1, plain_exit=plain_exit, trap_exit=trap_exit))

    # 2. No base:1 yet.  Then base:1 and child:1 built on it; rmi base:1 first only untags it.
    not_yet(check(2, order=None))
    sh("minidock run --name basemaker busybox sh -c 'echo b > /b' && minidock commit basemaker base:1\n"
       "minidock run --name childmaker base:1 sh -c 'echo c > /c' && minidock commit childmaker child:1\n"
       "minidock rm basemaker childmaker && minidock rmi base:1")
    not_yet(check(2, order=["base:1", "child:1"]))
    sh("minidock rmi child:1")          # deletes child:1, then its untagged parent, base:1's image
    right(check(2, order=["child:1", "base:1"]))

    # 3. No webapp:dev yet.  Five commits of the same file are one image (a fixed clock, the same
    #    ID), so nothing dangles.  Then four more versions: four images lose the tag; prune them.
    not_yet(check(3, dangling=None))
    for attempt in range(5):
        sh(f"minidock run --name same{attempt} busybox sh -c 'echo 1 > /motd'\n"
           f"minidock commit same{attempt} webapp:dev && minidock rm same{attempt}")
    not_yet(check(3, dangling=4))
    for version in range(2, 6):
        sh(f"minidock run --name v{version} busybox sh -c 'echo {version} > /motd'\n"
           f"minidock commit v{version} webapp:dev && minidock rm v{version}")
    dangling = sh("minidock images --format '{{.Tag}}'").split().count("<none>")
    sh("minidock system prune -f")
    right(check(3, dangling=dangling))
