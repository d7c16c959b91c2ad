"""The store on disk: content-addressed blobs, the image index, layer directories.

Everything minidock knows lives under one root directory (``MINIDOCK_ROOT``)::

    ROOT/lock                  flock(2): one writer at a time
    ROOT/tmp/                  half-written files; renamed into place when whole
    ROOT/blobs/sha256/<hex>    configs and manifests, named by digest
    ROOT/images.json           which images exist, their tags and local parents
    ROOT/layers/<chain hex>/   an extracted layer (``diff/``), its ``layer.json``, and
                               the tar-split record that gives back its exact tar

Two rules keep it consistent however a command ends:

* **Atomic, durable writes.** A file is written in ``tmp/``, fsync'ed, and
  ``os.replace``-d into place (rename(2) is atomic within one file system), then
  its directory is fsync'ed (``runtime/durable.py``), so a reader sees the old
  file or the new one, never half of one, even after a power loss.  A killed
  command leaves debris only in ``tmp/``, which the next writer sweeps.
* **One lock.** Commands that change the store hold an exclusive ``flock`` on
  ``ROOT/lock`` while they do; two commands at once simply take turns.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .digest import HashingReader, hex_of, is_digest
from ..errors import Damaged, DigestMismatch, InvalidArchive
from ..runtime import durable

TYPE_CHECKING = False  # typing's, without importing typing: every command would pay for it
if TYPE_CHECKING:
    from typing import BinaryIO

CHUNK = 1 << 20


def default_root() -> Path:
    """``MINIDOCK_ROOT``, else /var/lib/minidock for root, else the XDG data dir."""
    if os.environ.get("MINIDOCK_ROOT"):
        return Path(os.environ["MINIDOCK_ROOT"])
    if os.geteuid() == 0:
        return Path("/var/lib/minidock")
    data = os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
    return Path(data) / "minidock"


class Store:
    """One minidock root directory."""

    def __init__(self, root: Path | str | None = None):
        self.root = Path(root) if root is not None else default_root()
        self.tmp = self.root / "tmp"
        self.blobs = self.root / "blobs" / "sha256"
        self.layers = self.root / "layers"
        self.links = self.root / "l"  # short symlinks to deep images' layer dirs, for overlay's options
        # owner only: layers hold setuid files and, as root, device nodes (Docker's root is 0710, CVE-2021-41091)
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        for d in (self.tmp, self.blobs, self.layers):
            d.mkdir(parents=True, exist_ok=True)
        self._lock_depth = 0
        self._lock_fd: int | None = None

    # -- the lock ---------------------------------------------------------

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the store's exclusive lock (re-entrant within one process)."""
        if self._lock_depth == 0:
            self._lock_fd = os.open(self.root / "lock", os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
            self._sweep_tmp()
        self._lock_depth += 1
        try:
            yield
        finally:
            self._lock_depth -= 1
            if self._lock_depth == 0:
                os.close(self._lock_fd)
                self._lock_fd = None

    def _sweep_tmp(self) -> None:
        """Remove what a killed command left half-written (we hold the lock).

        Every temp name starts with its maker's PID; what a living process
        made is still in use (``export`` writes without the lock) and stays.
        """
        for entry in self.tmp.iterdir():
            pid = entry.name.split("-", 1)[0]
            if not (pid.isdigit() and os.path.exists(f"/proc/{pid}")):
                remove_tree(entry)

    # -- atomic files -----------------------------------------------------

    def remove_dangling_links(self) -> None:
        """Drop the short links (``l/``) whose layer or container directory is gone (prune calls it)."""
        with contextlib.suppress(FileNotFoundError):
            for link in self.links.iterdir():
                if not link.exists():  # follows the link: False when its target is gone
                    link.unlink(missing_ok=True)

    @contextlib.contextmanager
    def temp_path(self, suffix: str = "") -> Iterator[Path]:
        """A fresh path in ``tmp/``; whatever is left there afterwards is removed."""
        path = Path(tempfile.mkdtemp(dir=self.tmp, prefix=f"{os.getpid()}-")) / f"t{suffix}"
        try:
            yield path
        finally:
            remove_tree(path.parent)

    def write_atomic(self, dest: Path, data: bytes) -> None:
        """Write ``data`` to ``dest`` so that readers see all of it or none, also after a power loss."""
        durable.write(dest, data, self.tmp)

    def read_json(self, name: str, default):
        """Load ``ROOT/name`` as JSON, or ``default`` when it does not exist yet.

        A damaged file (empty or torn) reads as ``default`` with a warning, for
        a command that only reads; a writer (it holds the lock) gets ``Damaged``
        instead: writing over it would lose for good what it still names.
        """
        try:
            return durable.read_json(self.root / name)
        except FileNotFoundError:
            return default
        except Damaged as e:
            if self._lock_depth:
                raise
            durable.warn(e, f"what {name} holds is")
            return default

    def write_json(self, name: str, obj) -> None:
        """Atomically replace ``ROOT/name`` with ``obj`` as JSON."""
        self.write_atomic(self.root / name, json.dumps(obj, indent=1, sort_keys=True).encode())

    # -- blobs ------------------------------------------------------------

    def blob_path(self, digest: str) -> Path:
        """Where the blob named ``digest`` lives (it may not exist)."""
        if not is_digest(digest) or not digest.startswith("sha256:"):
            raise InvalidArchive(f"invalid digest: {digest!r}")
        return self.blobs / hex_of(digest)

    def has_blob(self, digest: str) -> bool:
        """Whether the blob is present."""
        return self.blob_path(digest).is_file()

    def read_blob(self, digest: str) -> bytes:
        """A small blob's bytes (configs, manifests)."""
        return self.blob_path(digest).read_bytes()

    def blob_json(self, digest: str):
        """A JSON blob (an image config), parsed; ``Damaged`` if it is empty or torn.  Not hashed
        again: ``run`` would pay for loading OpenSSL, and a torn JSON document never parses."""
        return durable.read_json(self.blob_path(digest), f"blob {digest}")

    def put_blob(self, data: bytes) -> str:
        """Store bytes as a blob; return its digest."""
        return self.put_blob_stream(io.BytesIO(data))[0]

    def put_blob_stream(self, stream: BinaryIO, expected: str | None = None) -> tuple[str, int]:
        """Copy a stream into the store while hashing it; verify ``expected`` if given.

        The blob appears under its name only once it is whole and verified:
        content-addressing means a name is a promise about the bytes.
        """
        reader = HashingReader(stream)
        with self.temp_path() as tmp:
            with open(tmp, "wb") as out:
                while chunk := reader.read(CHUNK):
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())   # a blob's name promises its bytes: they reach the disk first
            if expected is not None and reader.digest != expected:
                raise DigestMismatch(f"digest mismatch: expected {expected}, got {reader.digest}")
            durable.rename(tmp, self.blob_path(reader.digest))
        return reader.digest, reader.size

    def remove_blob(self, digest: str) -> None:
        """Delete a blob if present."""
        with contextlib.suppress(FileNotFoundError):
            self.blob_path(digest).unlink()

    def blob_digests(self) -> list[str]:
        """Every blob in the store."""
        return sorted("sha256:" + p.name for p in self.blobs.iterdir())

    # -- layer directories ------------------------------------------------

    def layer_dir(self, chain_id: str) -> Path:
        """The directory of the extracted layer with this ChainID."""
        return self.layers / hex_of(chain_id)


