"""Who may do what on the embedded registry: Basic auth, or bearer tokens from its own token realm.

``--htpasswd FILE`` alone is distribution's htpasswd auth: every request carries
``Authorization: Basic ...``.  With ``--auth token`` the registry works as
Docker Hub does, and as the distribution spec's token flow describes::

    client                                registry (and its realm, /token)
    GET  /v2/NAME/manifests/v1       ->   401  WWW-Authenticate: Bearer realm="https://HOST/token",
                                               service="minidock-registry",scope="repository:NAME:pull"
    GET  /token?service=...&scope=...     (Authorization: Basic user:password, checked against htpasswd)
                                     ->   200  {"token": JWT, "access_token": JWT, "expires_in", "issued_at"}
    GET  /v2/NAME/manifests/v1       ->   200  (Authorization: Bearer JWT; the JWT grants repository:NAME:pull)

A token grants what was asked *and* allowed: every user may pull and list the
catalog, users named ``--read-only-user`` may do nothing else, the others may
also push and delete.  A request its token does not cover is answered 401 with
``error="insufficient_scope"``, as distribution answers.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import time
from pathlib import Path

import bcrypt

from ..errors import UsageError
from .storage import RegistryError, check_name
from .tokens import InvalidToken, Scope, Signer, allows, parse_scopes

REALM = "minidock-registry"   # the Basic realm, and the token service's name (the tokens' ``aud``)
READ_WRITE = ("pull", "push", "delete")
READ_ONLY = ("pull",)
HOST = re.compile(r"[A-Za-z0-9.-]+(:\d{1,5})?|\[[0-9A-Fa-f:.]+\](:\d{1,5})?")


class Htpasswd:
    """Users of an htpasswd file of bcrypt entries (``htpasswd -B``), as distribution reads it."""

    def __init__(self, path: str | os.PathLike):
        self.users = {}
        try:
            lines = Path(path).read_text().splitlines()
        except (OSError, UnicodeDecodeError) as e:
            raise UsageError(f"cannot read --htpasswd {path}: {getattr(e, 'strerror', None) or e}") from None
        for line in lines:
            user, sep, hashed = line.strip().partition(":")
            if sep and hashed.startswith(("$2a$", "$2b$", "$2y$")):  # distribution takes bcrypt only
                self.users[user] = hashed.encode()
        # bcrypt is slow on purpose, and a push makes dozens of requests: remember who passed
        self._passed: set[tuple[str, str]] = set()

    def user(self, authorization: str | None) -> str | None:
        """The user an ``Authorization: Basic ...`` header names with their password; else None."""
        scheme, _, encoded = (authorization or "").partition(" ")
        try:
            user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except ValueError:  # binascii.Error and UnicodeDecodeError are ValueErrors
            return None
        if scheme.lower() != "basic" or user not in self.users:
            return None
        key = (user, hashlib.sha256(password.encode()).hexdigest())
        if key not in self._passed and bcrypt.checkpw(password.encode(), self.users[user]):
            self._passed.add(key)
        return user if key in self._passed else None


def needed(method: str, route: str, name: str | None, source: str | None) -> list[Scope]:
    """The scopes a request needs, as distribution asks them: reading is ``pull``, writing
    ``pull,push``, DELETE ``delete``; a mount also ``pull`` on its source; the catalog ``registry:catalog:*``."""
    if route == "catalog":
        return [Scope("registry", "catalog", ("*",))]
    if name is None:  # /v2/ itself: any valid token
        return []
    for repository in (name, source):  # held to the grammar before they go into a challenge header
        if repository is not None:
            check_name(repository)
    actions = {"GET": ("pull",), "HEAD": ("pull",), "DELETE": ("delete",)}.get(method, ("pull", "push"))
    scopes = [Scope("repository", name, actions)]
    if route == "upload" and method == "POST" and source:
        scopes.append(Scope("repository", source, ("pull",)))
    return scopes


def unauthorized(challenge: str, scopes: list[Scope] = ()) -> RegistryError:
    """401 UNAUTHORIZED with its challenge, and (as distribution) the access it wanted as the detail."""
    detail = [{"Type": s.type, "Class": "", "Name": s.name, "Action": a} for s in scopes for a in s.actions]
    return RegistryError("UNAUTHORIZED", detail or None, {"WWW-Authenticate": challenge})


class BasicGate:
    """distribution's htpasswd auth: every request must name a user and their password."""

    def __init__(self, htpasswd: Htpasswd):
        self.htpasswd = htpasswd

    def admit(self, scopes: list[Scope], authorization: str | None, host: str) -> None:
        if self.htpasswd.user(authorization) is None:
            raise unauthorized(f'Basic realm="{REALM}"')


class TokenGate:
    """Bearer tokens: the registry's own realm (``GET /token``) issues them, every request shows one."""

    def __init__(self, htpasswd: Htpasswd, read_only: list[str], scheme: str, ttl: int = 300):
        unknown = sorted(set(read_only) - set(htpasswd.users))
        if unknown:
            raise UsageError(f"--read-only-user {unknown[0]}: no such user in the htpasswd file")
        self.htpasswd, self.read_only, self.scheme = htpasswd, set(read_only), scheme
        self.signer = Signer(REALM, ttl)

    def admit(self, scopes: list[Scope], authorization: str | None, host: str) -> None:
        """Pass a request whose token covers ``scopes``; else 401 with the challenge that says what to ask."""
        kind, _, token = (authorization or "").partition(" ")
        challenge = f'Bearer realm="{self.scheme}://{host}/token",service="{REALM}"'
        if scopes:
            challenge += f',scope="{" ".join(str(s) for s in scopes)}"'
        if kind.lower() != "bearer":
            raise unauthorized(challenge, scopes)
        try:
            claims = self.signer.verify(token.strip())
        except InvalidToken:
            raise unauthorized(challenge + ',error="invalid_token"', scopes) from None
        if not all(allows(claims, scope) for scope in scopes):
            raise unauthorized(challenge + ',error="insufficient_scope"', scopes)

    def allowed(self, user: str, scope: Scope) -> tuple[str, ...]:
        """What ``user`` may do on a resource: the catalog for all; a repository by their role."""
        if (scope.type, scope.name) == ("registry", "catalog"):
            return ("*",)
        if scope.type == "repository":
            return READ_ONLY if user in self.read_only else READ_WRITE
        return ()

    def grant(self, authorization: str | None, query: dict[str, list[str]]) -> dict:
        """The realm's answer to ``GET /token?service=&scope=``: a token for the asked access the user has."""
        user = self.htpasswd.user(authorization)
        if user is None:
            raise unauthorized(f'Basic realm="{REALM}"')
        service = query.get("service", [REALM])[0]
        if service != REALM:
            raise RegistryError("UNSUPPORTED", f'unknown service "{service}" (this one is "{REALM}")', status=400)
        access = []
        for scope in parse_scopes(query.get("scope", [])):
            allowed = self.allowed(user, scope)
            actions = scope.actions if "*" in allowed else tuple(a for a in scope.actions if a in allowed)
            if actions:  # asked but not allowed: left out, so the registry refuses it later (spec)
                access.append(Scope(scope.type, scope.name, actions))
        claims = self.signer.issue(user, access)
        issued_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(claims["iat"]))
        return {"token": claims["token"], "access_token": claims["token"],
                "expires_in": self.signer.ttl, "issued_at": issued_at}


def realm_host(header: str | None, bound: str) -> str:
    """The host the client used (the Host header, when it is one), so the realm is reachable as it was."""
    return header if header and HOST.fullmatch(header) else bound
