"""Bearer tokens as distribution reads them: scopes, and JSON Web Tokens (RFC 7519) signed HS256.

A *scope* names a resource and the actions asked on it (distribution's
"Token Scope Documentation")::

    repository:library/busybox:pull,push     type : name : actions
    registry:catalog:*                       the catalog (``/v2/_catalog``)

A token is three base64url parts, ``header.claims.signature``; the claims
say who (``sub``), for which registry (``aud``: the service), until when
(``exp``), and what they may do (``access``: the granted scopes)::

    {"iss": "minidock-registry", "sub": "alice", "aud": "minidock-registry",
     "iat": 1700000000, "nbf": 1700000000, "exp": 1700000300, "jti": "…",
     "access": [{"type": "repository", "name": "library/busybox", "actions": ["pull"]}]}

Clients treat a token as opaque.  Here the registry is its own token server,
so one secret signs and verifies (HMAC-SHA256); a fresh key each start means a
restarted registry refuses old tokens, and clients simply ask for new ones.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import secrets
import time
from dataclasses import dataclass

HEADER = {"typ": "JWT", "alg": "HS256"}
LEEWAY = 5  # seconds of clock skew allowed on ``nbf``; ``exp`` is held exactly (an expired token is refused)


class InvalidToken(Exception):
    """A token that is malformed, forged, for another service, not yet valid or expired."""


@dataclass(frozen=True)
class Scope:
    """One resource and the actions on it: ``repository:NAME:pull,push``."""

    type: str
    name: str
    actions: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.type}:{self.name}:{','.join(self.actions)}"

    def claim(self) -> dict:
        """The scope as a token's ``access`` entry."""
        return {"type": self.type, "name": self.name, "actions": list(self.actions)}


def parse_scopes(values: list[str]) -> list[Scope]:
    """``scope`` parameters (repeated, or several in one separated by spaces) as Scopes; junk is skipped.

    The name sits between the first and the last colon: a type may carry a class
    (``repository(plugin)``), and the actions never hold a colon.
    """
    scopes = []
    for value in values:
        for item in value.split():
            kind, _, rest = item.partition(":")
            name, _, actions = rest.rpartition(":")
            if kind and name and actions:
                scopes.append(Scope(kind.split("(")[0], name, tuple(a for a in actions.split(",") if a)))
    return scopes


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _part(doc: dict) -> str:
    """One JSON part of a token, compact and base64url-encoded without padding (RFC 7515)."""
    return _b64(json.dumps(doc, separators=(",", ":")).encode())


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    """Issues and verifies the registry's tokens: HS256 with a key of its own, ``ttl`` seconds each."""

    def __init__(self, service: str, ttl: int = 300, key: bytes | None = None):
        self.service, self.ttl = service, ttl
        self._key = key or secrets.token_bytes(32)

    def issue(self, subject: str, access: list[Scope], now: float | None = None) -> dict:
        """A token for ``subject`` holding ``access``: the claims, with the signed token under ``token``."""
        now = time.time() if now is None else now
        issued = int(now)
        # whole seconds (RFC 7519's NumericDate, as most readers expect): exp rounds up, so a token
        # lives at least ttl seconds, never a fraction of a second when ttl is 1
        claims = {"iss": self.service, "sub": subject, "aud": self.service, "iat": issued, "nbf": issued,
                  "exp": math.ceil(now) + self.ttl, "jti": secrets.token_hex(16),
                  "access": [scope.claim() for scope in access]}
        signing_input = f"{_part(HEADER)}.{_part(claims)}"
        return claims | {"token": f"{signing_input}.{self._sign(signing_input)}"}

    def verify(self, token: str, now: float | None = None) -> dict:
        """The claims of a token this registry signed and that holds now; else InvalidToken."""
        parts = token.split(".")
        if len(parts) != 3:
            raise InvalidToken("malformed token")
        try:
            header, claims = json.loads(_unb64(parts[0])), json.loads(_unb64(parts[1]))
        except ValueError:
            raise InvalidToken("malformed token") from None
        # the algorithm is ours, never the token's say ("alg": "none" is the classic forgery)
        if header != HEADER or not hmac.compare_digest(parts[2], self._sign(f"{parts[0]}.{parts[1]}")):
            raise InvalidToken("token signature is invalid")
        if not isinstance(claims, dict) or claims.get("aud") != self.service or claims.get("iss") != self.service:
            raise InvalidToken("token is for another service")
        now = time.time() if now is None else now
        if not isinstance(claims.get("exp"), int) or now >= claims["exp"]:
            raise InvalidToken("token has expired")
        if not isinstance(claims.get("nbf"), int) or now + LEEWAY < claims["nbf"]:
            raise InvalidToken("token is not valid yet")
        return claims

    def _sign(self, signing_input: str) -> str:
        return _b64(hmac.new(self._key, signing_input.encode(), hashlib.sha256).digest())


def allows(claims: dict, scope: Scope) -> bool:
    """Whether a verified token grants every action of ``scope``."""
    granted = set()
    for entry in claims.get("access") or []:
        if isinstance(entry, dict) and (entry.get("type"), entry.get("name")) == (scope.type, scope.name):
            granted.update(entry.get("actions") or [])
    return "*" in granted or set(scope.actions) <= granted
