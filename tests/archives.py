"""Archives built by hand, so a test controls every byte, and store listings, so a
test can say "nothing changed".  Shared by the image, archive, store and CLI tests.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import tarfile
from pathlib import Path

from conftest import run_cli

KINDS = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE,
         "hardlink": tarfile.LNKTYPE, "chr": tarfile.CHRTYPE, "blk": tarfile.BLKTYPE}


# -- helpers ------------------------------------------------------------------

def entry(name: str, data: bytes = b"", kind: str = "file", **fields) -> tuple[tarfile.TarInfo, bytes]:
    """One tar member: ``entry("etc/x", b"hi")``, ``entry("l", kind="symlink", linkname="/etc")``."""
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime = KINDS[kind], 0o755 if kind == "dir" else 0o644, 1_600_000_000
    info.size = len(data) if kind == "file" else 0
    for key, value in fields.items():
        setattr(info, key, value)
    return info, data


def tar_of(*entries: tuple[tarfile.TarInfo, bytes]) -> bytes:
    """A tar holding ``entries`` in that order."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in entries:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buf.getvalue()


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def blob_name(data: bytes) -> str:
    return "blobs/sha256/" + sha(data)[7:]


def image_config(layers: list[bytes], **extra) -> bytes:
    """A config naming ``layers`` by DiffID, with one history entry per layer."""
    config = {"architecture": "amd64", "os": "linux", "created": "2024-01-02T03:04:05Z",
              "config": {"Cmd": ["sh"]}, "rootfs": {"type": "layers", "diff_ids": [sha(l) for l in layers]},
              "history": [{"created": "2024-01-02T03:04:05Z", "created_by": f"/bin/sh -c step {i}"}
                          for i in range(len(layers))]}
    return json.dumps(config | extra, sort_keys=True).encode()


def docker_archive(layers: list[bytes], tags=("hand:made",), extra=()) -> bytes:
    """A docker-archive (manifest.json + blobs) of one image, plus ``extra`` members first."""
    config = image_config(layers)
    manifest = [{"Config": blob_name(config), "RepoTags": list(tags) or None,
                 "Layers": [blob_name(l) for l in layers]}]
    blobs = {blob_name(b): b for b in [config, *layers]}
    return tar_of(*extra, *(entry(n, b) for n, b in blobs.items()),
                  entry("manifest.json", json.dumps(manifest).encode()))


def small_layer(text: str = "hello") -> bytes:
    return tar_of(entry("etc", kind="dir"), entry("etc/greeting", text.encode()))


def store_files(root: Path) -> dict[str, tuple]:
    """Every path under the store but tmp/ and lock, with its type and content: equal means unchanged."""
    found = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(dirpath, name)
            rel = str(path.relative_to(root))
            if rel in ("tmp", "lock") or rel.startswith("tmp/"):
                continue
            st = os.lstat(path)
            content = (path.read_bytes() if stat.S_ISREG(st.st_mode) else
                       os.readlink(path) if stat.S_ISLNK(st.st_mode) else st.st_rdev)
            found[rel] = (stat.S_IFMT(st.st_mode), hashlib.sha256(str(content).encode()).hexdigest())
    return found


def saved(client, *names: str) -> bytes:
    """What ``minidock save NAMES`` writes."""
    buf = io.BytesIO()
    client.images.save_to(list(names), buf)
    return buf.getvalue()


def members(archive: bytes) -> dict[str, bytes | None]:
    """An archive's members by name (file contents; None for anything else)."""
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        return {m.name: tar.extractfile(m).read() if m.isreg() else None for m in tar}


def members_with_info(archive: bytes) -> list[tuple[tarfile.TarInfo, bytes]]:
    """An archive's members in order, ready for :func:`tar_of` again (to tamper with one)."""
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        return [(m, tar.extractfile(m).read() if m.isreg() else b"") for m in tar]


def oci_only(archive: bytes, top: str = "") -> bytes:
    """The OCI layout of a minidock save, without docker's manifest.json and repositories."""
    kept = [(m, d) for m, d in members_with_info(archive) if m.name not in ("manifest.json", "repositories")]
    for info, _ in kept:
        info.name = top + info.name
    return tar_of(*kept)


def load_into(tmp_path, archive: bytes, *args: str, name: str = "other"):
    """Run ``minidock load ARGS`` with ``archive`` on stdin, on the store tmp_path/NAME."""
    env = os.environ | {"MINIDOCK_ROOT": str(tmp_path / name)}
    return run_cli("load", *args, input=archive, env=env)


def one_line_error(proc, *words: str, code: int = 1) -> str:
    """Assert docker's way of failing: one line on stderr, the exit code, no traceback."""
    err = proc.stderr.decode()
    assert proc.returncode == code, (proc.returncode, err)
    assert err.startswith("minidock: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for word in words:
        assert word in err, err
    return err


def assert_untouched(canary: Path) -> None:
    assert sorted(os.listdir(canary)) == ["keep"] and (canary / "keep").read_text() == "untouched"
