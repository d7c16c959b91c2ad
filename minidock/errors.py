"""Errors with docker's exit codes, shaped like docker-py's ``docker.errors``.

The CLI prints ``minidock: <message>`` and exits with ``exit_code``; it never
shows a traceback for one of these.  Docker's convention (``docker run --help``):
125 is an error of the engine itself, 126 a command that cannot be invoked,
127 a command that was not found, anything else is the container's own code.
"""


class MinidockError(Exception):
    """Base of every error minidock reports to the user."""

    exit_code = 125


class APIError(MinidockError):
    """The engine refused or failed a request (docker-py's ``APIError``)."""


class NotFound(APIError):
    """Something named by the user does not exist."""


class ImageNotFound(NotFound):
    """No image matches the reference or ID."""


class InvalidReference(APIError):
    """A string that is not a valid image reference."""


class InvalidParameter(APIError):
    """A request's parameter is malformed: a bad mount or volume name, a subnet that is no CIDR
    (Docker's errdefs.InvalidParameter, 400)."""


class Conflict(APIError):
    """The request conflicts with the store's state (e.g. rmi of an image in use)."""


class Forbidden(APIError):
    """Docker forbids this whatever the state (removing a pre-defined network)."""


class Damaged(APIError):
    """A record of the store is empty or torn: what a crash leaves of a write that had not reached
    the disk, or a change behind minidock's back.  Lists leave the object out (with a warning)."""


class InvalidArchive(MinidockError):
    """A tar, layer or archive is corrupt, truncated or hostile."""

    exit_code = 1


class DigestMismatch(InvalidArchive):
    """Content does not hash to the digest that names it."""


class UsageError(MinidockError):
    """The command line itself is wrong (unknown flag, missing argument)."""
