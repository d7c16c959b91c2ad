"""minidock: a small but complete container engine, written to be read.

Start with ``client = minidock.from_env()``, as with the Docker SDK for Python.
"""

__version__ = "0.1.0"

from .client import Client, from_env  # noqa: E402  (the version must exist first)

__all__ = ["Client", "from_env", "__version__"]
