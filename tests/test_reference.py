"""Docker's reference grammar and docker.io/library/ normalisation."""

import pytest

from minidock.errors import InvalidReference
from minidock.images.reference import Reference, familiar, parse

DIGEST = "sha256:" + "ab" * 32
SHA512 = "sha512:" + "cd" * 64

# input, domain, path, tag, digest
VALID = [
    ("busybox", "docker.io", "library/busybox", "latest", None),
    ("ubuntu:14.04", "docker.io", "library/ubuntu", "14.04", None),
    ("ouruser/sinatra:v2", "docker.io", "ouruser/sinatra", "v2", None),
    ("test/ubuntu:v1.0", "docker.io", "test/ubuntu", "v1.0", None),
    ("docker.io/ubuntu", "docker.io", "library/ubuntu", "latest", None),
    ("docker.io/library/busybox:1.36", "docker.io", "library/busybox", "1.36", None),
    ("index.docker.io/ouruser/sinatra", "docker.io", "ouruser/sinatra", "latest", None),
    ("library/busybox", "docker.io", "library/busybox", "latest", None),
    ("a/b/c/d", "docker.io", "a/b/c/d", "latest", None),
    ("localhost/foo", "localhost", "foo", "latest", None),
    ("localhost:5000/a/b:t", "localhost:5000", "a/b", "t", None),
    ("127.0.0.1:5000/x", "127.0.0.1:5000", "x", "latest", None),
    ("[::1]:5000/x:y", "[::1]:5000", "x", "y", None),
    ("registry.example/x", "registry.example", "x", "latest", None),
    ("Registry.Example/x", "Registry.Example", "x", "latest", None),  # hosts may have capitals
    ("my-registry:443/team/app", "my-registry:443", "team/app", "latest", None),
    (f"registry.example/x@{DIGEST}", "registry.example", "x", None, DIGEST),
    (f"busybox@{SHA512}", "docker.io", "library/busybox", None, SHA512),
    (f"busybox:1.36@{DIGEST}", "docker.io", "library/busybox", "1.36", DIGEST),
    ("localhost:5000", "docker.io", "library/localhost", "5000", None),  # a name and a tag!
    ("a__b/c.d/e---f_g:T_a.g-1", "docker.io", "a__b/c.d/e---f_g", "T_a.g-1", None),
    ("x:" + "t" * 128, "docker.io", "library/x", "t" * 128, None),
    ("b" * 247, "docker.io", "library/" + "b" * 247, "latest", None),  # 255 with "library/"
    ("a" * 64 + "x", "docker.io", "library/" + "a" * 64 + "x", "latest", None),
]


@pytest.mark.parametrize("s, domain, path, tag, digest", VALID)
def test_parse_valid(s, domain, path, tag, digest):
    assert parse(s) == Reference(domain, path, tag, digest)


INVALID = [
    "",
    ":",
    ":tag",
    "busybox:",
    "busybox:" + "t" * 129,  # a tag is at most 128 characters
    "busybox:-x",  # a tag starts with a word character
    "busybox:.x",
    "busybox:a/b",
    "a//b",
    "a/b/",
    "/a",
    "localhost:5000/",
    "a/",
    "-a",
    "a-",
    "a..b",
    "a___b",
    "a b",
    "busybox@",
    "busybox@sha256:abc",  # under the grammar's 32 hex
    "localhost:port/x",
    "example.com:/x",
    "-example.com/x",
    "exa_mple.com/x",
    "bus\u00efbox",
    "busybox:t\u00e9",  # Go's \w is ASCII
    "busybox\n",
]


@pytest.mark.parametrize("s", INVALID)
def test_parse_invalid(s):
    with pytest.raises(InvalidReference) as err:
        parse(s)
    assert str(err.value) == f'invalid reference format: "{s}"'


@pytest.mark.parametrize(
    "digest",
    [
        "sha256:" + "ab" * 31 + "a",  # 63 hex: the grammar allows it, go-digest does not
        "md5:" + "ab" * 16,  # not a registered algorithm
        "sha256:" + "AB" * 32,  # descriptor.md: lowercase hex
        "sha512:" + "ab" * 32,  # sha512 is 128 hex
    ],
)
def test_parse_bad_digest(digest):
    with pytest.raises(InvalidReference) as err:
        parse(f"busybox@{digest}")
    assert str(err.value) == (
        f'invalid reference format: digest "{digest}"'
        " is not sha256 (64 lowercase hex) or sha512 (128)"
    )


