"""Registries for clients: ``login``/``logout`` (as docker-py's ``client.login``), the registry client
the course's pictures read with, and the embedded registry server (``minidock registry serve``)."""

from __future__ import annotations

from ..registry import auth
from ..registry.client import Registry
from ..registry.distribution import endpoint
from ..registry.server import RegistryServer

__all__ = ["Registry", "RegistryServer", "endpoint", "login", "logout"]


def login(server: str, username: str, password: str) -> None:
    """Check the credentials against the registry at ``server`` (its challenge answered) and store them."""
    host, scheme = endpoint(server)
    registry = Registry(host, scheme, credentials=(username, password))
    try:
        registry.ping()
    finally:
        registry.close()
    auth.save(host, username, password)


def logout(server: str) -> bool:
    """Forget the credentials stored for ``server``; whether there were any."""
    return auth.forget(server)
