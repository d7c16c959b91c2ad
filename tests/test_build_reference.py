"""minidock builds as Docker's classic builder does: every Dockerfile of the tests, built with the docker CLI
(``DOCKER_BUILDKIT=0``) against ``minidock daemon`` and against a private dockerd, gives the same layers,
the same history lines and the same config.

What is compared, per image: which history entries make a layer (``empty_layer``) and how many layers
there are; each entry's ``created_by`` exactly as dockerd writes it (``/bin/sh -c #(nop)  ENV ...``,
``|1 VERSION=2 /bin/sh -c ...``, ``COPY file:<sha256> in /dest ``); and the config's fields a Dockerfile sets.
Not compared: times and the layers' own digests (a RUN's files carry the time it ran).
"""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from pathlib import Path

import pytest

from dockerd import docker, dockerd  # noqa: F401  (the session's private dockerd)
from test_daemon import clis, daemon  # noqa: F401  (a minidock daemon per test)

pytestmark = [pytest.mark.root, pytest.mark.peers("docker", "dockerd")]

TESTS = Path(__file__).resolve().parent
DOCKERFILES = sorted((TESTS / "dockerfiles").glob("*.Dockerfile"))
CONTEXTS = sorted(p for p in (TESTS / "contexts").iterdir() if (p / "Dockerfile").is_file())
CONFIG_FIELDS = ("Cmd", "Entrypoint", "Env", "WorkingDir", "User", "Labels", "ExposedPorts", "Volumes",
                 "StopSignal", "Healthcheck", "Shell", "OnBuild")


def built(daemon, tag: str, context: Path, *flags: str, cli: str = "/usr/bin/docker") -> dict:
    """Build on ``daemon`` with the docker CLI's classic builder and return what is compared of the image."""
    result = docker(daemon, cli, "build", "-t", tag, *flags, str(context))
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
    saved = docker(daemon, "/usr/bin/docker", "save", tag)
    assert saved.returncode == 0, saved.stderr
    with tarfile.open(fileobj=io.BytesIO(saved.stdout)) as tar:
        (manifest,) = json.load(tar.extractfile("manifest.json"))
        config = json.load(tar.extractfile(manifest["Config"]))
    return {"layers": len(config["rootfs"]["diff_ids"]),
            "history": [(h.get("created_by", ""), bool(h.get("empty_layer"))) for h in config["history"]],
            "config": {k: config["config"].get(k) or None for k in CONFIG_FIELDS}}


def both(daemon, dockerd, context: Path, *flags: str, cli: str = "/usr/bin/docker") -> tuple[dict, dict]:  # noqa: F811
    return built(daemon, "compared", context, *flags, cli=cli), built(dockerd, "compared", context, *flags, cli=cli)


def _context_of(tmp_path: Path, dockerfile: Path) -> Path:
    context = tmp_path / "context"
    context.mkdir()
    shutil.copy(dockerfile, context / "Dockerfile")
    (context / "hello.txt").write_text("hello\n")
    return context


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.stem)
def test_each_dockerfile_builds_as_dockerd_builds_it(daemon, dockerd, dockerfile, tmp_path):  # noqa: F811
    mine, theirs = both(daemon, dockerd, _context_of(tmp_path, dockerfile))
    assert mine == theirs


@pytest.mark.parametrize("cli", clis())
@pytest.mark.parametrize("context", CONTEXTS, ids=lambda p: p.name)
def test_each_context_builds_as_dockerd_builds_it(daemon, dockerd, context, cli):  # noqa: F811
    """With each docker CLI: what a COPY's hash is made of is the tar header the CLI sends, which differs."""
    mine, theirs = both(daemon, dockerd, context, "--build-arg", "VERSION=2", cli=cli)
    assert mine == theirs


def test_a_child_of_an_onbuild_image_runs_its_triggers_as_dockerd(daemon, dockerd, tmp_path):  # noqa: F811
    parent = _context_of(tmp_path, TESTS / "dockerfiles" / "onbuild.Dockerfile")
    for d in (daemon, dockerd):
        assert docker(d, "/usr/bin/docker", "build", "-t", "onbuild-parent", str(parent)).returncode == 0
    child = tmp_path / "child"
    child.mkdir()
    (child / "Dockerfile").write_text("FROM onbuild-parent\nRUN cat /onbuild\n")
    (child / "app.txt").write_text("app\n")
    mine, theirs = both(daemon, dockerd, child)
    assert mine == theirs


def test_the_same_copy_of_the_same_files_is_named_alike(daemon, dockerd, tmp_path):  # noqa: F811
    """``COPY file:<hash>`` / ``dir:`` / ``multi:``: Docker's hash of the files (tarsum's header fields and
    the content), so the history names the same files the same way on both."""
    context = tmp_path / "context"
    (context / "dir" / "sub").mkdir(parents=True)
    (context / "dir" / "a").write_text("a\n")
    (context / "dir" / "sub" / "b").write_text("b\n")
    (context / "dir" / "link").symlink_to("a")
    (context / "run.sh").write_text("#!/bin/sh\n")
    (context / "run.sh").chmod(0o755)
    (context / "empty").write_text("")
    (context / "Dockerfile").write_text("FROM busybox\nCOPY run.sh /bin/\nCOPY dir /d/\nCOPY run.sh empty /m/\n"
                                        "ADD dir/a /added\nCOPY --chown=1:2 dir/* /globbed/\nWORKDIR /d\n"
                                        "WORKDIR /new/place\nRUN true\nRUN echo changed > /changed\n"
                                        "COPY dir/link /linked\nCOPY dir/link /into/\n")
    mine, theirs = both(daemon, dockerd, context)
    assert mine == theirs
    # and the same files: a symlink source is copied as what it names, one inside a directory as a link
    listing = "stat -c '%n %F %s %a %u:%g' /linked /into/link /d/link /globbed/link /d/sub/b /new /new/place"
    seen = [docker(d, "/usr/bin/docker", "run", "--rm", "compared", "sh", "-c", listing) for d in (daemon, dockerd)]
    assert seen[0].stdout == seen[1].stdout and seen[0].returncode == 0, (seen[0], seen[1])