@pytest.mark.parametrize(
    "s, path",
    [
        ("BusyBox", "library/BusyBox"),
        ("BusyBox:latest", "library/BusyBox"),
        ("Ouruser/sinatra:v2", "Ouruser/sinatra"),
        ("localhost:5000/Foo", "Foo"),
        (f"Foo@{DIGEST}", "library/Foo"),
    ],
)
def test_uppercase_repository_is_refused(s, path):
    with pytest.raises(InvalidReference) as err:
        parse(s)
    assert str(err.value) == (
        f"invalid reference format: repository name ({path}) must be lowercase"
    )


def test_64_hex_is_an_id_not_a_name():
    s = "ab" * 32
    with pytest.raises(InvalidReference) as err:
        parse(s)
    assert str(err.value) == (
        f"invalid repository name ({s}), cannot specify 64-byte hexadecimal strings"
    )


# reference.go counts the path after normalisation, so "library/" counts too.
@pytest.mark.parametrize("s", ["c" * 248, "localhost/" + "c" * 256, "a/" + "b" * 254])
def test_name_too_long(s):
    with pytest.raises(InvalidReference, match="must not be more than 255 characters"):
        parse(s)


def test_path_of_exactly_255_is_accepted():
    assert len(parse("localhost/" + "c" * 255).path) == 255
    assert len(parse("a/" + "b" * 253).path) == 255


def test_default_tag():
    assert parse("busybox", default_tag=None).tag is None
    assert parse("busybox", default_tag="1.36").tag == "1.36"
    assert parse(f"busybox@{DIGEST}", default_tag="1.36").tag is None


@pytest.mark.parametrize(
    "s, name, familiar_name, canonical, short",
    [
        ("busybox", "docker.io/library/busybox", "busybox",
         "docker.io/library/busybox:latest", "busybox:latest"),
        ("ouruser/sinatra:v2", "docker.io/ouruser/sinatra", "ouruser/sinatra",
         "docker.io/ouruser/sinatra:v2", "ouruser/sinatra:v2"),
        ("library/a/b", "docker.io/library/a/b", "library/a/b",
         "docker.io/library/a/b:latest", "library/a/b:latest"),  # nested: "library/" kept
        ("localhost:5000/foo", "localhost:5000/foo", "localhost:5000/foo",
         "localhost:5000/foo:latest", "localhost:5000/foo:latest"),
        ("quay.io/library/x:1", "quay.io/library/x", "quay.io/library/x",
         "quay.io/library/x:1", "quay.io/library/x:1"),
        (f"busybox@{DIGEST}", "docker.io/library/busybox", "busybox",
         f"docker.io/library/busybox@{DIGEST}", f"busybox@{DIGEST}"),
        (f"busybox:1@{DIGEST}", "docker.io/library/busybox", "busybox",
         f"docker.io/library/busybox:1@{DIGEST}", f"busybox:1@{DIGEST}"),
    ],
)
def test_names_and_forms(s, name, familiar_name, canonical, short):
    ref = parse(s)
    assert ref.name == ref.repository == name
    assert ref.familiar_name == familiar_name
    assert str(ref) == canonical
    assert ref.familiar() == familiar(s) == short


def test_canonical_form_round_trips():
    for s, *_ in VALID:
        ref = parse(s)
        assert parse(str(ref)) == ref
        assert parse(ref.familiar()) == ref


def test_with_tag():
    ref = parse("busybox")
    assert ref.with_tag("1.36") == Reference("docker.io", "library/busybox", "1.36", None)
    assert ref == parse("busybox")  # frozen: with_tag made a new one
    assert str(parse(f"x@{DIGEST}").with_tag("v1")) == f"docker.io/library/x:v1@{DIGEST}"
    for bad in ["", "-x", "a:b", "t" * 129]:
        with pytest.raises(InvalidReference):
            ref.with_tag(bad)


def test_reference_is_hashable():
    assert len({parse("busybox"), parse("docker.io/library/busybox:latest")}) == 1
