"""Chapter 09's exercises, solved: stop then rm, a child image first, what rebuilds leave behind."""

from minidock import course
from solving import chapter, right, sh


def stopped_exit_code(name: str, command: str) -> int:
    """Run ``command`` in the background, stop it, note its exit code, remove it."""
    sh(f"minidock run -d --name {name} busybox {command}\nminidock stop -t 1 {name}")
    code = int(sh(f"minidock inspect --format '{{{{.State.ExitCode}}}}' {name}"))
    sh(f"minidock rm {name}")
    return code


with chapter("09-cleaning-up") as client:
    # 1. sleep ignores SIGTERM as PID 1 (SIGKILL follows: 137); a shell with a trap exits 0.
    plain_exit = stopped_exit_code("plain", "sleep 1000")
    trap_exit = stopped_exit_code("trapper", "sh -c \"trap 'exit 0' TERM; sleep 1000 & wait\"")
    right(course.check("09-cleaning-up", 1, client, plain_exit=plain_exit, trap_exit=trap_exit))

    # 2. child:1 is built on base:1: the child goes first.
    sh("minidock run --name basemaker busybox sh -c 'echo b > /b' && minidock commit basemaker base:1\n"
       "minidock run --name childmaker base:1 sh -c 'echo c > /c' && minidock commit childmaker child:1\n"
       "minidock rm basemaker childmaker && minidock rmi child:1 && minidock rmi base:1")
    right(course.check("09-cleaning-up", 2, client, order=["child:1", "base:1"]))

    # 3. Five versions under one tag: four of them lose it; prune them.
    for version in range(1, 6):
        sh(f"minidock run --name v{version} busybox sh -c 'echo {version} > /motd'\n"
           f"minidock commit v{version} myapp:dev && minidock rm v{version}")
    dangling = sh("minidock images --format '{{.Tag}}'").split().count("<none>")
    sh("minidock system prune -f")
    right(course.check("09-cleaning-up", 3, client, dangling=dangling))
