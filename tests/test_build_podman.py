"""minidock build side by side with podman build: the same Dockerfiles must give the same images.

For every context in ``tests/contexts`` and every Dockerfile of the parser's
corpus in ``tests/dockerfiles``, both tools build from the same busybox (the
same image ID in both stores), and the results must agree on what is
observable: the config fields a Dockerfile sets, and every file of the final
image (type, mode, owner, content).  Not the number of layers: there buildah
and Docker's classic builder part ways (buildah makes a layer of every RUN,
even one that changes nothing, and none of a WORKDIR), and minidock follows
Docker, which ``test_build_reference`` checks against a real dockerd.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from conftest import REPO, run_cli
from test_interop_images import CGROUP_PARENT, Podman, _remove_new_cgroups

pytestmark = [pytest.mark.peers("podman"), pytest.mark.root]

CASES = sorted([("context", p.name) for p in (REPO / "tests" / "contexts").iterdir()] +
               [("dockerfile", p.name) for p in (REPO / "tests" / "dockerfiles").iterdir()])
FIELDS = ("Cmd", "Entrypoint", "Env", "ExposedPorts", "WorkingDir", "User", "Labels", "StopSignal")
# what a container runtime puts in a container's files, not the image
RUNTIME_FILES = {"etc/hostname", "etc/hosts", "etc/resolv.conf", "run/.containerenv"}


@pytest.fixture(scope="module")
def podman(tmp_path_factory, busybox_store):
    """A podman store holding minidock's busybox (loaded from ``minidock save``, so the IDs are equal)."""
    before = set(Path("/sys/fs/cgroup").glob(f"*/{CGROUP_PARENT}"))
    tool = Podman(tmp_path_factory.mktemp("pb"))
    archive = tmp_path_factory.mktemp("bb") / "busybox.tar"
    env = {"MINIDOCK_ROOT": str(busybox_store)}
    assert run_cli("save", "-o", str(archive), "busybox", env=__import__("os").environ | env).returncode == 0
    tool("load", "-q", "-i", str(archive))
    yield tool
    _remove_new_cgroups(before)


def files_of(export: bytes) -> dict[str, tuple]:
    """path -> (type, mode, uid, gid, content digest or link target), directories and runtime files left out."""
    found = {}
    with tarfile.open(fileobj=io.BytesIO(export)) as tar:
        for m in tar:
            name = m.name.lstrip("./")
            if m.isdir() or name in RUNTIME_FILES or name.startswith(("dev/", "proc/", "sys/")):
                continue
            body = hashlib.sha256(tar.extractfile(m).read()).hexdigest() if m.isreg() else m.linkname
            found[name] = (m.type, m.mode & 0o7777, m.uid, m.gid, body)  # Go writes type bits in mode too
    return found


def prepare(kind: str, name: str, tmp_path: Path) -> tuple[Path, Path]:
    """(context dir, Dockerfile) for one case; a corpus Dockerfile gets an empty context."""
    if kind == "context":
        ctx = tmp_path / name
        shutil.copytree(REPO / "tests" / "contexts" / name, ctx, symlinks=True)
        return ctx, ctx / "Dockerfile"
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    dockerfile = tmp_path / name
    shutil.copy(REPO / "tests" / "dockerfiles" / name, dockerfile)
    return ctx, dockerfile


def minidock_export(tag: str) -> bytes:
    cid = run_cli("create", tag, "true", check=True).stdout.decode().strip()
    try:
        return run_cli("export", cid, check=True).stdout
    finally:
        run_cli("rm", cid, check=True)


def podman_export(podman: Podman, tag: str) -> bytes:
    cid = podman("create", "--pull=never", tag, "true").strip()
    try:
        proc = subprocess.run([podman.exe, *podman.flags, "export", cid], capture_output=True, env=podman.env)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout
    finally:
        podman("rm", cid)


# Where podman (buildah 1.28) and Docker part ways, minidock follows Docker; the field is then
# checked against Docker's documented result instead, and the rest against podman as usual.
DOCKER_NOT_PODMAN = {
    # the escape directive makes "\" a plain character; buildah still treats it as an escape in ENV
    "escape-backtick.Dockerfile": ("Env", "DIR=C:\\data"),
    # "SHELL ... affects the shell form of RUN, CMD and ENTRYPOINT" (Dockerfile reference); buildah's CMD ignores it
    "shell.Dockerfile": ("Cmd", ["/bin/sh", "-e", "-c", "echo shell form uses SHELL too"]),
    # dockerd expands a port range into one key per port (nat.ParsePortSpecs); buildah keeps "7000-7002/tcp"
    "expose.Dockerfile": ("ExposedPorts", "7001/tcp"),
    "app": ("ExposedPorts", "9001/tcp"),
}
# Docker matches stage names case-insensitively (``AS Builder`` ... ``--from=builder``); buildah does
# not, so podman builds a copy whose names agree in case.
LOWERCASE_STAGES_FOR_PODMAN = {"multistage.Dockerfile"}


@pytest.mark.parametrize("kind,name", CASES, ids=[f"{k}-{n}" for k, n in CASES])
def test_the_same_image_as_podman_build(busybox, podman, tmp_path, kind, name):
    ctx, dockerfile = prepare(kind, name, tmp_path)
    tag = f"localhost/cmp-{name.lower().replace('.', '-')}:1"
    built = run_cli("build", "-t", tag, "-f", str(dockerfile), str(ctx))
    assert built.returncode == 0, built.stdout.decode() + built.stderr.decode()
    theirs_file = dockerfile
    if name in LOWERCASE_STAGES_FOR_PODMAN:
        theirs_file = tmp_path / "podman.Dockerfile"
        theirs_file.write_text(dockerfile.read_text().replace("AS Builder", "AS builder"))
    podman("build", "--layers", "--network=none", "--pull=never", "-q", "-t", tag, "-f", str(theirs_file), str(ctx))
    ours = json.loads(run_cli("inspect", tag, check=True).stdout)[0]
    theirs = json.loads(podman("inspect", tag))[0]
    docker_field, docker_value = DOCKER_NOT_PODMAN.get(name, (None, None))
    for field in FIELDS:
        mine, other = ours["Config"].get(field) or None, theirs["Config"].get(field) or None
        if field == docker_field:
            assert docker_value == mine or docker_value in mine, field
            continue
        if field == "Labels" and other:
            other = {k: v for k, v in other.items() if k != "io.buildah.version"} or None
        assert mine == other, field
    assert (ours.get("Author") or "") == (theirs.get("Author") or "")
    assert files_of(minidock_export(tag)) == files_of(podman_export(podman, tag))