def _cache_from_session(d, context: Path, tmp_path: Path, tag: str) -> dict:  # noqa: F811
    """Build ``tag``, save it, remove it (its steps' cache with it), load it back: an image with a history
    and no build cache, as a pull gives; then build again without and with ``--cache-from``."""
    def run(*args: str) -> str:
        result = docker(d, "/usr/bin/docker", *args)
        assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
        return result.stdout.decode()

    def image_id(name: str) -> str:
        return run("image", "inspect", "-f", "{{.Id}}", name).strip()

    run("build", "-t", tag, str(context))
    first = image_id(tag)
    archive = tmp_path / f"{tag}-{id(d)}.tar"
    run("save", "-o", str(archive), tag)
    run("rmi", tag)
    run("load", "-i", str(archive))
    seen = {"plain": run("build", "-t", f"{tag}-plain", str(context)).count("Using cache")}
    run("rmi", f"{tag}-plain")
    seen["from"] = run("build", "--cache-from", tag, "-t", f"{tag}-again", str(context)).count("Using cache")
    seen["same image"] = image_id(f"{tag}-again") == first
    dockerfile = context / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace("RUN echo two", "RUN echo changed"))
    seen["edited"] = run("build", "--cache-from", tag, "-t", f"{tag}-edited", str(context)).count("Using cache")
    history = run("history", "--no-trunc", "-q", f"{tag}-edited").split()
    seen["shares"] = sum(layer in run("history", "--no-trunc", "-q", tag).split() for layer in history
                         if layer != "<missing>")
    dockerfile.write_text(dockerfile.read_text().replace("RUN echo changed", "RUN echo two"))
    seen["unknown source"] = run("build", "--cache-from", "no-such-image", "-t", f"{tag}-none",
                                 str(context)).count("Using cache")
    return seen


def test_cache_from_reuses_a_loaded_images_steps_as_dockerd(daemon, dockerd, tmp_path):  # noqa: F811
    """``--cache-from``: a loaded image's steps are matched by its history (no build cache came with it);
    a build of the same Dockerfile gives that very image; after an edited step, the steps before it are
    reused; an unknown source is skipped.  The counts of "Using cache" are dockerd's."""
    context = tmp_path / "context"
    context.mkdir()
    (context / "hello.txt").write_text("hello\n")
    (context / "Dockerfile").write_text("FROM busybox\nENV GREETING=hi\nCOPY hello.txt /\nWORKDIR /work\n"
                                        "RUN echo one > one\nRUN echo two > two\nCMD [\"cat\", \"/hello.txt\"]\n")
    mine = _cache_from_session(daemon, context, tmp_path, "cachefrom")
    theirs = _cache_from_session(dockerd, context, tmp_path, "cachefrom")
    assert mine == theirs
    assert mine["plain"] == 0 and mine["from"] == 6 and mine["same image"] and mine["edited"] == 4


def _removed(d, context: Path, *flags: str) -> dict:  # noqa: F811
    def run(*args: str) -> list[str]:
        result = docker(d, "/usr/bin/docker", *args)
        assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
        return result.stdout.decode().splitlines()

    before = len(run("images", "-a", "-q"))
    run("build", "-t", "removed", str(context))
    built = len(run("images", "-a", "-q")) - before
    lines = run("rmi", *flags, "removed")
    left = len(run("images", "-a", "-q")) - before
    run("image", "prune", "-f")
    return {"built": built, "lines": [line.split(":")[0] for line in lines], "left": left}


@pytest.mark.parametrize("flags", [(), ("--no-prune",)], ids=["prune", "no-prune"])
def test_rmi_deletes_a_builds_untagged_steps_unless_no_prune_as_dockerd(daemon, dockerd, tmp_path, flags):  # noqa: F811
    """Docker's ``rmi`` deletes the image and its untagged parents (a build's steps), their layers with
    them: one "Deleted" line for each image and each layer; ``--no-prune`` keeps the parents."""
    context = tmp_path / "context"
    context.mkdir()
    (context / "hello.txt").write_text("hello\n")
    (context / "Dockerfile").write_text("FROM busybox\nENV A=1\nRUN echo one > /one\nCOPY hello.txt /\n"
                                        "RUN true\nCMD [\"sh\"]\n")
    mine, theirs = _removed(daemon, context, *flags), _removed(dockerd, context, *flags)
    assert mine == theirs
    assert mine["left"] == (0 if not flags else mine["built"] - 1)


def test_image_sizes_are_dockerds(daemon, dockerd, tmp_path):  # noqa: F811
    """SIZE as dockerd counts a layer (moby's directory.Size): files' bytes, each symlink as the length
    of its target, a hard-linked file once. busybox (its 400 applets are symlinks) and a built image."""
    context = tmp_path / "context"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM busybox\nRUN echo hi > /f && ln /f /g && ln -s /etc/hostname /link\n")

    def sizes(d) -> list[str]:
        assert docker(d, "/usr/bin/docker", "build", "-t", "sized", str(context)).returncode == 0
        return [docker(d, "/usr/bin/docker", "image", "inspect", "-f", "{{.Size}}", name).stdout.decode().strip()
                for name in ("busybox", "sized")]

    mine, theirs = sizes(daemon), sizes(dockerd)
    assert mine == theirs and int(mine[1]) - int(mine[0]) == len("hi\n") + len("/etc/hostname")
