"""TLS for registries: the server's certificate, and the private CAs a client trusts (``certs.d``).

A registry that serves HTTPS proves who it is with a certificate, signed by a
certificate authority (CA) the client trusts.  A class or a company signs its
registry's certificate with a *private* CA, which no machine trusts by
default; Docker lets one registry trust it without touching the machine's
certificate store: ``/etc/docker/certs.d/HOST:PORT/ca.crt`` (every ``*.crt``
there is a root for that registry only; podman and skopeo read the same
layout with ``--cert-dir``).  minidock keeps that directory under its config:

    MINIDOCK_CERTS_D/HOST:PORT/ca.crt       (default: CONFIG/certs.d, CONFIG as login's)

A registry with such a directory is spoken to over HTTPS, verified against
those CAs only, whatever its host (127.0.0.1 included); the others as before.
"""

from __future__ import annotations

import os
import ssl
from pathlib import Path

from ..errors import UsageError
from .auth import config_dir


def certs_d() -> Path:
    """The directory of per-registry CAs (``MINIDOCK_CERTS_D``, else ``certs.d`` in minidock's config)."""
    return Path(os.environ.get("MINIDOCK_CERTS_D") or config_dir() / "certs.d")


def ca_files(host: str) -> list[Path]:
    """The CA certificates trusted for ``host`` (``HOST:PORT`` as in the image reference)."""
    directory = certs_d() / host
    return sorted(directory.glob("*.crt")) if directory.is_dir() else []


def client_context(host: str) -> ssl.SSLContext:
    """How to verify ``host``: its ``certs.d`` CAs when it has some, else the machine's store."""
    cas = ca_files(host)
    if not cas:
        return ssl.create_default_context()
    return ssl.create_default_context(cadata="".join(ca.read_text() for ca in cas))


def server_context(cert: str, key: str) -> ssl.SSLContext:
    """A server's TLS context from a PEM certificate (chain) and its key; a bad pair is one clear line."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2  # distribution's default minimum too
    for path in (cert, key):
        if not os.path.isfile(path):
            raise UsageError(f"cannot read TLS certificate or key {path}: no such file")
    try:
        context.load_cert_chain(cert, key)
    except ssl.SSLError as e:  # reason: KEY_VALUES_MISMATCH, NO_START_LINE (not PEM), ...
        reason = e.reason.lower().replace("_", " ") if e.reason else "not a PEM certificate and key"
        raise UsageError(f"cannot load TLS certificate {cert} with key {key}: {reason}") from None
    except OSError as e:
        raise UsageError(f"cannot read TLS certificate {cert} or key {key}: {e.strerror or e}") from None
    return context


def hint(host: str, error: OSError) -> str:
    """A failed connection in one line; when the certificate is not trusted, where to put its CA."""
    if isinstance(error, ssl.SSLCertVerificationError):
        return (f"x509: {error.verify_message}: trust the registry's CA by putting it in "
                f"{certs_d() / host / 'ca.crt'}")
    if isinstance(error, ssl.SSLError):
        return f"TLS handshake failed: {error.reason or error}"
    return error.strerror or str(error)


SPEAKS_HTTPS = b"Client sent an HTTP request to an HTTPS server"  # Go's servers answer plain HTTP so


def https_hint(host: str) -> str:
    """What to do when a registry answered plain HTTP with Go's "speak HTTPS to me"."""
    return f"{host} serves HTTPS: put its CA certificate in {certs_d() / host / 'ca.crt'}"
