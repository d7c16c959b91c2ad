"""The seed's commands typed with the unmodified docker CLI, against ``minidock daemon`` and against a
private dockerd, side by side: the same exit code for every command, and the same output once what
must differ (IDs, ages, sizes) is masked.

The session follows the seed's order: images, run, ps, logs, stop/start/restart, exec, commit, build,
tag, save/load, export/import, inspect, rm, rmi; and the errors a learner meets on the way.
"""

from __future__ import annotations

import re
import subprocess

import pytest

from dockerd import dockerd  # noqa: F401  (the session's private dockerd)
from test_daemon import clis, daemon  # noqa: F401  (a private minidock daemon)

pytestmark = [pytest.mark.root, pytest.mark.peers("docker", "dockerd")]

DOCKERFILE = """FROM busybox
LABEL maintainer="Docker Newbee"
RUN echo built > /built.txt
CMD ["cat", "/built.txt"]
"""

# (argv, stdin): each a docker command of the seed, in its order; "{tmp}" is the test's directory
SESSION = [
    (["images", "busybox:latest", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"], None),
    (["run", "--name", "hello", "--network", "none", "busybox", "/bin/echo", "Hello world"], None),
    (["ps", "-a", "--filter", "name=hello", "--format", "{{.Names}} {{.Status}} {{.Command}}"], None),
    (["run", "-d", "--name", "web", "-h", "web", "--network", "none", "busybox", "sh", "-c",
      "echo started; while true; do sleep 0.1; done"], None),
    (["ps", "--format", "{{.Names}} {{.Image}}"], None),
    (["logs", "web"], None),
    (["stop", "-t", "2", "web"], None),
    (["ps", "-a", "--filter", "name=web", "--format", "{{.Names}} {{.State}}"], None),
    (["start", "web"], None),
    (["restart", "-t", "1", "web"], None),
    (["exec", "web", "hostname"], None),
    (["exec", "-i", "web", "cat"], b"typed in\n"),
    (["inspect", "--format", "{{.State.Running}} {{.Config.Hostname}} {{.Name}}", "web"], None),
    (["commit", "-m", "Added json gem", "-a", "Docker Newbee", "web", "ouruser/sinatra:v2"], None),
    (["build", "-q", "--network", "none", "-t", "ouruser/sinatra:v3", "{tmp}/context"], None),
    (["run", "--rm", "--network", "none", "ouruser/sinatra:v3"], None),
    (["tag", "ouruser/sinatra:v3", "ouruser/sinatra:devel"], None),
    (["images", "ouruser/sinatra", "--format", "{{.Repository}}:{{.Tag}}"], None),
    (["history", "--format", "{{.CreatedBy}}", "ouruser/sinatra:v3"], None),
    (["save", "-o", "{tmp}/busybox.tar", "busybox"], None),
    (["load", "--input", "{tmp}/busybox.tar"], None),
    (["export", "-o", "{tmp}/snapshot.tar", "web"], None),
    (["import", "{tmp}/snapshot.tar", "test/busybox:v1"], None),
    (["images", "test/busybox", "--format", "{{.Repository}}:{{.Tag}}"], None),
    (["rm", "hello"], None),
    (["rm", "web"], None),                     # running: refused
    (["rm", "-f", "web"], None),
    (["rmi", "ouruser/sinatra:devel"], None),
    (["rmi", "nosuch:latest"], None),
    (["stop", "nosuch"], None),
    (["run", "--network", "none", "nosuch-image"], None),
    (["run", "--network", "none", "busybox", "nosuchcommand"], None),
    (["run", "--network", "none", "busybox", "sh", "-c", "exit 7"], None),
    (["exec", "nosuch", "true"], None),
]

MASKS = [
    (re.compile(r"sha256:[0-9a-f]{64}"), "sha256:<ID>"),
    (re.compile(r"\b[0-9a-f]{64}\b"), "<ID>"),
    (re.compile(r"\b[0-9a-f]{12}\b"), "<ID>"),
    (re.compile(r"(Less than a second|About a minute|About an hour|\d+ \w+) ago"), "<AGO>"),
    (re.compile(r"Up (Less than a second|About a minute|\d+ seconds?)"), "Up <TIME>"),
    (re.compile(r"docker: "), ""),              # how the newer CLI prefixes run's errors
    # what dockerd says of its containerd and runc, which minidock has not (its shim runs the process)
    (re.compile(r"failed to create shim task: OCI runtime create failed: runc create failed: unable to start "
                r"container process: (.*): unknown"), r"\1"),
    (re.compile(r'time="[^"]*" level=error msg="error waiting for container: context canceled"\n'), ""),
    (re.compile(r"\nSee 'docker run --help'\.|\nRun 'docker run --help' for more information"), ""),
]


def masked(text: str) -> str:
    for pattern, replacement in MASKS:
        text = pattern.sub(replacement, text)
    return text


def session(cli: str, env: dict, tmp) -> list[tuple[int, str, str]]:
    results = []
    for argv, stdin in SESSION:
        args = [a.replace("{tmp}", str(tmp)) for a in argv]
        proc = subprocess.run([cli, *args], env=env | {"DOCKER_BUILDKIT": "0"}, input=stdin, capture_output=True,
                              timeout=120)
        stdout = masked(proc.stdout.decode())
        if args[0] == "images":   # newest first: images made in one second may come in either order
            stdout = "".join(sorted(stdout.splitlines(keepends=True)))
        results.append((proc.returncode, stdout, masked(proc.stderr.decode())))
    return results


def _cleanup(cli: str, env: dict) -> None:
    for args in (["rm", "-f", "hello", "web"], ["rmi", "-f", "ouruser/sinatra:v2", "ouruser/sinatra:v3",
                                                 "ouruser/sinatra:devel", "test/busybox:v1"]):
        subprocess.run([cli, *args], env=env, capture_output=True)
    leftovers = subprocess.run([cli, "ps", "-aq"], env=env, capture_output=True, text=True).stdout.split()
    if leftovers:
        subprocess.run([cli, "rm", "-f", *leftovers], env=env, capture_output=True)


@pytest.mark.parametrize("cli", clis())
def test_the_seeds_session_through_the_docker_cli(daemon, dockerd, cli, tmp_path):
    outcomes = {}
    for name, d in (("minidock", daemon), ("dockerd", dockerd)):
        _cleanup(cli, d.env)
        work = tmp_path / name
        (work / "context").mkdir(parents=True)
        (work / "context" / "Dockerfile").write_text(DOCKERFILE)
        try:
            outcomes[name] = session(cli, d.env, work)
        finally:
            _cleanup(cli, d.env)
    differences = []
    for (argv, _), mine, theirs in zip(SESSION, outcomes["minidock"], outcomes["dockerd"]):
        if mine[0] != theirs[0]:
            differences.append(f"docker {' '.join(argv)}: exit {mine[0]} vs dockerd's {theirs[0]}\n"
                               f"  minidock: {mine[1]!r} {mine[2]!r}\n  dockerd:  {theirs[1]!r} {theirs[2]!r}")
        elif argv[0] not in ("save", "load", "build", "commit", "import") and "nosuch-image" not in argv \
                and mine[1:] != theirs[1:]:    # a pull here fails for want of a network, in each its own words
            differences.append(f"docker {' '.join(argv)}:\n  minidock: {mine[1]!r} {mine[2]!r}\n"
                               f"  dockerd:  {theirs[1]!r} {theirs[2]!r}")
    assert not differences, "\n".join(differences)
