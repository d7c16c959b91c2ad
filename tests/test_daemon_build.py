"""``POST /build``: the docker CLI's classic builder (``DOCKER_BUILDKIT=0``; both CLIs) and docker-py build
through ``minidock daemon``; where the answer is the daemon's own (an error, an exit code), it is compared
with a private dockerd's.
"""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
from pathlib import Path

import pytest

from dockerd import docker, dockerd  # noqa: F401  (the session's private dockerd)
from test_daemon import clis, daemon  # noqa: F401  (a minidock daemon per test)

pytestmark = [pytest.mark.root, pytest.mark.peers("docker")]

CONTEXTS = Path(__file__).resolve().parent / "contexts"


def last_line(result) -> str:
    return result.stderr.decode().strip().splitlines()[-1]


def tar_of(files: dict[str, bytes | str], links: dict[str, str] | None = None) -> bytes:
    """A context tar: ``files`` (name -> content), ``links`` (name -> symlink target); names as given."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
        for name, data in files.items():
            data = data.encode() if isinstance(data, str) else data
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


@pytest.mark.parametrize("cli", clis())
def test_the_cli_builds_with_tags_build_args_and_labels(daemon, cli):  # noqa: F811
    result = docker(daemon, cli, "build", "-t", "app:1", "-t", "app:latest", "--build-arg", "VERSION=2",
                   "--label", "team=course", str(CONTEXTS / "app"))
    out = result.stdout.decode()
    assert result.returncode == 0, out + result.stderr.decode()
    assert "Step 1/14 : FROM busybox" in out and "Step 14/14 : LABEL team=course" in out
    assert "Successfully tagged app:1\n" in out and "Successfully tagged app:latest\n" in out
    ran = daemon.docker(cli, "run", "--rm", "app:1")
    assert (ran.returncode, ran.stdout) == (0, b"app 2 --port 8080\n"), ran.stderr
    labels = daemon.docker(cli, "image", "inspect", "-f", "{{json .Config.Labels}}", "app:latest").stdout
    assert json.loads(labels) == {"org.example.title": "demo app", "org.example.version": "2", "team": "course"}


@pytest.mark.parametrize("cli", clis())
def test_a_target_stage_and_a_dockerfile_outside_the_context(daemon, cli, tmp_path):  # noqa: F811
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "Build.file").write_text((CONTEXTS / "multistage" / "Dockerfile").read_text())
    context = tmp_path / "ctx"
    context.mkdir()
    result = docker(daemon, cli, "build", "--target", "builder", "-t", "first", "-f", str(elsewhere / "Build.file"),
                   str(context))
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
    assert "Step 3/3 : RUN" in result.stdout.decode()
    answer = daemon.docker(cli, "run", "--rm", "first", "cat", "answer")
    assert answer.stdout == b"42\n"


def test_the_cache_and_no_cache(daemon, tmp_path):  # noqa: F811
    cli = "/usr/bin/docker"
    first = docker(daemon, cli, "build", "-t", "c:1", str(CONTEXTS / "seed")).stdout.decode()
    again = docker(daemon, cli, "build", "-t", "c:2", str(CONTEXTS / "seed")).stdout.decode()
    fresh = docker(daemon, cli, "build", "--no-cache", "-t", "c:3", str(CONTEXTS / "seed")).stdout.decode()
    assert "Using cache" not in first and "Using cache" not in fresh
    assert again.count(" ---> Using cache") == 5   # every step but FROM
    ids = [daemon.docker(cli, "image", "inspect", "-f", "{{.Id}}", f"c:{n}").stdout for n in (1, 2)]
    assert ids[0] == ids[1]


@pytest.mark.peers("dockerd")
def test_dockerignore_and_the_outside_dockerfile_as_dockerd(daemon, dockerd, tmp_path):  # noqa: F811
    """What ``COPY . /ctx`` takes: .dockerignore's rules, and whatever the CLI adds for an outside -f."""
    outside = tmp_path / "Dockerfile.outside"
    outside.write_text("FROM busybox\nCOPY . /ctx\n")
    listings = []
    for d in (daemon, dockerd):
        result = docker(d, "/usr/bin/docker", "build", "-q", "-t", "ignored", "-f", str(outside), str(CONTEXTS / "app"))
        assert result.returncode == 0, result.stderr
        found = docker(d, "/usr/bin/docker", "run", "--rm", "ignored", "find", "/ctx")
        listings.append(sorted(found.stdout.decode().split()))
    assert listings[0] == listings[1]
    assert "/ctx/src/secret-but-wanted.txt" in listings[0] and "/ctx/build.log" not in listings[0]


