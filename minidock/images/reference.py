"""Image references: ``[domain[:port]/]path[:tag][@digest]``, Docker's grammar.

The grammar and normalisation follow github.com/distribution/reference
(reference.go, regexp.go, normalize.go), the package the docker CLI uses:
``busybox`` means ``docker.io/library/busybox:latest``, ``ouruser/sinatra:v2``
means ``docker.io/ouruser/sinatra:v2``, and ``localhost:5000/a/b`` names a
repository on the registry at ``localhost:5000``.
"""

import re
from collections import namedtuple

from .digest import is_digest
from ..errors import InvalidReference

DEFAULT_DOMAIN = "docker.io"  # normalize.go: Docker Hub, as references spell it
LEGACY_DOMAIN = "index.docker.io"  # the old "Docker Index" name, same registry
OFFICIAL_PREFIX = "library/"  # Docker Hub's namespace for official images
MAX_PATH = 255  # reference.go RepositoryNameTotalLengthMax

# regexp.go, piece by piece.  re.ASCII because Go's \w is ASCII-only.
_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"  # one period, one or two underscores, any dashes
_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_PATH = rf"{_COMPONENT}(?:/{_COMPONENT})*"
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = rf"(?:{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*|\[[a-fA-F0-9:]+\])"  # name, IPv4, [IPv6]
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"

DOMAIN_RE = re.compile(rf"{_HOST}(?::[0-9]+)?", re.ASCII)
TAG_RE = re.compile(_TAG, re.ASCII)
# What follows the domain: path, then optional ":tag", then optional "@digest".
_REMAINDER_RE = re.compile(rf"({_PATH})(?::({_TAG}))?(?:@({_DIGEST}))?", re.ASCII)
_IDENTIFIER_RE = re.compile(r"[a-f0-9]{64}")


class Reference(namedtuple("Reference", "domain path tag digest", defaults=(None, None))):
    """A parsed, normalised image reference: ``domain``, ``path``, ``tag`` and ``digest`` (None when absent).

    A namedtuple rather than a frozen dataclass: most commands parse references,
    and ``dataclasses`` would cost each the import of ``inspect``.
    """

    __slots__ = ()

    @property
    def name(self) -> str:
        """The canonical repository name, e.g. ``docker.io/library/busybox``."""
        return f"{self.domain}/{self.path}"

    repository = name

    @property
    def familiar_name(self) -> str:
        """The name docker prints: ``busybox``, ``ouruser/sinatra``, ``localhost:5000/foo``."""
        if self.domain != DEFAULT_DOMAIN:
            return self.name
        # normalize.go familiarizeName: "library/" goes only when nothing is nested below it.
        official = self.path.removeprefix(OFFICIAL_PREFIX)
        return official if "/" not in official else self.path

    def familiar(self) -> str:
        """The short form tables show: ``busybox:latest``, ``busybox@sha256:…``."""
        return self.familiar_name + self._suffix()

    def with_tag(self, tag: str) -> "Reference":
        """The same repository (and digest) with another tag."""
        if not TAG_RE.fullmatch(tag):
            raise InvalidReference(f'invalid tag format: "{tag}"')
        return self._replace(tag=tag)

    def _suffix(self) -> str:
        return (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")

    def __str__(self) -> str:
        return self.name + self._suffix()


def _split_domain(s: str) -> tuple[str, str]:
    """Split off the registry, defaulting to Docker Hub (normalize.go splitDockerDomain)."""
    first, slash, rest = s.partition("/")
    # The first component is a registry only if it looks like a host: "localhost",
    # or it has a "." (example.com, 127.0.0.1) or a ":" (a port, IPv6).
    if slash and (first == "localhost" or "." in first or ":" in first):
        domain, remainder = first, rest
    else:
        domain, remainder = DEFAULT_DOMAIN, s
    if domain == LEGACY_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = OFFICIAL_PREFIX + remainder  # "ubuntu" is "library/ubuntu" on Docker Hub
    return domain, remainder


def parse(s: str, *, default_tag: str | None = "latest") -> Reference:
    """Parse and normalise a reference like docker's ParseNormalizedNamed + TagNameOnly."""
    if _IDENTIFIER_RE.fullmatch(s):
        # An image ID is not a name: `docker pull <64 hex>` is refused the same way.
        raise InvalidReference(
            f"invalid repository name ({s}), cannot specify 64-byte hexadecimal strings"
        )
    domain, remainder = _split_domain(s)
    path = remainder.partition("@")[0].partition(":")[0]
    if path.lower() != path:
        raise InvalidReference(
            f"invalid reference format: repository name ({path}) must be lowercase"
        )
    match = _REMAINDER_RE.fullmatch(remainder)
    if not DOMAIN_RE.fullmatch(domain) or not match:
        raise InvalidReference(f'invalid reference format: "{s}"')
    path, tag, digest = match.groups()
    if len(path) > MAX_PATH:
        raise InvalidReference(
            f"invalid reference format: repository name must not be more than {MAX_PATH} characters"
        )
    if digest and not is_digest(digest):
        # go-digest accepts only registered algorithms with their exact length, in lowercase.
        raise InvalidReference(
            f'invalid reference format: digest "{digest}"'
            " is not sha256 (64 lowercase hex) or sha512 (128)"
        )
    # TagNameOnly: a bare name means ":latest", but a digest already pins the image.
    if tag is None and digest is None:
        tag = default_tag
    return Reference(domain, path, tag, digest)


def familiar(s: str) -> str:
    """The familiar form of a reference: ``docker.io/library/busybox`` -> ``busybox:latest``."""
    return parse(s).familiar()
