"""``minidock build``: the seed's example, the cache, multi-stage, failures, hostile contexts, and podman side by side."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

import minidock
from conftest import REPO, run_cli

pytestmark = pytest.mark.root
CONTEXTS = REPO / "tests" / "contexts"


def build(*args: str, input: bytes | None = None, check: bool = True) -> subprocess.CompletedProcess:
    proc = run_cli("build", *args, input=input)
    if check:
        assert proc.returncode == 0, proc.stdout.decode() + proc.stderr.decode()
    return proc


def lines(proc) -> list[str]:
    return proc.stdout.decode().splitlines()


def context(tmp_path: Path, name: str) -> Path:
    """A copy of a test context (builds must not depend on, or change, the repository's files)."""
    dest = tmp_path / name
    shutil.copytree(CONTEXTS / name, dest, symlinks=True)
    return dest


def test_the_seed_s_example_builds_and_runs(busybox, client, tmp_path):
    proc = build("-t=ouruser/sinatra:v2", str(context(tmp_path, "seed")))  # the seed's -t="..." form
    out = lines(proc)
    assert out[0] == "Step 1/6 : FROM busybox" and out[1] == f" ---> {busybox.id[7:19]}"
    assert "Step 3/6 : RUN mkdir -p /opt/sinatra &&     echo \"require 'sinatra'\" > /opt/sinatra/app.rb" in out
    assert any(line.startswith(" ---> Running in ") for line in out)
    assert out[-1] == "Successfully tagged ouruser/sinatra:v2" and out[-2].startswith("Successfully built ")
    image = client.images.get("ouruser/sinatra:v2")
    assert out[-2] == f"Successfully built {image.id[7:19]}"
    assert len(image.attrs["RootFS"]["Layers"]) == len(busybox.attrs["RootFS"]["Layers"]) + 2  # two RUNs
    assert image.attrs["Author"] == "Docker Newbee <newbee@docker.com>"
    assert image.attrs["Config"]["Cmd"] == ["cat", "/opt/sinatra/app.rb"]
    assert image.attrs["Config"]["ExposedPorts"] == {"4567/tcp": {}}
    history = image.history()
    assert sum(1 for h in history if "#(nop)" in h["CreatedBy"]) >= 3  # MAINTAINER, EXPOSE, CMD: no layer
    assert run_cli("run", "--rm", "--network", "none", "ouruser/sinatra:v2").stdout == b"require 'sinatra'\n"


def test_the_cache_reruns_exactly_the_steps_after_a_changed_file(busybox, client, tmp_path):
    ctx = context(tmp_path, "app")
    first = build("-t", "app:1", str(ctx))
    assert " ---> Using cache" not in lines(first)
    again = lines(build("-t", "app:1", str(ctx)))
    assert again.count(" ---> Using cache") == 13 - 1  # every step but FROM
    (ctx / "config.txt").write_text("port=9090\n")
    third = lines(build("-t", "app:2", str(ctx)))
    steps = [i for i, line in enumerate(third) if line.startswith("Step ")]
    cached = [third[i].split(" : ")[1].split()[0] for i in steps if third[i + 1] == " ---> Using cache"]
    assert cached == ["ARG", "ENV", "LABEL", "WORKDIR", "COPY"]  # up to the COPY of src/, not config.txt
    assert client.images.get("app:2").id != client.images.get("app:1").id
    no_cache = lines(build("--no-cache", "-t", "app:3", str(ctx)))
    assert " ---> Using cache" not in no_cache
    assert client.images.get("app:3").id != client.images.get("app:2").id or os.environ.get("SOURCE_DATE_EPOCH")


def test_config_files_and_dockerignore_of_the_app(busybox, client, tmp_path):
    build("-t", "app:1", "--build-arg", "VERSION=2.5", str(context(tmp_path, "app")))
    cfg = client.images.get("app:1").attrs["Config"]
    assert "APP_VERSION=2.5" in cfg["Env"] and cfg["WorkingDir"] == "/app" and cfg["User"] == "1000:1000"
    assert cfg["Labels"] == {"org.example.title": "demo app", "org.example.version": "2.5"}
    assert cfg["ExposedPorts"] == {"8080/tcp": {}, "9000/tcp": {}, "9001/tcp": {}}  # a range: a port each
    assert (cfg["Entrypoint"], cfg["Cmd"], cfg["StopSignal"]) == (["/app/src/run.sh"], ["--port", "8080"], "SIGINT")
    out = run_cli("run", "--rm", "--network", "none", "app:1").stdout
    assert out == b"app 2.5 --port 8080\n"
    listing = run_cli("run", "--rm", "--network", "none", "--entrypoint", "cat", "app:1", "listing.txt").stdout
    assert listing.splitlines() == [b"-rw-r--r-- 1000 1000 config.txt", b"drwxr-xr-x 0 0 src"]
    files = run_cli("run", "--rm", "--network", "none", "--entrypoint", "ls", "app:1", "src").stdout.split()
    assert files == [b"data.txt", b"run.sh", b"secret-but-wanted.txt"]  # .dockerignore kept the rest out


def test_multi_stage_copies_from_the_first_and_tags_only_the_last(busybox, client, tmp_path):
    ctx = context(tmp_path, "multistage")
    proc = build("-t", "multi:1", str(ctx))
    image = client.images.get("multi:1")
    assert run_cli("run", "--rm", "--network", "none", "multi:1").stdout == b"built by the first stage\n"
    assert len(image.attrs["RootFS"]["Layers"]) == len(busybox.attrs["RootFS"]["Layers"]) + 2
    assert [i.tags for i in client.images.list()] == [["multi:1"], ["busybox:latest"]] or \
        sorted(t for i in client.images.list() for t in i.tags) == ["busybox:latest", "multi:1"]
    assert "Successfully tagged multi:1" in lines(proc)
    build("--target", "builder", "-t", "stage:1", str(ctx))
    assert client.images.get("stage:1").attrs["Config"]["WorkingDir"] == "/work"


def test_a_failing_run_stops_the_build_and_leaves_no_container(busybox, client, tmp_path):
    ctx = tmp_path / "fail"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\nRUN echo before\nRUN exit 3\nCMD [\"sh\"]\n")
    proc = build("-t", "broken:1", str(ctx), check=False)
    assert proc.returncode == 3   # docker build exits with the failed RUN's status (dockerd sends it as the code)
    assert proc.stderr.decode().strip() == "minidock: The command '/bin/sh -c exit 3' returned a non-zero code: 3"
    assert client.containers.list(all=True) == []
    with pytest.raises(minidock.errors.ImageNotFound):
        client.images.get("broken:1")


def test_a_dockerfile_error_names_file_and_line_and_builds_nothing(busybox, client, tmp_path):
    ctx = tmp_path / "typo"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\n\nRUNN echo hi\n")
    before = sorted(p.name for p in client.store.layers.iterdir())
    proc = build(str(ctx), check=False)
    assert proc.returncode == 1
    assert proc.stderr.decode().strip() == "minidock: Dockerfile:3: unknown instruction: RUNN (did you mean RUN?)"
    assert sorted(p.name for p in client.store.layers.iterdir()) == before
    assert client.containers.list(all=True) == []


@pytest.mark.parametrize("dockerfile", ["FROM busybox\nCOPY ../outside.txt /\n",
                                        "FROM busybox\nCOPY link/passwd /stolen\n",
                                        "FROM busybox\nCOPY abs /stolen\n"])
def test_a_hostile_context_cannot_copy_from_outside(busybox, client, tmp_path, dockerfile):
    (tmp_path / "outside.txt").write_text("secret")
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(dockerfile)
    (ctx / "link").symlink_to("/etc")
    (ctx / "abs").symlink_to("/etc/passwd")
    proc = build("-t", "hostile:1", str(ctx), check=False)
    # a symlink is followed as if the context were "/": to the context's own etc/passwd, which is not there
    assert proc.returncode == 1 and len(proc.stderr.splitlines()) == 1
    assert b"outside the build context" in proc.stderr or b"not found in build context" in proc.stderr
    assert not client.images.list(name="hostile")


def test_reproducible_with_source_date_epoch(busybox, client, tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    ctx = context(tmp_path, "app")
    first = build("-q", str(ctx)).stdout.decode().strip()
    again = build("-q", "--no-cache", str(ctx)).stdout.decode().strip()
    assert first == again and first.startswith("sha256:")


def test_a_tar_context_on_stdin(busybox, client, tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(CONTEXTS / "multistage", arcname=".")
    build("-t", "fromtar:1", "-", input=buf.getvalue())
    assert run_cli("run", "--rm", "--network", "none", "fromtar:1").stdout == b"built by the first stage\n"


def test_the_steps_picture_tells_layers_from_config_only_steps(busybox, client, tmp_path):
    from minidock.course.viz import steps as build_steps
    build("-t", "seed:1", str(context(tmp_path, "seed")))
    steps = build_steps.steps_of(client.images.get("seed:1"))
    assert [s.layer for s in steps] == [True, False, True, True, False, False]  # busybox, MAINTAINER, 2 RUNs, ...
    text = build_steps.steps_text(steps)
    assert text.splitlines()[-1] == "6 steps, 3 of them filesystem layers"
    assert "MAINTAINER Docker Newbee <newbee@docker.com>" in text
    dot = build_steps.steps_dot(steps)
    assert dot.count('style="dashed"') == 3 and dot.count('style="filled"') == 3


def test_onbuild_triggers_run_in_the_child_build(busybox, client, tmp_path):
    parent, child = tmp_path / "parent", tmp_path / "child"
    parent.mkdir(), child.mkdir()
    (parent / "Dockerfile").write_text("FROM busybox\nONBUILD RUN echo triggered > /onbuild\n")
    build("-t", "base-with-trigger:1", str(parent))
    assert client.images.get("base-with-trigger:1").attrs["Config"]["OnBuild"] == ["RUN echo triggered > /onbuild"]
    (child / "Dockerfile").write_text("FROM base-with-trigger:1\nCMD [\"cat\", \"/onbuild\"]\n")
    out = lines(build("-t", "child:1", str(child)))
    assert "# Executing 1 build trigger: RUN echo triggered > /onbuild" in out
    assert run_cli("run", "--rm", "--network", "none", "child:1").stdout == b"triggered\n"
    assert not client.images.get("child:1").attrs["Config"].get("OnBuild")  # triggers fire once


def test_add_unpacks_a_local_tar_and_refuses_a_url(busybox, client, tmp_path):
    ctx = tmp_path / "add"
    ctx.mkdir()
    with tarfile.open(ctx / "bundle.tar.gz", "w:gz") as tar:
        data = b"from the archive\n"
        info = tarfile.TarInfo("inside/file.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    (ctx / "Dockerfile").write_text("FROM busybox\nADD bundle.tar.gz /opt/\nCMD [\"cat\", \"/opt/inside/file.txt\"]\n")
    build("-t", "added:1", str(ctx))
    assert run_cli("run", "--rm", "--network", "none", "added:1").stdout == b"from the archive\n"
    (ctx / "Dockerfile").write_text("FROM busybox\nADD https://example.invalid/x.tar /x\n")
    proc = build(str(ctx), check=False)
    assert proc.returncode == 1 and b"needs the network" in proc.stderr


@pytest.mark.parametrize("patterns,path,excluded", [
    ("*.log", "build.log", True), ("*.log", "src/build.log", False), ("**/*.log", "src/deep/x.log", True),
    ("src", "src/a/b.txt", True), ("src\n!src/keep.txt", "src/keep.txt", False),
    ("src\n!src/keep.txt", "src/other.txt", True), ("/abs/path", "abs/path", True), ("a?c", "abc", True),
    ("[ab].txt", "b.txt", True), ("[ab].txt", "c.txt", False), ("# comment\n\n x \n", "x", True),
])
def test_dockerignore_patterns_follow_docker_s_rules(patterns, path, excluded):
    from minidock.build.context import Ignore
    assert Ignore(patterns).excluded(path) is excluded

