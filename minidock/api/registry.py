"""Registries for clients: ``login``/``logout`` (as docker-py's ``client.login``), the registry client
the course's pictures read with, and the embedded registry server (``minidock registry serve``)."""

from __future__ import annotations

from ..registry import auth
from ..registry.client import Registry
from ..registry.distribution import endpoint
from ..registry.server import RegistryServer

__all__ = ["Registry", "RegistryServer", "endpoint", "check_login", "login", "logout"]


def check_login(server: str, username: str, password: str) -> str:
    """Try the credentials on the registry at ``server`` (its challenge answered); its host when they work.
    A 401 from the registry raises ``RegistryError`` (status 401)."""
    host, scheme = endpoint(server)
    registry = Registry(host, scheme, credentials=(username, password))
    try:
        registry.ping()
    finally:
        registry.close()
    return host


def login(server: str, username: str, password: str) -> None:
    """Check the credentials against the registry at ``server`` and store them (``minidock login``)."""
    auth.save(check_login(server, username, password), username, password)


def logout(server: str) -> bool:
    """Forget the credentials stored for ``server``; whether there were any."""
    return auth.forget(server)
