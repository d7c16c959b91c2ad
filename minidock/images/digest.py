"""Digests, image IDs, short IDs, prefix lookup and ChainIDs.

Everything in an image is named by the sha256 of its bytes (OCI image-spec
descriptor.md, "Digests"): a digest is ``algorithm ":" encoded``, and for
sha256 the encoded part is exactly 64 lowercase hex characters.  An image ID
is the digest of its config JSON, a DiffID the digest of an uncompressed
layer tar.  Docker shows the first 12 hex characters ("short ID") and accepts
any unique prefix of the hex wherever an ID is expected.
"""

import math
import re
from collections.abc import Iterable

from ..errors import APIError, DigestMismatch, ImageNotFound, NotFound

CHUNK = 1 << 20  # 1 MiB: big enough for speed, small enough for any layer tar
SHORT_ID_LEN = 12  # docker's IMAGE ID / CONTAINER ID column width

# descriptor.md "Registered algorithms": sha256 (64 hex) and sha512 (128 hex),
# encoded as lowercase hex.  We only compute sha256, but references may name either.
_DIGEST = re.compile(r"sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128}")
_HEX = re.compile(r"[a-f0-9]+")


def sha256_bytes(data: bytes) -> str:
    """The digest ``sha256:<64 hex>`` of some bytes."""
    # here and in _Hashing, not at the top: loading OpenSSL takes milliseconds, and many commands
    # never hash (``ps``; ``run`` of a one-layer image, whose ChainID is its DiffID)
    import hashlib
    return "sha256:" + hashlib.sha256(data).hexdigest()


def sha256_file(path) -> str:
    """The digest of a file, read in 1 MiB chunks so a big layer never sits in memory."""
    with open(path, "rb") as f:
        reader = HashingReader(f)
        while reader.read(CHUNK):
            pass
    return reader.digest


class _Hashing:
    """What HashingReader and HashingWriter share: a running sha256 and a byte count."""

    def __init__(self, stream):
        import hashlib
        self._stream = stream
        self._hash = hashlib.sha256()
        self.size = 0

    def _count(self, data: bytes) -> None:
        self._hash.update(data)
        self.size += len(data)

    @property
    def digest(self) -> str:
        """The digest of every byte that has passed so far."""
        return "sha256:" + self._hash.hexdigest()

    def verify(self, expected: str) -> None:
        """Raise DigestMismatch unless the bytes seen hash to ``expected``."""
        if self.digest != expected:
            raise DigestMismatch(f"digest mismatch: expected {expected}, got {self.digest}")


class HashingReader(_Hashing):
    """A binary stream that hashes and counts what is read through it."""

    def read(self, n: int = -1) -> bytes:
        """Read up to ``n`` bytes from the wrapped stream, hashing them on the way."""
        data = self._stream.read(n)
        self._count(data)
        return data


class HashingWriter(_Hashing):
    """A binary stream that hashes and counts what is written through it."""

    def write(self, data: bytes) -> int:
        """Write ``data`` to the wrapped stream, hashing it on the way."""
        self._stream.write(data)
        self._count(data)
        return len(data)


def is_digest(s) -> bool:
    """True for ``sha256:`` + 64 lowercase hex (or ``sha512:`` + 128)."""
    return isinstance(s, str) and _DIGEST.fullmatch(s) is not None


def hex_of(digest: str) -> str:
    """The encoded part of a digest: ``sha256:abc…`` -> ``abc…``."""
    if not is_digest(digest):
        raise ValueError(f"not a digest: {digest!r}")
    return digest.partition(":")[2]


def short_id(digest_or_hex: str) -> str:
    """The 12-hex short ID docker prints, from a digest or a bare hex ID."""
    return digest_or_hex.rpartition(":")[2][:SHORT_ID_LEN]


def chain_ids(diff_ids: list[str]) -> list[str]:
    """The ChainID of each layer prefix (OCI image-spec config.md "Layer ChainID").

    ChainID(L0) = DiffID(L0); ChainID(L0..n) = sha256(ChainID(L0..n-1) + " " + DiffID(Ln)).
    A layer's ChainID names the whole stack beneath it, so two images share an
    extracted layer only when they share every layer below it too.
    """
    chain: list[str] = []
    for diff_id in diff_ids:
        chain.append(chain_id(diff_id, chain[-1] if chain else None))
    return chain


def chain_id(diff_id: str, parent_chain: str | None) -> str:
    """The ChainID of one layer over the stack ``parent_chain`` names (None: the bottom layer)."""
    return diff_id if parent_chain is None else sha256_bytes(f"{parent_chain} {diff_id}".encode())


def resolve_prefix(prefix: str, candidates: Iterable[str], *, what: str = "image") -> str:
    """The one candidate digest whose hex starts with ``prefix``.

    Like docker, any unique prefix works, even a single character; the prefix
    may carry the ``sha256:`` algorithm and must otherwise be lowercase hex
    (IDs are hex, so anything else cannot match and is reported as not found).
    """
    wanted = prefix.removeprefix("sha256:")
    matches = []
    if _HEX.fullmatch(wanted):
        matches = sorted({c for c in candidates if hex_of(c).startswith(wanted)})
    if not matches:
        error = ImageNotFound if what == "image" else NotFound
        raise error(f"No such {what}: {prefix}")
    if len(matches) > 1:
        shown = ", ".join(short_id(m) for m in matches)
        raise APIError(f'{what} prefix "{prefix}" is ambiguous: matches {shown}')
    return matches[0]


def collision_probability(n_ids: int, hex_chars: int) -> float:
    """Chance that some two of ``n_ids`` random IDs share their first ``hex_chars`` hex.

    The birthday bound 1 - exp(-n(n-1) / (2 * 16**hex_chars)); expm1 keeps the
    tiny probabilities of long prefixes from rounding to zero.
    """
    return -math.expm1(-n_ids * (n_ids - 1) / (2 * 16**hex_chars))