@pytest.mark.peers("dockerd")
@pytest.mark.parametrize("cli", clis())
@pytest.mark.parametrize("dockerfile", ["FROM busybox\nRUN echo out; exit 3\n", "FROM busybox\nFOO bar\n",
                                        "FROM busybox\nCOPY missing /\n", "FROM nosuchimage:1\n"],
                         ids=["run-fails", "parse-error", "copy-missing", "no-image"])
def test_a_failing_build_says_and_exits_as_with_dockerd(daemon, dockerd, cli, dockerfile):  # noqa: F811
    mine = docker(daemon, cli, "build", "-", input=dockerfile.encode())
    theirs = docker(dockerd, cli, "build", "-", input=dockerfile.encode())
    assert mine.returncode == theirs.returncode != 0
    if "FOO" in dockerfile or "RUN" in dockerfile:   # the same words; a missing file or image is said otherwise
        assert last_line(mine) == last_line(theirs)
    assert "Traceback" not in mine.stderr.decode()
    assert daemon.docker(cli, "ps", "-aq").stdout == b""   # a failed step's container is not left behind


def test_docker_py_builds_from_a_tar_and_from_a_dockerfile(daemon):  # noqa: F811
    docker = pytest.importorskip("docker")
    client = docker.DockerClient(base_url=daemon.env["DOCKER_HOST"])
    context = tar_of({"Dockerfile": "FROM busybox\nARG WHO\nCOPY hello.txt /\nRUN echo $WHO >> /hello.txt\n",
                      "hello.txt": "hello\n"})
    image, logs = client.images.build(fileobj=io.BytesIO(context), custom_context=True, tag="py:1",
                                      buildargs={"WHO": "py"})
    assert "py:1" in image.tags
    assert any("Successfully built" in line.get("stream", "") for line in logs)
    assert client.containers.run("py:1", "cat /hello.txt", remove=True) == b"hello\npy\n"
    image2, _ = client.images.build(fileobj=io.BytesIO(b"FROM busybox\nLABEL made=by-py\n"), tag="py:2")
    assert image2.labels == {"made": "by-py"}
    with pytest.raises(docker.errors.BuildError, match="returned a non-zero code: 4"):
        client.images.build(fileobj=io.BytesIO(b"FROM busybox\nRUN exit 4\n"))
    client.close()


def _leftovers(daemon) -> list[str]:  # noqa: F811
    tmp = Path(daemon.env["MINIDOCK_ROOT"]) / "tmp"
    return sorted(p.name for p in tmp.iterdir()) if tmp.exists() else []


HOSTILE = {
    "climbs-out": (tar_of({"Dockerfile": "FROM busybox\n", "../evil": "x"}), "Dockerfile", 400, "outside of"),
    "absolute": (tar_of({"Dockerfile": "FROM busybox\n", "/tmp/evil": "x"}), "Dockerfile", 400, "outside of"),
    "dockerfile-outside": (tar_of({"Dockerfile": "FROM busybox\n"}), "../Dockerfile", 500,
                           "forbidden path outside the build context: ../Dockerfile"),   # dockerd's words
    "no-dockerfile": (tar_of({"Dockerfile": "FROM busybox\n"}), "nope", 500, "Cannot locate specified Dockerfile: nope"),
    "not-a-tar": (b"this is not a tar" * 100, "Dockerfile", 400, "not a tar"),
}


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_contexts_are_refused_and_leave_nothing(daemon, name):  # noqa: F811
    body, dockerfile, status, message = HOSTILE[name]
    got, data = daemon.request("POST", f"/v1.41/build?t=hostile&dockerfile={dockerfile}", body,
                               {"Content-Type": "application/x-tar"})
    assert (got, message in json.loads(data)["message"]) == (status, True), data
    assert _leftovers(daemon) == []
    assert not Path("/tmp/evil").exists()
    assert daemon.request("GET", "/images/hostile/json")[0] == 404