def tree_size(root: Path) -> int:
    """Bytes of what a directory holds, as Docker counts a layer's, a container's or a volume's
    (moby's ``directory.Size``): every entry that is not a directory, a symlink as the length of its
    target, a file hard-linked twice once; directories and empty files count nothing."""
    seen, total = set(), 0
    for top, dirs, files in os.walk(root):
        for name in files + [d for d in dirs if os.path.islink(os.path.join(top, d))]:
            try:
                st = os.lstat(os.path.join(top, name))
            except FileNotFoundError:
                continue
            if st.st_size and st.st_ino not in seen:
                seen.add(st.st_ino)
                total += st.st_size
    return total


def remove_tree(path: Path) -> None:
    """Remove a file or a directory tree; fine if it is already gone."""
    if path.is_dir() and not path.is_symlink():
        # A layer may hold read-only directories, and overlay's work/work is mode 000:
        # open each up before walking into it (root would not need to; a rootless user does).
        with contextlib.suppress(OSError):
            os.chmod(path, 0o700)
        for d, subdirs, _ in os.walk(path):
            for sub in subdirs:
                child = os.path.join(d, sub)
                if not os.path.islink(child):  # a link to a directory is listed too; never chmod its target
                    with contextlib.suppress(OSError):
                        os.chmod(child, 0o700)
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
