"""Digests, the hashing streams, short IDs, prefix lookup, ChainIDs."""

import hashlib
import io

import pytest

from minidock.images import digest as d
from minidock.errors import APIError, DigestMismatch, ImageNotFound, NotFound

EMPTY = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
ABC = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_sha256_bytes_known_vectors():
    assert d.sha256_bytes(b"") == EMPTY
    assert d.sha256_bytes(b"abc") == ABC


def test_sha256_file_streams_across_chunks(tmp_path):
    data = bytes(range(256)) * (3 * d.CHUNK // 256 + 7)  # several chunks and a remainder
    path = tmp_path / "blob"
    path.write_bytes(data)
    assert d.sha256_file(path) == d.sha256_bytes(data)


def test_hashing_reader_passes_data_through():
    reader = d.HashingReader(io.BytesIO(b"abc"))
    assert reader.read(2) + reader.read(10) + reader.read(10) == b"abc"
    assert (reader.digest, reader.size) == (ABC, 3)
    reader.verify(ABC)


def test_hashing_reader_read_all():
    reader = d.HashingReader(io.BytesIO(b"abc"))
    assert reader.read() == b"abc"
    assert reader.digest == ABC


def test_hashing_reader_mismatch_message():
    reader = d.HashingReader(io.BytesIO(b"abc"))
    reader.read()
    with pytest.raises(DigestMismatch) as err:
        reader.verify(EMPTY)
    assert str(err.value) == f"digest mismatch: expected {EMPTY}, got {ABC}"


def test_hashing_writer():
    out = io.BytesIO()
    writer = d.HashingWriter(out)
    assert writer.write(b"ab") == 2
    writer.write(b"c")
    assert out.getvalue() == b"abc"
    assert (writer.digest, writer.size) == (ABC, 3)
    with pytest.raises(DigestMismatch):
        writer.verify(EMPTY)


def test_empty_stream_digest():
    assert d.HashingReader(io.BytesIO()).digest == EMPTY


@pytest.mark.parametrize(
    "s, ok",
    [
        (EMPTY, True),
        ("sha512:" + "a" * 128, True),
        ("sha256:" + "a" * 63, False),
        ("sha256:" + "a" * 65, False),
        ("sha256:" + "A" * 64, False),  # descriptor.md: lowercase hex only
        ("sha512:" + "a" * 64, False),
        ("md5:" + "a" * 32, False),
        ("a" * 64, False),  # a bare ID is not a digest
        (EMPTY + "\n", False),
        ("", False),
        (None, False),
    ],
)
def test_is_digest(s, ok):
    assert d.is_digest(s) is ok


def test_hex_of_and_short_id():
    assert d.hex_of(ABC) == ABC[7:]
    assert d.short_id(ABC) == "ba7816bf8f01"
    assert d.short_id(ABC[7:]) == "ba7816bf8f01"
    with pytest.raises(ValueError):
        d.hex_of("ba7816bf")


def test_chain_ids_against_independent_computation():
    diffs = [d.sha256_bytes(b"layer0"), d.sha256_bytes(b"layer1"), d.sha256_bytes(b"layer2")]
    c1 = "sha256:" + hashlib.sha256((diffs[0] + " " + diffs[1]).encode()).hexdigest()
    c2 = "sha256:" + hashlib.sha256((c1 + " " + diffs[2]).encode()).hexdigest()
    assert d.chain_ids(diffs) == [diffs[0], c1, c2]


def test_chain_ids_fixed_vector():
    # ChainID(EMPTY, ABC) = sha256("sha256:e3b0… sha256:ba78…"), computed once by hand.
    chain = d.chain_ids([EMPTY, ABC])
    expected = hashlib.sha256(f"{EMPTY} {ABC}".encode()).hexdigest()
    assert chain == [EMPTY, "sha256:" + expected]
    assert d.chain_ids([]) == []


A1 = "sha256:a1b2c3d4e5f6" + "0" * 52
A2 = "sha256:a1b2c3d4e5f7" + "0" * 52
B1 = "sha256:b" + "1" * 63
IDS = [A1, A2, B1]


@pytest.mark.parametrize(
    "prefix, expected",
    [
        ("b", B1),  # one character is enough when it is unique
        ("sha256:b1", B1),
        ("a1b2c3d4e5f6", A1),
        ("a1b2c3d4e5f7", A2),
        (A1, A1),
        (A1[7:], A1),
    ],
)
def test_resolve_prefix_unique(prefix, expected):
    assert d.resolve_prefix(prefix, IDS) == expected


@pytest.mark.parametrize("prefix", ["c", "sha256:c", "", "sha256:", "B1", "zz", "a1b2-"])
def test_resolve_prefix_not_found(prefix):
    with pytest.raises(ImageNotFound) as err:
        d.resolve_prefix(prefix, IDS)
    assert str(err.value) == f"No such image: {prefix}"


def test_resolve_prefix_not_found_other_kind():
    with pytest.raises(NotFound) as err:
        d.resolve_prefix("c", IDS, what="container")
    assert not isinstance(err.value, ImageNotFound)
    assert str(err.value) == "No such container: c"


def test_resolve_prefix_ambiguous():
    with pytest.raises(APIError) as err:
        d.resolve_prefix("a1", reversed(IDS))
    assert not isinstance(err.value, NotFound)
    assert str(err.value) == 'image prefix "a1" is ambiguous: matches a1b2c3d4e5f6, a1b2c3d4e5f7'


def test_resolve_prefix_duplicates_count_once():
    assert d.resolve_prefix("b", [B1, B1]) == B1


def test_collision_probability():
    assert d.collision_probability(1_000_000, 12) < 2e-3  # why 12 hex is fine for a display
    assert d.collision_probability(1000, 4) > 0.99  # why 4 hex is not
    assert d.collision_probability(1, 4) == 0.0
    tiny = d.collision_probability(2, 64)  # expm1 keeps this from rounding to 0
    assert tiny == pytest.approx(1 / 16**64)
    assert 0.0 < tiny