def test_symlinks_in_a_context_stay_in_it(daemon, canary):  # noqa: F811
    """A member written through a symlink that points out lands inside the context, as in a chroot;
    a COPY through a symlink reads the context's own files, never the host's."""
    links = {"out": str(canary), "etc": "/etc"}
    body = tar_of({"Dockerfile": "FROM busybox\nCOPY out/keep /from-out\n", "out/keep": "in the context\n"}, links)
    got, data = daemon.request("POST", "/build?t=linked", body, {"Content-Type": "application/x-tar"})
    assert got == 200 and b"Successfully tagged linked:latest" in data, data
    assert (canary / "keep").read_text() == "untouched"
    ran = daemon.docker("/usr/bin/docker", "run", "--rm", "linked", "cat", "/from-out")
    assert ran.stdout == b"in the context\n"
    body = tar_of({"Dockerfile": "FROM busybox\nCOPY etc/hostname /h\n"}, links)
    got, data = daemon.request("POST", "/build?t=host-file", body, {"Content-Type": "application/x-tar"})
    last = json.loads(data.splitlines()[-1])
    assert got == 200 and "etc/hostname" in last["error"], data
    assert _leftovers(daemon) == []


def test_bad_parameters_are_refused_before_anything_is_unpacked(daemon):  # noqa: F811
    for query, message in (("platform=windows/amd64", "unsupported platform"),
                           ("buildargs=%5B1%5D", "invalid buildargs"), ("labels=%7Bx", "invalid labels"),
                           ("networkmode=container:x", "network mode"), ("t=UPPER:case", "")):
        got, data = daemon.request("POST", f"/build?{query}", tar_of({"Dockerfile": "FROM busybox\n"}),
                                   {"Content-Type": "application/x-tar"})
        assert got == 400 and message in json.loads(data)["message"], (query, data)


@pytest.mark.parametrize("cli", clis())
def test_without_buildkit_set_the_cli_falls_back_and_compress_and_quiet_work(daemon, cli):  # noqa: F811
    """A CLI without the buildx plugin builds with the classic builder unasked (28.x says it is deprecated);
    ``--compress`` sends the context gzipped; ``-q`` prints the image ID alone."""
    env = {k: v for k, v in daemon.env.items() if k != "DOCKER_BUILDKIT"}
    iidfile = Path(daemon.env["MINIDOCK_ROOT"]).parent / "iid"
    result = subprocess.run([cli, "build", "--compress", "-q", "-t", "plain", str(CONTEXTS / "seed")], env=env,
                            capture_output=True, timeout=120)
    assert result.returncode == 0, result.stderr
    image_id = daemon.docker(cli, "image", "inspect", "-f", "{{.Id}}", "plain").stdout.strip()
    assert result.stdout.strip() == image_id and image_id.startswith(b"sha256:")
    again = subprocess.run([cli, "build", "--iidfile", str(iidfile), str(CONTEXTS / "seed")], env=env,
                           capture_output=True, timeout=120)
    assert again.returncode == 0 and iidfile.read_bytes() == image_id   # from the stream's aux line
    failed = subprocess.run([cli, "build", "-q", "-"], input=b"FROM busybox\nRUN echo said; exit 2\n", env=env,
                            capture_output=True, timeout=120)
    assert failed.returncode == 2 and b"said" in failed.stdout + failed.stderr   # -q: the log, when it fails


def test_the_network_of_run_steps(daemon):  # noqa: F811
    """A RUN has no network unless asked (``--network host``): this machine has none to give it."""
    counts = []
    for flags in ((), ("--network", "host")):
        dockerfile = b"FROM busybox\nRUN ip -o link | wc -l > /links\n"
        built = docker(daemon, "/usr/bin/docker", "build", "--no-cache", "-q", "-t", "net", *flags, "-",
                       input=dockerfile)
        assert built.returncode == 0, built.stderr
        counts.append(int(daemon.docker("/usr/bin/docker", "run", "--rm", "net", "cat", "/links").stdout))
    assert counts[0] == 1 and counts[1] > 1   # only lo, then the host's links
